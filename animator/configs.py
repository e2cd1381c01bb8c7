"""One frozen config per command: what the user asked for, checked before anything slow.

A config is built by the command line (or by a test, or a notebook), ``validate()``s itself
with one :class:`UserError` line per mistake, and gives ``as_settings()``: the flat dict that
``settings.json`` records (the same key names in every command) and ``--resume`` compares.
Nothing here loads torch; what needs the network or the pictures (the model, the objective,
sizes) is checked by :mod:`.resolve`.

The parts every command shares are small dataclasses of their own: :class:`Backend` (model,
weights, device, seed), :class:`Target` (what to dream), :class:`Outputs` (GIF, MP4, frames,
resume), :class:`ClipSpec` (which frames of a clip), :class:`StyleSpec` (style pictures and how
they are sized); the dream's own numbers are the engine's :class:`DreamParams`.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import ClassVar

from .. import presets
from ..engine.params import FLOW_METHODS, DreamParams
from .errors import UserError
from .schedule import ScheduleError, parse_schedule

DEFAULT_PRESET = "classic-zoom"
COLOR_MODES = ("none", "lab", "rgb", "hsv")
CARRIES = ("flow", "blend", "none")
OPTIMIZERS = ("lbfgs", "adam")
COLOR_SPACES = ("ycbcr", "lab")
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def fail_if(condition: bool, message: str) -> None:
    if condition:
        raise UserError(message)


def check_dream(params: DreamParams) -> None:
    """The engine's own checks of the dream numbers, as one user line."""
    try:
        params.validate()
    except ValueError as e:
        raise UserError(str(e)) from None


def check_color(mode: str) -> None:
    fail_if(mode not in COLOR_MODES, f"unknown --color-coherence {mode!r}; use one of {', '.join(COLOR_MODES)}")


def check_ext(path: str, exts: tuple[str, ...], what: str = "output") -> None:
    fail_if(os.path.splitext(path)[1].lower() not in exts, f"{what} {path} must end in one of {', '.join(exts)}"
            if len(exts) > 1 else f"{what} {path} must end in {exts[0]}")


