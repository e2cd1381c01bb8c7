"""Test-only mode factories for split clips (:mod:`dreamreel.animator.cluster.split`), cheap (no network).

``BlendFactory``: the shape of the lead's network method: each frame's raw output depends on its
clip frame only (here: a fixed colour map), and the frame shown is that raw output blended with
the previous frame's raw output. So frame t depends on clip frames t-1 and t: overlap 1, seam
"discard", and a split run equals a one-process run bit for bit.

``KillOnce``: the same, but the worker rendering global frame ``kill_at`` kills its own process
(SIGKILL) the first time (a marker file says whether it did); Ray runs the range again.
"""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass

import torch

from dreamreel.animator.media import ClipReader
from dreamreel.animator.clips.base import Opened
from dreamreel.animator.frameloop.scheduler import CrossFade, Source


class BlendMode(CrossFade):
    def __init__(self, reader: ClipReader, blend: float, offset: int = 0, kill_at: int | None = None,
                 marker: str | None = None):
        self.clip, self.blend, self.n_frames, self.device = reader, blend, reader.info.frames, torch.device("cpu")
        self.offset, self.kill_at, self.marker = offset, kill_at, marker
        self.raw_prev: torch.Tensor | None = None
        self.raw_prev_t: int | None = None

    def raw(self, t: int) -> torch.Tensor:
        x = self.clip.frame(t)
        return torch.stack([x[:, 2], 1 - x[:, 0], (x[:, 1] * 1.7) % 1.0], dim=1)

    def first_source(self) -> Source:
        return Source(self.clip.frame(0))

    def source(self, t, prev, prev_t) -> Source:
        return Source(self.clip.frame(t))

    def step(self, t, source, seed) -> torch.Tensor:
        if self.kill_at is not None and self.offset + t == self.kill_at and not os.path.exists(self.marker):
            with open(self.marker, "w") as f:
                f.write(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        raw = self.raw(t)
        # the previous frame's raw output: kept from the last step, or made again (the first frame of a
        # range, a range resumed after its worker died)
        prev = self.raw_prev if self.raw_prev_t == t - 1 else (self.raw(t - 1) if t > 0 else raw)
        self.raw_prev, self.raw_prev_t = raw, t
        return (1 - self.blend) * raw + self.blend * prev


@dataclass(frozen=True)
class BlendFactory:
    blend: float = 0.4
    overlap: int = 1
    seam: str = "discard"

    def __call__(self, clip) -> Opened:
        reader = ClipReader(clip)
        return Opened(BlendMode(reader, self.blend), reader, {"mode": "blend-test"})


@dataclass(frozen=True)
class KillOnce:
    kill_at: int
    marker: str
    blend: float = 0.4
    overlap: int = 1
    seam: str = "discard"

    def __call__(self, clip) -> Opened:
        reader = ClipReader(clip)
        mode = BlendMode(reader, self.blend, offset=clip.skip, kill_at=self.kill_at, marker=self.marker)
        return Opened(mode, reader, {"mode": "blend-test"})
