"""Optical flow, backward warping, consistency masks and the warping-error metric.

Kornia style: pure functions on ``(B, C, H, W)`` tensors, no files, no printing.

Conventions (used by every function here)
-----------------------------------------
* Frames are RGB float tensors in [0, 1], shape ``(1, 3, H, W)``, on any device.
* A flow is a float32 tensor ``(B, 2, H, W)`` in pixels: ``flow[:, 0] = dx`` (x to the right),
  ``flow[:, 1] = dy`` (y down). Pixel ``(x, y)`` has its centre at integer coordinates ``(x, y)``.
* "Flow from ``a`` to ``b``" lives on ``a``'s grid and says where each pixel of ``a`` went::

      a(x) ≈ b(x + flow(x))

  so ``warp(b, flow_a_to_b) ≈ a`` (backward warping: ``b`` is pulled onto ``a``'s grid).
* A mask is ``(B, 1, H, W)`` float with values in {0., 1.} on the grid of the flow it belongs to;
  1 = the flow there is reliable, 0 = disoccluded, out of frame or on a motion boundary.

Typical use (video): to carry frame ``t-1``'s output onto frame ``t``::

    fw, bw, mask = flow_pair(src_t, src_prev)      # fw: t -> t-1, mask on t's grid
    carried = warp(out_prev, fw)                   # ≈ out_t where mask == 1
"""
from __future__ import annotations

import os
from functools import lru_cache
from typing import Iterable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .params import FLOW_METHODS

__all__ = ["FLOW_METHODS", "DIS_PRESETS", "estimate_flow", "warp", "consistency_mask", "flow_pair",
           "warping_error", "raft_weights_path"]

DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
_RAFT_ALIASES = {"raft": "raft_small"}  # "raft" is the small model: the machine here is a CPU


# --------------------------------------------------------------------------- estimation


def _grey_u8(img: torch.Tensor) -> list[np.ndarray]:
    """(B, 3, H, W) RGB in [0, 1] -> B grey uint8 (H, W) arrays (BT.601 luma, as cv2).

    Done in NumPy: tiny torch ops cost milliseconds each on a busy CPU, NumPy microseconds.
    """
    rgb = img.detach().float().cpu().numpy()
    luma = np.tensordot(np.array([0.299, 0.587, 0.114], np.float32), rgb, axes=([0], [1]))
    return [np.ascontiguousarray(g) for g in (np.clip(luma, 0, 1) * 255 + 0.5).astype(np.uint8)]


def _check_pair(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.ndim != 4 or a.shape[1] != 3 or a.shape != b.shape:
        raise ValueError(f"flow needs two (B, 3, H, W) frames of the same shape, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")


def _flow_opencv(a: torch.Tensor, b: torch.Tensor, method: str, preset: str) -> torch.Tensor:
    if method == "dis":
        if preset not in DIS_PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r}; valid presets: {', '.join(DIS_PRESETS)}")
        dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])  # per call: cv2 objects are not thread-safe
        calc = lambda g0, g1: dis.calc(g0, g1, None)  # noqa: E731
    else:
        levels = max(1, min(5, int(np.log2(max(8, min(a.shape[-2:])) / 8))))
        calc = lambda g0, g1: cv2.calcOpticalFlowFarneback(  # noqa: E731
            g0, g1, None, pyr_scale=0.5, levels=levels, winsize=15, iterations=3, poly_n=5,
            poly_sigma=1.2, flags=0)
    flows = [calc(g0, g1) for g0, g1 in zip(_grey_u8(a), _grey_u8(b))]  # each (H, W, 2): dx, dy
    return torch.from_numpy(np.ascontiguousarray(np.stack(flows).transpose(0, 3, 1, 2))).to(a.device)


def raft_weights_path(name: str = "raft_small") -> str:
    """Where the torchvision RAFT weights are expected: ``torch.hub.get_dir()/checkpoints/<file>``."""
    from torchvision.models.optical_flow import Raft_Large_Weights, Raft_Small_Weights

    weights = {"raft_small": Raft_Small_Weights, "raft_large": Raft_Large_Weights}[name].DEFAULT
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))


@lru_cache(maxsize=2)
def _raft_model(name: str, path: str, device: str) -> torch.nn.Module:
    from torchvision.models.optical_flow import raft_large, raft_small

    net = {"raft_small": raft_small, "raft_large": raft_large}[name](weights=None, progress=False)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.eval().to(device)


