"""What the style losses look at: network taps of the reflect-padded picture, and ``pixelN`` /
``pixelNx`` "layers", a fixed filter bank on the picture itself."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from ..backbones import Backbone

PIXEL = "pixel"  # "pixel0", "pixel1" ...: a fixed filter bank on the picture itself (see pixel_bands)


_ORIENT = ((((0, 0, 0), (0, -1, 1), (0, 0, 0))), (((0, 0, 0), (0, -1, 0), (0, 1, 0))),
           (((0, 0, 0), (0, -1, 0), (0, 0, 1))), (((0, 0, 0), (0, -1, 0), (1, 0, 0))))


def _oriented(y: torch.Tensor) -> torch.Tensor:
    """Positive and negative parts of the horizontal, vertical and diagonal differences of each channel."""
    c = y.shape[1]
    k = y.new_tensor(_ORIENT).unsqueeze(1).repeat(c, 1, 1, 1) * 4.0
    d = F.conv2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), k, groups=c)
    return torch.cat([F.relu(d), F.relu(-d)], 1)


def _halve(y: torch.Tensor, times: int) -> torch.Tensor:
    for _ in range(times):
        if min(y.shape[-2:]) < 4:
            break
        y = F.avg_pool2d(y, 2)
    return y


def pixel_bands(x: torch.Tensor, level: int, second: bool = False) -> torch.Tensor:
    """A fixed filter bank on the picture at octave ``level`` (``x`` halved ``level`` times).

    First order (``pixelN``, 27 maps): per colour, the rectified (positive and negative parts)
    horizontal, vertical and two diagonal differences, and the colours themselves. Second order
    (``pixelNx``, 72 maps at the next octave): the rectified differences of the luminance's
    first-order maps, halved once more, and those maps -- how edges line up into strokes, a
    scattering-transform-like statistic. As "layers" of a style recipe their Grams match the
    picture's contrast per scale, orientation and colour, which VGG's first layers carry and a
    network built from depthwise convolutions keeps out of its own Grams.
    """
    y = _halve(x, level)
    if second:
        first = _halve(_oriented(y.mean(1, keepdim=True)), 1)
        out = torch.cat([_oriented(first), first], 1)
    else:
        out = torch.cat([_oriented(y), y], 1)
    return out.contiguous(memory_format=torch.channels_last)


def _pixel_level(name: str) -> tuple[int, bool]:
    body = name[len(PIXEL):]
    second = body.endswith("x")
    try:
        return int(body[:-1] if second else body), second
    except ValueError:
        raise ValueError(f"bad pixel-band tap {name!r}: write pixel0, pixel1 ... (pixel0x ... second order)") from None


def check_taps(net: Backbone, names: Sequence[str]) -> None:
    """Raise ValueError for a name that is neither a tap of ``net`` nor a pixel band."""
    for n in names:
        if n.startswith(PIXEL):
            _pixel_level(n)
        else:
            net.spec.check_tap(n)


def padded_taps(net: Backbone, x: torch.Tensor, names: Sequence[str], pad: int,
                amp: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """Activations of ``x`` reflect-padded by ``pad`` px, cropped back to the picture's own area.

    ``pixelN`` names are :func:`pixel_bands` of ``x`` itself (no network, no padding). ``amp``: as
    :meth:`Backbone.taps` (the pixel bands stay float32).
    """
    pix = [n for n in names if n.startswith(PIXEL)]
    if pix:
        out = padded_taps(net, x, [n for n in names if not n.startswith(PIXEL)], pad, amp)
        return {**out, **{n: pixel_bands(x, *_pixel_level(n)) for n in pix}}
    if not names:
        return {}
    h, w = x.shape[-2:]
    p = min(pad, h - 1, w - 1)
    if p <= 0:
        return net.taps(x, names, amp)
    acts = net.taps(F.pad(x, (p, p, p, p), mode="reflect"), names, amp)
    out = {}
    for n, a in acts.items():
        ah, aw = a.shape[-2:]
        cy, cx = round(p * ah / (h + 2 * p)), round(p * aw / (w + 2 * p))
        out[n] = a[..., cy : ah - cy, cx : aw - cx]
    return out
