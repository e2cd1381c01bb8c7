"""``video --dream``: every frame of a clip dreamed without flicker.

The dream carries over: frame t starts from source frame t plus the previous frame's
hallucination (dream - source), warped along the optical flow from t back to t-1 and kept
only where the flow is consistent (occlusions start fresh); a few dream steps refine it.
``persistence`` < 1 fades the carried hallucination by that factor per source frame, so the
refine steps added on every frame settle at a steady strength instead of piling up over a
long clip.
``blend`` mode is the simple alternative without flow: the previous dream cross-faded into
the new source frame.
"""
from __future__ import annotations

from dataclasses import replace

import torch

from ...engine.backbones import Backbone
from ...engine.deepdream import dream
from ...engine.objectives import Objective
from ...engine.params import DreamParams
from ..frameloop.scheduler import HalfStep, Source
from ..media import ClipReader
from ..media.clip import ClipInfo
from ..request.resolve import resolve
from .base import OVERLAP, ClipMethod, Opened, along_flow


class VideoDreamMode(HalfStep):
    def __init__(self, net: Backbone, objective: Objective, clip: ClipReader, params: DreamParams,
                 carry: str = "flow", blend: float = 0.5, flow_method: str = "dis", first_params: DreamParams | None = None,
                 persistence: float = 0.9):
        self.net, self.objective, self.clip, self.params = net, objective, clip, params
        self.first_params = first_params or params
        self.carry, self.blend, self.flow_method = carry, blend, flow_method
        self.persistence = persistence
        self.n_frames = clip.info.frames
        self.device = net.device

    def first_source(self) -> Source:
        return Source(self.clip.frame(0))

    def _carried(self, t: int, prev: torch.Tensor, prev_t: int) -> torch.Tensor:
        """Source frame t plus what was dreamed into frame prev_t, moved to where it is at t."""
        src, prev_src = self.clip.frame(t), self.clip.frame(prev_t)
        if self.carry == "none":
            return src
        if self.carry == "blend":
            return ((1 - self.blend) * src + self.blend * prev).clamp(0, 1)
        hallucination, mask = along_flow(self.clip, t, prev_t, prev - prev_src, self.flow_method)
        keep = self.persistence ** abs(t - prev_t)  # per source frame, whatever the cadence
        return (src + (keep * mask) * hallucination).clamp(0, 1)

    def source(self, t: int, prev: torch.Tensor, prev_t: int) -> Source:
        return Source(self._carried(t, prev, prev_t))

    def step(self, t: int, source: Source, seed: int, lr_scale: float = 1.0) -> torch.Tensor:
        base = self.first_params if t == 0 else self.params
        params = DreamParams(**{**base.as_dict(), "seed": seed})
        if lr_scale != 1.0:
            params = replace(params, lr=params.lr * lr_scale)
        return dream(self.net, source.image, self.objective, params)

    def tween(self, t, a, ta, b, tb) -> torch.Tensor:
        """Between dreamed frames: the nearer dreamed frame's hallucination carried to t."""
        if b is not None and (tb - t) < (t - ta):
            return self._carried(t, b, tb)
        return self._carried(t, a, ta)



class DreamMethod(ClipMethod):
    """``video --dream``: the first frame dreamed fully, each later one from its source plus the dream carried
    along the flow, refined by a few steps (:class:`VideoDreamMode`). Recurrent: a split render's ranges overlap,
    cross-faded; with ``--carry none`` every frame is a dream of its own and the ranges do not overlap."""

    name = "dream"

    @property
    def overlap(self) -> int:
        return 0 if self.cfg.carry == "none" else OVERLAP

    @property
    def seam(self) -> str:
        return "discard" if self.cfg.carry == "none" else "crossfade"

    def open(self, clip: ClipInfo, announce: bool = True) -> Opened:
        cfg = self.cfg
        plan = resolve(cfg.backend, frame_size=(clip.width, clip.height), target=cfg.target, styles=None,
                       for_style=False, hint="raise --width")
        reader = ClipReader(clip, device=plan.device)
        # carried frames only need a few refining steps; without carry each frame is a full, independent dream
        later = cfg.dream if cfg.carry == "none" else replace(cfg.dream, steps=cfg.refine_steps, octaves=1)
        mode = VideoDreamMode(plan.net, plan.objective, reader, later, carry=cfg.carry, blend=cfg.blend,
                              flow_method=cfg.flow, first_params=cfg.dream, persistence=cfg.persistence)
        return Opened(mode, reader, plan.settings())
