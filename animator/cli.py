"""The ``dreamreel`` command line (typer). User mistakes: one red line, exit code 2."""
from __future__ import annotations

import sys

from typing import Optional

import typer
from rich.table import Table

from .errors import UserError
from .progress import console

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="dreamreel: DeepDream stills and zooms, recursive dreams and style transfer.")


from .options import (CHANNELS, CLASS, DEVICE, EVERY_GIF, GIF_WIDTH, GUIDE, IMAGE_ARG, JITTER, LAYERS,  # noqa: E402
                      MODEL, PIXEL_WEIGHT, RESUME, SEED, SIMILARITY, SMOOTH, WEIGHTS)


@app.command()
def dream(
    image: str = IMAGE_ARG,
    output: str = typer.Option(..., "-o", "--output", help="Output image (.png, .jpg, ...)."),
    size: int = typer.Option(512, help="Longest side of the output in pixels."),
    model: Optional[str] = MODEL,
    weights: Optional[str] = WEIGHTS,
    layers: Optional[str] = LAYERS,
    channels: Optional[str] = CHANNELS,
    klass: Optional[str] = CLASS,
    guide: Optional[str] = GUIDE,
    similarity: str = SIMILARITY,
    pixel_weight: float = PIXEL_WEIGHT,
    octaves: int = typer.Option(4, help="Octave pyramid levels."),
    octave_scale: float = typer.Option(1.4, help="Size ratio between octaves."),
    steps: int = typer.Option(10, help="Gradient steps per octave."),
    lr: float = typer.Option(0.012, help="Step size."),
    jitter: int = JITTER,
    smooth: float = SMOOTH,
    tile: Optional[int] = typer.Option(None, help="Gradient tile size in px (0 = off; default: 512 above 1024 px)."),
    seed: int = SEED,
    device: str = DEVICE,
    blend: Optional[str] = typer.Option(None, help="Blend a second image into the start picture."),
    alpha: float = typer.Option(0.5, help="Weight of --blend in the start picture."),
) -> None:
    """Dream a still picture."""
    from .still import DreamRequest, render_dream

    render_dream(DreamRequest(image=image, output=output, size=size, model=model or "efficientnet_lite0",
                              weights=weights, layers=layers, channels=channels, klass=klass, guide=guide,
                              similarity=similarity, pixel_weight=pixel_weight, octaves=octaves,
                              octave_scale=octave_scale, steps=steps, lr=lr, jitter=jitter, smooth=smooth,
                              tile=tile, seed=seed, device=device, blend=blend, alpha=alpha))


@app.command()
def zoom(
    image: str = IMAGE_ARG,
    output: str = typer.Option(..., "-o", "--output", help="Output video (.mp4) or .gif."),
    gif: Optional[str] = typer.Option(None, help="Also write a looping GIF here."),
    every: int = EVERY_GIF,
    gif_width: Optional[int] = GIF_WIDTH,
    preset: Optional[str] = typer.Option(None, help="A look from 'dreamreel presets' (or a .toml file). Default: classic-zoom."),
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
    model: Optional[str] = MODEL,
    weights: Optional[str] = WEIGHTS,
    layers: Optional[str] = LAYERS,
    channels: Optional[str] = CHANNELS,
    klass: Optional[str] = CLASS,
    guide: Optional[str] = GUIDE,
    similarity: Optional[str] = typer.Option(None, help="Guide similarity: dot, l1 or l2."),
    pixel_weight: Optional[float] = typer.Option(None, help="Keep the start picture's mean colours (weight)."),
    jitter: Optional[int] = typer.Option(None, help="Random roll in pixels."),
    smooth: Optional[float] = typer.Option(None, help="Gradient smoothing sigma (0 = off)."),
    tile: int = typer.Option(0, help="Gradient tile size in px (0 = off)."),
    cadence: Optional[int] = typer.Option(None, help="Dream every K-th frame; warp and cross-fade between."),
    color_coherence: Optional[str] = typer.Option(None, help="Match colours to frame 0: lab, rgb, hsv or none."),
    border: Optional[str] = typer.Option(None, help="Border of the motion warp: reflect, replicate, wrap."),
    crf: Optional[int] = typer.Option(None, help="H.264 quality (lower = better, 18 default)."),
    dither: Optional[str] = typer.Option(None, help="GIF dither: sierra2_4a, floyd_steinberg, bayer, sierra2, none."),
    frames_dir: Optional[str] = typer.Option(None, help="Folder for the PNG frames (default: OUTPUT_frames/)."),
    resume: bool = RESUME,
    seed: int = SEED,
    device: str = DEVICE,
) -> None:
    """Render an endless dream zoom to MP4 (and GIF)."""
    from .config import resolve
    from .zoom import render_zoom

    given = {k: v for k, v in locals().items()
             if k not in ("output", "gif", "preset", "frames_dir", "resume", "device", "every", "gif_width")}
    cfg = resolve(given, preset)
    render_zoom(cfg, output, gif=gif, frames_dir=frames_dir, resume=resume, device=device, every=every,
                gif_width=gif_width)