def parse_style_weights(text: str | None, n: int) -> list[float] | None:
    """``"0.7,0.3"`` -> [0.7, 0.3] for ``n`` style pictures; every weight > 0."""
    if text is None:
        return None
    try:
        ws = [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise UserError(f"bad --style-weights {text!r}: give numbers like 0.7,0.3") from None
    fail_if(len(ws) != n, f"--style-weights has {len(ws)} value{'s' * (len(ws) != 1)} for {n} --style "
                          f"image{'s' * (n != 1)}")
    bad = [w for w in ws if not (w > 0 and math.isfinite(w))]
    fail_if(bool(bad), f"--style-weights must all be > 0 (got {bad[0]:g})" if bad else "")
    return ws


def flatten(obj) -> dict:
    """A config as one flat dict: nested parts' fields at the top level (``klass`` as ``class``)."""
    out: dict = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        if f.metadata.get("flat"):
            out.update(flatten(v))
        elif is_dataclass(v):
            out[f.name] = {k.name: getattr(v, k.name) for k in fields(v)}
        else:
            out["class" if f.name == "klass" else f.name] = list(v) if isinstance(v, tuple) else v
    return out


def part(default_factory) -> field:
    """A nested part whose fields are recorded at the top level of the settings."""
    return field(default_factory=default_factory, metadata={"flat": True})


def build(cls, values: dict, dream_keys: dict[str, str] | None = None):
    """A config from flat option values (what the command line gives; ``None`` = not given).

    Each value goes to the field, or the nested part's field, of its name. The ``dream`` part
    (:class:`DreamParams`) takes the options ``dream_keys`` maps to its fields (option name ->
    field: ``{"dream_steps": "steps"}``), by default every option named as one of its fields.
    """
    given = {k: v for k, v in values.items() if v is not None}
    if dream_keys is None:
        dream_keys = {k: k for k in DreamParams.__dataclass_fields__ if k != "seed"}
    kw = {}
    for f in fields(cls):
        if f.metadata.get("flat"):
            kw[f.name] = build_part(f.default_factory(), given)
        elif f.name == "dream":
            kw[f.name] = build_part(f.default_factory(), {d: given[k] for k, d in dream_keys.items() if k in given})
        elif f.name in given:
            kw[f.name] = tuple(given[f.name]) if isinstance(given[f.name], list) else given[f.name]
    return cls(**kw)


def build_part(default, given: dict):
    """``default`` (a dataclass instance) with the fields ``given`` names replaced."""
    return replace(default, **{f.name: tuple(given[f.name]) if isinstance(given[f.name], list) else given[f.name]
                                for f in fields(default) if f.name in given})


# --------------------------------------------------------------------------- the shared parts


@dataclass(frozen=True)
class Picture:
    """The start (or content) picture: a file, ``noise`` or ``solid:#RRGGBB``, and its longest side."""

    image: str = ""
    size: int = 512

    def validate(self) -> None:
        fail_if(self.size < 1, f"--size must be positive (got {self.size})")


@dataclass(frozen=True)
class Backend:
    model: str | None = None  # None: the command's default (efficientnet_lite0; stylising picks VGG first)
    weights: str | None = None
    device: str = "auto"
    seed: int = 0

    def validate(self) -> None:
        fail_if(self.weights is not None and not os.path.isfile(self.weights),
                f"weights file not found: {self.weights}")


@dataclass(frozen=True)
class Target:
    """What a dream maximises, as typed: layers, channels of one layer, a class, a guide picture."""

    layers: str | None = None
    channels: str | None = None
    klass: str | None = None
    guide: str | None = None
    similarity: str = "dot"
    pixel_weight: float = 0.0

    def validate(self) -> None:
        fail_if(self.pixel_weight < 0, f"--pixel-weight must be >= 0 (got {self.pixel_weight})")


@dataclass(frozen=True)
class Outputs:
    """Where an animation goes. The PNG frames are always kept: they are what --resume continues."""

    mp4: str | None = None
    gif: str | None = None
    frames_dir: str | None = None
    gif_every: int = 1  # one GIF frame per this many frames
    gif_width: int | None = None
    fps: float = 24.0
    resume: bool = False

    def validate(self) -> None:
        fail_if(not self.fps > 0, f"--fps must be > 0 (got {self.fps})")
        fail_if(self.gif_every < 1, f"--every must be >= 1 (got {self.gif_every})")
        for path, ext in ((self.mp4, ".mp4"), (self.gif, ".gif")):
            if path:
                check_ext(path, (ext,))

    @property
    def main(self) -> str | None:
        return self.mp4 or self.gif

    def frames_folder(self) -> str:
        return self.frames_dir or os.path.splitext(self.main)[0] + "_frames"


@dataclass(frozen=True)
class ClipSpec:
    path: str
    width: int | None = None
    start: float = 0.0
    end: float | None = None
    max_frames: int | None = None


@dataclass(frozen=True)
class StyleSpec:
    """Style pictures, their blend weights and their size relative to the output."""

    styles: tuple[str, ...] = ()
    style_weights: str | None = None  # "0.7,0.3"
    style_scale: float = 1.0
    max_style_size: int | None = None

    def validate(self) -> None:
        parse_style_weights(self.style_weights, len(self.styles))
        for path in self.styles:
            fail_if(not os.path.exists(path), f"style image not found: {path}")
        fail_if(not self.styles, "give at least one --style image")
        fail_if(not self.style_scale > 0, f"--style-scale must be > 0 (got {self.style_scale:g})")
        fail_if(self.max_style_size is not None and self.max_style_size < 1,
                f"--max-style-size must be positive (got {self.max_style_size})")

    @property
    def blend(self) -> list[float] | None:
        return parse_style_weights(self.style_weights, len(self.styles))


class Config:
    """What every command's config has: a name, checks, and its settings."""

    command: ClassVar[str]
    not_recorded: ClassVar[tuple[str, ...]] = ("resume",)

    def validate(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if hasattr(v, "validate") and not isinstance(v, DreamParams):
                v.validate()
            elif isinstance(v, DreamParams):
                check_dream(v)
        self.check()

    def check(self) -> None:
        """The command's own checks (the shared parts check themselves)."""

    def as_settings(self) -> dict:
        flat = flatten(self)
        outputs = {k: flat.pop(k) for k in ("mp4", "gif", "frames_dir", "output") if k in flat}
        for k in self.not_recorded:
            flat.pop(k, None)
        if "style_weights" in flat:  # as numbers
            flat["style_weights"] = self.style_spec.blend
        return {"command": self.command, **flat, "outputs": outputs}


# --------------------------------------------------------------------------- the commands


@dataclass(frozen=True)
class DreamConfig(Config):
    command: ClassVar[str] = "dream"
    output: str = ""
    picture: Picture = part(Picture)
    backend: Backend = part(Backend)
    target: Target = part(Target)
    dream: DreamParams = field(default_factory=lambda: DreamParams(octaves=4, octave_scale=1.4, steps=10, lr=0.012,
                                                                     jitter=32, smooth=1.0))
    tile: int | None = None  # None: 512 px tiles above 1024 px, else off
    blend: str | None = None
    alpha: float = 0.5

    def check(self) -> None:
        check_ext(self.output, IMAGE_EXTS)
        fail_if(not 0 <= self.alpha <= 1, f"--alpha must be in [0, 1] (got {self.alpha})")


@dataclass(frozen=True)
class RecursiveConfig(Config):
    command: ClassVar[str] = "recursive"
    picture: Picture = part(Picture)
    output: str = ""  # a folder
    layers: str = ""
    blend: float = 0.3
    tween: int = 0
    random_channels_from: int | None = None
    channel_fraction: float = 0.25
    color_coherence: str = "none"
    backend: Backend = part(Backend)
    target: Target = part(Target)  # guide, similarity, pixel weight (the layers are the stages)
    dream: DreamParams = field(default_factory=lambda: DreamParams(octaves=3, steps=8, lr=0.009, smooth=1.0))
    outputs: Outputs = part(lambda: Outputs(fps=2.0))

    def check(self) -> None:
        check_color(self.color_coherence)
        fail_if(not 0 <= self.blend < 1, f"--blend must be in [0, 1) (got {self.blend})")
        fail_if(self.tween < 0, f"--tween must be >= 0 (got {self.tween})")
        fail_if(not 0 < self.channel_fraction <= 1, f"--channel-fraction must be in (0, 1] (got {self.channel_fraction})")
        fail_if(os.path.exists(self.output) and not os.path.isdir(self.output),
                f"output {self.output} is a file; recursive renders need a folder (-o stages/)")


@dataclass(frozen=True)
class ProgressionConfig(Config):
    command: ClassVar[str] = "progression"
    picture: Picture = part(lambda: Picture(size=384))
    steps: int = 300
    every: int = 10  # a frame every N steps
    ease: bool = False
    caption: bool = False
    feedback: int | None = None
    color_coherence: str = "none"
    backend: Backend = part(Backend)
    target: Target = part(Target)
    dream: DreamParams = field(default_factory=lambda: DreamParams(octaves=3, steps=5, lr=0.01, smooth=2.0))
    outputs: Outputs = part(lambda: Outputs(fps=10.0))

    def check(self) -> None:
        check_color(self.color_coherence)
        fail_if(not (self.outputs.gif or self.outputs.mp4), "give --gif FILE and/or -o FILE.mp4 for the progression")
        if self.outputs.mp4:
            fail_if(not self.outputs.mp4.lower().endswith(".mp4"),
                    f"-o {self.outputs.mp4}: the progression video must end in .mp4 (use --gif for a GIF)")
        fail_if(self.feedback is None and (self.steps < 1 or self.every < 1),
                f"--steps and --every must be >= 1 (got {self.steps}, {self.every})")
        fail_if(self.feedback is not None and self.feedback < 2,
                f"--feedback needs at least 2 frames (got {self.feedback})")


@dataclass(frozen=True)
class StyleConfig(Config):
    """``stylize``: a still, a progression (``--gif``/``--every``) or a ratio sweep."""

    command: ClassVar[str] = "stylize"
    picture: Picture = part(Picture)
    output: str | None = None
    style_spec: StyleSpec = part(StyleSpec)
    content_weight: float = 1.0
    style_weight: float = 1.0
    tv_weight: float = 1.0
    tv_beta: float | None = None
    optimizer: str = "lbfgs"
    iters: int = 300
    lr: float | None = None
    init: str = "content"  # content | noise | FILE
    init_blend: str | None = None
    alpha: float = 0.5
    original_colors: bool = False
    color_space: str = "ycbcr"
    every: int = 10  # progression: a frame every N iterations
    sweep_ratio: str | None = None
    sweep_frames: int = 9
    then_dream: bool = False
    layer: str | None = None
    dream: DreamParams = field(default_factory=lambda: DreamParams(octaves=4, steps=10, lr=0.012, smooth=1.0))
    backend: Backend = part(Backend)
    outputs: Outputs = part(lambda: Outputs(fps=10.0))

    @property
    def animated(self) -> bool:
        return bool(self.outputs.gif or self.sweep_ratio or self.outputs.mp4)

    def check(self) -> None:
        c = self
        fail_if(c.color_space not in COLOR_SPACES, f"unknown --color-space {c.color_space!r}; use ycbcr or lab")
        fail_if(c.iters < 0, f"--iters must be >= 0 (got {c.iters})")
        fail_if(c.optimizer not in OPTIMIZERS, f"unknown --optimizer {c.optimizer!r}; use lbfgs or adam")
        fail_if(not c.style_weight > 0, f"--style-weight must be > 0 (got {c.style_weight:g})")
        fail_if(c.content_weight < 0, f"--content-weight must be >= 0 (got {c.content_weight:g})")
        fail_if(c.tv_weight < 0, f"--tv-weight must be >= 0 (got {c.tv_weight:g})")
        fail_if(c.tv_beta is not None and not c.tv_beta > 0, f"--tv-beta must be > 0 (got {c.tv_beta or 0:g})")
        fail_if(c.lr is not None and not c.lr > 0, f"--lr must be > 0 (got {c.lr or 0:g})")
        fail_if(not 0 <= c.alpha <= 1, f"--alpha must be in [0, 1] (got {c.alpha:g})")
        fail_if(c.init not in ("content", "noise") and not os.path.isfile(c.init),
                f"--init must be content, noise or an image file (got {c.init})")
        fail_if(c.init_blend is not None and not os.path.exists(c.init_blend),
                f"--init-blend image not found: {c.init_blend}")
        if not c.animated:
            fail_if(not c.output, "give -o OUTPUT.png (or --gif FILE for a progression)")
            check_ext(c.output, IMAGE_EXTS)
            return
        fail_if(c.then_dream, "--then-dream makes a still: drop --gif / --sweep-ratio / the .mp4 output")
        if c.output and not c.outputs.mp4:
            check_ext(c.output, IMAGE_EXTS)
        fail_if(not (c.outputs.mp4 or c.outputs.gif), "a progression or sweep needs --gif FILE and/or -o FILE.mp4")
        if c.sweep_ratio:
            self.ratio_range()
            fail_if(c.sweep_frames < 2, f"--sweep-frames must be >= 2 (got {c.sweep_frames})")
            fail_if(c.iters < 1, f"--iters must be >= 1 for a sweep (got {c.iters})")
        else:
            fail_if(c.every < 1 or c.iters < 1, f"--iters and --every must be >= 1 (got {c.iters}, {c.every})")

    def ratio_range(self) -> tuple[float, float]:
        try:
            a, b = (float(p) for p in self.sweep_ratio.split(":"))
        except ValueError:
            raise UserError(f"bad --sweep-ratio {self.sweep_ratio!r}: write FROM:TO, e.g. 0.1:10") from None
        fail_if(not (a > 0 and b > 0 and math.isfinite(a) and math.isfinite(b)),
                f"--sweep-ratio values must be > 0 (got {self.sweep_ratio})")
        return a, b


@dataclass(frozen=True)
class VideoConfig(Config):
    """``video``: dream (``dream=True``) or stylise every frame of a clip."""

    command: ClassVar[str] = "video"
    clip: ClipSpec = part(lambda: ClipSpec(""))
    dream_clip: bool = False
    style_spec: StyleSpec = part(StyleSpec)
    # style
    iters_first: int = 150
    iters: int = 40
    temporal_weight: float = 50.0
    independent: bool = False
    original_colors: bool = False
    # dream
    target: Target = part(Target)
    dream: DreamParams = field(default_factory=lambda: DreamParams(octaves=2, steps=6, lr=0.012, jitter=32, smooth=1.0))
    refine_steps: int = 2
    carry: str = "flow"
    blend: float = 0.5
    persistence: float = 0.9
    # both
    flow: str = "dis"
    cadence: int = 1
    backend: Backend = part(Backend)
    outputs: Outputs = part(Outputs)

    @property
    def mode(self) -> str:
        return "video-dream" if self.dream_clip else "video-style"

    def validate(self) -> None:
        fail_if(self.dream_clip == bool(self.style_spec.styles),
                "say what to do with the clip: --dream, or --style IMAGE (one of them)")
        fail_if(not (self.outputs.mp4 or "").lower().endswith(".mp4"), f"output {self.outputs.mp4} must end in .mp4")
        if self.dream_clip:  # style options are not asked for: only the dream's parts are checked
            for p in (self.backend, self.target, self.outputs):
                p.validate()
            check_dream(self.dream)
        else:
            for p in (self.backend, self.style_spec, self.outputs):
                p.validate()
        self.check()

    def check(self) -> None:
        fail_if(self.flow not in FLOW_METHODS, f"unknown --flow {self.flow!r}; use one of {', '.join(FLOW_METHODS)}")
        fail_if(self.cadence < 1, f"--cadence must be >= 1 (got {self.cadence})")
        if self.dream_clip:
            fail_if(self.carry not in CARRIES, f"unknown --carry {self.carry!r}; use flow, blend or none")
            fail_if(not 0 <= self.persistence <= 1, f"--persistence must be between 0 and 1 (got {self.persistence})")
        else:
            fail_if(self.iters_first < 1 or self.iters < 0 or self.temporal_weight < 0,
                    "--iters-first must be >= 1, --iters and --temporal-weight >= 0")

    def as_settings(self) -> dict:
        s = super().as_settings()
        s["command"] = self.mode
        drop = ("iters_first", "iters", "temporal_weight", "independent", "original_colors", "styles", "style_weights",
                "style_scale", "max_style_size") if self.dream_clip else (
            "layers", "channels", "class", "guide", "similarity", "pixel_weight", "dream", "refine_steps", "carry",
            "blend", "persistence")
        return {k: v for k, v in s.items() if k not in drop}


@dataclass(frozen=True)
class ZoomConfig(Config):
    """``zoom``: schedules and look, from the command line over a preset over these defaults."""

    command: ClassVar[str] = "zoom"
    not_recorded: ClassVar[tuple[str, ...]] = ("resume", "gif_every", "gif_width")
    # what a preset may set (and the command line override)
    frames: int = 240
    zoom: str = "0:(1.02)"
    angle: str = "0:(0)"
    translation_x: str = "0:(0)"
    translation_y: str = "0:(0)"
    center_x: str = "0:(0.5)"
    center_y: str = "0:(0.5)"
    strength: str = "0:(0.012)"
    steps: str = "0:(4)"
    octaves: str = "0:(2)"
    octave_scale: float = 1.5
    jitter: int = 16
    smooth: float = 1.0
    cadence: int = 1
    color_coherence: str = "lab"
    border: str = "reflect"
    crf: int = 18
    dither: str = "sierra2_4a"
    # per render (command line only)
    preset: str = DEFAULT_PRESET
    tile: int = 0
    picture: Picture = part(Picture)
    backend: Backend = part(lambda: Backend(model="efficientnet_lite0"))
    target: Target = part(Target)
    outputs: Outputs = part(Outputs)

    def check(self) -> None:
        fail_if(self.frames < 1, f"--frames must be >= 1 (got {self.frames})")
        fail_if(self.cadence < 1, f"--cadence must be >= 1 (got {self.cadence})")
        check_color(self.color_coherence)
        fail_if(self.border not in BORDERS, f"unknown --border {self.border!r}; use one of {', '.join(BORDERS)}")
        fail_if(not (self.outputs.mp4 or self.outputs.gif), "give -o OUT.mp4 or -o OUT.gif")
        check_dream(self.base_dream())
        for name in SCHEDULES:
            self.schedule(name)  # parse now: errors before any rendering

    def base_dream(self) -> DreamParams:
        """The dream numbers that do not change over time (the scheduled ones are set per frame)."""
        return DreamParams(octave_scale=self.octave_scale, jitter=self.jitter, smooth=self.smooth, tile=self.tile)

    def schedule(self, name: str):
        try:
            s = parse_schedule(getattr(self, name), name=name.replace("_", "-"))
            s.values(min(self.frames, 2))  # evaluates each keyframe once: catches 1/0 at frame 0
            return s
        except ScheduleError as e:
            raise UserError(str(e)) from None


SCHEDULES = ("zoom", "angle", "translation_x", "translation_y", "center_x", "center_y", "strength", "steps", "octaves")
BORDERS = ("reflect", "replicate", "wrap")
# what a preset file may set: the look, not the render's own (start picture, seed, outputs)
PRESET_KEYS = ({f.name for f in fields(ZoomConfig)} - {"preset", "tile", "picture", "backend", "target", "outputs"}
               | {"size", "model", "fps", "class"} | {f.name for f in fields(Target)} - {"klass"})


def zoom_config(cli: dict, preset_name: str | None) -> ZoomConfig:
    """``cli``: option name -> value or None (not given) over the preset's values. Validated."""
    name = preset_name or DEFAULT_PRESET
    try:
        data = presets.load(name)
    except presets.PresetError as e:
        raise UserError(str(e)) from None
    data.pop("description", None)
    unknown = sorted(set(data) - PRESET_KEYS)
    fail_if(bool(unknown), f"preset {name}: unknown key {unknown[0]!r} (valid keys: {', '.join(sorted(PRESET_KEYS))})"
            if unknown else "")
    if "class" in data:
        data["klass"] = data.pop("class")
    values = {**{k: (str(v) if k in SCHEDULES else v) for k, v in data.items()},
              **{k: v for k, v in cli.items() if v is not None}, "preset": name}
    cfg = build(ZoomConfig, values)
    cfg.validate()
    return cfg
