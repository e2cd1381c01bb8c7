"""Recursive ("dream within a dream") and progression modes, driven by the frame scheduler.

Recursive: stage i dreams stage i-1's picture at layer i of an ordered list, blended with
stage i-1; stages sit ``tween + 1`` frames apart and the frames between cross-fade (the
scheduler's cadence). Progression: frame i is the picture after ``s_i`` steps of one long
dream (uniform or eased step spacing), or, with feedback, after i full dreams of itself.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..engine import DreamParams, ascend, dream, objectives, octave_sizes
from ..engine.deepdream import resize
from ..engine.backbones import Backbone
from ..engine.objectives import Objective


def channel_subset(n_channels: int, fraction: float, seed: int, stage: int) -> list[int]:
    """A seeded random subset of a layer's channels (sorted), at least one."""
    k = max(1, round(n_channels * fraction))
    rng = np.random.default_rng([seed, stage])
    return sorted(int(c) for c in rng.choice(n_channels, size=k, replace=False))


def cross_fade(a: torch.Tensor, b: torch.Tensor | None, w: float) -> torch.Tensor:
    return a if b is None else a + w * (b - a)


class RecursiveMode:
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
            chans = channel_subset(self.net.channels(layer), self.fraction, self.seed, stage)
            obj = objectives.layer(layer, channels=chans)
        else:
            obj = objectives.layer(layer)
        if self.guide is not None:  # the guide steers each stage at that stage's layer
            obj = objectives.guide(self.net, self.guide, layer, self.similarity)
        return obj if self.extra is None else obj + self.extra

    def describe(self) -> list[str]:
        return [o.description for o in self.stage_objectives]

    def first_source(self) -> torch.Tensor:
        return self.start

    def source(self, t, prev, prev_t):
        return prev

    def step(self, t: int, source: torch.Tensor, seed: int) -> torch.Tensor:
        stage = t // self.spacing
        p = DreamParams(**{**self.params.as_dict(), "seed": seed})
        dreamed = dream(self.net, source, self.stage_objectives[stage], p)
        return (1 - self.blend) * dreamed + self.blend * source

    def tween(self, t, a, ta, b, tb):
        return cross_fade(a, b, (t - ta) / (tb - ta) if tb else 0.0)


def step_marks(total_steps: int, every: int, ease: bool) -> list[int]:
    """Step counts at which frames are recorded: 0, every, 2*every, ... total (eased: denser early)."""
    n = max(1, math.ceil(total_steps / every))
    if not ease:
        return sorted({min(total_steps, i * every) for i in range(n + 1)})
    marks = {round(total_steps * (i / n) ** 2) for i in range(n + 1)}
    return sorted(marks)