def _dream_params(octaves: int, octave_scale: float, steps: int, lr: float, jitter: int, smooth: float,
                  tile: int):
    from ..engine import DreamParams

    return DreamParams(octaves=octaves, octave_scale=octave_scale, steps=steps, lr=lr, jitter=jitter,
                       smooth=smooth, tile=tile)


@app.command()
def recursive(
    image: str = IMAGE_ARG,
    output: str = typer.Option(..., "-o", "--output", help="Folder for the stage frames, contact sheet, settings."),
    layers: str = typer.Option(..., help="Ordered layers or a range, one stage each: 'block2..block9'."),
    blend: float = typer.Option(0.3, help="Weight of the previous stage in each new stage."),
    tween: int = typer.Option(0, help="Cross-fade frames between stages."),
    random_channels_from: Optional[int] = typer.Option(None, help="From this stage (0-based) on, dream a random subset of channels."),
    channel_fraction: float = typer.Option(0.25, help="Fraction of the layer's channels in that subset."),
    gif: Optional[str] = typer.Option(None, help="Write the stages as a looping GIF."),
    mp4: Optional[str] = typer.Option(None, help="Write the stages as an MP4."),
    fps: float = typer.Option(2.0, help="Frames per second of GIF/MP4."),
    every: int = EVERY_GIF,
    gif_width: Optional[int] = GIF_WIDTH,
    size: int = typer.Option(512, help="Longest side, px."),
    model: Optional[str] = MODEL,
    weights: Optional[str] = WEIGHTS,
    guide: Optional[str] = GUIDE,
    similarity: str = SIMILARITY,
    pixel_weight: float = PIXEL_WEIGHT,
    octaves: int = typer.Option(3, help="Octaves per stage."),
    octave_scale: float = typer.Option(1.4, help="Size ratio between octaves."),
    steps: int = typer.Option(8, help="Steps per octave and stage."),
    lr: float = typer.Option(0.009, help="Step size."),
    jitter: int = JITTER,
    smooth: float = SMOOTH,
    color_coherence: str = typer.Option("none", help="Match each stage's colours to the first: none, lab, rgb, hsv."),
    seed: int = SEED,
    device: str = DEVICE,
    resume: bool = RESUME,
) -> None:
    """Dream layer after layer, each stage on the previous stage's output."""
    from .stages import render_recursive

    _check_color(color_coherence)
    render_recursive(image, output, layers=layers, blend=blend, tween=tween, random_channels_from=random_channels_from,
                     channel_fraction=channel_fraction, gif=gif, mp4=mp4, fps=fps, every=every, gif_width=gif_width, size=size,
                     model=model or "efficientnet_lite0", weights=weights,
                     params=_dream_params(octaves, octave_scale, steps, lr, jitter, smooth, 0), guide=guide,
                     similarity=similarity, pixel_weight=pixel_weight, color_coherence=color_coherence, seed=seed,
                     device=device, resume=resume)


