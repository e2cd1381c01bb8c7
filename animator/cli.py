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


@app.command()
def dream(
    image: str = typer.Argument(..., help="Start picture: an image file, 'noise', or 'solid:#RRGGBB'."),
    output: str = typer.Option(..., "-o", "--output", help="Output image (.png, .jpg, ...)."),
    size: int = typer.Option(512, help="Longest side of the output in pixels."),
    model: str = typer.Option("efficientnet_lite0", help="Backbone (see 'dreamreel models')."),
    weights: Optional[str] = typer.Option(None, help="Weights file for the model."),
    layers: Optional[str] = typer.Option(None, help="Layers to dream: 'block9', 'block6:0.5,block9', 'block3..block5'."),
    channels: Optional[str] = typer.Option(None, help="Channels of the (one) layer: '12' or '12,40'."),
    klass: Optional[str] = typer.Option(None, "--class", help="ImageNet class to dream: name or index."),
    octaves: int = typer.Option(4, help="Octave pyramid levels."),
    octave_scale: float = typer.Option(1.4, help="Size ratio between octaves."),
    steps: int = typer.Option(10, help="Gradient steps per octave."),
    lr: float = typer.Option(0.012, help="Step size."),
    jitter: int = typer.Option(32, help="Random roll in pixels."),
    smooth: float = typer.Option(1.0, help="Gaussian smoothing of the gradient (sigma, px; 0 = off)."),
    tile: Optional[int] = typer.Option(None, help="Gradient tile size in px (0 = off; default: 512 above 1024 px)."),
    seed: int = typer.Option(0, help="Random seed."),
    device: str = typer.Option("auto", help="auto (CUDA, MPS, CPU), cpu, cuda, cuda:N, mps."),
    blend: Optional[str] = typer.Option(None, help="Blend a second image into the start picture."),
    alpha: float = typer.Option(0.5, help="Weight of --blend in the start picture."),
) -> None:
    """Dream a still picture."""
    from .still import DreamRequest, render_dream

    render_dream(DreamRequest(image=image, output=output, size=size, model=model, weights=weights,
                              layers=layers, channels=channels, klass=klass, octaves=octaves,
                              octave_scale=octave_scale, steps=steps, lr=lr, jitter=jitter, smooth=smooth,
                              tile=tile, seed=seed, device=device, blend=blend, alpha=alpha))


@app.command()
def zoom(
    image: str = typer.Argument(..., help="Start picture: an image file, 'noise', or 'solid:#RRGGBB'."),
    output: str = typer.Option(..., "-o", "--output", help="Output video (.mp4) or .gif."),
    gif: Optional[str] = typer.Option(None, help="Also write a looping GIF here."),
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
    model: Optional[str] = typer.Option(None, help="Backbone (see 'dreamreel models')."),
    weights: Optional[str] = typer.Option(None, help="Weights file for the model."),
    layers: Optional[str] = typer.Option(None, help="Layers to dream: 'block9', 'block6:0.5,block9', 'block3..block5'."),
    channels: Optional[str] = typer.Option(None, help="Channels of the (one) layer."),
    klass: Optional[str] = typer.Option(None, "--class", help="ImageNet class to dream."),
    jitter: Optional[int] = typer.Option(None, help="Random roll in pixels."),
    smooth: Optional[float] = typer.Option(None, help="Gradient smoothing sigma (0 = off)."),
    tile: int = typer.Option(0, help="Gradient tile size in px (0 = off)."),
    cadence: Optional[int] = typer.Option(None, help="Dream every K-th frame; warp and cross-fade between."),
    color_coherence: Optional[str] = typer.Option(None, help="Match colours to frame 0: lab, rgb, hsv or none."),
    border: Optional[str] = typer.Option(None, help="Border of the motion warp: reflect, replicate, wrap."),
    crf: Optional[int] = typer.Option(None, help="H.264 quality (lower = better, 18 default)."),
    dither: Optional[str] = typer.Option(None, help="GIF dither: sierra2_4a, floyd_steinberg, bayer, sierra2, none."),
    frames_dir: Optional[str] = typer.Option(None, help="Folder for the PNG frames (default: OUTPUT_frames/)."),
    resume: bool = typer.Option(False, help="Continue a stopped render from its frames on disk."),
    seed: int = typer.Option(0, help="Random seed."),
    device: str = typer.Option("auto", help="auto (CUDA, MPS, CPU), cpu, cuda, cuda:N, mps."),
) -> None:
    """Render an endless dream zoom to MP4 (and GIF)."""
    from .config import resolve
    from .zoom import render_zoom

    given = {k: v for k, v in locals().items() if k not in ("output", "gif", "preset", "frames_dir", "resume", "device")}
    cfg = resolve(given, preset)
    render_zoom(cfg, output, gif=gif, frames_dir=frames_dir, resume=resume, device=device)


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
