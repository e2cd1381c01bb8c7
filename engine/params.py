"""The engine's parameter records: plain frozen dataclasses with their own checks (no torch).

Importing this module is cheap, so the command line can check what a user typed before torch
loads.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

# optical flow methods (engine.flow): OpenCV's DIS and Farneback, torchvision's RAFT ("raft" = the small one)
FLOW_METHODS = ("dis", "farneback", "raft", "raft_small", "raft_large")


@dataclass(frozen=True)
class DreamParams:
    """The numbers of one dream: its octave pyramid, its gradient steps and their size (what a zoom schedules per
    frame is set per frame; the rest holds for the whole render)."""

    octaves: int = 4
    """Pyramid levels (1 = the full size only)."""
    octave_scale: float = 1.4
    """Size ratio between levels."""
    steps: int = 10
    """Gradient steps per octave."""
    lr: float = 0.02
    """Step size, in [0, 1] pixel units, of the mean-normalised gradient."""
    jitter: int = 32
    """Random roll, pixels (at each octave's resolution)."""
    smooth: float = 0.5
    """Gaussian smoothing of the gradient: base sigma in pixels (0 = off)."""
    tile: int = 0
    """Gradient tiles of at most this many pixels a side (0 = whole image)."""
    seed: int = 0
    """The jitter's random seed."""

    def as_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> None:
        if self.octaves < 1:
            raise ValueError(f"octaves must be >= 1 (got {self.octaves})")
        if not self.octave_scale > 1.0:
            raise ValueError(f"octave scale must be > 1 (got {self.octave_scale})")
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0 (got {self.steps})")
        if self.lr < 0:
            raise ValueError(f"step size must be >= 0 (got {self.lr})")
        if self.jitter < 0 or self.smooth < 0:
            raise ValueError("jitter and smooth must be >= 0")
        if self.tile and self.tile < 64:
            raise ValueError(f"tile must be 0 (off) or >= 64 px (got {self.tile})")


def blend_weights(n: int, weights: Sequence[float] | None) -> list[float]:
    """Blend weights of ``n`` style pictures, normalised to sum 1 (``None``: equal). Each must be > 0:
    a picture with weight 0 is a picture left out, and the one rule for the library and the CLI."""
    if weights is None:
        return [1.0 / n] * n
    if len(weights) != n:
        raise ValueError(f"{len(weights)} style weights for {n} style images")
    bad = [w for w in weights if not (w > 0 and math.isfinite(w))]
    if bad:
        raise ValueError(f"style weights must all be > 0 (got {bad[0]:g})")
    s = float(sum(weights))
    return [float(w) / s for w in weights]
