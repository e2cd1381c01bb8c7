"""typer options shared by several commands: one definition, one help text.

A command names the groups it takes with :func:`with_options`; their options are added to its
signature (after its own) and reach it as keyword arguments. A command that declares an option
of the same name itself (another default or help) keeps its own.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Optional

import typer

IMAGE_ARG = typer.Argument(..., help="Start picture: an image file, 'noise', or 'solid:#RRGGBB'.")

BACKEND = {
    "model": (Optional[str], typer.Option(None, help="Backbone (see 'dreamreel models'). Default: efficientnet_lite0.")),
    "weights": (Optional[str], typer.Option(None, help="Weights file for the model.")),
    "seed": (int, typer.Option(0, help="Random seed.")),
    "device": (str, typer.Option("auto", help="auto (CUDA, MPS, CPU), cpu, cuda, cuda:N, mps.")),
}
TARGET = {
    "layers": (Optional[str], typer.Option(None, help="Layers to dream: 'block9', 'block6:0.5,block9', "
                                                      "'block3..block5'.")),
    "channels": (Optional[str], typer.Option(None, help="Channels of the (one) layer: '12' or '12,40'.")),
    "klass": (Optional[str], typer.Option(None, "--class", help="ImageNet class to dream: name or index.")),
}
GUIDE = {
    "guide": (Optional[str], typer.Option(None, help="Guide image: its features at the layer(s) steer the dream.")),
    "similarity": (str, typer.Option("dot", help="Guide similarity: dot, l1 or l2.")),
}
PIXEL = {"pixel_weight": (float, typer.Option(0.0, help="Keep the start picture's mean colours (weight; 0 = off)."))}
STROKE = {
    "jitter": (int, typer.Option(32, help="Random roll in pixels.")),
    "smooth": (float, typer.Option(1.0, help="Gaussian smoothing of the gradient (sigma, px; 0 = off).")),
}
GIF = {
    "gif": (Optional[str], typer.Option(None, help="Also write a looping GIF here.")),
    "every": (Optional[int], typer.Option(None, help="One GIF frame every N frames (played at the render's rate; "
                                                     "default: near 12 fps at the render's speed).")),
    "gif_width": (Optional[str], typer.Option(None, help="GIF width in px, or 'full' for every frame at full size "
                                                         "(default: at most 320 px, near 12 fps: small enough to post).")),
}
RESUME = {"resume": (bool, typer.Option(False, help="Continue a stopped render from its frames on disk."))}
FRAMES = {"frames_dir": (Optional[str], typer.Option(None, help="Folder for the PNG frames (default: OUTPUT_frames/)."))}
ANIMATION = GIF | FRAMES | RESUME
LOOP = {"loop": (bool, typer.Option(False, help="Make the MP4 and GIF loop with no seam."))}
PINGPONG = {"pingpong": (bool, typer.Option(False, help="Loop by playing forward, then back (instead of a "
                                                       "cross-fade back to the first frame)."))}


def with_options(*groups: dict[str, tuple[Any, Any]]) -> Callable:
    """Add the options of ``groups`` to a typer command (which takes them as ``**options``)."""

    def decorate(fn: Callable) -> Callable:
        sig = inspect.signature(fn, eval_str=True)
        own = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        names = {p.name for p in own}
        extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)
                 for group in groups for name, (annotation, option) in group.items() if name not in names]

        @functools.wraps(fn)
        def command(**kwargs):
            return fn(**kwargs)

        params = own + extra
        command.__signature__ = sig.replace(parameters=params)
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return decorate
