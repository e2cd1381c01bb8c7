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
PIXEL = {"pixel_weight": (float, typer.Option(0.0, help="Keep mean colours (0 = off)."))}
STROKE = {
    "jitter": (int, typer.Option(32, help="Random roll in pixels.")),
    "smooth": (float, typer.Option(1.0, help="Gradient blur sigma, px (0 = off).")),
}
GIF = {
    "gif": (Optional[str], typer.Option(None, help="Also write a looping GIF here.")),
    "every": (Optional[int], typer.Option(None, help="One GIF frame every N frames (default: near 12 fps).")),
    "gif_width": (Optional[str], typer.Option(None, help="GIF width, px, or 'full' (default: 320 px at most).")),
}
RESUME = {"resume": (bool, typer.Option(False, help="Continue a stopped render from its frames on disk."))}
FRAMES = {"frames_dir": (Optional[str], typer.Option(None, help="Folder for the PNG frames (default: OUTPUT_frames/)."))}
ANIMATION = GIF | FRAMES | RESUME
LOOP = {"loop": (bool, typer.Option(False, help="Make the MP4 and GIF loop with no seam."))}
#: --audio: a song the render follows (the music variables of the schedules) and its MP4 carries
SONG = {
    "audio": (Optional[str], typer.Option(None, metavar="SONG", help="A song: the render lasts as long, the MP4 "
                                          "carries it, schedules read beat, bass...")),
    "start": (Optional[float], typer.Option(None, help="Song: start time in seconds.")),
    "end": (Optional[float], typer.Option(None, help="Song: end time in seconds.")),
    "beat_decay": (Optional[float], typer.Option(None, help="beat falls to 0 over this share of a beat (0.5).")),
}
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


# --------------------------------------------------------------------------- --help panels

#: every option's panel in ``--help``, by name: the same option is in the same panel in every command
PANELS: dict[str, tuple[str, ...]] = {
    "Input and output": ("output", "plot", "gif", "every", "gif_width", "frames_dir", "resume", "mp4", "fps", "crf",
                         "dither", "loop", "pingpong", "size", "width", "start", "end", "max_frames", "frames",
                         "caption", "preview", "alpha", "init_blend"),
    "Music": ("audio", "beat_decay"),
    "Motion": ("zoom", "angle", "translation_x", "translation_y", "center_x", "center_y", "border", "cadence",
               "flow", "carry", "persistence"),
    "Dream": ("preset", "dream_mode", "layers", "layer", "channels", "klass", "guide", "similarity", "pixel_weight",
              "jitter", "smooth", "octaves", "octave_scale", "steps", "lr", "strength", "objective", "objective_fade",
              "reseed_every", "tile", "refine_steps", "color_coherence", "dream_steps", "dream_octaves", "then_dream",
              "random_channels_from", "channel_fraction", "tween", "blend", "ease", "feedback"),
    "Style": ("style", "style_weights", "style_scale", "max_style_size", "iters_first", "iters", "temporal_weight",
              "independent", "original_colors", "color_space", "method", "key_iters", "keyframes", "content_weight",
              "style_weight", "tv_weight", "tv_beta", "optimizer", "init", "sweep_ratio", "sweep_frames"),
    "Network": ("net", "save_net", "train_seconds", "train_iters", "train_pairs", "net_temporal_weight",
                "net_blend", "net_batch", "no_net_cache"),
    "Cluster": ("workers", "address", "retries"),
    "Model and device": ("model", "weights", "seed", "device"),
    "Studio": ("port", "host", "workdir"),
}
PANEL_OF = {name: panel for panel, names in PANELS.items() for name in names}


def arrange(app: typer.Typer) -> None:
    """Put each command's options in their panels (:data:`PANELS`); a switch (a bool option) is one flag,
    ``--name`` (or the ``--no-name`` it declares), shown without a type or a default."""
    order = list(PANELS)
    for info in app.registered_commands:
        sig = inspect.signature(info.callback, eval_str=True)
        for name, p in sig.parameters.items():
            option = p.default
            if not isinstance(option, typer.models.OptionInfo):
                continue
            if name not in PANEL_OF:
                raise KeyError(f"option {name!r} of {info.callback.__name__} has no --help panel: add it to PANELS")
            option.rich_help_panel = PANEL_OF[name]
            if p.annotation is bool:
                if not option.param_decls:
                    option.param_decls = ("--" + name.replace("_", "-"),)
                option.show_default, option.metavar = False, ""

        def place(p: inspect.Parameter) -> int:  # arguments first, then the panels in PANELS' order
            return order.index(p.default.rich_help_panel) + 1 if isinstance(p.default, typer.models.OptionInfo) else 0

        # (keyword-only: typer calls a command with keywords, and they may now come in any order)
        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in sorted(sig.parameters.values(), key=place)]
        info.callback.__signature__ = sig.replace(parameters=params)
