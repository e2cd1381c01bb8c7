"""Colour spaces of RGB pictures in [0, 1], (B, 3, H, W): YCbCr (BT.601) and CIE L*a*b* (D65),
and the luminance-only helpers of the style transfer's "original colours"."""
from __future__ import annotations

import torch

COLOR_SPACES = ("ycbcr", "lab")

_YCC = torch.tensor([[0.299, 0.587, 0.114],
                     [-0.168736, -0.331264, 0.5],
                     [0.5, -0.418688, -0.081312]])


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """RGB [0, 1] (B, 3, H, W) -> Y, Cb, Cr (BT.601 full range; Cb, Cr centred on 0.5)."""
    m = _YCC.to(x)
    y = torch.einsum("ij,bjhw->bihw", m, x)
    return y + torch.tensor([0.0, 0.5, 0.5], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)


def ycbcr_to_rgb(x: torch.Tensor) -> torch.Tensor:
    m = torch.linalg.inv(_YCC.double()).to(x)
    x = x - torch.tensor([0.0, 0.5, 0.5], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return torch.einsum("ij,bjhw->bihw", m, x)


_XYZ = torch.tensor([[0.412453, 0.357580, 0.180423],
                     [0.212671, 0.715160, 0.072169],
                     [0.019334, 0.119193, 0.950227]])
_WHITE = (0.950456, 1.0, 1.088754)


def rgb_to_lab(x: torch.Tensor) -> torch.Tensor:
    """sRGB [0, 1] (B, 3, H, W) -> CIE L*a*b* (D65): L in [0, 100], a/b roughly [-128, 127]."""
    lin = torch.where(x > 0.04045, ((x.clamp(min=0) + 0.055) / 1.055) ** 2.4, x / 12.92)
    xyz = torch.einsum("ij,bjhw->bihw", _XYZ.to(x), lin)
    xyz = xyz / torch.tensor(_WHITE, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    eps = 216 / 24389
    f = torch.where(xyz > eps, xyz.clamp(min=eps) ** (1 / 3), (24389 / 27 * xyz + 16) / 116)
    L = 116 * f[:, 1:2] - 16
    a = 500 * (f[:, 0:1] - f[:, 1:2])
    b = 200 * (f[:, 1:2] - f[:, 2:3])
    return torch.cat([L, a, b], 1)


def lab_to_rgb(x: torch.Tensor) -> torch.Tensor:
    L, a, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    fy = (L + 16) / 116
    fx, fz = fy + a / 500, fy - b / 200
    f = torch.cat([fx, fy, fz], 1)
    eps = 6 / 29
    xyz = torch.where(f > eps, f ** 3, 3 * eps**2 * (f - 4 / 29))
    xyz = xyz * torch.tensor(_WHITE, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    lin = torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_XYZ.double()).to(x), xyz)
    lin = lin.clamp(min=0)
    return torch.where(lin > 0.0031308, 1.055 * lin ** (1 / 2.4) - 0.055, 12.92 * lin)


def to_space(x: torch.Tensor, space: str) -> torch.Tensor:
    """RGB -> ``space`` (one of :data:`COLOR_SPACES`; anything but "ycbcr" is Lab)."""
    return rgb_to_ycbcr(x) if space == "ycbcr" else rgb_to_lab(x)


def from_space(x: torch.Tensor, space: str) -> torch.Tensor:
    """``space`` -> RGB (the inverse of :func:`to_space`)."""
    return ycbcr_to_rgb(x) if space == "ycbcr" else lab_to_rgb(x)


def luminance_image(x: torch.Tensor, space: str = "ycbcr", match: torch.Tensor | None = None) -> torch.Tensor:
    """The luminance of ``x`` as a grey RGB picture (chroma set to neutral).

    ``match``: a picture whose luminance mean and standard deviation the result takes on
    (Gatys et al.'s luminance matching of the style to the content).
    """
    c = to_space(x, space)
    lum = c[:, :1]
    if match is not None:
        ref = to_space(match, space)[:, :1]
        lum = (lum - lum.mean()) / (lum.std() + 1e-6) * ref.std() + ref.mean()
        lum = lum.clamp(0, 1 if space == "ycbcr" else 100)
    neutral = 0.5 if space == "ycbcr" else 0.0
    return from_space(torch.cat([lum, torch.full_like(c[:, 1:], neutral)], 1), space).clamp(0, 1)


def keep_colors(stylised: torch.Tensor, content: torch.Tensor, space: str = "ycbcr") -> torch.Tensor:
    """The luminance of ``stylised`` with the chroma of ``content`` (same size)."""
    s, c = to_space(stylised, space), to_space(content, space)
    return from_space(torch.cat([s[:, :1], c[:, 1:]], 1), space).clamp(0, 1)
