"""RenderConfig for animations: options from the command line over a preset over built-in defaults.

The resolved config is frozen and written to settings.json; a resume compares it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields

from .. import presets
from .errors import UserError
from .schedule import ScheduleError, parse_schedule

DEFAULT_PRESET = "classic-zoom"
SCHEDULES = ("zoom", "angle", "translation_x", "translation_y", "center_x", "center_y", "strength", "steps", "octaves")
COLOR_MODES = ("none", "lab", "rgb", "hsv")
BORDERS = ("reflect", "replicate", "wrap")


@dataclass(frozen=True)
class ZoomConfig:
    # what a preset may set (and the command line override)
    frames: int = 240
    fps: float = 24.0
    size: int = 512
    model: str = "efficientnet_lite0"
    layers: str | None = None
    channels: str | None = None
    klass: str | None = None
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
    guide: str | None = None
    similarity: str = "dot"
    pixel_weight: float = 0.0
    # per render (command line only)
    preset: str = DEFAULT_PRESET
    image: str = ""
    seed: int = 0
    weights: str | None = None
    tile: int = 0

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


PRESET_KEYS = {f.name for f in fields(ZoomConfig)} - {"preset", "image", "seed", "weights", "tile"}
PRESET_KEYS |= {"class"}  # TOML spelling of klass


def resolve(cli: dict, preset_name: str | None) -> ZoomConfig:
    """``cli``: option name -> value or None (not given). Unknown preset keys -> UserError naming the key."""
    name = preset_name or DEFAULT_PRESET
    try:
        data = presets.load(name)
    except presets.PresetError as e:
        raise UserError(str(e)) from None
    data.pop("description", None)
    unknown = sorted(set(data) - PRESET_KEYS)
    if unknown:
        raise UserError(f"preset {name}: unknown key {unknown[0]!r} (valid keys: {', '.join(sorted(PRESET_KEYS))})")
    if "class" in data:
        data["klass"] = data.pop("class")
    values: dict = {}
    for f in fields(ZoomConfig):
        v = cli.get(f.name)
        if v is None:
            v = data.get(f.name, f.default)
        if f.name in SCHEDULES and v is not None:
            v = str(v)
        values[f.name] = v
    values["preset"] = name
    cfg = ZoomConfig(**values)
    check(cfg)
    return cfg


def check(cfg: ZoomConfig) -> None:
    if cfg.frames < 1:
        raise UserError(f"--frames must be >= 1 (got {cfg.frames})")
    if not cfg.fps > 0:
        raise UserError(f"--fps must be > 0 (got {cfg.fps})")
    if cfg.cadence < 1:
        raise UserError(f"--cadence must be >= 1 (got {cfg.cadence})")
    if cfg.color_coherence not in COLOR_MODES:
        raise UserError(f"unknown --color-coherence {cfg.color_coherence!r}; use one of {', '.join(COLOR_MODES)}")
    if cfg.border not in BORDERS:
        raise UserError(f"unknown --border {cfg.border!r}; use one of {', '.join(BORDERS)}")
    for name in SCHEDULES:
        schedule(cfg, name)  # parse now: errors before any rendering


def schedule(cfg: ZoomConfig, name: str):
    try:
        s = parse_schedule(getattr(cfg, name), name=name.replace("_", "-"))
        s.values(min(cfg.frames, 2))  # evaluates each keyframe once: catches 1/0 at frame 0
        return s
    except ScheduleError as e:
        raise UserError(str(e)) from None
