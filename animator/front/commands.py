"""The commands and their options: the one description of what each command takes (typer signatures,
their ``--help`` panels and help), read by the command line (:mod:`.cli`), a batch jobs file
(:mod:`.batch`) and the studio (:mod:`.studio`).

Importing this module loads typer, rich and the configs, not torch: help, ``presets`` and
mistakes in what was typed answer at once. Each command builds its config
(:mod:`.configs`), checks it, and only then imports the render code (and torch).
"""
from __future__ import annotations

import contextlib
import contextvars
import os
from typing import Optional

import typer

from ..request.configs import (NET_CPU_ITERS, NET_GPU_BATCH, NET_GPU_ITERS, DreamConfig, ProgressionConfig, RecursiveConfig,
                      StyleConfig, VideoConfig, build, zoom_config)
from ..errors import UserError
from .options import (ANIMATION, BACKEND, GIF, GUIDE, IMAGE_ARG, LOOP, PINGPONG, PIXEL, RESUME, SONG, STROKE,
                      TARGET, arrange, with_options)

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="dreamreel: DeepDream stills and zooms, recursive dreams and style transfer.")

PROGRESSION_DREAM = {"lr": "lr", "octaves": "octaves", "octave_scale": "octave_scale", "dream_steps": "steps",
                     "jitter": "jitter", "smooth": "smooth"}
STYLE_DREAM = {"dream_steps": "steps", "dream_octaves": "octaves"}


class Checked(Exception):
    """Raised instead of rendering while ``dreamreel batch`` checks its jobs; carries the checked config."""

    def __init__(self, config):
        super().__init__(type(config).__name__)
        self.config = config


_CHECKING = contextvars.ContextVar("checking", default=False)


@contextlib.contextmanager
def checking():
    """Within: each command builds and validates its config, then raises :class:`Checked` (no render)."""
    token = _CHECKING.set(True)
    try:
        yield
    finally:
        _CHECKING.reset(token)


def checked(cfg):
    cfg.validate()
    if _CHECKING.get():
        raise Checked(cfg)
    return cfg


def check_command_line(cmd, argv: list[str]):
    """Parse ``argv`` (``[command, *args]``) with the click command ``cmd`` and check its config as the command
    would, rendering nothing (a batch's jobs, the studio's renders): the config, or None for a command that never
    calls :func:`checked`. A mistake is a :class:`UserError` (a bad value: the parser's own message)."""
    try:
        ctx = cmd.make_context(argv[0], list(argv[1:]))
        with checking():
            ctx.invoke(cmd.callback, **ctx.params)
    except Checked as c:
        return c.config
    except UserError:
        raise
    except Exception as e:
        if hasattr(e, "format_message"):  # the parser's own message (a bad value, a missing option)
            raise UserError(e.format_message()) from None
        raise
    return None


def given(values: dict) -> dict:
    """A command's locals with its shared ``options`` spread out (what :func:`.configs.build` takes)."""
    return {**{k: v for k, v in values.items() if k != "options"}, **values.get("options", {})}


@app.command()
@with_options(BACKEND, TARGET, GUIDE, PIXEL, STROKE)
def dream(
    image: str = IMAGE_ARG,
    output: str = typer.Option(..., "-o", "--output", help="Output image (.png, .jpg, ...)."),
    size: int = typer.Option(512, help="Longest side of the output in pixels."),
    octaves: int = typer.Option(4, help="Octave pyramid levels."),
    octave_scale: float = typer.Option(1.4, help="Size ratio between octaves."),
    steps: int = typer.Option(10, help="Gradient steps per octave."),
    lr: float = typer.Option(0.012, help="Step size."),
    tile: Optional[int] = typer.Option(None, help="Gradient tile size in px (0 = off; default: 512 above 1024 px)."),
    blend: Optional[str] = typer.Option(None, help="Blend a second image into the start picture."),
    alpha: float = typer.Option(0.5, help="Weight of --blend in the start picture."),
    **options,
) -> None:
    """Dream a still picture."""
    cfg = build(DreamConfig, given(locals()))
    checked(cfg)
    from ..modes.still import render_dream

    render_dream(cfg)