class ProgressionMode:
    """One long dream recorded every few steps, or a feedback loop of full dreams (no motion).

    The long dream climbs the octave pyramid as a still dream does: its steps are split evenly
    over the octaves, small to full size, with detail re-injection between them; every frame
    is shown at full size.
    """

    def __init__(self, net: Backbone, start: torch.Tensor, objective: Objective, params: DreamParams,
                 marks: list[int] | None = None, feedback_frames: int | None = None):
        self.net, self.start, self.objective, self.params = net, start.to(net.device), objective, params
        self.marks = marks
        self.feedback = feedback_frames is not None
        self.n_frames = feedback_frames if self.feedback else len(marks)
        self.device = net.device
        h, w = start.shape[-2:]
        self.sizes = octave_sizes(h, w, params.octaves, params.octave_scale, net.spec.min_size)
        self.bases = [resize(self.start, sz) for sz in self.sizes]
        self.total = marks[-1] if marks else 0

    def octave_of(self, step: int) -> int:
        """Octave in which (0-based) step ``step`` runs."""
        return min(len(self.sizes) - 1, step * len(self.sizes) // max(1, self.total))

    def first_source(self) -> torch.Tensor:
        return self.start

    def source(self, t, prev, prev_t):
        return prev

    def step(self, t: int, source: torch.Tensor, seed: int) -> torch.Tensor:
        p = DreamParams(**{**self.params.as_dict(), "seed": seed})
        if self.feedback:
            return source if t == 0 else dream(self.net, source, self.objective, p)
        first, last = (self.marks[t - 1] if t else 0), self.marks[t]
        if first == last:
            return source
        k = self.octave_of(first)
        if first == 0:
            img = self.bases[k]
        else:  # back to the working octave; at a new octave, re-inject the detail dreamed so far
            k_prev = self.octave_of(first - 1)
            detail = resize(source, self.sizes[k_prev]) - self.bases[k_prev]
            img = (self.bases[k] + resize(detail, self.sizes[k])).clamp(0, 1)
        s = first
        while s < last:
            k = self.octave_of(s)
            end = s
            while end < last and self.octave_of(end) == k:
                end += 1
            if img.shape[-2:] != self.bases[k].shape[-2:]:
                detail = img - self.bases[k - 1]
                img = (self.bases[k] + resize(detail, self.sizes[k])).clamp(0, 1)
            img = ascend(self.net, img, self.objective, end - s, DreamParams(**{**p.as_dict(), "seed": seed + s}))
            s = end
        return resize(img, tuple(self.start.shape[-2:]))

    def label(self, t: int) -> str:
        return f"dream {t}" if self.feedback else f"step {self.marks[t]}"

    def value(self, frame: torch.Tensor) -> float:
        with torch.no_grad():
            return float(self.objective(self.net.taps(frame.to(self.device), self.objective.taps)))

    def tween(self, t, a, ta, b, tb):
        return cross_fade(a, b, (t - ta) / (tb - ta) if tb else 0.0)


# --------------------------------------------------------------------------- renders


def render_recursive(image: str, out_dir: str, *, layers: str, blend: float = 0.3, tween: int = 0,
                     random_channels_from: int | None = None, channel_fraction: float = 0.25,
                     gif: str | None = None, mp4: str | None = None, fps: float = 2.0, every: int = 1,
                     gif_width: int | None = None,
                     size: int = 512, model: str = "efficientnet_lite0", weights: str | None = None,
                     params: DreamParams = DreamParams(), guide: str | None = None, similarity: str = "dot",
                     pixel_weight: float = 0.0, color_coherence: str = "none", seed: int = 0,
                     device: str = "auto", resume: bool = False) -> dict:
    """Dream layer after layer; frames, contact sheet and GIF/MP4 in ``out_dir``."""
    import os

    from .errors import UserError
    from .render import check_outputs, check_params, objective_or_exit, run, setup, weights_info
    from .scheduler import Sinks
    from .sheet import contact_sheet
    from .media import FrameDir, fit_size, read_image, resize_to
    from .still import parse_layers

    if not 0 <= blend < 1:
        raise UserError(f"--blend must be in [0, 1) (got {blend})")
    if tween < 0:
        raise UserError(f"--tween must be >= 0 (got {tween})")
    if not 0 < channel_fraction <= 1:
        raise UserError(f"--channel-fraction must be in (0, 1] (got {channel_fraction})")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UserError(f"output {out_dir} is a file; recursive renders need a folder (-o stages/)")
    check_outputs(mp4, gif)
    check_params(params)
    su = setup(image, size, seed, model, weights, device)
    names, _ = objective_or_exit(parse_layers, su.net.spec, layers)
    extra = None
    if pixel_weight:
        if pixel_weight < 0:
            raise UserError(f"--pixel-weight must be >= 0 (got {pixel_weight})")
        extra = objectives.pixel_mean(su.start.mean(dim=(0, 2, 3)), pixel_weight)
    guide_img = None
    if guide:
        if similarity not in objectives.SIMILARITIES:
            raise UserError(f"unknown --similarity {similarity!r}; use one of {', '.join(objectives.SIMILARITIES)}")
        g = read_image(guide)
        guide_img = resize_to(g, fit_size(g.shape[-2], g.shape[-1], 384))
    mode = RecursiveMode(su.net, su.start, names, params, blend=blend, tween=tween,
                         random_channels_from=random_channels_from, channel_fraction=channel_fraction, seed=seed,
                         extra=extra, guide=guide_img, similarity=similarity)
    settings = {"command": "recursive", "image": image, "start": su.start_desc, "size": size,
                "frame_size": list(su.size), "model": model, "weights": weights_info(su.net), "layers": names,
                "stage_objectives": mode.describe(), "blend": blend, "tween": tween,
                "random_channels_from": random_channels_from, "channel_fraction": channel_fraction,
                "dream": params.as_dict(), "guide": guide, "similarity": similarity, "pixel_weight": pixel_weight,
                "color_coherence": color_coherence, "seed": seed, "fps": fps, "every": every}
    sinks = Sinks(frames_dir=out_dir, mp4=mp4, gif=gif, fps=fps, gif_every=every, gif_width=gif_width)
    w, h = su.size
    result = run(mode, sinks, settings, f"recursive {len(names)} stages {w}x{h}", cadence=mode.spacing,
                 color_coherence=color_coherence, seed=seed, resume=resume)
    frames = FrameDir(out_dir)
    stage_ts = list(range(0, mode.n_frames, mode.spacing))
    contact_sheet((frames.read(t) for t in stage_ts), [f"{i + 1}: {names[i]}" for i in range(len(names))],
                  os.path.join(out_dir, "sheet.png"))
    return {**result, "stages": len(names), "sheet": os.path.join(out_dir, "sheet.png")}


def render_progression(image: str, *, gif: str | None, mp4: str | None, frames_dir: str | None,
                       layers: str | None, channels: str | None, klass: str | None, steps: int = 300,
                       every: int = 10, ease: bool = False, caption_frames: bool = False,
                       feedback: int | None = None, gif_width: int | None = None, size: int = 512,
                       model: str = "efficientnet_lite0",
                       weights: str | None = None, params: DreamParams = DreamParams(), guide: str | None = None,
                       similarity: str = "dot", pixel_weight: float = 0.0, fps: float = 10.0,
                       color_coherence: str = "none", seed: int = 0, device: str = "auto",
                       resume: bool = False) -> dict:
    """Record one long dream every ``every`` steps (or ``feedback`` full dreams of itself) as frames."""
    import os

    from .errors import UserError
    from .render import check_outputs, check_params, objective_or_exit, run, setup, weights_info
    from .scheduler import Sinks
    from .sheet import caption
    from .still import build_objective

    if not (gif or mp4):
        raise UserError("give --gif FILE and/or -o FILE.mp4 for the progression")
    if feedback is None and (steps < 1 or every < 1):
        raise UserError(f"--steps and --every must be >= 1 (got {steps}, {every})")
    if feedback is not None and feedback < 2:
        raise UserError(f"--feedback needs at least 2 frames (got {feedback})")
    check_outputs(mp4, gif)
    check_params(params)
    su = setup(image, size, seed, model, weights, device)
    obj = objective_or_exit(build_objective, su.net, layers, channels, klass, guide=guide, similarity=similarity,
                            pixel_weight=pixel_weight, original=su.start)
    marks = None if feedback is not None else step_marks(steps, every, ease)
    mode = ProgressionMode(su.net, su.start, obj, params, marks=marks, feedback_frames=feedback)
    overlay = None
    if caption_frames:
        overlay = lambda t, f: caption(f, f"{mode.label(t)}  {obj.description} = {mode.value(f):.3g}")  # noqa: E731
    settings = {"command": "progression", "image": image, "start": su.start_desc, "size": size,
                "frame_size": list(su.size), "model": model, "weights": weights_info(su.net),
                "objective": obj.description, "steps": steps, "every": every, "ease": ease, "marks": marks,
                "feedback": feedback, "dream": params.as_dict(), "caption": caption_frames, "fps": fps,
                "color_coherence": color_coherence, "seed": seed}
    out = mp4 or gif
    stem = os.path.splitext(out)[0]
    sinks = Sinks(frames_dir=frames_dir or stem + "_frames", mp4=mp4, gif=gif, fps=fps, overlay=overlay,
                  gif_width=gif_width)
    w, h = su.size
    result = run(mode, sinks, settings, f"progression {w}x{h}", color_coherence=color_coherence, seed=seed,
                 resume=resume, settings_beside=out)
    return {**result, "marks": marks, "mode": mode}
