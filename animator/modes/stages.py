"""Recursive ("dream within a dream") and progression modes, driven by the frame scheduler.

Recursive: stage i dreams stage i-1's picture at layer i of an ordered list, blended with
stage i-1; stages sit ``tween + 1`` frames apart and the frames between cross-fade (the
scheduler's cadence). Progression: frame i is the picture after ``s_i`` steps of one long
dream (uniform or eased step spacing; the engine's :class:`OctaveClimb`), or, with feedback,
after i full dreams of itself.
"""
from __future__ import annotations

import math
import os
from dataclasses import replace

import torch

from ...engine import objectives
from ...engine.backbones import Backbone
from ...engine.deepdream import OctaveClimb, dream
from ...engine.objectives import Objective
from ...engine.params import DreamParams
from ..request.configs import ProgressionConfig, RecursiveConfig
from ..frameloop.render import check_outputs, run
from ..request.resolve import engine_errors, resolve
from ..frameloop.loop import Loop
from ..frameloop.scheduler import Feedback, HalfStep, Source
from .sheet import caption, contact_sheet
from ..media import FrameDir
from ..media.atomic import unlink_quiet


class RecursiveMode(HalfStep, Feedback):
    def __init__(self, net: Backbone, start: torch.Tensor, layers: list[str], params: DreamParams,
                 blend: float = 0.3, tween: int = 0, random_channels_from: int | None = None,
                 channel_fraction: float = 0.25, seed: int = 0, extra: Objective | None = None,
                 guide: torch.Tensor | None = None, similarity: str = "dot"):
        self.net, self.start, self.layers, self.params = net, start.to(net.device), layers, params
        self.blend, self.spacing = blend, tween + 1
        self.random_from, self.fraction, self.seed = random_channels_from, channel_fraction, seed
        self.extra, self.guide, self.similarity = extra, guide, similarity
        self.n_frames = (len(layers) - 1) * self.spacing + 1
        self.device = net.device
        self.stage_objectives = [self._objective(i) for i in range(len(layers))]

    def _objective(self, stage: int) -> Objective:
        layer = self.layers[stage]
        if self.random_from is not None and stage >= self.random_from:
            chans = objectives.random_channels(self.net.channels(layer), self.fraction, self.seed, stage)
            obj = objectives.layer(layer, channels=chans)
        else:
            obj = objectives.layer(layer)
        if self.guide is not None:  # the guide steers each stage at that stage's layer
            obj = objectives.guide(self.net, self.guide, layer, self.similarity)
        return obj if self.extra is None else obj + self.extra

    def describe(self) -> list[str]:
        return [o.description for o in self.stage_objectives]

    def step(self, t: int, source: Source, seed: int, lr_scale: float = 1.0) -> torch.Tensor:
        stage = t // self.spacing
        p = DreamParams(**{**self.params.as_dict(), "seed": seed})
        if lr_scale != 1.0:
            p = replace(p, lr=p.lr * lr_scale)
        dreamed = dream(self.net, source.image, self.stage_objectives[stage], p)
        return (1 - self.blend) * dreamed + self.blend * source.image


def step_marks(total_steps: int, every: int, ease: bool) -> list[int]:
    """Step counts at which frames are recorded: 0, every, 2*every, ... total (eased: denser early)."""
    n = max(1, math.ceil(total_steps / every))
    if not ease:
        return sorted({min(total_steps, i * every) for i in range(n + 1)})
    marks = {round(total_steps * (i / n) ** 2) for i in range(n + 1)}
    return sorted(marks)


class ProgressionMode(HalfStep, Feedback):
    """One long dream recorded every few steps, or a feedback loop of full dreams (no motion).

    The long dream climbs the octave pyramid as a still dream does (:class:`OctaveClimb`);
    every frame is shown at full size.
    """

    def __init__(self, net: Backbone, start: torch.Tensor, objective: Objective, params: DreamParams,
                 marks: list[int] | None = None, feedback_frames: int | None = None, strength=None):
        """``strength``: with feedback, the step size at each frame (a schedule, which may read a song)."""
        self.net, self.start, self.objective, self.params = net, start.to(net.device), objective, params
        self.strength = strength
        self.marks = marks
        self.feedback = feedback_frames is not None
        self.n_frames = feedback_frames if self.feedback else len(marks)
        self.device = net.device
        self.climb = OctaveClimb(net, start, objective, params, marks[-1] if marks else 0)

    def step(self, t: int, source: Source, seed: int, lr_scale: float = 1.0) -> torch.Tensor:
        if self.feedback:
            p = DreamParams(**{**self.params.as_dict(), "seed": seed})
            if self.strength is not None:
                p = replace(p, lr=max(0.0, self.strength(t, self.n_frames)))
            if lr_scale != 1.0:
                p = replace(p, lr=p.lr * lr_scale)
            if t == 0 or p.lr == 0:
                return source.image
            return dream(self.net, source.image, self.objective, p)
        return self.climb.advance(source.image, self.marks[t - 1] if t else 0, self.marks[t], seed, lr_scale=lr_scale)

    def label(self, t: int) -> str:
        return f"dream {t}" if self.feedback else f"step {self.marks[t]}"

    def value(self, frame: torch.Tensor) -> float:
        with torch.no_grad():
            return float(self.objective(self.net.taps(frame.to(self.device), self.objective.taps)))


