"""Start images as tensors: noise, a solid colour, a blend of two images. (1, 3, H, W) in [0, 1]."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def noise(h: int, w: int, seed: int = 0, mean: float = 0.5, std: float = 0.1,
          device: torch.device | str = "cpu") -> torch.Tensor:
    """Gaussian grey noise (seeded, same on every device)."""
    g = torch.Generator().manual_seed(seed)
    x = mean + std * torch.randn(1, 3, h, w, generator=g)
    return x.clamp_(0, 1).to(device)


def solid(h: int, w: int, rgb: tuple[float, float, float], device: torch.device | str = "cpu") -> torch.Tensor:
    """A flat colour, ``rgb`` in [0, 1]."""
    return torch.tensor(rgb, dtype=torch.float32, device=device).view(1, 3, 1, 1).expand(1, 3, h, w).clone()


def blend(a: torch.Tensor, b: torch.Tensor, alpha: float) -> torch.Tensor:
    """``(1 - alpha) * a + alpha * b``; ``b`` is resized to ``a``'s size."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"blend alpha must be in [0, 1] (got {alpha})")
    if b.shape[-2:] != a.shape[-2:]:
        b = F.interpolate(b, size=a.shape[-2:], mode="bilinear", align_corners=False, antialias=True)
    return ((1 - alpha) * a + alpha * b.to(a.device)).clamp_(0, 1)
