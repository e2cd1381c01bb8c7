"""One frozen config per command: what the user asked for, checked before anything slow.

A config is built by the command line (or by a test, or a notebook), ``validate()``s itself
with one :class:`UserError` line per mistake, and gives ``as_settings()``: the flat dict that
``settings.json`` records (the same key names in every command) and ``--resume`` compares.
Nothing here loads torch; what needs the network or the pictures (the model, the objective,
sizes) is checked by :mod:`.resolve`.

The parts every command shares (picture, backend, target, outputs, clip, styles) and the
:class:`Config` base are in :mod:`.config_parts`, re-exported here.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from typing import ClassVar

from ... import presets
from ...engine.params import FLOW_METHODS, DreamParams
from .config_parts import (CARRIES, COLOR_SPACES, IMAGE_EXTS, OPTIMIZERS, Backend, ClipSpec, Config, Outputs,
                           Picture, SongSpec, StyleSpec, Target, build, check_color, check_dream, check_ext, check_file,
                           fail_if, part)
from ..errors import UserError, require_file
from .objective_schedule import ObjectiveSchedule, parse_objective_schedule
from .schedule import ScheduleError, parse_schedule

__all__ = ["Backend", "ClipSpec", "Outputs", "Picture", "SongSpec", "StyleSpec", "Target", "build", "check_dream",
           "DreamConfig", "RecursiveConfig", "ProgressionConfig", "StyleConfig", "VideoConfig", "ZoomConfig",
           "zoom_config", "DEFAULT_PRESET", "PRESET_KEYS"]

DEFAULT_PRESET = "journey"


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
        check_file(self.blend, "--blend image")
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
        fail_if((self.outputs.loop or self.outputs.pingpong) and not (self.outputs.gif or self.outputs.mp4),
                "--loop and --pingpong are how the GIF or MP4 plays: give --gif FILE or --mp4 FILE")
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
    strength: str | None = None  # feedback: the step size per frame, a schedule (None: the dream's lr)
    backend: Backend = part(Backend)
    target: Target = part(Target)
    dream: DreamParams = field(default_factory=lambda: DreamParams(octaves=3, steps=5, lr=0.01, smooth=2.0))
    outputs: Outputs = part(lambda: Outputs(fps=10.0))
    song: SongSpec = part(SongSpec)

    @property
    def feedback_mode(self) -> bool:
        """Frames that are each a full dream of the one before: --feedback N, or --audio (as many as the song)."""
        return self.feedback is not None or self.song.audio is not None

    def strength_schedule(self, song=None):
        """--strength (the feedback dream's step size per frame; --lr where not given), checked; bound to ``song``
        (the song's curves) where it reads the music."""
        text = self.strength if self.strength is not None else repr(self.dream.lr)
        try:
            s = parse_schedule(text, name="strength")
            fail_if(bool(s.music) and self.song.audio is None, s.needs_audio() or "")
            return s.bind(song) if s.music and song is not None else s
        except ScheduleError as e:
            raise UserError(str(e)) from None

    def as_settings(self) -> dict:
        s = super().as_settings()
        if self.strength is None:  # (recorded where given: a progression without it records as before)
            s.pop("strength", None)
        return s

    def check(self) -> None:
        check_color(self.color_coherence)
        fail_if(self.strength is not None and not self.feedback_mode,
                "--strength is the step size of each --feedback dream: give --feedback N or --audio SONG")
        fail_if(self.song.audio is not None and (self.outputs.loop or self.outputs.pingpong),
                "--loop and --pingpong play frames again that the song has moved on from: leave them out with --audio")
        self.strength_schedule()
        fail_if(not (self.outputs.gif or self.outputs.mp4), "give --gif FILE and/or -o FILE.mp4 for the progression")
        if self.outputs.mp4:
            fail_if(not self.outputs.mp4.lower().endswith(".mp4"),
                    f"-o {self.outputs.mp4}: the progression video must end in .mp4 (use --gif for a GIF)")
        fail_if(not self.feedback_mode and (self.steps < 1 or self.every < 1),
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
    net: str | None = None  # a trained network (video --save-net): one pass instead of the optimisation
    dream: DreamParams = field(default_factory=lambda: DreamParams(octaves=4, steps=10, lr=0.012, smooth=1.0))
    backend: Backend = part(Backend)
    outputs: Outputs = part(lambda: Outputs(fps=10.0))

    @property
    def animated(self) -> bool:
        return bool(self.outputs.gif or self.sweep_ratio or self.outputs.mp4)

    def validate(self) -> None:
        if self.net is None:
            return super().validate()
        # the network carries its style: the picture, the output and the backend are all it needs
        fail_if(bool(self.style_spec.styles), "--net brings its own style: give --net or --style, not both")
        fail_if(self.animated or self.then_dream, "--net stylises a still: give -o OUTPUT.png (no --gif, --sweep-ratio "
                                                  "or --then-dream)")
        for p in (self.picture, self.backend):
            p.validate()
        fail_if(not self.output, "give -o OUTPUT.png")
        check_ext(self.output, IMAGE_EXTS)
        require_file(self.net, "network file")

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


METHODS = ("optimize", "keyframes", "network")


#: the network method's training (clips.network.train_params): its iteration cap on a CPU (and MPS), where the time
#: budget (2 s a frame, 120 to 600 s) ends it first; on a CUDA GPU, frame pairs per iteration and iterations, with
#: no time budget (the same network on any GPU). Measured on the CPU, since an iteration's arithmetic is the GPU's
#: (bigbuckbunny, 48 frames at 192 px, The Starry Night; judged by VGG-16 over 5 frames, the source's style loss
#: 354k, stylize's 32.6k): 4 pairs an iteration, style 38.8k / 20.2k / 14.4k / 12.4k / 12.3k after 100 / 200 / 400
#: / 600 / 800 iterations (content 55k -> 72k, warping error 4.1e-4 -> 2.9e-4): settled by 600-800; one pair an
#: iteration 24.2k / 15.6k / 13.8k / 13.1k after 200 / 400 / 600 / 800, 10.4k after 1600. A GPU's batch of 4 costs
#: little more than one (its kernels are far from full at 512 px crops).
NET_CPU_ITERS = 3000
NET_GPU_BATCH, NET_GPU_ITERS = 4, 1000
#: and its upsampling there (the CPU's is nearest): bilinear learns the style more slowly (one pair an iteration,
#: 400 iterations: style 30.4k against nearest's 16.8k) but by 800 iterations of 4 pairs it is nearly level (12.9k
#: against 12.3k, content 74k / 72k, warping error 2.85e-4 / 2.88e-4), without nearest's grid of stripes in the
#: sky. Held out (one_second_clip.mp4, a dark volcano, 24 frames x The Scream, 600 iterations of 4): style 6.7k
#: against 5.6k, content 44.3k / 44.6k, warping error 3.9e-5 / 3.6e-5, and no fine grid over the frame.
NET_GPU_UPSAMPLING = "bilinear"


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
    # style: the keyframes method (`--method keyframes`) and the network method
    # optimize | keyframes | network; None: the keyframes method, or the optimisation where an option only it has is
    # given (--original-colors, --independent, --cadence), the network where --net is (``chosen_method``)
    method: str | None = None
    key_iters: int = 100  # the keyframes' optimisation iterations
    net: str | None = None  # a trained network file (implies the network method; no training)
    save_net: str | None = None
    train_seconds: float | None = None  # None: clips.network.training_seconds(frames)
    train_iters: int | None = None  # None: clips.network.train_params (a GPU's or a CPU's)
    train_pairs: int = 64  # frame pairs the network trains on (spread over the clip)
    keyframes: int | None = None  # keyframes method: None = one per 96 frames; network: None = 0
    net_temporal_weight: float = 200.0
    net_blend: float = 0.0
    net_batch: int = 4
    net_cache: bool = True
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

    @property
    def chosen_method(self) -> str:
        """The method a stylised clip is rendered with: ``--method``, else what the options imply."""
        if self.net is not None:
            return "network"
        if self.method is not None:
            return self.method
        return "optimize" if self.original_colors or self.independent or self.cadence > 1 else "keyframes"

    @property
    def network(self) -> bool:
        return not self.dream_clip and self.chosen_method == "network"

    @property
    def keyframes_method(self) -> bool:
        return not self.dream_clip and self.chosen_method == "keyframes"

    def validate(self) -> None:
        fail_if(self.dream_clip == bool(self.style_spec.styles or self.net),
                "say what to do with the clip: --dream, or --style IMAGE / --net FILE (one of them)")
        fail_if(self.method is not None and self.method not in METHODS,
                f"unknown --method {self.method!r}; use {', '.join(METHODS)}")
        if self.net is not None:
            fail_if(bool(self.style_spec.styles), "--net brings its own style: give --net or --style, not both")
            require_file(self.net, "network file")
        fail_if(not (self.outputs.mp4 or "").lower().endswith(".mp4"), f"output {self.outputs.mp4} must end in .mp4")
        if self.dream_clip:  # style options are not asked for: only the dream's parts are checked
            for p in (self.clip, self.backend, self.target, self.outputs):
                p.validate()
            check_dream(self.dream)
        elif self.net is not None:  # the network carries its style
            for p in (self.clip, self.backend, self.outputs):
                p.validate()
        else:
            for p in (self.clip, self.backend, self.style_spec, self.outputs):
                p.validate()
        self.check()

    def check(self) -> None:
        fail_if(self.flow not in FLOW_METHODS, f"unknown --flow {self.flow!r}; use one of {', '.join(FLOW_METHODS)}")
        fail_if(self.cadence < 1, f"--cadence must be >= 1 (got {self.cadence})")
        fail_if(self.outputs.loop and not self.dream_clip,
                "--loop serves video --dream (a stylised clip follows its clip, which does not loop)")
        if self.dream_clip:
            fail_if(self.carry not in CARRIES, f"unknown --carry {self.carry!r}; use flow, blend or none")
            fail_if(not 0 <= self.persistence <= 1, f"--persistence must be between 0 and 1 (got {self.persistence})")
        else:
            fail_if(self.iters_first < 1 or self.iters < 0 or self.temporal_weight < 0,
                    "--iters-first must be >= 1, --iters and --temporal-weight >= 0")
            fail_if(self.train_seconds is not None and not self.train_seconds > 0,
                    f"--train-seconds must be > 0 (got {self.train_seconds or 0:g})")
            fail_if((self.train_iters is not None and self.train_iters < 1) or self.train_pairs < 1
                    or (self.keyframes or 0) < 0 or self.net_batch < 1,
                    "--train-iters, --train-pairs and --net-batch must be >= 1, --keyframes >= 0")
            fail_if(self.key_iters < 1, f"--key-iters must be >= 1 (got {self.key_iters})")
            fail_if(self.keyframes_method and self.keyframes == 0,
                    "--method keyframes needs at least one keyframe (--keyframes >= 1)")
            fail_if(self.keyframes_method and self.save_net is not None,
                    "--save-net saves the network of --method network; the keyframes method trains none")
            fail_if(not 0 <= self.net_blend < 1, f"--net-blend must be in [0, 1) (got {self.net_blend:g})")
            fail_if(self.net_temporal_weight < 0, "--net-temporal-weight must be >= 0")
            fail_if((self.network or self.keyframes_method) and (self.original_colors or self.independent
                                                                 or self.cadence > 1),
                    "--original-colors, --independent and --cadence are options of --method optimize")

    def as_settings(self) -> dict:
        s = super().as_settings()
        s["command"] = self.mode
        if not self.dream_clip:
            s["method"] = self.chosen_method
        net_keys = ("method", "net", "save_net", "train_seconds", "train_iters", "train_pairs", "keyframes",
                    "net_temporal_weight", "net_blend", "net_batch", "net_cache")
        drop = ("iters_first", "iters", "temporal_weight", "independent", "original_colors", "styles", "style_weights",
                "style_scale", "max_style_size") + net_keys if self.dream_clip else (
            "layers", "channels", "class", "guide", "similarity", "pixel_weight", "dream", "refine_steps", "carry",
            "blend", "persistence")
        per_frame = ("iters_first", "iters", "temporal_weight", "independent", "original_colors")
        if self.dream_clip:
            drop += ("key_iters",)
        elif self.keyframes_method:  # the optimisation paints the keyframes only
            drop += tuple(k for k in net_keys if k not in ("method", "keyframes")) + per_frame
        elif self.network:  # how the network is kept is not what is rendered
            drop += ("save_net", "net_cache", "iters", "temporal_weight", "independent", "original_colors", "key_iters")
        else:
            drop += net_keys + ("key_iters",)
        return {k: v for k, v in s.items() if k not in drop}


@dataclass(frozen=True)
class ZoomConfig(Config):
    """``zoom``: schedules and look, from the command line over a preset over these defaults."""

    command: ClassVar[str] = "zoom"
    not_recorded: ClassVar[tuple[str, ...]] = Config.not_recorded + ("preview",)
    # what a preset may set (and the command line override)
    frames: int = 240  # 0: as many as the --audio song lasts (what --audio without --frames asks for)
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
    objective: str | None = None  # an objective schedule (see objective_schedule.py); else the target's
    objective_fade: int = 24
    reseed_every: int = 30
    preview: bool = False  # a quick look first: every 4th frame at half size
    # per render (command line only)
    preset: str = DEFAULT_PRESET
    tile: int = 0
    picture: Picture = part(Picture)
    backend: Backend = part(lambda: Backend(model="efficientnet_lite0"))
    target: Target = part(Target)
    outputs: Outputs = part(Outputs)
    song: SongSpec = part(SongSpec)

    @property
    def song_length(self) -> bool:
        """The render lasts as long as the song (--audio without --frames): frames are counted once it is read."""
        return self.frames == 0 and self.song.audio is not None

    def check(self) -> None:
        fail_if(self.frames < 1 and not self.song_length, f"--frames must be >= 1 (got {self.frames})")
        fail_if(self.outputs.loop and 0 < self.frames < 3, f"--loop needs at least 3 --frames (got {self.frames})")
        fail_if(self.cadence < 1, f"--cadence must be >= 1 (got {self.cadence})")
        check_color(self.color_coherence)
        fail_if(self.border not in BORDERS, f"unknown --border {self.border!r}; use one of {', '.join(BORDERS)}")
        fail_if(not (self.outputs.mp4 or self.outputs.gif), "give -o OUT.mp4 or -o OUT.gif")
        check_dream(self.base_dream())
        for name in SCHEDULES:
            self.schedule(name)  # parse now: errors before any rendering
        self.objective_schedule()

    def objective_schedule(self) -> ObjectiveSchedule | None:
        if self.objective is None:
            return None
        s = parse_objective_schedule(str(self.objective), self.objective_fade, self.reseed_every)
        fail_if(self.song.audio is None and s.needs_audio() is not None, s.needs_audio() or "")
        return s

    def base_dream(self) -> DreamParams:
        """The dream numbers that do not change over time (the scheduled ones are set per frame)."""
        return DreamParams(octave_scale=self.octave_scale, jitter=self.jitter, smooth=self.smooth, tile=self.tile)

    def schedule(self, name: str, song=None):
        """The schedule ``name``, evaluated at every frame the render will ask for (1/0 at frame 90,
        a zoom factor that reaches 0) so that its mistakes are one line now, not a traceback later.

        One that reads the music (``beat``, ``bass``, ...) needs ``--audio``; it is bound to ``song`` (the song's
        curves, :class:`..media.music.Curves`) and evaluated then; before the song is read, only parsed."""
        try:
            s = parse_schedule(getattr(self, name), name=name.replace("_", "-"))
            if s.music:
                fail_if(self.song.audio is None, s.needs_audio() or "")
                if song is None:
                    return s
                s = s.bind(song)
            values = s.values(1 if s.is_constant else max(1, self.frames or getattr(song, "n", 1)))
        except ScheduleError as e:
            raise UserError(str(e)) from None
        if name == "zoom":
            for t, v in enumerate(values):
                fail_if(not v > 0, f'zoom: the zoom factor must be > 0 (1 = none, 1.02 = in, 0.98 = out), '
                                   f'got {v:g} at frame {t} in "{s.text}"')
        return s


SCHEDULES = ("zoom", "angle", "translation_x", "translation_y", "center_x", "center_y", "strength", "steps", "octaves")
BORDERS = ("reflect", "replicate", "wrap")
# what a preset file may set: the look, not the render's own (start picture, seed, outputs)
PRESET_KEYS = ({f.name for f in fields(ZoomConfig)} - {"preset", "tile", "preview", "picture", "backend", "target",
                                                     "outputs", "song"}
               | {"size", "model", "fps", "class", "beat_decay"} | {f.name for f in fields(Target)} - {"klass"})


# what each preset key holds (TOML gives strings, integers, floats, booleans, arrays, tables)
_WHOLE = ("frames", "jitter", "cadence", "crf", "size", "objective_fade", "reseed_every")
_NUMBER = ("octave_scale", "smooth", "fps", "pixel_weight", "beat_decay")
_TEXT_OR_WHOLE = ("channels", "class")  # channels = 12, class = 207


def check_preset_types(name: str, data: dict) -> None:
    """Each value of a preset is of the kind its key takes, else one line naming the key."""
    def whole(v):
        return isinstance(v, int) and not isinstance(v, bool)

    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    for key, v in data.items():
        if key in SCHEDULES:
            ok, want = number(v) or isinstance(v, str), "a number or a schedule string like \"0:(1.02)\""
        elif key in _WHOLE:
            ok, want = whole(v), "a whole number"
        elif key in _NUMBER:
            ok, want = number(v), "a number"
        elif key in _TEXT_OR_WHOLE:
            ok, want = whole(v) or isinstance(v, str), "text or a whole number"
        else:
            ok, want = isinstance(v, str), "text (in quotes)"
        shown = repr(v) if len(repr(v)) <= 60 else repr(v)[:57] + "..."
        fail_if(not ok, f"preset {name}: {key} must be {want} (got {shown})")


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
    check_preset_types(name, data)
    if "class" in data:
        data["klass"] = data.pop("class")
    asked = [k for k in ("layers", "channels", "klass") if cli.get(k) is not None]
    if asked and cli.get("objective") is not None:
        raise UserError(f"give --objective or --{asked[0].replace('klass', 'class')}, not both")
    if asked:  # what the command line asks for replaces the preset's objective schedule
        data.pop("objective", None)
    if cli.get("audio") is not None and cli.get("frames") is None:  # the render lasts as long as the song
        data["frames"] = 0
    values = {**{k: (str(v) if k in SCHEDULES else v) for k, v in data.items()},
              **{k: v for k, v in cli.items() if v is not None}, "preset": name}
    cfg = build(ZoomConfig, values)
    cfg.validate()
    return cfg
