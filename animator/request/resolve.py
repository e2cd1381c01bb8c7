"""The one place where a request is resolved into a plan: device, model and why it was chosen,
weights and their hash, start picture, style pictures with their sizes, objective.

Every command calls :func:`resolve` with the parts of its config; what it gets back is frozen and
is what ``settings.json`` records beside the output. Errors from the engine become one
:class:`UserError` line here (the engine's own words, which name the valid choices).
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch

from ...engine import objectives, start as start_pictures
from ...engine.backbones import DEFAULT_MODEL, Backbone, BackboneError, get_backbone, get_spec
from ...engine.weights import caffe_model_for, locate_weights
from ...engine.device import pick_device
from ...engine.style import style_size
from .configs import Backend, Picture, StyleSpec, Target
from ..errors import UserError, require_file
from .objective_schedule import ObjectiveSchedule, Term
from ..media import fit_size, read_image, resize_to
from ..progress import console

if TYPE_CHECKING:
    from ...engine.style.network import StyleNet

GUIDE_SIZE = 384  # a guide picture's longest side: its features, not its detail, steer the dream
SMALL_STYLE = 0.5  # a style picture below this fraction of its requested size gets a warning


_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


def parse_color(text: str) -> tuple[float, float, float]:
    """``#RRGGBB``, ``RRGGBB`` or ``r,g,b`` (0-255) -> floats in [0, 1]."""
    t = text.strip()
    m = _HEX.match(t)
    if m:
        v = m.group(1)
        return tuple(int(v[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]
    parts = t.split(",")
    if len(parts) == 3:
        try:
            vals = [float(p) for p in parts]
        except ValueError:
            vals = []
        if vals and all(0 <= v <= 255 for v in vals):
            return tuple(v / 255 for v in vals)  # type: ignore[return-value]
    raise UserError(f"bad colour {text!r}: use #RRGGBB or r,g,b with values 0-255")


def start_image(spec: str, size: int, seed: int = 0) -> tuple[torch.Tensor, dict]:
    """The start picture from ``spec``: an image file, ``noise``, or ``solid:#RRGGBB``.

    Files are scaled so their longest side is ``size``; noise and solid starts are square.
    Returns (image, description for settings.json).
    """
    low = spec.lower()
    if low == "noise" and not os.path.exists(spec):
        return start_pictures.noise(size, size, seed=seed), {"kind": "noise", "seed": seed}
    if (low.startswith("solid:") or low.startswith("color:")) and not os.path.exists(spec):
        rgb = parse_color(spec.split(":", 1)[1])
        return start_pictures.solid(size, size, rgb), {"kind": "solid", "rgb": [round(c * 255) for c in rgb]}
    img = read_image(spec, longest=size)
    return resize_to(img, fit_size(img.shape[-2], img.shape[-1], size)), {"kind": "file", "path": os.path.abspath(spec)}


@dataclass(frozen=True)
class Plan:
    device: torch.device
    net: Backbone
    model_reason: str
    start: torch.Tensor | None = None  # the start (or content) picture, on the device
    start_desc: dict | None = None
    objective: objectives.Objective | None = None
    styles: tuple[torch.Tensor, ...] = ()
    styles_desc: tuple[dict, ...] = ()
    guide: torch.Tensor | None = None  # the guide picture, sized

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the start picture."""
        h, w = self.start.shape[-2:]
        return w, h

    def settings(self) -> dict:
        """What was resolved, as settings.json records it (the same keys in every command)."""
        out = {"model": self.net.name, "model_reason": self.model_reason,
               "weights": {"path": os.path.abspath(self.net.weights_path), "sha256": self.net.weights_sha256()},
               "device": str(self.device)}
        if self.start_desc is not None:
            out.update(start=self.start_desc, frame_size=list(self.size))
        if self.objective is not None:
            out["objective"] = self.objective.description
        if self.styles_desc:
            out["style_pictures"] = list(self.styles_desc)
        return out

    def announce(self, extra: str = "") -> None:
        console.print(f"model: [bold]{self.net.name}[/] ({self.model_reason}){extra}", highlight=False, soft_wrap=True)


def engine_errors(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with the engine's ValueErrors (bad names, values) as one user line."""
    try:
        return fn(*args, **kwargs)
    except (BackboneError, ValueError) as e:
        raise UserError(str(e)) from None


def choose_model(backend: Backend, for_style: bool = False) -> tuple[str, str]:
    """The backbone to use, and why (for the console and settings.json).

    Dreams: the model asked for, else the embedded EfficientNet-Lite0. Style: VGG-19 where its
    weights are on this machine; else a Caffe VGG file that is given with --weights or cached;
    else the embedded EfficientNet-Lite0.
    """
    if backend.model:
        engine_errors(get_spec, backend.model)
        return backend.model, "asked for"
    if not for_style:
        return DEFAULT_MODEL, "the default"
    if backend.weights:
        return engine_errors(caffe_model_for, backend.weights), f"from the file {os.path.basename(backend.weights)}"
    if locate_weights(get_spec("vgg19")).available:
        return "vgg19", "VGG-19 weights found"
    for name in ("vgg19_caffe", "vgg16_caffe"):
        if locate_weights(get_spec(name)).available:
            return name, "VGG-19 (torchvision) weights not on this machine; a cached Caffe VGG file is"
    return DEFAULT_MODEL, "no VGG weights on this machine (VGG-19 is the default where its weights are)"


def check_fits(net: Backbone, w: int, h: int, what: str, hint: str) -> None:
    if min(h, w) < net.spec.min_size:
        raise UserError(f"{what} {w}x{h} px is too small for {net.name}: the short side needs at least "
                        f"{net.spec.min_size} px ({hint})")


def guide_picture(path: str) -> torch.Tensor:
    g = read_image(path, longest=GUIDE_SIZE)
    return resize_to(g, fit_size(g.shape[-2], g.shape[-1], GUIDE_SIZE))


def style_longest(spec: StyleSpec, content_hw: tuple[int, int]) -> int:
    """The longest side a style picture is resized to (what bounds reading a huge one)."""
    longest = spec.style_scale * max(content_hw)
    return max(1, math.ceil(min(longest, spec.max_style_size) if spec.max_style_size else longest))


def style_pictures(spec: StyleSpec, pictures: list[torch.Tensor], content_hw: tuple[int, int], net: Backbone):
    """The style pictures sized by the style scale rules (longest side = scale x the output's, capped)."""
    out, desc = [], []
    for path, img in zip(spec.styles, pictures):
        h, w = img.shape[-2:]
        th, tw = engine_errors(style_size, content_hw, (h, w), spec.style_scale, spec.max_style_size)
        if max(h, w) < SMALL_STYLE * max(th, tw):
            console.print(f"[yellow]warning:[/] style image {path} is {w}x{h} px, much smaller than the "
                          f"{tw}x{th} px asked for; upscaling it (its brush strokes will be soft)",
                          highlight=False, soft_wrap=True)
        if min(th, tw) < net.spec.min_size:
            raise UserError(f"style image {os.path.abspath(path)} becomes {tw}x{th} px, too small for {net.name} "
                            f"(raise --style-scale or --max-style-size)")
        out.append(resize_to(img, (th, tw)).to(net.device))
        desc.append({"path": os.path.abspath(path), "source_size": [w, h], "size": [tw, th]})
    return tuple(out), tuple(desc)


def resolve(backend: Backend, *, picture: Picture | None = None, blend: str | None = None,
            alpha: float = 0.5, frame_size: tuple[int, int] | None = None, target: Target | None = None,
            objective: bool = True, styles: StyleSpec | None = None, for_style: bool = False,
            hint: str = "raise --size") -> Plan:
    """Resolve a request, cheapest checks first: device, pictures, model, network, sizes, objective, styles.

    ``picture``: the start picture (a file, ``noise``, ``solid:#RRGGBB``, at its size), ``blend``-ed
    with a second picture by ``alpha``; or ``frame_size`` (w, h) for a clip's frames. ``target``:
    what to dream (an objective is built unless ``objective`` is False); ``styles``: style pictures.
    """
    device = engine_errors(pick_device, backend.device)
    start = start_desc = None
    if picture is not None:
        start, start_desc = start_image(picture.image, picture.size, seed=backend.seed)
        if blend:
            start = start_pictures.blend(start, read_image(blend, longest=max(start.shape[-2:])), alpha)
            start_desc = {**start_desc, "blend": os.path.abspath(blend), "alpha": alpha}
        start = start.to(device)
    raw_styles = []  # read before the model loads, so bad files fail first
    if styles:
        h, w = (start.shape[-2], start.shape[-1]) if frame_size is None else (frame_size[1], frame_size[0])
        raw_styles = [read_image(p, longest=style_longest(styles, (h, w))) for p in styles.styles]
    guide = guide_picture(target.guide) if target is not None and target.guide else None
    model, reason = choose_model(backend, for_style)
    net = engine_errors(get_backbone, model, weights=backend.weights, device=device)
    w, h = frame_size or (start.shape[-1], start.shape[-2])
    check_fits(net, w, h, "frames" if frame_size else "image", hint)
    obj = None
    if target is not None and objective:
        obj = engine_errors(objectives.as_objective, net, target.layers, target.channels, target.klass, guide=guide,
                            similarity=target.similarity, pixel_weight=target.pixel_weight, original=start)
    style_imgs, styles_desc = style_pictures(styles, raw_styles, (h, w), net) if styles else ((), ())
    return Plan(device, net, reason, start, start_desc, obj, style_imgs, styles_desc, guide)


def scheduled_objective(net: Backbone, schedule: ObjectiveSchedule, seed: int,
                        song=None) -> Callable[[int], objectives.Objective]:
    """``t -> objective`` for an objective schedule: its keyframes' objectives made for ``net`` (each
    mistake one line with its position), cross-faded where the schedule says; random channel
    subsets drawn anew every ``schedule.reseed`` frames from ``seed``. A weight that reads the music
    (``2*bass*class:jellyfish``) is evaluated at each frame from ``song`` (the song's curves)."""
    guides = {t.arg: guide_picture(t.arg) for k in schedule.keyframes for t in k.terms if t.kind == "guide"}

    def term_objective(term: Term, index: int, epoch: int) -> objectives.Objective:
        try:
            if term.kind == "class":
                obj = objectives.as_objective(net, klass=term.arg)
            elif term.kind == "guide":
                obj = objectives.as_objective(net, guide=guides[term.arg])
            else:
                net.spec.check_tap(term.arg)
                if term.kind == "layer":
                    obj = objectives.layer(term.arg)
                else:
                    n = net.channels(term.arg)
                    chans = list(term.channels) if term.kind == "channels" else \
                        objectives.random_channels(n, term.fraction, seed, epoch * 1009 + index)
                    bad = [c for c in chans if not 0 <= c < n]
                    if bad:
                        raise BackboneError(f"channel {bad[0]} out of range for {term.arg}: it has channels 0..{n - 1}")
                    obj = objectives.channel(term.arg, chans) if term.kind == "channels" else \
                        objectives.layer(term.arg, channels=chans)
        except (BackboneError, ValueError) as e:
            raise UserError(f"--objective: {e} at position {term.position} in \"{schedule.text}\"") from None
        return obj if term.expr is not None else term.weight * obj  # (a changing weight: at each frame)

    cache: dict[tuple[int, int], list] = {}

    def keyframe_terms(k: int, epoch: int) -> list:
        """The keyframe's objectives: the sum of its fixed-weight terms, then (term, objective) of each term whose
        weight changes (the music's)."""
        if (k, epoch) not in cache:
            made = [(t, term_objective(t, i, epoch)) for i, t in enumerate(schedule.keyframes[k].terms)]
            fixed = [o for t, o in made if t.expr is None]
            total = fixed[0] if fixed else None
            for o in fixed[1:]:
                total = total + o
            cache[k, epoch] = [total, [(t, o) for t, o in made if t.expr is not None]]
        return cache[k, epoch]

    def keyframe_objective(k: int, epoch: int, t: int) -> objectives.Objective:
        total, changing = keyframe_terms(k, epoch)
        for term, o in changing:
            w = term.weight_at(t, song) * o
            total = w if total is None else total + w
        return total

    for k in range(len(schedule.keyframes)):  # every mistake now, before the first frame
        keyframe_terms(k, 0)

    def at(t: int) -> objectives.Objective:
        epoch = schedule.epoch(t)
        parts = [w * keyframe_objective(k, epoch, t) for k, w in schedule.blend(t) if w > 0]
        return parts[0] if len(parts) == 1 else parts[0] + parts[1]

    return at


def read_net(path: str, device) -> tuple["StyleNet", dict]:
    """``--net FILE``: a trained network (``video --method network``'s, ``stylize --net``'s) and the settings it was
    trained with, or one line (exit code 2)."""
    from ...engine.style.network import StyleNetError, load_style_net

    require_file(path, "network file")
    try:
        return load_style_net(path, device)
    except StyleNetError as e:
        raise UserError(str(e)) from None
