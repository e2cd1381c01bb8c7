"""The zoom mode: each frame is the previous one zoomed/rotated/shifted, then dreamed a little more."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from ..engine.backbones import Backbone
from ..engine.deepdream import dream
from ..engine.objectives import Objective
from ..engine.params import DreamParams
from ..engine.warp import compose, invert, motion_matrix, warp_affine
from .configs import ZoomConfig
from .render import check_outputs, run
from .resolve import resolve
from .schedule import Schedule
from .scheduler import Source


@dataclass
class Motion:
    """Keyframed motion: zoom (>1 = in), angle (degrees), translation (px), centre (fraction of w/h)."""

    zoom: Schedule
    angle: Schedule
    translation_x: Schedule
    translation_y: Schedule
    center_x: Schedule
    center_y: Schedule
    n_frames: int

    def frame_matrix(self, t: int, h: int, w: int) -> np.ndarray:
        """The motion that takes frame t-1 to frame t."""
        n = self.n_frames
        return motion_matrix(h, w, self.zoom(t, n), self.angle(t, n), self.translation_x(t, n),
                             self.translation_y(t, n), cx=self.center_x(t, n) * (w - 1),
                             cy=self.center_y(t, n) * (h - 1))

    def between(self, t0: int, t1: int, h: int, w: int) -> np.ndarray:
        """The motion from frame t0 to frame t1 (t0 <= t1): frames t0+1 .. t1 composed."""
        m = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        for t in range(t0 + 1, t1 + 1):
            m = compose(m, self.frame_matrix(t, h, w))
        return m


class ZoomMode:
    def __init__(self, net: Backbone, objective: Objective, start: torch.Tensor, motion: Motion,
                 base: DreamParams, strength: Schedule, steps: Schedule, octaves: Schedule,
                 border: str = "reflect", interp: str = "lanczos"):
        self.net = net
        self.objective = objective
        self.start = start.to(net.device)
        self.motion = motion
        self.base = base
        self.strength, self.steps, self.octaves = strength, steps, octaves
        self.border, self.interp = border, interp
        self.n_frames = motion.n_frames
        self.h, self.w = start.shape[-2:]
        self.device = net.device

    def params(self, t: int, seed: int) -> DreamParams:
        n = self.n_frames
        return DreamParams(
            octaves=max(1, round(self.octaves(t, n))), octave_scale=self.base.octave_scale,
            steps=max(0, round(self.steps(t, n))), lr=max(0.0, self.strength(t, n)),
            jitter=self.base.jitter, smooth=self.base.smooth, tile=self.base.tile, seed=seed)

    def first_source(self) -> Source:
        return Source(self.start)

    def warp(self, frame: torch.Tensor, m: np.ndarray, with_mask: bool = False):
        return warp_affine(frame, m, border=self.border, interp=self.interp, with_mask=with_mask)

    def source(self, t: int, prev: torch.Tensor, prev_t: int) -> Source:
        return Source(self.warp(prev, self.motion.between(prev_t, t, self.h, self.w)))

    def step(self, t: int, source: Source, seed: int) -> torch.Tensor:
        p = self.params(t, seed)
        if p.steps == 0 or p.lr == 0:
            return source.image
        return dream(self.net, source.image, self.objective, p)

    def step_smaller(self, t: int, source: Source, seed: int) -> torch.Tensor:
        """The step again at half the strength (after it gave NaN/inf)."""
        p = self.params(t, seed)
        return dream(self.net, source.image, self.objective, replace(p, lr=p.lr / 2))

    def tween(self, t, a, ta, b, tb) -> torch.Tensor:
        """Warp the stepped frame before forward and the one after backward; cross-fade by time.

        Where the backward warp had to invent pixels (outside the later frame), the earlier
        frame is used alone.
        """
        wa = self.warp(a, self.motion.between(ta, t, self.h, self.w))
        if b is None:
            return wa
        wb, valid = self.warp(b, invert(self.motion.between(t, tb, self.h, self.w)), with_mask=True)
        weight = valid * ((t - ta) / (tb - ta))
        return wa + weight * (wb - wa)


def render_zoom(cfg: ZoomConfig) -> dict:
    """Render the zoom animation ``cfg`` describes (a validated config from :func:`.configs.zoom_config`)."""
    check_outputs(cfg.outputs)
    plan = resolve(cfg.backend, picture=cfg.picture, target=cfg.target)
    motion = Motion(*(cfg.schedule(k) for k in ("zoom", "angle", "translation_x", "translation_y",
                                                 "center_x", "center_y")), n_frames=cfg.frames)
    mode = ZoomMode(plan.net, plan.objective, plan.start, motion, cfg.base_dream(), cfg.schedule("strength"),
                    cfg.schedule("steps"), cfg.schedule("octaves"), border=cfg.border)
    w, h = plan.size
    return run(mode, cfg.outputs, {**cfg.as_settings(), **plan.settings()}, f"zoom {w}x{h}", cadence=cfg.cadence,
               color_coherence=cfg.color_coherence, seed=cfg.backend.seed, crf=cfg.crf, gif_dither=cfg.dither,
               settings_beside=cfg.outputs.main)


__all__ = ["Motion", "ZoomMode", "render_zoom"]
