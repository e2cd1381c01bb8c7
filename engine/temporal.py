"""Temporal consistency for video style transfer (Ruder et al. 2016): a loss toward the previous
stylised frame, warped along the flow, where the flow is reliable. Tensors in, tensors out."""
from __future__ import annotations

import torch

from .style import StyleTransfer


def temporal_loss(x: torch.Tensor, warped_prev: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared difference to ``warped_prev`` over the pixels ``mask`` (1, 1, H, W) keeps."""
    return (mask * (x - warped_prev).pow(2)).sum() / (mask.sum() * x.shape[1] + 1e-8)


class TemporalStyleTransfer(StyleTransfer):
    """:class:`StyleTransfer` plus ``weight * temporal_loss`` (in units of the starting loss)."""

    def __init__(self, *args, previous: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                 temporal_weight: float = 0.0, **kwargs):
        self.previous, self.mask, self.temporal_weight = previous, mask, temporal_weight
        super().__init__(*args, **kwargs)

    def objective(self, x: torch.Tensor):
        total, parts = super().objective(x)
        if self.previous is not None and self.temporal_weight:
            t = temporal_loss(x, self.previous, self.mask)
            parts["temporal"] = t
            total = total + self.temporal_weight * self._range_scale * t
        return total, parts