def _flow_raft(a: torch.Tensor, b: torch.Tensor, name: str) -> torch.Tensor:
    from torchvision.models.optical_flow import Raft_Large_Weights, Raft_Small_Weights

    path = raft_weights_path(name)
    if not os.path.isfile(path):
        url = {"raft_small": Raft_Small_Weights, "raft_large": Raft_Large_Weights}[name].DEFAULT.url
        raise ValueError(f"{name} weights not on this machine: put {os.path.basename(path)} in "
                         f"{os.path.dirname(path)} (from {url}), or use method 'dis'")
    net = _raft_model(name, path, str(a.device))
    h, w = a.shape[-2:]
    pad = (0, max(128, -(-w // 8) * 8) - w, 0, max(128, -(-h // 8) * 8) - h)  # sides: multiple of 8, >= 128
    x0, x1 = (F.pad(t.float() * 2 - 1, pad, mode="replicate") for t in (a, b))
    with torch.inference_mode():
        flow = net(x0, x1)[-1]
    return flow[..., :h, :w].float().contiguous()


def estimate_flow(a: torch.Tensor, b: torch.Tensor, method: str = "dis", preset: str = "medium") -> torch.Tensor:
    """Dense optical flow from frame ``a`` to frame ``b``: ``a(x) ≈ b(x + flow(x))``.

    Args:
        a, b: ``(B, 3, H, W)`` RGB float in [0, 1] (frames are ``B = 1``), any device.
        method: ``"dis"`` (OpenCV DIS, default), ``"farneback"`` (OpenCV Farneback), or
            ``"raft_small"`` / ``"raft_large"`` (torchvision RAFT; ``"raft"`` = ``"raft_small"``),
            which needs its weights file already in ``torch.hub.get_dir()/checkpoints``
            (see :func:`raft_weights_path`); nothing is downloaded. RAFT pads frames
            (replicate) to sides that are multiples of 8 and at least 128 px.
        preset: DIS preset, ``"ultrafast"``, ``"fast"`` or ``"medium"``; ignored by the others.

    Returns:
        ``(B, 2, H, W)`` float32 on ``a``'s device: channel 0 = dx, channel 1 = dy, in pixels.
        OpenCV methods run on grey uint8 images on the CPU.

    Raises:
        ValueError: unknown method or preset, mismatched shapes, RAFT weights missing.
    """
    method = _RAFT_ALIASES.get(method, method)
    if method not in FLOW_METHODS:
        raise ValueError(f"unknown flow method {method!r}; valid methods: {', '.join(FLOW_METHODS)}")
    _check_pair(a, b)
    if method.startswith("raft"):
        return _flow_raft(a, b, method)
    return _flow_opencv(a, b, method, preset)


# --------------------------------------------------------------------------- warping


def _sample_grid(flow: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Flow (B, 2, H, W) -> grid_sample grid (B, H, W, 2) for align_corners=True (pixel centres)."""
    _, _, h, w = flow.shape
    ys = torch.arange(h, device=flow.device, dtype=dtype).view(1, h, 1)
    xs = torch.arange(w, device=flow.device, dtype=dtype).view(1, 1, w)
    gx = (xs + flow[:, 0].to(dtype)) * (2 / max(w - 1, 1)) - 1
    gy = (ys + flow[:, 1].to(dtype)) * (2 / max(h - 1, 1)) - 1
    return torch.stack([gx, gy], dim=-1)


def warp(img: torch.Tensor, flow: torch.Tensor, mode: str = "bilinear", padding: str = "border") -> torch.Tensor:
    """Backward warp: ``out(x) = img(x + flow(x))``, so ``warp(b, flow_a_to_b) ≈ a``.

    Args:
        img: ``(B, C, H, W)`` float, any channel count (images, flows, masks).
        flow: ``(B, 2, H, W)`` or ``(1, 2, H, W)`` in pixels (dx, dy); a batch of 1 on either side
            is broadcast.
        mode: ``grid_sample`` mode: ``"bilinear"``, ``"nearest"`` or ``"bicubic"``.
        padding: ``grid_sample`` padding for samples outside the image: ``"border"``,
            ``"zeros"`` or ``"reflection"``.

    Returns:
        ``(B, C, H, W)`` with ``img``'s dtype and device. Coordinates are pixel centres
        (``align_corners=True``): an integer flow moves pixels exactly.
    """
    if flow.ndim != 4 or flow.shape[1] != 2 or flow.shape[-2:] != img.shape[-2:]:
        raise ValueError(f"flow must be (B, 2, H, W) matching the image's (H, W), got flow "
                         f"{tuple(flow.shape)} for image {tuple(img.shape)}")
    grid = _sample_grid(flow, img.dtype)
    if img.shape[0] != grid.shape[0]:
        n = max(img.shape[0], grid.shape[0])
        img, grid = img.expand(n, -1, -1, -1), grid.expand(n, -1, -1, -1)
    return F.grid_sample(img, grid, mode=mode, padding_mode=padding, align_corners=True)


# --------------------------------------------------------------------------- reliability


def _sq(v: torch.Tensor) -> torch.Tensor:
    return v.pow(2).sum(1, keepdim=True)


def _gradient_sq(flow: torch.Tensor) -> torch.Tensor:
    """|∇u|² + |∇v|² with central differences (replicated edges): (B, 2, H, W) -> (B, 1, H, W)."""
    p = F.pad(flow, (1, 1, 1, 1), mode="replicate")
    dx = (p[..., 1:-1, 2:] - p[..., 1:-1, :-2]) / 2
    dy = (p[..., 2:, 1:-1] - p[..., :-2, 1:-1]) / 2
    return _sq(dx) + _sq(dy)


def consistency_mask(flow_fw: torch.Tensor, flow_bw: torch.Tensor, alpha1: float = 0.01,
                     alpha2: float = 0.5, motion_boundaries: bool = True) -> torch.Tensor:
    """Forward–backward reliability mask of Ruder et al. 2016, on ``flow_fw``'s grid.

    With ``w = flow_fw`` (a -> b, on a's grid) and ``ŵ(x) = flow_bw(x + w(x))`` (the b -> a flow
    read where each pixel of a lands), a pixel is reliable (1) when

    * ``|w + ŵ|² <= alpha1 (|w|² + |ŵ|²) + alpha2``  (else disoccluded: not visible in b),
    * ``x + w(x)`` lies inside b (within the pixel extent ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``),
    * and, if ``motion_boundaries``, ``|∇u|² + |∇v|² <= 0.01 |w|² + 0.002`` with ``w = (u, v)``
      (central differences).

    Args:
        flow_fw: ``(B, 2, H, W)`` flow a -> b.  flow_bw: ``(B, 2, H, W)`` flow b -> a.

    Returns:
        ``(B, 1, H, W)`` float in {0., 1.}, on the flows' device; 0 marks disocclusions,
        pixels leaving the frame and motion boundaries.
    """
    fw = flow_fw.float()
    bw_at = warp(flow_bw.float(), fw, padding="border")
    ok = _sq(fw + bw_at) <= alpha1 * (_sq(fw) + _sq(bw_at)) + alpha2
    h, w = fw.shape[-2:]
    x = torch.arange(w, device=fw.device, dtype=fw.dtype).view(1, 1, 1, w) + fw[:, :1]
    y = torch.arange(h, device=fw.device, dtype=fw.dtype).view(1, 1, h, 1) + fw[:, 1:]
    ok &= (x >= -0.5) & (x <= w - 0.5) & (y >= -0.5) & (y <= h - 0.5)
    if motion_boundaries:
        ok &= _gradient_sq(fw) <= 0.01 * _sq(fw) + 0.002
    return ok.float()


def flow_pair(a: torch.Tensor, b: torch.Tensor, method: str = "dis", preset: str = "medium",
              motion_boundaries: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Forward flow a -> b, backward flow b -> a, and the reliability mask on a's grid.

    Returns ``(fw, bw, mask)``: ``(B, 2, H, W)``, ``(B, 2, H, W)``, ``(B, 1, H, W)`` on ``a``'s
    device, such that ``warp(b, fw) ≈ a`` wherever ``mask == 1``.
    """
    fw = estimate_flow(a, b, method, preset)
    bw = estimate_flow(b, a, method, preset)
    return fw, bw, consistency_mask(fw, bw, motion_boundaries=motion_boundaries)


# --------------------------------------------------------------------------- metric


def warping_error(frames_out: Iterable[torch.Tensor], frames_src: Iterable[torch.Tensor],
                  method: str = "dis", preset: str = "medium") -> dict:
    """Temporal warping error of Lai et al. 2018, streamed (two frames held at a time).

    For each t: ``fw, mask`` from SOURCE frames t and t+1 (``flow_pair(src_t, src_t+1)``);
    ``E_t = sum(mask * (out_t - warp(out_t+1, fw))²) / (C * sum(mask))`` (mean over unoccluded
    pixels and channels, [0, 1] units; 0 for a pair with no reliable pixel). The result is the
    mean of ``E_t`` over t. ``warping_error(src, src)`` is the floor of the source itself.

    Args:
        frames_out, frames_src: iterables (e.g. generators) of ``(1, C, H, W)`` / ``(1, 3, H, W)``
            frames in [0, 1], of the same length and size.

    Returns:
        ``{"warp_error": float, "pairs": int}`` (``warp_error`` is 0.0 when there are no pairs).

    Raises:
        ValueError: different lengths or frame sizes.
    """
    total, pairs = 0.0, 0
    prev_out = prev_src = None
    out_it, src_it = iter(frames_out), iter(frames_src)
    sentinel = object()
    while True:
        out, src = next(out_it, sentinel), next(src_it, sentinel)
        if out is sentinel or src is sentinel:
            if out is not src:
                raise ValueError("warping_error: output and source have different frame counts")
            break
        if out.shape[-2:] != src.shape[-2:]:
            raise ValueError(f"warping_error: output frame {tuple(out.shape)} and source frame "
                             f"{tuple(src.shape)} differ in size")
        if prev_src is not None:
            fw, _, mask = flow_pair(prev_src, src, method, preset)
            back = warp(out.to(fw.device).float(), fw)
            diff = (prev_out.to(fw.device).float() - back).pow(2) * mask
            total += float(diff.sum() / (mask.sum() * diff.shape[1]).clamp_min(1))
            pairs += 1
        prev_out, prev_src = out, src
    return {"warp_error": total / pairs if pairs else 0.0, "pairs": pairs}