@app.command()
def progression(
    image: str = IMAGE_ARG,
    gif: Optional[str] = typer.Option(None, help="The progression as a looping GIF."),
    output: Optional[str] = typer.Option(None, "-o", "--output", help="The progression as an MP4."),
    steps: int = typer.Option(300, help="Steps of the long dream."),
    every: int = typer.Option(10, help="Record a frame every N steps."),
    ease: bool = typer.Option(False, help="More frames at the start, where the dream changes fastest."),
    caption: bool = typer.Option(False, help="Write the step and objective value on each GIF/MP4 frame."),
    gif_width: Optional[int] = GIF_WIDTH,
    feedback: Optional[int] = typer.Option(None, help="Instead: N frames, each a full dream of the previous one."),
    layers: Optional[str] = LAYERS,
    channels: Optional[str] = CHANNELS,
    klass: Optional[str] = CLASS,
    guide: Optional[str] = GUIDE,
    similarity: str = SIMILARITY,
    pixel_weight: float = PIXEL_WEIGHT,
    size: int = typer.Option(384, help="Longest side, px."),
    model: Optional[str] = MODEL,
    weights: Optional[str] = WEIGHTS,
    lr: float = typer.Option(0.01, help="Step size."),
    octaves: int = typer.Option(3, help="Octaves: the long dream climbs them, small to full size."),
    octave_scale: float = typer.Option(1.4, help="Size ratio between octaves."),
    dream_steps: int = typer.Option(5, help="Steps per octave of each full dream (--feedback only)."),
    jitter: int = JITTER,
    smooth: float = typer.Option(2.0, help="Gaussian smoothing of the gradient (sigma, px; 0 = off)."),
    fps: float = typer.Option(10.0, help="Frames per second of GIF/MP4."),
    frames_dir: Optional[str] = typer.Option(None, help="Folder for the PNG frames."),
    color_coherence: str = typer.Option("none", help="Match colours to frame 0: none, lab, rgb, hsv."),
    seed: int = SEED,
    device: str = DEVICE,
    resume: bool = RESUME,
) -> None:
    """Record a dream unfolding: every N steps of one long dream, as GIF/MP4 frames."""
    from .stages import render_progression

    _check_color(color_coherence)
    if output and not output.lower().endswith(".mp4"):
        raise UserError(f"-o {output}: the progression video must end in .mp4 (use --gif for a GIF)")
    render_progression(image, gif=gif, mp4=output, frames_dir=frames_dir, layers=layers, channels=channels,
                       klass=klass, steps=steps, every=every, ease=ease, caption_frames=caption, feedback=feedback,
                       gif_width=gif_width,
                       size=size, model=model or "efficientnet_lite0", weights=weights,
                       params=_dream_params(octaves, octave_scale, dream_steps, lr, jitter, smooth, 0),
                       guide=guide, similarity=similarity, pixel_weight=pixel_weight, fps=fps,
                       color_coherence=color_coherence, seed=seed, device=device, resume=resume)


def _check_color(mode: str) -> None:
    from .config import COLOR_MODES

    if mode not in COLOR_MODES:
        raise UserError(f"unknown --color-coherence {mode!r}; use one of {', '.join(COLOR_MODES)}")


