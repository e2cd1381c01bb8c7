"""The zoom mode: each frame is the previous one zoomed/rotated/shifted, then dreamed a little more."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..engine import DreamParams, dream
from ..engine.backbones import Backbone
from ..engine.objectives import Objective
from ..engine.warp import compose, invert, motion_matrix, warp_affine
from .schedule import Schedule


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

    def first_source(self) -> torch.Tensor:
        return self.start

    def warp(self, frame: torch.Tensor, m: np.ndarray) -> torch.Tensor:
        return warp_affine(frame, m, border=self.border, interp=self.interp)

    def source(self, t: int, prev: torch.Tensor, prev_t: int) -> torch.Tensor:
        return self.warp(prev, self.motion.between(prev_t, t, self.h, self.w))

    def step(self, t: int, source: torch.Tensor, seed: int) -> torch.Tensor:
        p = self.params(t, seed)
        if p.steps == 0 or p.lr == 0:
            return source
        return dream(self.net, source, self.objective, p)

    def tween(self, t, a, ta, b, tb) -> torch.Tensor:
        """Warp the stepped frame before forward and the one after backward; cross-fade by time.

        Where the backward warp had to invent pixels (outside the later frame), the earlier
        frame is used alone.
        """
        wa = self.warp(a, self.motion.between(ta, t, self.h, self.w))
        if b is None:
            return wa
        back = invert(self.motion.between(t, tb, self.h, self.w))
        wb = self.warp(b, back)
        valid = cv2.warpAffine(np.ones((self.h, self.w), np.float32), np.asarray(back, np.float64), (self.w, self.h),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        weight = torch.from_numpy(valid).to(wa.device)[None, None] * ((t - ta) / (tb - ta))
        return wa + weight * (wb - wa)


__all__ = ["Motion", "ZoomMode"]


# --------------------------------------------------------------------------- the render


def render_zoom(cfg, output: str, gif: str | None = None, frames_dir: str | None = None,
                resume: bool = False, device: str = "auto", every: int = 1, gif_width: int | None = None) -> dict:
    """Render a zoom animation described by ``cfg`` (a resolved :class:`~.config.ZoomConfig`)."""
    import os

    from .config import schedule
    from .errors import UserError
    from .render import check_outputs, check_params, objective_or_exit, run, setup, weights_info
    from .scheduler import Sinks, default_frames_dir
    from .still import build_objective

    ext = os.path.splitext(output)[1].lower()
    if ext not in (".mp4", ".gif"):
        raise UserError(f"output {output} must end in .mp4 or .gif")
    mp4 = output if ext == ".mp4" else None
    gif = gif or (output if ext == ".gif" else None)
    check_outputs(mp4, gif)
    su = setup(cfg.image, cfg.size, cfg.seed, cfg.model, cfg.weights, device)
    obj = objective_or_exit(build_objective, su.net, cfg.layers, cfg.channels, cfg.klass, guide=cfg.guide,
                            similarity=cfg.similarity, pixel_weight=cfg.pixel_weight, original=su.start)
    n = cfg.frames
    motion = Motion(*(schedule(cfg, k) for k in ("zoom", "angle", "translation_x", "translation_y",
                                                   "center_x", "center_y")), n_frames=n)
    base = DreamParams(octave_scale=cfg.octave_scale, jitter=cfg.jitter, smooth=cfg.smooth, tile=cfg.tile)
    check_params(base)
    mode = ZoomMode(su.net, obj, su.start, motion, base, schedule(cfg, "strength"), schedule(cfg, "steps"),
                    schedule(cfg, "octaves"), border=cfg.border)
    settings = {"command": "zoom", **cfg.as_dict(), "start": su.start_desc, "frame_size": list(su.size),
                "objective": obj.description, "weights": weights_info(su.net)}
    sinks = Sinks(frames_dir=frames_dir or default_frames_dir(output), mp4=mp4, gif=gif, fps=cfg.fps, crf=cfg.crf,
                  gif_dither=cfg.dither, gif_every=every, gif_width=gif_width)
    w, h = su.size
    return run(mode, sinks, settings, f"zoom {w}x{h}", cadence=cfg.cadence, color_coherence=cfg.color_coherence,
               seed=cfg.seed, resume=resume, settings_beside=output)
