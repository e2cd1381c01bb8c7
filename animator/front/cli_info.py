"""The commands that tell rather than render: ``presets``, ``models``, ``metrics``."""
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




def register(app: typer.Typer) -> None:
    app.command("presets")(list_presets)
    app.command("models")(models)
    app.add_typer(metrics_app, name="metrics")