@app.command()
def video(
    clip: str = typer.Argument(..., help="A video clip (anything ffmpeg reads)."),
    output: str = typer.Option(..., "-o", "--output", help="Output MP4 (source fps, source audio)."),
    dream_mode: bool = typer.Option(False, "--dream", help="Dream the clip (DeepDream with flow carry-over)."),
    style: Optional[list[str]] = typer.Option(None, help="Style image(s) to paint the clip with (repeatable)."),
    style_weights: Optional[str] = typer.Option(None, help="Blend weights of the styles: '0.7,0.3'."),
    iters_first: int = typer.Option(150, help="Style: L-BFGS iterations for the first frame."),
    iters: int = typer.Option(40, help="Style: iterations for each later frame (warm start)."),
    temporal_weight: float = typer.Option(50.0, help="Style: pull toward the previous frame along the flow."),
    independent: bool = typer.Option(False, help="Style: every frame on its own (no flow; for comparison)."),
    original_colors: bool = typer.Option(False, help="Style: keep the clip's colours."),
    layer: Optional[str] = typer.Option(None, "--layer", "--layers", help="Layer(s) to dream."),
    channels: Optional[str] = CHANNELS,
    klass: Optional[str] = CLASS,
    guide: Optional[str] = GUIDE,
    similarity: str = SIMILARITY,
    width: Optional[int] = typer.Option(None, help="Resize frames to this width (even)."),
    start: float = typer.Option(0.0, help="Start time in seconds."),
    end: Optional[float] = typer.Option(None, help="End time in seconds."),
    max_frames: Optional[int] = typer.Option(None, help="At most this many frames."),
    gif: Optional[str] = typer.Option(None, help="Also write a GIF."),
    every: int = EVERY_GIF,
    gif_width: Optional[int] = GIF_WIDTH,
    carry: str = typer.Option("flow", help="How a frame inherits the previous dream: flow, blend, none."),
    blend: float = typer.Option(0.5, help="Weight of the previous dream in --carry blend."),
    flow: str = typer.Option("dis", help="Optical flow: dis, farneback, raft (needs its weights)."),
    cadence: int = typer.Option(1, help="Dream every K-th frame; carry the dream along the flow between."),
    octaves: int = typer.Option(2, help="Octaves of the first frame's dream."),
    steps: int = typer.Option(6, help="Steps per octave of the first frame's dream."),
    refine_steps: int = typer.Option(2, help="Dream steps that refine each later frame (--carry flow/blend)."),
    persistence: float = typer.Option(0.9, help="--carry flow: share of the carried dream kept per frame "
                                                "(below 1 old dreams fade, so long clips don't keep getting stronger)."),
    lr: float = typer.Option(0.012, help="Step size."),
    jitter: int = JITTER,
    smooth: float = SMOOTH,
    model: Optional[str] = MODEL,
    weights: Optional[str] = WEIGHTS,
    frames_dir: Optional[str] = typer.Option(None, help="Folder for the PNG frames (default: OUTPUT_frames/)."),
    seed: int = SEED,
    device: str = DEVICE,
    resume: bool = RESUME,
) -> None:
    """Dream (or stylise) every frame of a clip without flicker."""
    from ..engine import DreamParams

    if dream_mode == bool(style):
        raise UserError("say what to do with the clip: --dream, or --style IMAGE (one of them)")
    if style:
        from .video import render_video_style

        try:
            sw = [float(w) for w in style_weights.split(",")] if style_weights else None
        except ValueError:
            raise UserError(f"bad --style-weights {style_weights!r}: give numbers like 0.7,0.3") from None
        render_video_style(clip, output, styles=style, style_weights=sw, gif=gif, every=every, gif_width=gif_width,
                           width=width, start=start, end=end, max_frames=max_frames, model=model, weights=weights,
                           iters_first=iters_first, iters=iters, temporal_weight=temporal_weight,
                           original_colors=original_colors, flow=flow, cadence=cadence, independent=independent,
                           frames_dir=frames_dir, seed=seed, device=device, resume=resume)
        return
    from .video import render_video_dream

    render_video_dream(clip, output, gif=gif, every=every, gif_width=gif_width, width=width, start=start, end=end, max_frames=max_frames,
                       layers=layer, channels=channels, klass=klass, guide=guide, similarity=similarity,
                       model=model or "efficientnet_lite0", weights=weights,
                       params=DreamParams(octaves=octaves, steps=steps, lr=lr, jitter=jitter, smooth=smooth),
                       refine_steps=refine_steps, carry=carry, blend=blend, flow=flow, persistence=persistence,
                       cadence=cadence,
                       frames_dir=frames_dir, seed=seed, device=device, resume=resume)


metrics_app = typer.Typer(help="Measure renders.", no_args_is_help=True)
app.add_typer(metrics_app, name="metrics")


