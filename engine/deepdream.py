"""DeepDream: gradient ascent of an objective on the image, over an octave pyramid.

Tensors in, tensors out::

    from dreamreel.engine import get_backbone, dream, DreamParams, objectives
    net = get_backbone()
    out = dream(net, image, objectives.layer("block9"), DreamParams(steps=10))

``image`` is RGB in [0, 1], shape (1, 3, H, W), on the backbone's device.
"""
from __future__ import annotations

import math
import random
from typing import Callable

import torch

from .backbones import Backbone
from .device import amp_dtype
from .imageops import resize, smooth_gradient
from .objectives import Objective
from .params import DreamParams

# progress(done_steps, total_steps, info) -- info: {"octave": i, "octaves": n, "loss": float | None}
Progress = Callable[[int, int, dict], None]


# --------------------------------------------------------------------------- helpers


def octave_sizes(h: int, w: int, octaves: int, scale: float, min_size: int) -> list[tuple[int, int]]:
    """Sizes from smallest to full; levels whose short side would fall below ``min_size`` are dropped."""
    sizes = []
    for i in range(octaves):
        f = scale ** -(octaves - 1 - i)
        sh, sw = max(1, round(h * f)), max(1, round(w * f))
        if min(sh, sw) >= min_size or i == octaves - 1:
            sizes.append((sh, sw))
    return sizes


def _spans(n: int, tile: int) -> list[tuple[int, int]]:
    """Split 0..n into near-equal spans of at most ``tile``."""
    k = max(1, math.ceil(n / tile))
    edges = [round(i * n / k) for i in range(k + 1)]
    return list(zip(edges[:-1], edges[1:]))


class LossScale:
    """A float16 step's loss scale, kept on the device so that no step waits for the GPU.

    A dream's objective is a mean over a layer: its gradient there is 2a/N, a few 1e-7 for VGG-16's deep layers
    at 1024 px, under float16's smallest normal number (6e-5); unscaled, 6 % of the image gradient of relu5_3
    came out as zero. The loss is multiplied by a scale set after each step so that the image gradient's largest
    value lands near 2**10 (the first step of a call runs unscaled); a step whose gradient overflowed is skipped
    (nothing added) and the scale cut by 2**8, as torch's GradScaler does but without reading the flag on the host;
    one whose gradient was all zero raises it by 2**8.
    """

    TARGET = 2.0**10

    def __init__(self, device: torch.device | str):
        self.value = torch.ones((), device=device)

    def unscale(self, g: torch.Tensor) -> torch.Tensor:
        g = g.float() / self.value
        ok = torch.isfinite(g).all()
        g = torch.where(ok, g, torch.zeros((), device=g.device))
        amax = g.abs().amax()
        # overflowed: cut; all of it under float16's range: raise; else aim the largest value at TARGET
        grown = torch.where(amax > 0, self.TARGET / amax.clamp_min(1e-30), self.value * 2.0**8)
        self.value = torch.where(ok, grown, self.value / 2.0**8).clamp(2.0**-24, 2.0**40)
        return g


