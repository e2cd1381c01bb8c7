"""Video modes: dream (and stylise) every frame of a clip without flicker.

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

import os
from dataclasses import replace

import torch

from ..engine.backbones import Backbone
from ..engine.deepdream import dream
from ..engine.flow import flow_pair, warp
from ..engine.objectives import Objective
from ..engine.params import DreamParams
from ..engine.style import StyleParams, StyleTransfer, Temporal, style_targets
from .media import ClipReader, open_clip, trimmed_audio
from .configs import VideoConfig
from .errors import UserError
from .render import check_outputs, run
from .resolve import resolve
from .loop import Loop, fade_frames
from .scheduler import HalfStep, Source


def along_flow(clip: ClipReader, t: int, prev_t: int, image: torch.Tensor, method: str, mode: str = "bilinear"):
    """``image`` (which belongs to frame ``prev_t``) carried to frame ``t`` along the optical flow
    (``mode``: ``warp``'s interpolation), and the mask (1, 1, H, W) of where that flow holds (the
    forward-backward check)."""
    flow_t_to_prev, _, mask = flow_pair(clip.frame(t), clip.frame(prev_t), method=method)
    return warp(image, flow_t_to_prev, mode=mode), mask


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


class VideoStyleMode(HalfStep):
    """Ruder et al. 2016: frame 0 stylised fully; frame t starts from the previous stylised frame
    warped by the flow (the content where it is occluded) and is pulled toward it by a temporal
    loss where the flow holds; fewer iterations after the first frame."""

    def __init__(self, net: Backbone, clip: ClipReader, styles, style_weights, params, iters_first: int,
                 iters: int, temporal_weight: float, flow_method: str = "dis", independent: bool = False):
        self.net, self.clip, self.styles, self.style_weights, self.params = net, clip, styles, style_weights, params
        self.iters_first, self.iters, self.temporal_weight = iters_first, iters, temporal_weight
        self.flow_method, self.independent = flow_method, independent
        self.n_frames = clip.info.frames
        self.device = net.device
        self._style = None  # the clip's style targets (see step)

    def first_source(self) -> Source:
        return Source(self.clip.frame(0))

    def _warped(self, t: int, prev: torch.Tensor, prev_t: int) -> Source:
        """``prev`` carried to frame t along the flow; occluded pixels from the content.

        Bicubic: each frame starts from (and is held to) the one before carried along the flow, so the
        interpolation's blur compounds. Carried alone over frames 1-23 of bigbuckbunny (flows of 0.1-0.5 px),
        a stylised frame keeps 1.5% of its finest detail (squared Laplacian) bilinearly and 34% bicubically;
        rendered with the optimisation, frame 23 keeps 90% against 97%. The detail the optimisation puts
        back for the blur shows as a grid-like grain in flat areas (the sky), which bicubic carrying
        reduces without removing it."""
        src = self.clip.frame(t)
        warped, mask = along_flow(self.clip, t, prev_t, prev, self.flow_method, mode="bicubic")
        warped = warped.clamp(0, 1)
        return Source(mask * warped + (1 - mask) * src, warped, mask)

    def source(self, t: int, prev: torch.Tensor, prev_t: int) -> Source:
        return Source(self.clip.frame(t)) if self.independent else self._warped(t, prev, prev_t)

    def step(self, t: int, source: Source, seed: int, lr_scale: float = 1.0) -> torch.Tensor:
        first = t == 0 or self.independent
        # the clip's style targets, computed once; with original colours the styles are matched to
        # each frame's luminance, so StyleTransfer computes them per frame (style=None)
        if self._style is None and not self.params.original_colors:
            self._style = style_targets(self.net, self.styles, self.style_weights)
        temporal = None if first or source.warped is None else Temporal(source.warped, source.mask, self.temporal_weight)
        params = replace(self.params, seed=seed)
        if lr_scale != 1.0:
            params = replace(params, lr=params.step_size() * lr_scale)
        st = StyleTransfer(self.net, self.clip.frame(t), self.styles, self.style_weights, params,
                           init=None if first else source.image.contiguous(), style=self._style, temporal=temporal)
        return st.run(self.iters_first if first else self.iters)

    def tween(self, t, a, ta, b, tb) -> torch.Tensor:
        """Cadence: the nearer stylised frame carried along the flow, occlusions from the content."""
        near, near_t = (b, tb) if b is not None and (tb - t) < (t - ta) else (a, ta)
        return self._warped(t, near, near_t).image


def open_video(cfg: VideoConfig, info, announce: bool = True):
    """A clip's mode, its clip reader and what settings.json records of the plan: the one place they are made,
    for a render in one process and for each range of a split one (``split.VideoFactory``)."""
    if cfg.network:
        from .netstyle import network_mode

        mode, used, reader = network_mode(cfg, info)
        return mode, reader, used
    if cfg.keyframes_method:
        from .keystyle import keyframes_mode

        return keyframes_mode(cfg, info, announce=announce)
    dreaming = cfg.dream_clip
    plan = resolve(cfg.backend, frame_size=(info.width, info.height), target=cfg.target if dreaming else None,
                   styles=None if dreaming else cfg.style_spec, for_style=not dreaming, hint="raise --width")
    reader = ClipReader(info, device=plan.device)
    if dreaming:
        # carried frames only need a few refining steps; without carry each frame is a full, independent dream
        later = cfg.dream if cfg.carry == "none" else replace(cfg.dream, steps=cfg.refine_steps, octaves=1)
        mode = VideoDreamMode(plan.net, plan.objective, reader, later, carry=cfg.carry, blend=cfg.blend,
                              flow_method=cfg.flow, first_params=cfg.dream, persistence=cfg.persistence)
        return mode, reader, plan.settings()
    if announce:
        plan.announce()
    params = StyleParams(original_colors=cfg.original_colors, seed=cfg.backend.seed)
    mode = VideoStyleMode(plan.net, reader, list(plan.styles), cfg.style_spec.blend, params, cfg.iters_first,
                          cfg.iters, cfg.temporal_weight, flow_method=cfg.flow, independent=cfg.independent)
    return mode, reader, {**plan.settings(), "style": params.as_dict()}


def render_video(cfg: VideoConfig) -> dict:
    """Dream or stylise every frame of a clip; MP4 at the clip's fps with its audio, GIF on request."""
    cfg.validate()
    check_outputs(cfg.outputs)
    c = cfg.clip
    info = open_clip(c.path, width=c.width, start=c.start, end=c.end, max_frames=c.max_frames)
    mode, reader, plan_settings = open_video(cfg, info)
    loop = None
    if cfg.outputs.loop:  # the last frames fade into the first ones; the MP4 plays the rest, without the audio
        loop = Loop("fade", fade_frames(info.frames, info.fps))
        if info.frames < 2 * loop.frames + 1:
            reader.close()
            raise UserError(f"--loop needs a clip of at least 3 frames (this one has {info.frames})")
    audio = None if loop else trimmed_audio(info, beside=cfg.outputs.mp4)
    settings = {**cfg.as_settings(), **plan_settings, "clip": os.path.abspath(c.path), "fps": info.fps,
                "frame_size": [info.width, info.height], "frames": info.frames}
    outputs = replace(cfg.outputs, fps=info.fps)
    try:
        return run(mode, outputs, settings, f"{cfg.mode.replace('-', ' ')} {info.width}x{info.height}", info.width,
                   cadence=cfg.cadence, seed=cfg.backend.seed, audio=audio, settings_beside=outputs.mp4, loop=loop)
    finally:
        reader.close()
        if audio:
            os.remove(audio)
