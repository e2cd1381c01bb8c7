"""Tensor image operations shared by the dream, the style transfer and the warps.

Images are float tensors (B, C, H, W).
"""
from __future__ import annotations

import math

import cv2
import torch
import torch.nn.functional as F


def resize(x: torch.Tensor, size: tuple[int, int], clamp: bool = False) -> torch.Tensor:
    """Bilinear resize to ``size`` (H, W), antialiased when shrinking; ``x`` itself when the size is its own.

    ``clamp``: clamp the result to [0, 1] (the style transfer does; the dream does not).
    """
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    down = size[0] < x.shape[-2]
    out = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=down)
    return out.clamp(0, 1) if clamp else out


def _gaussian_kernel(sigma: float, device, dtype) -> torch.Tensor:
    radius = max(1, int(math.ceil(3 * sigma)))
    x = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, C, H, W), reflect padding."""
    if sigma <= 0:
        return x
    k = _gaussian_kernel(sigma, x.device, x.dtype)
    c, r = x.shape[1], k.numel() // 2
    r_h, r_w = min(r, x.shape[2] - 1), min(r, x.shape[3] - 1)
    kh = k[r - r_h : r + r_h + 1].view(1, 1, -1, 1).expand(c, 1, -1, 1)
    kw = k[r - r_w : r + r_w + 1].view(1, 1, 1, -1).expand(c, 1, 1, -1)
    x = F.conv2d(F.pad(x, (0, 0, r_h, r_h), mode="reflect"), kh, groups=c)
    return F.conv2d(F.pad(x, (r_w, r_w, 0, 0), mode="reflect"), kw, groups=c)


def smooth_gradient(g: torch.Tensor, sigma: float) -> torch.Tensor:
    """Cascade of three Gaussian blurs (0.5, 1, 2 x sigma), averaged: keeps fine and coarse detail.

    On the CPU OpenCV's blur is used (an order of magnitude faster than a depthwise conv there);
    elsewhere the separable torch blur, which stays on the device.
    """
    if sigma <= 0:
        return g
    if g.device.type == "cpu" and g.shape[0] == 1 and g.shape[1] <= 4:
        a = g[0].permute(1, 2, 0).float().contiguous().numpy()
        out = sum(cv2.GaussianBlur(a, (0, 0), s * sigma, borderType=cv2.BORDER_REFLECT_101) for s in (0.5, 1.0, 2.0))
        out = out.reshape(a.shape) / 3.0
        return torch.from_numpy(out).permute(2, 0, 1)[None].to(g.dtype)
    return (gaussian_blur(g, 0.5 * sigma) + gaussian_blur(g, sigma) + gaussian_blur(g, 2 * sigma)) / 3