@app.command()
@with_options(BACKEND, TARGET, ANIMATION, LOOP, SONG)
def zoom(
    image: str = IMAGE_ARG,
    output: str = typer.Option(..., "-o", "--output", help="Output video (.mp4) or .gif."),
    preset: Optional[str] = typer.Option(None, help="A look from 'dreamreel presets' (or a .toml file). Default: journey."),
    frames: Optional[int] = typer.Option(None, help="Number of frames."),
    fps: Optional[float] = typer.Option(None, help="Frames per second."),
    size: Optional[int] = typer.Option(None, help="Longest side of the frames, px."),
    zoom: Optional[str] = typer.Option(None, help="Zoom per frame, schedule: '0:(1.02), 120:(1.06)'."),
    angle: Optional[str] = typer.Option(None, help="Rotation per frame in degrees, schedule."),
    translation_x: Optional[str] = typer.Option(None, help="Shift per frame in px (right), schedule."),
    translation_y: Optional[str] = typer.Option(None, help="Shift per frame in px (down), schedule."),
    center_x: Optional[str] = typer.Option(None, help="Transform centre, fraction of the width, schedule."),
    center_y: Optional[str] = typer.Option(None, help="Transform centre, fraction of the height, schedule."),
    strength: Optional[str] = typer.Option(None, help="Dream step size, schedule."),
    steps: Optional[str] = typer.Option(None, help="Dream steps per octave, schedule."),
    octaves: Optional[str] = typer.Option(None, help="Octaves per frame, schedule."),
    octave_scale: Optional[float] = typer.Option(None, help="Size ratio between octaves."),
    objective: Optional[str] = typer.Option(None, help="What to dream when: '0: block6, 120: block9:12, 240: class:jellyfish'."),
    objective_fade: Optional[int] = typer.Option(None, help="Frames over which one objective cross-fades into the next."),
    reseed_every: Optional[int] = typer.Option(None, help="random:LAYER draws new channels every N frames."),
    guide: Optional[str] = typer.Option(None, help="Guide image: its features at the layer(s) steer the dream."),
    similarity: Optional[str] = typer.Option(None, help="Guide similarity: dot, l1 or l2."),
    pixel_weight: Optional[float] = typer.Option(None, help="Keep mean colours (0 = off)."),
    jitter: Optional[int] = typer.Option(None, help="Random roll in pixels."),
    smooth: Optional[float] = typer.Option(None, help="Gradient blur sigma, px (0 = off)."),
    tile: int = typer.Option(0, help="Gradient tile size, px (0 = off)."),
    cadence: Optional[int] = typer.Option(None, help="Dream every K-th frame; warp and cross-fade between."),
    color_coherence: Optional[str] = typer.Option(None, help="Match colours to frame 0: lab, rgb, hsv or none."),
    border: Optional[str] = typer.Option(None, help="Border of the motion warp: reflect, replicate, wrap."),
    crf: Optional[int] = typer.Option(None, help="H.264 quality (lower = better; 18)."),
    dither: Optional[str] = typer.Option(None, help="GIF dither: sierra2_4a, floyd_steinberg, bayer, sierra2, none."),
    preview: bool = typer.Option(False, help="A quick look: every 4th frame at half size to OUT_preview.mp4."),
    **options,
) -> None:
    """Render an endless dream zoom to MP4 (and GIF). Options not given come from the preset."""
    values = given(locals())
    ext = os.path.splitext(output)[1].lower()
    if ext not in (".mp4", ".gif"):
        raise UserError(f"output {output} must end in .mp4 or .gif")
    values.update(mp4=output if ext == ".mp4" else None, gif=values["gif"] or (output if ext == ".gif" else None),
                  gif_every=values["every"])
    cfg = zoom_config(values, preset)
    checked(cfg)
    from ..modes.zoom import render_zoom

    render_zoom(cfg)


