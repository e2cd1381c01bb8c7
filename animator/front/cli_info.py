"""The commands that tell rather than render: ``presets``, ``models``, ``metrics``, ``audio``."""
from __future__ import annotations

import re
from typing import Optional

import typer
from rich.table import Table

from ..progress import console

metrics_app = typer.Typer(help="Measure renders.", no_args_is_help=True)


@metrics_app.command("warp-error")
def warp_error(
    source: str = typer.Argument(..., help="The source clip (gives the flow and occlusions)."),
    output: str = typer.Argument(..., help="The rendered clip, frame for frame the same length."),
    flow: str = typer.Option("dis", help="Optical flow: dis, farneback, raft."),
    max_frames: Optional[int] = typer.Option(None, help="Only the first N frames."),
) -> None:
    """Lai et al.'s warping error of OUTPUT (and of SOURCE itself, the floor)."""
    from ..frameloop.metrics import warp_error_report

    warp_error_report(source, output, flow=flow, max_frames=max_frames)


def list_presets() -> None:
    """List the named looks for 'zoom --preset'."""
    from ... import presets as P

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
    ma, mb = re.fullmatch(r"(\D+?)(\d+)", a), re.fullmatch(r"(\D+?)(\d+)", b)
    return bool(ma and mb and ma.group(1) == mb.group(1) and int(mb.group(2)) == int(ma.group(2)) + 1)


def models() -> None:
    """List the backbones, their layers, and whether their weights are on this machine."""
    from ...engine.backbones import MODELS
    from ...engine.weights import hub_checkpoint_dir, locate_weights

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




def audio(
    song: str = typer.Argument(..., help="A song: any sound or video file ffmpeg reads."),
    plot: Optional[str] = typer.Option(None, help="Write the music variables' curves here (.png)."),
    fps: float = typer.Option(24.0, help="Frames per second of the render the curves are for."),
    start: float = typer.Option(0.0, help="Song: start time in seconds."),
    end: Optional[float] = typer.Option(None, help="Song: end time in seconds."),
    beat_decay: float = typer.Option(0.5, help="beat falls to 0 over this share of a beat."),
) -> None:
    """What a zoom's --audio hears in SONG: its tempo, its beats, and the curves of the music variables."""
    from ..errors import UserError

    if not fps > 0 or not 0 < beat_decay <= 1 or (end is not None and not end > start) or start < 0:
        raise UserError("--fps must be > 0, --beat-decay in (0, 1], 0 <= --start < --end")
    if plot is not None and not plot.lower().endswith(".png"):
        raise UserError(f"--plot {plot} must end in .png")
    from ..media.music import MEANINGS, analyse, plot_curves

    s = analyse(song, start, end)
    for note in s.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    n = s.frames(fps)
    curves = s.curves(fps, n, beat_decay)
    tempo = f"{s.bpm:.1f} bpm" if s.bpm > 0 else "no steady beat"
    print(f"{song}: {s.seconds:.2f} s, tempo {tempo}, {len(s.beats)} beats; at {fps:g} fps {n} frames")
    shown = ", ".join(f"{b:.2f}" for b in s.beats[:24]) + (", ..." if len(s.beats) > 24 else "")
    if len(s.beats):
        print(f"beats (s): {shown}")
        frames = ", ".join(str(f) for f in curves.beat_frames[:24]) + (", ..." if len(curves.beat_frames) > 24 else "")
        print(f"beat frames: {frames}")
    whole = s.whole_beats(fps)
    if whole is not None:
        print(f"a --loop of the song: {whole[0]} frames ({whole[1]} whole beats)")
    for name, meaning in MEANINGS.items():
        v = curves.values[name]
        print(f"  {name:7s} {meaning}: mean {v.mean():.2f}, max {v.max():.2f}")
    if plot is not None:
        plot_curves(curves, plot, f"{song}: {tempo}, {len(s.beats)} beats, {fps:g} fps")
        console.print(f"[green]wrote[/] {plot}")


def register(app: typer.Typer) -> None:
    app.command("presets")(list_presets)
    app.command("audio")(audio)
    app.command("models")(models)
    app.add_typer(metrics_app, name="metrics")