@metrics_app.command("warp-error")
def warp_error(
    source: str = typer.Argument(..., help="The source clip (gives the flow and occlusions)."),
    output: str = typer.Argument(..., help="The rendered clip, frame for frame the same length."),
    flow: str = typer.Option("dis", help="Optical flow: dis, farneback, raft."),
    max_frames: Optional[int] = typer.Option(None, help="Only the first N frames."),
) -> None:
    """Lai et al.'s warping error of OUTPUT (and of SOURCE itself, the floor)."""
    from .metrics import warp_error_report

    warp_error_report(source, output, flow=flow, max_frames=max_frames)


@app.command("presets")
def list_presets() -> None:
    """List the named looks for 'zoom --preset'."""
    from .. import presets as P

    table = Table(title="dreamreel presets")
    table.add_column("preset")
    table.add_column("description")
    for name, desc in P.describe().items():
        table.add_row(f"[bold]{name}[/]", desc)
    console.print(table)


def _compress_taps(taps: tuple[str, ...]) -> str:
    """'block0, block1, ..., block15' -> 'block0..block15'."""
    out, i = [], 0
    while i < len(taps):
        j = i
        while j + 1 < len(taps) and _same_family(taps[j], taps[j + 1]):
            j += 1
        out.append(taps[i] if j - i < 2 else f"{taps[i]}..{taps[j]}")
        if 0 < j - i < 2:
            out.extend(taps[i + 1 : j + 1])
        i = j + 1
    return ", ".join(out)


def _same_family(a: str, b: str) -> bool:
    import re

    ma, mb = re.fullmatch(r"(\D+?)(\d+)", a), re.fullmatch(r"(\D+?)(\d+)", b)
    return bool(ma and mb and ma.group(1) == mb.group(1) and int(mb.group(2)) == int(ma.group(2)) + 1)


@app.command()
def models() -> None:
    """List the backbones, their layers, and whether their weights are on this machine."""
    from ..engine import MODELS, locate_weights

    from ..engine.backbones import hub_checkpoint_dir

    table = Table(title="dreamreel backbones", show_lines=True)
    for col in ("model", "weights", "default", "layers"):
        table.add_column(col, overflow="fold")
    for spec in MODELS.values():
        info = locate_weights(spec)
        if info.available:
            state = f"[green]available[/] ({info.origin})"
        elif spec.kind == "torchvision":
            state = f"[yellow]missing[/]: {spec.weights_file} (downloaded on first use when online)"
        else:
            state = f"[yellow]missing[/]: pass --weights FILE (or cache {spec.weights_file})"
        table.add_row(f"[bold]{spec.name}[/]\n[dim]{spec.description}[/]", state,
                      ", ".join(spec.default_layers), _compress_taps(spec.taps))
    console.print(table)
    console.print(f"Weights cache: {hub_checkpoint_dir()} (set TORCH_HOME to move it). "
                  "Tap ranges like block3..block5 work in --layers.")


# `stylize` lives beside its render code (animator/stylize.py); registered here with the others.
from .stylize import stylize as _stylize  # noqa: E402

app.command("stylize")(_stylize)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: runs the typer app and turns user mistakes into one line + exit 2."""
    command = typer.main.get_command(app)
    try:
        rc = command.main(args=argv if argv is not None else sys.argv[1:], prog_name="dreamreel",
                          standalone_mode=False)
    except UserError as e:
        console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        console.print("[red]interrupted[/]")
        sys.exit(130)
    except Exception as e:
        # click/typer usage errors (unknown option, bad value): one line, exit 2
        if hasattr(e, "format_message") and hasattr(e, "exit_code"):
            hint = ""
            ctx = getattr(e, "ctx", None)
            if ctx is not None:
                hint = f" (see '{ctx.command_path} --help')"
            console.print(f"[bold red]error:[/] {e.format_message()}{hint}", highlight=False, soft_wrap=True)
            sys.exit(2 if e.exit_code not in (0, 1) else e.exit_code or 2)
        if type(e).__name__ in ("Abort",):
            sys.exit(130)
        raise
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":
    main()