@app.command()
@with_options(BACKEND, GUIDE, PIXEL, STROKE, GIF, RESUME, LOOP, PINGPONG)
def recursive(
    image: str = IMAGE_ARG,
    output: str = typer.Option(..., "-o", "--output", help="Folder: frames, sheet, settings."),
    layers: str = typer.Option(..., help="Stages' layers: 'block2..block9'."),
    blend: float = typer.Option(0.3, help="Previous stage's weight."),
    tween: int = typer.Option(0, help="Cross-fade frames between stages."),
    random_channels_from: Optional[int] = typer.Option(None, help="From this stage (0-based) on, a random subset of channels."),
    channel_fraction: float = typer.Option(0.25, help="Share of its channels."),
    mp4: Optional[str] = typer.Option(None, help="Write the stages as an MP4."),
    fps: float = typer.Option(2.0, help="Frames per second of GIF/MP4."),
    size: int = typer.Option(512, help="Longest side, px."),
    octaves: int = typer.Option(3, help="Octaves per stage."),
    octave_scale: float = typer.Option(1.4, help="Size ratio between octaves."),
    steps: int = typer.Option(8, help="Steps per octave and stage."),
    lr: float = typer.Option(0.009, help="Step size."),
    color_coherence: str = typer.Option("none", help="Match colours: lab, rgb, hsv."),
    **options,
) -> None:
    """Dream layer after layer, each stage on the previous stage's output."""
    values = given(locals())
    cfg = build(RecursiveConfig, {**values, "gif_every": values["every"]})
    checked(cfg)
    from ..modes.stages import render_recursive

    render_recursive(cfg)


@app.command()
@with_options(BACKEND, TARGET, GUIDE, PIXEL, STROKE, ANIMATION, LOOP, PINGPONG, SONG)
def progression(
    image: str = IMAGE_ARG,
    gif: Optional[str] = typer.Option(None, help="The progression as a looping GIF."),
    output: Optional[str] = typer.Option(None, "-o", "--output", help="The progression as an MP4."),
    steps: int = typer.Option(300, help="Steps of the long dream."),
    every: int = typer.Option(10, help="Record a frame every N steps."),
    ease: bool = typer.Option(False, help="More frames at the start, where the dream changes fastest."),
    caption: bool = typer.Option(False, help="Write the step and objective value on each GIF/MP4 frame."),
    feedback: Optional[int] = typer.Option(None, help="Instead: N frames, each a full dream of the previous one."),
    strength: Optional[str] = typer.Option(None, help="--feedback, --audio: step size per frame, schedule (--lr)."),
    size: int = typer.Option(384, help="Longest side, px."),
    lr: float = typer.Option(0.01, help="Step size."),
    octaves: int = typer.Option(3, help="Octaves the dream climbs, small to full."),
    octave_scale: float = typer.Option(1.4, help="Size ratio between octaves."),
    dream_steps: int = typer.Option(5, help="--feedback: steps per octave."),
    smooth: float = typer.Option(2.0, help="Gradient blur sigma, px (0 = off)."),
    fps: float = typer.Option(10.0, help="Frames per second of GIF/MP4."),
    color_coherence: str = typer.Option("none", help="Match colours to frame 0: lab, rgb, hsv."),
    **options,
) -> None:
    """Record a dream unfolding: every N steps of one long dream, as GIF/MP4 frames."""
    values = given(locals())
    cfg = build(ProgressionConfig, {**values, "mp4": output}, dream_keys=PROGRESSION_DREAM)
    checked(cfg)
    from ..modes.stages import render_progression

    render_progression(cfg)