def objective_gradient(net: Backbone, img: torch.Tensor, objective: Objective, tile: int = 0,
                       amp: torch.dtype | None = None, scale: LossScale | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """d objective / d image, whole or tile by tile (bounded memory). Returns (grad, loss).

    ``amp``: the forward pass runs under autocast in that dtype (``None``: float32); ``scale`` multiplies the
    loss before the backward pass and is taken out of the gradient after it (float16)."""
    taps = list(objective.taps)
    h, w = img.shape[-2:]

    def grad_of(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # the objective in float32 (net.taps hands float32 back): its gradient at the loss is the scale itself,
        # over float16's range
        loss = objective(net.taps(x, taps, amp))
        (g,) = torch.autograd.grad(loss if scale is None else loss * scale.value, x)
        return g, loss.detach()

    if not tile or (h <= tile and w <= tile):
        g, loss = grad_of(img.detach().requires_grad_(True))
        return (g if scale is None else scale.unscale(g)), loss
    grad = torch.zeros_like(img)
    total = img.new_zeros(())
    margin = tile_margin(tile)
    need = net.spec.min_size
    for y0, y1 in _spans(h, tile):
        for x0, x1 in _spans(w, tile):
            # each tile sees `margin` px of real context on every side (so its border gradients
            # match the untiled ones) and at least the network's minimum size
            ya, yb = _widen(max(0, y0 - margin), min(h, y1 + margin), h, need)
            xa, xb = _widen(max(0, x0 - margin), min(w, x1 + margin), w, need)
            g, loss = grad_of(img[..., ya:yb, xa:xb].detach().requires_grad_(True))
            grad[..., y0:y1, x0:x1] = g[..., y0 - ya : y1 - ya, x0 - xa : x1 - xa]
            total = total + loss * ((y1 - y0) * (x1 - x0) / (h * w))
    return (grad if scale is None else scale.unscale(grad)), total


def tile_margin(tile: int) -> int:
    """Context around each tile: an eighth of the tile, 16..48 px."""
    return max(16, min(48, tile // 8))


def _widen(a: int, b: int, n: int, need: int) -> tuple[int, int]:
    if b - a >= need:
        return a, b
    extra = need - (b - a)
    a2 = max(0, a - extra // 2)
    b2 = min(n, a2 + need)
    return max(0, b2 - need), b2


def dream_step(net: Backbone, img: torch.Tensor, objective: Objective, params: DreamParams,
               rng: random.Random, lr: float | None = None, amp: torch.dtype | None = None,
               scale: LossScale | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One jittered, normalised, smoothed gradient-ascent step. Returns (image, loss). ``amp`` and ``scale``:
    see :func:`objective_gradient` (the smoothing and the update stay in float32)."""
    j = params.jitter
    if params.tile:
        j = max(j, params.tile // 2)  # move the tile grid over the picture every step
    dy, dx = (rng.randint(-j, j), rng.randint(-j, j)) if j else (0, 0)
    rolled = torch.roll(img, shifts=(dy, dx), dims=(-2, -1))
    g, loss = objective_gradient(net, rolled, objective, params.tile, amp, scale)
    g = torch.roll(g, shifts=(-dy, -dx), dims=(-2, -1))
    g = smooth_gradient(g, params.smooth)
    g = g / (g.abs().mean() + 1e-8)
    img = (img + (params.lr if lr is None else lr) * g).clamp_(0.0, 1.0)
    return img, loss


@torch.no_grad()
def dream(net: Backbone, image: torch.Tensor, objective: Objective, params: DreamParams = DreamParams(),
          progress: Progress | None = None, amp: str | torch.dtype | None = "auto") -> torch.Tensor:
    """Dream ``image`` (1, 3, H, W) in [0, 1]; returns a new tensor of the same shape. ``amp``: the precision of
    the forward passes (:func:`amp_dtype`; float16 with a :class:`LossScale` on CUDA, float32 elsewhere)."""
    params.validate()
    if image.dim() != 4 or image.shape[:2] != (1, 3):
        raise ValueError(f"image must be (1, 3, H, W), got {tuple(image.shape)}")
    h, w = image.shape[-2:]
    if min(h, w) < net.spec.min_size:
        raise ValueError(f"image {w}x{h} is too small for {net.name}: the short side needs at least {net.spec.min_size} px")
    rng = random.Random(params.seed)
    base = image.detach().to(net.device, torch.float32)
    sizes = octave_sizes(h, w, params.octaves, params.octave_scale, net.spec.min_size)
    total, done = len(sizes) * params.steps, 0
    detail = None
    img = base
    dtype = amp_dtype(base.device, amp)
    scale = LossScale(base.device) if dtype == torch.float16 else None
    for oi, size in enumerate(sizes):
        octave_base = resize(base, size)
        img = octave_base if detail is None else (octave_base + resize(detail, size)).clamp_(0, 1)
        for _ in range(params.steps):
            with torch.enable_grad():
                img, loss = dream_step(net, img, objective, params, rng, amp=dtype, scale=scale)
            done += 1
            if progress is not None:
                progress(done, total, {"octave": oi + 1, "octaves": len(sizes), "loss": loss})
        detail = img - octave_base
    return img


@torch.no_grad()
def ascend(net: Backbone, image: torch.Tensor, objective: Objective, steps: int,
           params: DreamParams = DreamParams(), amp: str | torch.dtype | None = "auto") -> torch.Tensor:
    """``steps`` gradient-ascent steps at the image's own scale (no octaves): one slice of a long dream (``amp``
    as in :func:`dream`)."""
    params.validate()
    rng = random.Random(params.seed)
    img = image.detach().to(net.device, torch.float32)
    dtype = amp_dtype(img.device, amp)
    scale = LossScale(img.device) if dtype == torch.float16 else None
    for _ in range(steps):
        with torch.enable_grad():
            img, _ = dream_step(net, img, objective, params, rng, amp=dtype, scale=scale)
    return img


class OctaveClimb:
    """One long dream of ``total`` steps that climbs the octave pyramid as :func:`dream` does.

    The steps are split evenly over the octaves, small to full size, with detail re-injection
    between them; :meth:`advance` runs steps ``first .. last`` given the full-size picture after
    step ``first`` (so a long dream can be recorded, or resumed, a slice at a time).
    """

    def __init__(self, net: Backbone, start: torch.Tensor, objective: Objective, params: DreamParams, total: int):
        self.net, self.objective, self.params, self.total = net, objective, params, total
        self.start = start.to(net.device)
        h, w = start.shape[-2:]
        self.sizes = octave_sizes(h, w, params.octaves, params.octave_scale, net.spec.min_size)
        self.bases = [resize(self.start, sz) for sz in self.sizes]

    def octave_of(self, step: int) -> int:
        """Octave in which (0-based) step ``step`` runs."""
        return min(len(self.sizes) - 1, step * len(self.sizes) // max(1, self.total))

    @torch.no_grad()
    def advance(self, image: torch.Tensor, first: int, last: int, seed: int, lr_scale: float = 1.0) -> torch.Tensor:
        """The full-size picture after step ``last``, from ``image`` (the picture after step ``first``);
        ``lr_scale`` scales the step size of these steps."""
        if first == last:
            return image
        p = DreamParams(**{**self.params.as_dict(), "seed": seed})
        if lr_scale != 1.0:
            p = DreamParams(**{**p.as_dict(), "lr": p.lr * lr_scale})
        k = self.octave_of(first)
        if first == 0:
            img = self.bases[k]
        else:  # back to the working octave; at a new octave, re-inject the detail dreamed so far
            k_prev = self.octave_of(first - 1)
            detail = resize(image, self.sizes[k_prev]) - self.bases[k_prev]
            img = (self.bases[k] + resize(detail, self.sizes[k])).clamp(0, 1)
        s = first
        while s < last:
            k = self.octave_of(s)
            end = s
            while end < last and self.octave_of(end) == k:
                end += 1
            if img.shape[-2:] != self.bases[k].shape[-2:]:
                detail = img - self.bases[k - 1]
                img = (self.bases[k] + resize(detail, self.sizes[k])).clamp(0, 1)
            img = ascend(self.net, img, self.objective, end - s, DreamParams(**{**p.as_dict(), "seed": seed + s}))
            s = end
        return resize(img, tuple(self.start.shape[-2:]))
