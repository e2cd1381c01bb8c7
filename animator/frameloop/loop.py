"""Renders that play in a loop (``--loop``, ``--pingpong``): how, and how long the fade or the way back is.

The frame scheduler (:mod:`.scheduler`) carries a :class:`Loop` out: a fade loop's tail is blended in its
frame loop, and what the MP4 and GIF play is its ``playlist``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..media import FrameDir


LOOP_KINDS = ("fade", "pingpong", "return")


def ease(a: float) -> float:
    """Smoothstep: a fade that starts and ends gently."""
    return a * a * (3 - 2 * a)


@dataclass(frozen=True)
class Loop:
    """How the MP4 and GIF play in a loop (``--loop``); the PNG frames are what was rendered.

    ``fade`` (zooms, dreamed clips): the outputs play frames ``lead .. n-1`` (the frames before, where
    a zoom's start picture still shows, only prime the loop); the last ``frames`` of them fade into
    the ``frames`` before ``lead``: frame ``t`` into frame ``t - period``, a frame at the same point of
    the motion (a zoom's faded frame is warped and dreamed on as usual, so the motion goes on through
    the fade), all the way at the last, which is then frame ``lead - 1``: the loop goes on from it as
    the render did. ``pingpong``: the frames forward, then back (frames ``n-2 .. 1``).
    ``return``: after the last frame, frames that cross-fade from it back to frame 0, as many as keep
    the way back at the pace of the way there (``frames``: 0, counted when the frames are there).
    """

    kind: str
    frames: int = 0
    lead: int | None = None  # a fade loop's first played frame (default: ``frames``)

    def first_played(self) -> int:
        if self.kind != "fade":
            return 0
        return self.frames if self.lead is None else self.lead

    def playlist(self, n: int, back: int = 0) -> list[tuple[int, int, float]]:
        """What the outputs play of ``n`` frames: ``(t, u, a)`` is frame t cross-faded by ``a`` toward frame u
        (``back``: a return loop's frames back)."""
        first = self.first_played()
        items = [(t, t, 0.0) for t in range(first, n)]
        if self.kind == "pingpong":
            items += [(t, t, 0.0) for t in range(n - 2, first, -1)]
        elif self.kind == "return":  # linear: every step back is the same size
            items += [(n - 1, 0, k / (back + 1)) for k in range(1, back + 1)]
        return items


def fade_frames(period: int, fps: float) -> int:
    """A fade loop's length: a second, at most a third of the loop's period (at least 1)."""
    return max(1, min(round(fps), period // 3))


def way_back(frames: FrameDir, n: int) -> int:
    """Frames a return loop takes from frame n-1 back to frame 0 so that no step is larger than the median
    step between the frames: (change from last to first) / (median change), less one; at most n."""
    steps, prev = [], frames.read(0)
    for t in range(1, n):
        cur = frames.read(t)
        steps.append(float((cur - prev).abs().mean()))
        prev = cur
    if not steps:
        return 0
    median = sorted(steps)[len(steps) // 2]
    far = float((prev - frames.read(0)).abs().mean())
    return min(n, max(1, math.ceil(far / max(median, 1e-6)) - 1))


__all__ = ["LOOP_KINDS", "Loop", "ease", "fade_frames", "way_back"]