@app.command()
@with_options(BACKEND, ANIMATION)
def stylize(
    image: str = typer.Argument(..., help="Content picture (an image file)."),
    style: list[str] = typer.Option([], "--style", metavar="<file>", help="Style picture (repeat for a blend of several)."),
    output: Optional[str] = typer.Option(None, "-o", "--output",
                                         help="Output picture (.png ...), or .mp4 for a progression/sweep."),
    style_weights: Optional[str] = typer.Option(None, help="Blend weights of the --style pictures: '0.7,0.3'."),
    content_weight: float = typer.Option(1.0, help="Content loss weight (0 = texture)."),
    style_weight: float = typer.Option(1.0, help="Style loss weight (1:1 is balanced)."),
    tv_weight: float = typer.Option(1.0, help="Smoothness (TV) loss weight (0 = off)."),
    tv_beta: Optional[float] = typer.Option(None, help="TV as (dx^2 + dy^2)^(beta/2) instead of L1 of the differences."),
    optimizer: str = typer.Option("lbfgs", help="lbfgs or adam."),
    iters: int = typer.Option(300, help="Iterations (per frame of a sweep)."),
    lr: Optional[float] = typer.Option(None, help="Step size (Adam: 0.02 in [0, 1] pixel units; L-BFGS: 1)."),
    init: str = typer.Option("content", help="Start: content, noise or a picture."),
    init_blend: Optional[str] = typer.Option(None, help="Blend this picture into the start picture."),
    alpha: float = typer.Option(0.5, help="Weight of --init-blend in the start picture."),
    size: int = typer.Option(512, help="Longest side of the output, px."),
    style_scale: float = typer.Option(1.0, help="Style picture size / output size."),
    max_style_size: Optional[int] = typer.Option(None, help="Cap on the style picture's longest side, px."),
    original_colors: bool = typer.Option(False, help="Keep the content's colours: transfer luminance only."),
    color_space: str = typer.Option("ycbcr", help="Chroma space of --original-colors."),
    model: Optional[str] = typer.Option(None, help="Backbone (default: VGG where its weights are here, else efficientnet_lite0)."),
    gif: Optional[str] = typer.Option(None, help="Write the progression (or sweep) as a looping GIF."),
    every: int = typer.Option(10, help="Progression: one frame every N iterations."),
    sweep_ratio: Optional[str] = typer.Option(None, help="Sweep content:style FROM:TO, a stylisation a frame: '0.1:10'."),
    sweep_frames: int = typer.Option(9, help="Frames of a --sweep-ratio."),
    fps: float = typer.Option(10.0, help="Frames per second of GIF/MP4."),
    then_dream: bool = typer.Option(False, help="Dream the stylised picture (at --layer)."),
    layer: Optional[str] = typer.Option(None, help="Layer(s) to dream with --then-dream (default: the model's)."),
    dream_steps: int = typer.Option(10, help="--then-dream: steps per octave."),
    dream_octaves: int = typer.Option(4, help="--then-dream: octaves."),
    net: Optional[str] = typer.Option(None, help="A trained network file (video --save-net): one pass, no --style."),
    **options,
) -> None:
    """Neural style transfer (Gatys et al.): a still, its progression, a content:style sweep."""
    values = {**given(locals()), "styles": style}
    if output and output.lower().endswith(".mp4"):
        values["mp4"] = output
    cfg = build(StyleConfig, values, dream_keys=STYLE_DREAM)
    checked(cfg)
    from ..modes.stylize import render_stylize

    render_stylize(cfg)


