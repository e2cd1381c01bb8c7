"""The parts every command's config is built from, and the config base class.

:class:`Picture` (start picture and size), :class:`Backend` (model, weights, device, seed),
:class:`Target` (what to dream), :class:`Outputs` (GIF, MP4, frames, resume), :class:`ClipSpec`
(which frames of a clip), :class:`StyleSpec` (style pictures and how they are sized); the dream's
own numbers are the engine's :class:`DreamParams`. :func:`build` makes a config from the flat
options the command line gives. Nothing here loads torch.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import ClassVar

from ...engine.params import DreamParams, blend_weights
from ..errors import UserError, require_file

COLOR_MODES = ("none", "lab", "rgb", "hsv")
CARRIES = ("flow", "blend", "none")
OPTIMIZERS = ("lbfgs", "adam")
COLOR_SPACES = ("ycbcr", "lab")
GIF_WIDTH = 320  # px: default GIFs are made to be posted (README's first zoom, a loop: 9.9 MB; 12.4 MB at 360 px)
GIF_FPS = 12.5
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def fail_if(condition: bool, message: str) -> None:
    if condition:
        raise UserError(message)


def check_file(path: str | None, what: str = "file") -> None:
    """A file the user named is there (its content is checked where it is read)."""
    if path is not None:
        require_file(path, what)


def is_generated(image: str) -> bool:
    """``noise`` and ``solid:#RRGGBB`` start pictures are made, not read (unless a file has that name)."""
    low = image.lower()
    return (low == "noise" or low.startswith(("solid:", "color:"))) and not os.path.exists(image)


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
    try:
        blend_weights(n, ws)  # the engine's rule
    except ValueError as e:
        raise UserError(f"--style-weights: {e}") from None
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
        if not is_generated(self.image):
            check_file(self.image)


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
        check_file(self.guide, "guide image")


@dataclass(frozen=True)
class Outputs:
    """Where an animation goes. The PNG frames are always kept: they are what --resume continues."""

    mp4: str | None = None
    gif: str | None = None
    frames_dir: str | None = None
    gif_every: int | None = None  # one GIF frame per this many frames (None: as many as keep it near 12 fps)
    gif_width: int | str | None = None  # px, "full" (the frames' own), or None (at most 320 px)
    fps: float = 24.0
    resume: bool = False
    loop: bool = False  # the MP4 and GIF play in a loop with no seam (--loop)
    pingpong: bool = False  # ... forward then back (--pingpong; progression, recursive)

    def loop_kind(self, default: str) -> str | None:
        """How these outputs loop: None, ``default`` (the command's way: fade or return), or pingpong."""
        return "pingpong" if self.pingpong else default if self.loop else None

    def validate(self) -> None:
        fail_if(not self.fps > 0, f"--fps must be > 0 (got {self.fps})")
        fail_if(self.gif_every is not None and self.gif_every < 1, f"--every must be >= 1 (got {self.gif_every})")
        if self.gif_width not in (None, "full"):
            try:
                fail_if(int(self.gif_width) < 16, f"--gif-width must be at least 16 px (got {self.gif_width})")
            except ValueError:
                raise UserError(f"--gif-width must be a width in px or 'full' (got {self.gif_width!r})") from None
        for path, ext in ((self.mp4, ".mp4"), (self.gif, ".gif")):
            if path:
                check_ext(path, (ext,))

    @property
    def main(self) -> str | None:
        return self.mp4 or self.gif

    def gif_plan(self, frame_width: int, fps: float) -> tuple[int | None, int, float]:
        """(GIF width or None for the frames' own, one GIF frame every N frames, GIF frame rate).

        By default a GIF is made to be posted: at most ``GIF_WIDTH`` px wide and near ``GIF_FPS``
        frames a second (every 2nd frame of a 24 fps render, played at 12 fps: the same
        duration); ``gif_width="full"`` keeps every frame at full size. An explicit ``gif_every``
        keeps its old meaning: one GIF frame per N frames, played at the render's rate.
        """
        full = self.gif_width == "full"
        if full:
            width = None
        elif self.gif_width is not None:
            width = int(self.gif_width)
        else:
            width = GIF_WIDTH if frame_width > GIF_WIDTH else None
        if self.gif_every is not None or full:
            return width, self.gif_every or 1, min(fps, 50.0)
        every = max(1, round(fps / GIF_FPS))
        return width, every, fps / every

    def frames_folder(self) -> str:
        return self.frames_dir or os.path.splitext(self.main)[0] + "_frames"


@dataclass(frozen=True)
class ClipSpec:
    path: str
    width: int | None = None
    start: float = 0.0
    end: float | None = None
    max_frames: int | None = None

    def validate(self) -> None:
        check_file(self.path)


@dataclass(frozen=True)
class SongSpec:
    """``--audio``: a song whose beats and bands the schedules read (``beat``, ``bass``, ...) and the MP4 carries,
    from ``start`` to ``end`` (s); ``beat_decay``: the share of the time to the next beat over which ``beat`` falls
    from 1 to 0."""

    audio: str | None = None
    start: float = 0.0
    end: float | None = None
    beat_decay: float = 0.5

    def validate(self) -> None:
        if self.audio is None:
            fail_if(bool(self.start) or self.end is not None, "--start and --end cut the --audio song: give --audio SONG")
            return
        check_file(self.audio, "song")
        fail_if(self.start < 0, f"--start must be >= 0 s (got {self.start:g})")
        if self.end is not None:
            fail_if(not self.end > self.start, f"--end must come after --start (got {self.start:g} .. {self.end:g} s)")
        fail_if(not 0 < self.beat_decay <= 1, f"--beat-decay must be in (0, 1] (got {self.beat_decay:g})")


#: a config's song settings, recorded only where it has a song (a render without --audio records as before)
SONG_KEYS = ("audio", "start", "end", "beat_decay")


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
    # how, not what, is rendered; a loop is recorded by the render runner, as the frames it adds
    not_recorded: ClassVar[tuple[str, ...]] = ("resume", "gif_every", "gif_width", "loop", "pingpong")

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
        if isinstance(getattr(self, "song", None), SongSpec) and self.song.audio is None:
            for k in SONG_KEYS:
                flat.pop(k, None)
        return {"command": self.command, **flat, "outputs": outputs}


# --------------------------------------------------------------------------- the commands
