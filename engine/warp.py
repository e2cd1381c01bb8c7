"""Affine warps of frames, kornia style: pure functions, documented shapes, no hidden state.

Images are float tensors of shape ``(B, C, H, W)`` (frames are ``(1, 3, H, W)``) with values in
[0, 1]. Matrices are NumPy ``(2, 3)`` float64 arrays in OpenCV's *forward* convention, in pixel
coordinates where pixel ``(x, y)`` has its centre at ``(x, y)`` (x to the right, y down):

    dst_point = M @ [x, y, 1]      # where the content at src (x, y) lands

so ``warp_affine(img, M)`` moves content along ``M``. On the CPU the warp is OpenCV's
(``cv2.warpAffine``: the faster there); a frame on another device (CUDA) is warped where it is, by
``grid_sample`` (:func:`warp_affine_torch`: the same border modes; Lanczos is bicubic there), so it
never crosses to the host. The two agree within the tolerances ``tests/test_warp.py`` states.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["affine_matrix", "motion_matrix", "warp_affine", "warp_affine_torch", "compose", "invert", "BORDERS",
           "INTERPOLATIONS"]

BORDERS = {
    "reflect": cv2.BORDER_REFLECT_101,  # mirror without repeating the edge pixel: dcb|abcd|cba
    "replicate": cv2.BORDER_REPLICATE,  # aaa|abcd|ddd
    "wrap": cv2.BORDER_WRAP,  # bcd|abcd|abc (tiles the plane)
    "constant": cv2.BORDER_CONSTANT,  # black
}
INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "lanczos": cv2.INTER_LANCZOS4,
    "area": cv2.INTER_AREA,
}


def affine_matrix(
    h: int,
    w: int,
    zoom: float = 1.0,
    angle: float = 0.0,
    tx: float = 0.0,
    ty: float = 0.0,
    cx: float | None = None,
    cy: float | None = None,
) -> np.ndarray:
    """The ``(2, 3)`` float64 forward matrix of one zoom/rotate/translate step.

    First scale by ``zoom`` and rotate by ``angle`` about the centre ``(cx, cy)``, then translate
    by ``(tx, ty)``:

        dst = R(angle) * zoom * (src - c) + c + (tx, ty)

    * ``zoom > 1`` magnifies (content moves away from the centre), ``zoom < 1`` shrinks.
    * ``angle`` in degrees; positive turns the picture counter-clockwise *as seen on screen*
      (OpenCV's ``getRotationMatrix2D`` convention): content right of the centre moves up.
    * ``tx > 0`` moves content right, ``ty > 0`` moves it down, in pixels.
    * ``cx, cy`` in pixels; default the image centre ``((w - 1) / 2, (h - 1) / 2)``, which is
      symmetric under OpenCV's pixel-centre coordinates.
    """
    if not zoom > 0:
        raise ValueError(f"zoom must be > 0, got {zoom}")
    cx = (w - 1) / 2 if cx is None else float(cx)
    cy = (h - 1) / 2 if cy is None else float(cy)
    m = cv2.getRotationMatrix2D((cx, cy), float(angle), float(zoom)).astype(np.float64)
    m[0, 2] += tx
    m[1, 2] += ty
    return m


def motion_matrix(
    h: int,
    w: int,
    zoom: float,
    angle: float,
    tx: float,
    ty: float,
    cx: float | None = None,
    cy: float | None = None,
    fraction: float = 1.0,
) -> np.ndarray:
    """The matrix of a ``fraction`` of one frame's motion, for placing in-between frames:
    ``affine_matrix(h, w, zoom**fraction, angle*fraction, tx*fraction, ty*fraction, cx, cy)``.

    ``fraction=1`` is the whole step, ``0`` the identity. Zoom and rotation split exactly
    (two half steps compose to one whole step); with translation the split is approximate
    (the translation of the first half is then zoomed/rotated by the second half).
    """
    if not zoom > 0:
        raise ValueError(f"zoom must be > 0, got {zoom}")
    f = float(fraction)
    return affine_matrix(h, w, zoom**f, angle * f, tx * f, ty * f, cx, cy)


def _as_3x3(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    if m.shape not in ((2, 3), (3, 3)):
        raise ValueError(f"expected a 2x3 (or 3x3) affine matrix, got shape {m.shape}")
    return np.vstack([m[:2], [0.0, 0.0, 1.0]])


def compose(m1: np.ndarray, m2: np.ndarray) -> np.ndarray:
    """The ``(2, 3)`` matrix of applying ``m1`` first, then ``m2`` (i.e. ``m2 @ m1``)."""
    return (_as_3x3(m2) @ _as_3x3(m1))[:2]


def invert(m: np.ndarray) -> np.ndarray:
    """The ``(2, 3)`` inverse of an affine matrix (``cv2.invertAffineTransform``)."""
    return cv2.invertAffineTransform(_as_3x3(m)[:2])


def _lookup(table: dict[str, int], key: str, what: str) -> int:
    try:
        return table[key]
    except (KeyError, TypeError):
        raise ValueError(f"unknown {what} {key!r}; expected one of: {', '.join(table)}") from None


def warp_affine(
    img: torch.Tensor,
    matrix: np.ndarray,
    border: str = "reflect",
    interp: str = "lanczos",
    with_mask: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Warp ``img`` ``(B, C, H, W)`` (C <= 4, values in [0, 1]) by the forward ``matrix``.

    Output has the same shape, device and dtype, clamped to [0, 1] (lanczos/cubic overshoot).
    ``border``: one of ``reflect`` (BORDER_REFLECT_101), ``replicate``, ``wrap``, ``constant``
    (black) — what fills the area the warp uncovers. ``interp``: ``nearest``, ``linear``,
    ``cubic``, ``lanczos``, ``area``. Unknown names raise ``ValueError``.
    ``with_mask``: also return the validity mask ``(1, 1, H, W)`` on ``img``'s device (see
    :func:`valid_mask`).
    """
    border_mode = _lookup(BORDERS, border, "border")
    flags = _lookup(INTERPOLATIONS, interp, "interpolation")
    if img.ndim != 4:
        raise ValueError(f"expected a (B, C, H, W) tensor, got shape {tuple(img.shape)}")
    if img.device.type != "cpu":
        return warp_affine_torch(img, matrix, border, interp, with_mask)
    m = _as_3x3(matrix)[:2]
    _, _, h, w = img.shape
    hwc = img.detach().to("cpu", torch.float32).permute(0, 2, 3, 1).contiguous().numpy()
    out = np.empty_like(hwc)
    for b in range(hwc.shape[0]):
        warped = cv2.warpAffine(hwc[b], m, (w, h), flags=flags, borderMode=border_mode, borderValue=0)
        out[b] = warped.reshape(h, w, -1)  # cv2 drops a single channel axis
    np.clip(out, 0.0, 1.0, out=out)
    warped = torch.from_numpy(out).permute(0, 3, 1, 2).contiguous().to(device=img.device, dtype=img.dtype)
    return (warped, valid_mask(m, h, w, img.device)) if with_mask else warped


def valid_mask(matrix: np.ndarray, h: int, w: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Where the warp by ``matrix`` of an ``h`` x ``w`` picture lands inside it: 1 inside, 0 where the
    warp had to invent pixels, bilinear in between. ``(1, 1, H, W)`` float32 on ``device``."""
    valid = cv2.warpAffine(np.ones((h, w), np.float32), np.asarray(_as_3x3(matrix)[:2], np.float64), (w, h),
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return torch.from_numpy(valid).to(device)[None, None]


_PADS = {"reflect": "reflect", "replicate": "replicate", "wrap": "circular"}
_GRID_MODES = {"nearest": "nearest", "linear": "bilinear", "cubic": "bicubic", "lanczos": "bicubic", "area": "bilinear"}


def _fold(c: torch.Tensor, n: int, border: str) -> torch.Tensor:
    """Source coordinates outside ``0 .. n-1`` brought inside as ``border`` fills the outside."""
    if border == "replicate":
        return c.clamp(0, n - 1)
    if border == "wrap":
        return torch.remainder(c, n)
    if n == 1:
        return torch.zeros_like(c)
    period = 2 * (n - 1)  # reflect_101: dcb|abcd|cba
    return (n - 1) - (torch.remainder(c, period) - (n - 1)).abs()


def _sample(img: torch.Tensor, x: torch.Tensor, y: torch.Tensor, border: str, mode: str) -> torch.Tensor:
    """``img`` sampled at pixel coordinates ``(x, y)`` (each ``(H, W)``), outside as ``border`` says."""
    b, _, h, w = img.shape
    if border == "constant":
        src, x0, y0, hp, wp, padding = img, x, y, h, w, "zeros"
    else:  # fold the coordinates in, pad by the kernel's reach in the same mode: the taps at the edges too
        pad = 2
        src = F.pad(img, (pad, pad, pad, pad), mode=_PADS[border])
        x0, y0, hp, wp, padding = _fold(x, w, border) + pad, _fold(y, h, border) + pad, h + 2 * pad, w + 2 * pad, \
            "border"
    grid = torch.stack((2 * x0 / max(wp - 1, 1) - 1, 2 * y0 / max(hp - 1, 1) - 1), dim=-1)[None].expand(b, -1, -1, -1)
    return F.grid_sample(src, grid.to(src.dtype), mode=mode, padding_mode=padding, align_corners=True)


def warp_affine_torch(img: torch.Tensor, matrix: np.ndarray, border: str = "reflect", interp: str = "lanczos",
                      with_mask: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """:func:`warp_affine` with ``grid_sample``, on ``img``'s device (no host round trip): the same
    matrix convention and border modes; ``lanczos`` and ``cubic`` are bicubic here, ``area`` bilinear."""
    _lookup(BORDERS, border, "border")
    _lookup(INTERPOLATIONS, interp, "interpolation")
    mode = _GRID_MODES[interp]
    _, _, h, w = img.shape
    # dst pixel -> src pixel, computed where the frame is (in float64, as on the host before): the six
    # coefficients go as Python numbers, so nothing is copied to the device and nothing waits for it
    (a, b, c), (d, e, f) = invert(matrix).tolist()  # host: a numpy matrix
    ys = torch.arange(h, dtype=torch.float64, device=img.device).view(h, 1)
    xs = torch.arange(w, dtype=torch.float64, device=img.device).view(1, w)
    x = (a * xs + b * ys + c).float()
    y = (d * xs + e * ys + f).float()
    out = _sample(img.float(), x, y, border, mode).clamp_(0, 1).to(img.dtype)
    if not with_mask:
        return out
    ones = torch.ones(1, 1, h, w, device=img.device)
    return out, _sample(ones, x, y, "constant", "bilinear")