@app.command()
@with_options(BACKEND, TARGET, GUIDE, STROKE, ANIMATION, LOOP)
def video(
    clip: str = typer.Argument(..., help="A video clip (anything ffmpeg reads)."),
    output: str = typer.Option(..., "-o", "--output", help="Output MP4 (source fps, source audio)."),
    dream_mode: bool = typer.Option(False, "--dream", help="Dream the clip (DeepDream with flow carry-over)."),
    style: Optional[list[str]] = typer.Option(None, metavar="<file>", help="Style image(s) to paint the clip with (repeatable)."),
    style_weights: Optional[str] = typer.Option(None, help="Blend weights of the styles: '0.7,0.3'."),
    style_scale: float = typer.Option(1.0, help="Style picture size / frame size."),
    max_style_size: Optional[int] = typer.Option(None, help="Cap on the style picture's longest side, px."),
    iters_first: int = typer.Option(150, help="Iterations for the first frame."),
    iters: int = typer.Option(40, help="Iterations for each later frame."),
    temporal_weight: float = typer.Option(50.0, help="Pull toward the flow-carried frame."),
    independent: bool = typer.Option(False, help="Every frame on its own (no flow; to compare)."),
    original_colors: bool = typer.Option(False, help="Keep the clip's colours."),
    method: Optional[str] = typer.Option(None, help="keyframes (the default), optimize (slow), network."),
    key_iters: int = typer.Option(100, help="Keyframe iterations, more if converging."),
    net: Optional[str] = typer.Option(None, help="A trained network file (--save-net): no training."),
    save_net: Optional[str] = typer.Option(None, help="Save the trained network here (for --net)."),
    train_seconds: Optional[float] = typer.Option(None, help="Training time, s (CPU: 2 s a frame, 120 to 600; GPU: "
                                                  "none)."),
    train_iters: Optional[int] = typer.Option(None, help=f"Most training iterations (GPU: {NET_GPU_ITERS} of "
                                              f"{NET_GPU_BATCH} pairs; CPU: {NET_CPU_ITERS} of 1)."),
    train_pairs: int = typer.Option(64, help="Frame pairs it trains on."),
    keyframes: Optional[int] = typer.Option(None, help="Keyframes painted: the middles of N shares (default: as needed)."),
    net_temporal_weight: float = typer.Option(200.0, help="Temporal loss weight in training."),
    net_blend: float = typer.Option(0.0, help="Share of the previous output carried."),
    net_batch: int = typer.Option(4, help="Frames per batch."),
    no_net_cache: bool = typer.Option(False, "--no-net-cache", help="Paint (train) again, not from the cache."),
    layers: Optional[str] = typer.Option(None, "--layer", "--layers", help="Layer(s) to dream."),
    width: Optional[int] = typer.Option(None, help="Frame width, px (even)."),
    start: float = typer.Option(0.0, help="Start time in seconds."),
    end: Optional[float] = typer.Option(None, help="End time in seconds."),
    max_frames: Optional[int] = typer.Option(None, help="At most this many frames."),
    carry: str = typer.Option("flow", help="Inherit the dream by: flow, blend, none."),
    blend: float = typer.Option(0.5, help="--carry blend: the previous dream's weight."),
    flow: str = typer.Option("dis", help="Optical flow: dis, farneback, raft."),
    cadence: int = typer.Option(1, help="Dream every K-th frame; carry it between."),
    octaves: int = typer.Option(2, help="First frame: octaves."),
    steps: int = typer.Option(6, help="First frame: steps per octave."),
    refine_steps: int = typer.Option(2, help="Steps that refine each later frame."),
    persistence: float = typer.Option(0.9, help="Share of the carried dream kept per frame."),
    lr: float = typer.Option(0.012, help="Step size."),
    workers: Optional[int] = typer.Option(None, help="Split the clip over N Ray workers (dreamreel\\[cluster])."),
    address: Optional[str] = typer.Option(None, help="Render on the Ray cluster at this address."),
    **options,
) -> None:
    """Dream (or stylise) every frame of a clip without flicker."""
    values = given(locals())
    values.update(path=clip, dream_clip=dream_mode, styles=style or (), mp4=output,
                  gif_every=values["every"], net_cache=not no_net_cache)
    cfg = build(VideoConfig, values)
    if (workers is not None or address) and cfg.outputs.loop:
        raise UserError("--loop cannot be split over --workers/--address: the last range fades into the first")
    checked(cfg)
    if workers is not None or address:
        from ..cluster.split import render_video_split

        render_video_split(cfg, workers=workers, address=address)
        return
    from ..clips.video import render_video

    render_video(cfg)


from . import cli_info  # noqa: E402  (presets, models, metrics: registered on the same app)

cli_info.register(app)
arrange(app)  # every option in its --help panel (cli.py adds batch and studio, and arranges again)