# --------------------------------------------------------------------------- renders


def way_home(outputs) -> Loop | None:
    """--loop: a cross-fade from the last frame back to the first; --pingpong: forward, then back."""
    kind = outputs.loop_kind("return")
    return Loop(kind) if kind else None


def render_recursive(cfg: RecursiveConfig) -> dict:
    """Dream layer after layer; frames, contact sheet and GIF/MP4 in the ``cfg.output`` folder."""
    cfg.validate()
    check_outputs(cfg.outputs, frames_dir=cfg.output)
    seed = cfg.backend.seed
    plan = resolve(cfg.backend, picture=cfg.picture, target=cfg.target, objective=False)
    names, _ = engine_errors(objectives.parse_layers, plan.net.spec, cfg.layers)
    extra = objectives.pixel_mean(plan.start.mean(dim=(0, 2, 3)), cfg.target.pixel_weight) if cfg.target.pixel_weight \
        else None
    if plan.guide is not None:
        engine_errors(objectives.check_similarity, cfg.target.similarity)
    mode = RecursiveMode(plan.net, plan.start, names, cfg.dream, blend=cfg.blend, tween=cfg.tween,
                         random_channels_from=cfg.random_channels_from, channel_fraction=cfg.channel_fraction,
                         seed=seed, extra=extra, guide=plan.guide, similarity=cfg.target.similarity)
    settings = {**cfg.as_settings(), **plan.settings(), "stages": names, "stage_objectives": mode.describe()}
    w, h = plan.size
    result = run(mode, cfg.outputs, settings, f"recursive {len(names)} stages {w}x{h}", w, cadence=mode.spacing,
                 color_coherence=cfg.color_coherence, seed=seed, frames_dir=cfg.output, loop=way_home(cfg.outputs))
    frames = FrameDir(cfg.output)
    stage_ts = list(range(0, mode.n_frames, mode.spacing))
    sheet = os.path.join(cfg.output, "sheet.png")
    contact_sheet((frames.read(t) for t in stage_ts), [f"{i + 1}: {names[i]}" for i in range(len(names))], sheet)
    return {**result, "stages": len(names), "sheet": sheet}


def render_progression(cfg: ProgressionConfig) -> dict:
    """Record one long dream every ``cfg.every`` steps (or ``cfg.feedback`` full dreams of itself) as frames.

    With ``--audio``: full dreams of themselves, as many as the song lasts (``--feedback N``: N), each with the step
    size ``--strength`` gives it (which may read the music: ``0:(0.004 + 0.02*beat)``), and the MP4 carries the song.
    """
    cfg.validate()
    check_outputs(cfg.outputs)
    curves = audio = None
    if cfg.song.audio is not None:
        from .zoom import ZoomMode, read_song

        song = read_song(cfg, ZoomMode.say)
        cfg = replace(cfg, feedback=cfg.feedback or song.frames(cfg.outputs.fps))
        curves = song.curves(cfg.outputs.fps, cfg.feedback, cfg.song.beat_decay)
    plan = resolve(cfg.backend, picture=cfg.picture, target=cfg.target)
    obj = plan.objective
    marks = None if cfg.feedback is not None else step_marks(cfg.steps, cfg.every, cfg.ease)
    strength = cfg.strength_schedule(curves) if cfg.feedback is not None else None
    mode = ProgressionMode(plan.net, plan.start, obj, cfg.dream, marks=marks, feedback_frames=cfg.feedback,
                           strength=strength)
    overlay = None
    if cfg.caption:
        overlay = lambda t, f: caption(f, f"{mode.label(t)}  {obj.description} = {mode.value(f):.3g}")  # noqa: E731
    settings = {**cfg.as_settings(), **plan.settings(), "marks": marks}
    w, h = plan.size
    outputs = replace(cfg.outputs, gif_every=cfg.outputs.gif_every or 1)  # each frame is a record: all in the GIF
    if curves is not None:
        settings["song"] = song.summary()
        if outputs.mp4:
            from ..media.audio import song_cut

            audio = song_cut(cfg.song.audio, cfg.song.start, cfg.feedback / outputs.fps, beside=outputs.mp4)
    try:
        result = run(mode, outputs, settings, f"progression {w}x{h}", w, color_coherence=cfg.color_coherence,
                     seed=cfg.backend.seed, overlay=overlay, settings_beside=cfg.outputs.main, loop=way_home(outputs),
                     audio=audio)
    finally:
        unlink_quiet(audio)
    return {**result, "marks": marks, "mode": mode}
