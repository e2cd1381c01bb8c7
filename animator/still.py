"""Dream a still: resolve the request, run the engine, write the picture and its settings."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import torch

from ..engine import BackboneError, DreamParams, dream, get_backbone, get_spec, objectives, octave_sizes, pick_device
from ..engine.backbones import Backbone, ModelSpec
from ..engine import start
from .errors import UserError
from .images import start_image
from .media import check_writable, fit_size, read_image, resize_to, write_image
from .progress import console, progress_bar
from .settings import settings_path_for, write_settings

AUTO_TILE_ABOVE = 1024  # longest side above which gradients are tiled by default
AUTO_TILE = 512


@dataclass
class DreamRequest:
    image: str
    output: str
    size: int = 512
    model: str = "efficientnet_lite0"
    weights: str | None = None
    layers: str | None = None
    channels: str | None = None
    klass: str | None = None
    guide: str | None = None
    similarity: str = "dot"
    pixel_weight: float = 0.0
    octaves: int = 4
    octave_scale: float = 1.4
    steps: int = 10
    lr: float = 0.012
    jitter: int = 32
    smooth: float = 1.0
    tile: int | None = None  # None = auto
    seed: int = 0
    device: str = "auto"
    blend: str | None = None
    alpha: float = 0.5
    extra: dict = field(default_factory=dict)


def parse_layers(spec: ModelSpec, text: str | None) -> tuple[list[str], list[float]]:
    """``"block6:0.5,block9"`` / ``"block3..block5"`` -> (taps, weights)."""
    if not text:
        return list(spec.default_layers), [1.0] * len(spec.default_layers)
    names, weights = [], []
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        w = 1.0
        if ":" in part:
            part, wt = part.rsplit(":", 1)
            try:
                w = float(wt)
            except ValueError:
                raise UserError(f"bad layer weight {wt!r} in --layers {text!r} (write name:weight)") from None
        expanded = spec.expand_layers(part)
        names += expanded
        weights += [w] * len(expanded)
    return names, weights


def parse_channels(text: str) -> list[int]:
    try:
        return [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        raise UserError(f"bad --channels {text!r}: give channel numbers like 12 or 12,40") from None


def build_objective(net: Backbone, layers: str | None, channels: str | None, klass: str | None,
                    guide: str | None = None, similarity: str = "dot", pixel_weight: float = 0.0,
                    original: torch.Tensor | None = None):
    """The one objective for this request; all name/range errors become BackboneError/UserError.

    ``guide``: an image file whose features at the layer(s) steer the dream (``similarity`` dot,
    l1 or l2); ``pixel_weight`` > 0 adds a term that keeps ``original``'s mean colour.
    """
    spec = net.spec
    if klass is not None:
        if not spec.has_classifier:
            raise UserError(f"{spec.name} has no classifier, so --class cannot be used; try efficientnet_lite0")
        obj = objectives.klass(klass)
    elif guide is not None:
        if similarity not in objectives.SIMILARITIES:
            raise UserError(f"unknown --similarity {similarity!r}; use one of {', '.join(objectives.SIMILARITIES)}")
        names, weights = parse_layers(spec, layers)
        g = read_image(guide)
        g = resize_to(g, fit_size(g.shape[-2], g.shape[-1], 384))
        obj = objectives.guide(net, g, names[0], similarity) * weights[0]
        for n, w in zip(names[1:], weights[1:]):
            obj = obj + w * objectives.guide(net, g, n, similarity)
    else:
        names, weights = parse_layers(spec, layers)
        if channels:
            if len(names) != 1:
                raise UserError(f"--channels needs exactly one layer (got {', '.join(names)})")
            chans = parse_channels(channels)
            n = net.channels(names[0])
            bad = [c for c in chans if not 0 <= c < n]
            if bad:
                raise UserError(f"channel {bad[0]} out of range for {names[0]}: it has channels 0..{n - 1}")
            obj = objectives.channel(names[0], chans)
        else:
            obj = objectives.layers(names, weights)
    if pixel_weight:
        if pixel_weight < 0:
            raise UserError(f"--pixel-weight must be >= 0 (got {pixel_weight})")
        if original is None:
            raise UserError("--pixel-weight needs a start picture")
        obj = obj + objectives.pixel_mean(original.mean(dim=(0, 2, 3)), pixel_weight)
    return obj


def load_backbone(model: str, weights: str | None, device) -> Backbone:
    try:
        spec = get_spec(model)
        if weights and not os.path.isfile(weights):
            raise UserError(f"weights file not found: {weights}")
        return get_backbone(spec.name, weights=weights, device=device)
    except BackboneError as e:
        raise UserError(str(e)) from None


def render_dream(req: DreamRequest) -> dict:
    """Dream ``req.image`` into ``req.output``; returns the settings written beside it."""
    check_writable(req.output)
    if req.size < 1:
        raise UserError(f"--size must be positive (got {req.size})")
    try:
        device = pick_device(req.device)
    except ValueError as e:
        raise UserError(str(e)) from None
    img, start_desc = start_image(req.image, req.size, seed=req.seed)
    if req.blend:
        other = read_image(req.blend)
        if not 0 <= req.alpha <= 1:
            raise UserError(f"--alpha must be in [0, 1] (got {req.alpha})")
        img = start.blend(img, other, req.alpha)
        start_desc = {**start_desc, "blend": os.path.abspath(req.blend), "alpha": req.alpha}
    net = load_backbone(req.model, req.weights, device)
    h, w = img.shape[-2:]
    if min(h, w) < net.spec.min_size:
        raise UserError(f"image too small for {net.name}: {w}x{h} px, the short side needs at least "
                        f"{net.spec.min_size} px (raise --size)")
    try:
        obj = build_objective(net, req.layers, req.channels, req.klass, guide=req.guide,
                              similarity=req.similarity, pixel_weight=req.pixel_weight, original=img)
    except BackboneError as e:
        raise UserError(str(e)) from None
    tile = req.tile if req.tile is not None else (AUTO_TILE if max(h, w) > AUTO_TILE_ABOVE else 0)
    params = DreamParams(octaves=req.octaves, octave_scale=req.octave_scale, steps=req.steps, lr=req.lr,
                         jitter=req.jitter, smooth=req.smooth, tile=tile, seed=req.seed)
    try:
        params.validate()
    except ValueError as e:
        raise UserError(str(e)) from None
    torch.manual_seed(req.seed)
    t0 = time.perf_counter()
    total = len(octave_sizes(h, w, params.octaves, params.octave_scale, net.spec.min_size)) * params.steps
    with progress_bar(f"dream {w}x{h}", total=total, unit="step") as update:
        out = dream(net, img.to(device), obj, params,
                    progress=lambda done, _total, info: update(done, f"octave {info['octave']}/{info['octaves']}"))
    seconds = time.perf_counter() - t0
    write_image(req.output, out)
    settings = {
        "command": "dream",
        "output": os.path.abspath(req.output),
        "start": start_desc,
        "size": [w, h],
        "model": net.name,
        "weights": {"path": os.path.abspath(net.weights_path), "sha256": net.weights_sha256()},
        "objective": obj.description,
        "layers": req.layers, "channels": req.channels, "class": req.klass,
        "guide": req.guide and os.path.abspath(req.guide), "similarity": req.similarity,
        "pixel_weight": req.pixel_weight,
        "dream": params.as_dict(),
        "seed": req.seed,
        "device": str(device),
    }
    write_settings(settings_path_for(req.output), settings)
    console.print(f"[green]wrote[/] {req.output}  ({w}x{h}, {net.name}, {obj.description}, {seconds:.1f} s)")
    return settings

