"""Style transfer renders: a still, a progression (the picture every N iterations), a sweep of
the content : style ratio, and the combinations (stylise then dream, a blend as the start).

Every animation goes through the frame scheduler (:func:`.render.run`) with a mode object;
the still is one optimisation with a progress bar. ``stylize`` at the bottom is the typer
command (registered in ``cli.py``).
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Optional

import torch
import typer

from ..engine import BackboneError, DreamParams, dream, get_spec, locate_weights, pick_device
from ..engine import start as start_images
from ..engine.backbones import Backbone
from ..engine.style import OPTIMIZERS, StyleParams, StyleTransfer, recipe_for, style_size
from .options import DEVICE, RESUME, SEED, WEIGHTS
from .errors import UserError
from .images import start_image
from .media import check_writable, read_image, resize_to, write_image
from .progress import console, progress_bar
from .settings import settings_path_for, write_settings

SMALL_STYLE = 0.5  # a style picture below this fraction of its requested size gets a warning
VIDEO_EXTS = (".mp4",)


# --------------------------------------------------------------------------- the request


@dataclass
class StyleRequest:
    image: str
    styles: list[str]
    output: str | None = None
    style_weights: str | None = None  # "0.7,0.3"
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
    size: int = 512
    style_scale: float = 1.0
    max_style_size: int | None = None
    original_colors: bool = False
    color_space: str = "ycbcr"
    model: str | None = None
    weights: str | None = None
    gif: str | None = None
    every: int = 10
    sweep_ratio: str | None = None
    sweep_frames: int = 9
    fps: float = 10.0
    then_dream: bool = False
    layer: str | None = None
    dream_params: DreamParams = field(default_factory=lambda: DreamParams(octaves=4, steps=10, lr=0.012, smooth=1.0))
    seed: int = 0
    device: str = "auto"
    resume: bool = False
    frames_dir: str | None = None


# --------------------------------------------------------------------------- resolving


def choose_model(model: str | None, weights: str | None) -> tuple[str, str]:
    """The backbone to stylise with, and why (for the console and settings.json).

    VGG-19 (torchvision) where its weights are on this machine; else a Caffe VGG file that is
    given with --weights or cached; else the embedded EfficientNet-Lite0.
    """
    if model:
        try:
            get_spec(model)
        except BackboneError as e:
            raise UserError(str(e)) from None
        return model, "asked for"
    if weights:
        if not os.path.isfile(weights):
            raise UserError(f"weights file not found: {weights}")
        return _caffe_kind(weights), f"from the file {os.path.basename(weights)}"
    if locate_weights(get_spec("vgg19")).available:
        return "vgg19", "VGG-19 weights found"
    for name in ("vgg19_caffe", "vgg16_caffe"):
        if locate_weights(get_spec(name)).available:
            return name, "VGG-19 (torchvision) weights not on this machine; a cached Caffe VGG file is"
    return "efficientnet_lite0", "no VGG weights on this machine (VGG-19 is the default where its weights are)"


def _caffe_kind(path: str) -> str:
    """vgg16_caffe or vgg19_caffe, by the number of convolutions in the file."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(f"cannot read weights file {path}: {str(e).splitlines()[0][:200]}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise UserError(f"weights file {path} does not hold a PyTorch state dict")
    convs = sum(1 for k, v in state.items() if k.endswith("weight") and getattr(v, "dim", lambda: 0)() == 4)
    if convs == 16:
        return "vgg19_caffe"
    if convs == 13:
        return "vgg16_caffe"
    raise UserError(f"cannot tell which model {path} is for ({convs} convolutions); give --model")


def parse_weights(text: str | None, n: int) -> list[float] | None:
    if text is None:
        return None
    try:
        ws = [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise UserError(f"bad --style-weights {text!r}: give numbers like 0.7,0.3") from None
    if len(ws) != n:
        raise UserError(f"--style-weights has {len(ws)} value{'s' * (len(ws) != 1)} for {n} --style "
                        f"image{'s' * (n != 1)}")
    bad = [w for w in ws if not (w > 0 and math.isfinite(w))]
    if bad:
        raise UserError(f"--style-weights must all be > 0 (got {bad[0]:g})")
    return ws


def parse_ratio(text: str) -> tuple[float, float]:
    try:
        a, b = (float(p) for p in text.split(":"))
    except ValueError:
        raise UserError(f"bad --sweep-ratio {text!r}: write FROM:TO, e.g. 0.1:10") from None
    if not (a > 0 and b > 0 and math.isfinite(a) and math.isfinite(b)):
        raise UserError(f"--sweep-ratio values must be > 0 (got {text})")
    return a, b


def sweep_ratios(a: float, b: float, n: int) -> list[float]:
    """``n`` content:style ratios from ``a`` to ``b``, log-spaced."""
    if n == 1:
        return [a]
    la, lb = math.log(a), math.log(b)
    return [math.exp(la + (lb - la) * i / (n - 1)) for i in range(n)]


def load_styles(req: StyleRequest, content_hw: tuple[int, int], device: torch.device) -> tuple[list, list[dict]]:
    """Read, check and resize the style pictures (style scale, max style size)."""
    if not req.styles:
        raise UserError("give at least one --style image")
    out, desc = [], []
    for path in req.styles:
        if not os.path.exists(path):
            raise UserError(f"style image not found: {path}")
        img = read_image(path)
        h, w = img.shape[-2:]
        try:
            th, tw = style_size(content_hw, (h, w), req.style_scale, req.max_style_size)
        except ValueError as e:
            raise UserError(f"--style-scale: {e}") from None
        if max(h, w) < SMALL_STYLE * max(th, tw):
            console.print(f"[yellow]warning:[/] style image {path} is {w}x{h} px, much smaller than the "
                          f"{tw}x{th} px asked for; upscaling it (its brush strokes will be soft)",
                          highlight=False, soft_wrap=True)
        out.append(resize_to(img, (th, tw)).to(device))
        desc.append({"path": os.path.abspath(path), "source_size": [w, h], "size": [tw, th]})
    return out, desc


@dataclass
class Prepared:
    device: torch.device
    net: Backbone
    model_reason: str
    content: torch.Tensor
    content_desc: dict
    styles: list
    styles_desc: list
    style_weights: list[float] | None
    init: torch.Tensor | None
    init_desc: dict
    params: StyleParams


def prepare(req: StyleRequest) -> Prepared:
    """Every check of the request, before anything slow: one UserError line each."""
    from .still import load_backbone

    if req.size < 1:
        raise UserError(f"--size must be positive (got {req.size})")
    if req.iters < 0:
        raise UserError(f"--iters must be >= 0 (got {req.iters})")
    if req.optimizer not in OPTIMIZERS:
        raise UserError(f"unknown --optimizer {req.optimizer!r}; use lbfgs or adam")
    if not req.style_weight > 0:
        raise UserError(f"--style-weight must be > 0 (got {req.style_weight:g})")
    if req.content_weight < 0:
        raise UserError(f"--content-weight must be >= 0 (got {req.content_weight:g})")
    if req.tv_weight < 0:
        raise UserError(f"--tv-weight must be >= 0 (got {req.tv_weight:g})")
    if req.tv_beta is not None and not req.tv_beta > 0:
        raise UserError(f"--tv-beta must be > 0 (got {req.tv_beta:g})")
    if not req.style_scale > 0:
        raise UserError(f"--style-scale must be > 0 (got {req.style_scale:g})")
    if req.max_style_size is not None and req.max_style_size < 1:
        raise UserError(f"--max-style-size must be positive (got {req.max_style_size})")
    if req.lr is not None and not req.lr > 0:
        raise UserError(f"--lr must be > 0 (got {req.lr:g})")
    if not 0 <= req.alpha <= 1:
        raise UserError(f"--alpha must be in [0, 1] (got {req.alpha:g})")
    weights = parse_weights(req.style_weights, len(req.styles)) if req.styles else None
    for path in req.styles:
        if not os.path.exists(path):
            raise UserError(f"style image not found: {path}")
    if not req.styles:
        raise UserError("give at least one --style image")
    try:
        device = pick_device(req.device)
    except ValueError as e:
        raise UserError(str(e)) from None
    content, content_desc = start_image(req.image, req.size, seed=req.seed)
    content = content.to(device)
    h, w = content.shape[-2:]
    model, reason = choose_model(req.model, req.weights)
    net = load_backbone(model, req.weights, device)
    if min(h, w) < net.spec.min_size:
        raise UserError(f"image too small for {net.name}: {w}x{h} px, the short side needs at least "
                        f"{net.spec.min_size} px (raise --size)")
    styles, styles_desc = load_styles(req, (h, w), device)
    for s, d in zip(styles, styles_desc):
        if min(s.shape[-2:]) < net.spec.min_size:
            raise UserError(f"style image {d['path']} becomes {d['size'][0]}x{d['size'][1]} px, too small for "
                            f"{net.name} (raise --style-scale or --max-style-size)")
    init, init_desc, init_mode = None, {"kind": req.init}, req.init
    if req.init not in ("content", "noise"):
        if not os.path.exists(req.init):
            raise UserError(f"--init must be content, noise or an image file (not found: {req.init})")
        init = resize_to(read_image(req.init), (h, w)).to(device)
        init_desc, init_mode = {"kind": "file", "path": os.path.abspath(req.init)}, "image"
    if req.init_blend:
        if not os.path.exists(req.init_blend):
            raise UserError(f"--init-blend image not found: {req.init_blend}")
        if init is None:
            init = content if req.init == "content" else start_images.noise(h, w, seed=req.seed, std=0.25).to(device)
        init = start_images.blend(init, read_image(req.init_blend).to(device), req.alpha)
        init_desc = {**init_desc, "blend": os.path.abspath(req.init_blend), "alpha": req.alpha}
        init_mode = "image"
    params = StyleParams(content_weight=req.content_weight, style_weight=req.style_weight, tv_weight=req.tv_weight,
                         tv_beta=req.tv_beta, optimizer=req.optimizer, iters=req.iters, lr=req.lr, init=init_mode,
                         original_colors=req.original_colors, color_space=req.color_space, seed=req.seed)
    try:
        params.validate()
    except ValueError as e:
        raise UserError(str(e)) from None
    return Prepared(device, net, reason, content, content_desc, styles, styles_desc, weights, init, init_desc, params)


def _settings(req: StyleRequest, p: Prepared, kind: str, **extra) -> dict:
    from .render import weights_info

    h, w = p.content.shape[-2:]
    return {"command": "stylize", "kind": kind, "image": req.image, "content": p.content_desc, "size": req.size,
            "frame_size": [w, h], "model": p.net.name, "model_reason": p.model_reason,
            "weights": weights_info(p.net), "recipe": recipe_for(p.net).as_dict(), "styles": p.styles_desc,
            "style_weights": p.style_weights, "style_scale": req.style_scale, "max_style_size": req.max_style_size,
            "init": p.init_desc, "style": p.params.as_dict(), "seed": req.seed, "device": str(p.device), **extra}


def _announce(p: Prepared) -> None:
    r = recipe_for(p.net)
    console.print(f"model: [bold]{p.net.name}[/] ({p.model_reason}); style recipe {r.name}", highlight=False,
                  soft_wrap=True)


def _transfer(p: Prepared) -> StyleTransfer:
    try:
        return StyleTransfer(p.net, p.content, p.styles, p.style_weights, p.params, init=p.init)
    except ValueError as e:
        raise UserError(str(e)) from None


# --------------------------------------------------------------------------- modes


def _cross_fade(a: torch.Tensor, b: torch.Tensor | None, w: float) -> torch.Tensor:
    return a if b is None else a + w * (b - a)


class StyleProgressionMode:
    """Frame t is the picture after ``marks[t]`` iterations of one stylisation.

    The optimiser lives here, so its L-BFGS memory carries from frame to frame. A resumed
    render restarts the optimisation from the last frame on disk (a fresh memory).
    """

    def __init__(self, transfer: StyleTransfer, marks: list[int]):
        self.transfer = transfer
        self.marks = marks
        self.n_frames = len(marks)
        self.device = transfer.x.device
        self._at = 0  # frame index the transfer's state belongs to

    def first_source(self) -> torch.Tensor:
        return self.transfer.image()

    def source(self, t, prev, prev_t):
        if prev_t != self._at:  # resumed from frames on disk
            self.transfer.restart_from(prev)
            self.transfer.iterations = self.marks[prev_t]
            self._at = prev_t
        return prev

    def step(self, t: int, source: torch.Tensor, seed: int) -> torch.Tensor:
        if t == 0:
            return source
        out = self.transfer.run(self.marks[t] - self.marks[self._at])
        self._at = t
        return out

    def tween(self, t, a, ta, b, tb):
        return _cross_fade(a, b, (t - ta) / (tb - ta) if tb else 0.0)


class StyleSweepMode:
    """One full stylisation per content:style ratio; each starts from the previous frame."""

    def __init__(self, transfer: StyleTransfer, ratios: list[float], iters: int):
        self.transfer = transfer
        self.ratios = ratios
        self.iters = iters
        self.n_frames = len(ratios)
        self.device = transfer.x.device
        self.style_weight = transfer.params.style_weight
        self._at: int | None = None

    def first_source(self) -> torch.Tensor:
        return self.transfer.image()

    def source(self, t, prev, prev_t):
        if prev_t != self._at:  # resumed: warm-start from the frame on disk
            self.transfer.restart_from(prev)
            self._at = prev_t
        return prev

    def step(self, t: int, source: torch.Tensor, seed: int) -> torch.Tensor:
        self.transfer.set_weights(content_weight=self.ratios[t] * self.style_weight, style_weight=self.style_weight)
        out = self.transfer.run(self.iters)
        self._at = t
        return out

    def tween(self, t, a, ta, b, tb):
        return _cross_fade(a, b, (t - ta) / (tb - ta) if tb else 0.0)


# --------------------------------------------------------------------------- renders


def render_still(req: StyleRequest) -> dict:
    """Stylise ``req.image`` into ``req.output`` (then dream it with ``--then-dream``)."""
    if not req.output:
        raise UserError("give -o OUTPUT.png (or --gif FILE for a progression)")
    check_writable(req.output)
    p = prepare(req)
    dream_obj = _dream_objective(req, p) if req.then_dream else None
    _announce(p)
    st = _transfer(p)
    h, w = p.content.shape[-2:]
    t0 = time.perf_counter()
    with progress_bar(f"stylize {w}x{h}", total=req.iters, unit="iter") as update:
        def progress(done, _total, info):
            update(done, f"loss {float(info['loss']):.4g}" if done % 10 == 0 or done == _total else "")

        out = st.run(req.iters, progress=progress)
    seconds = time.perf_counter() - t0
    final = st.current_losses() if req.iters else {}
    extra: dict = {"output": os.path.abspath(req.output), "seconds": round(seconds, 2), "losses": final}
    if dream_obj is not None:
        styled_path = os.path.splitext(req.output)[0] + "_styled.png"
        write_image(styled_path, out)
        params = DreamParams(**{**req.dream_params.as_dict(), "seed": req.seed})
        with progress_bar(f"dream {dream_obj.description}", total=params.octaves * params.steps, unit="step") as update:
            out = dream(p.net, out, dream_obj, params,
                        progress=lambda done, _t, info: update(done, f"octave {info['octave']}/{info['octaves']}"))
        extra.update({"then_dream": {"objective": dream_obj.description, "dream": params.as_dict(),
                                     "styled": os.path.abspath(styled_path)}})
    write_image(req.output, out)
    settings = _settings(req, p, "still", **extra)
    write_settings(settings_path_for(req.output), settings)
    console.print(f"[green]wrote[/] {req.output}  ({w}x{h}, {p.net.name}, {req.iters} {req.optimizer} iterations, "
                  f"{seconds:.1f} s)", highlight=False, soft_wrap=True)
    return {"settings": settings, "image": out, "transfer": st}


def _dream_objective(req: StyleRequest, p: Prepared):
    from .still import build_objective

    try:
        req.dream_params.validate()
        return build_objective(p.net, req.layer, None, None)
    except (BackboneError, ValueError) as e:
        raise UserError(str(e)) from None


def _animation_outputs(req: StyleRequest) -> tuple[str | None, str | None, str | None]:
    """(mp4, gif, still) from -o and --gif."""
    from .render import check_outputs

    mp4 = still = None
    if req.output:
        if req.output.lower().endswith(VIDEO_EXTS):
            mp4 = req.output
        else:
            check_writable(req.output)
            still = req.output
    check_outputs(mp4, req.gif)
    if not (mp4 or req.gif):
        raise UserError("a progression or sweep needs --gif FILE and/or -o FILE.mp4")
    return mp4, req.gif, still


def render_animation(req: StyleRequest) -> dict:
    """A progression (``--every``) or a ratio sweep (``--sweep-ratio``), through the frame scheduler."""
    from .render import run
    from .scheduler import Sinks
    from .stages import step_marks

    if req.then_dream:
        raise UserError("--then-dream makes a still: drop --gif / --sweep-ratio / the .mp4 output")
    mp4, gif, still = _animation_outputs(req)
    if req.sweep_ratio:
        a, b = parse_ratio(req.sweep_ratio)
        if req.sweep_frames < 2:
            raise UserError(f"--sweep-frames must be >= 2 (got {req.sweep_frames})")
        if req.iters < 1:
            raise UserError(f"--iters must be >= 1 for a sweep (got {req.iters})")
    elif req.every < 1 or req.iters < 1:
        raise UserError(f"--iters and --every must be >= 1 (got {req.iters}, {req.every})")
    p = prepare(req)
    _announce(p)
    st = _transfer(p)
    h, w = p.content.shape[-2:]
    if req.sweep_ratio:
        ratios = sweep_ratios(a, b, req.sweep_frames)
        mode = StyleSweepMode(st, ratios, req.iters)
        settings = _settings(req, p, "sweep", sweep_ratio=req.sweep_ratio, ratios=ratios, fps=req.fps)
        label = f"stylize sweep {w}x{h}"
    else:
        marks = step_marks(req.iters, req.every, ease=False)
        mode = StyleProgressionMode(st, marks)
        settings = _settings(req, p, "progression", every=req.every, marks=marks, fps=req.fps)
        label = f"stylize progression {w}x{h}"
    out = mp4 or gif
    frames_dir = req.frames_dir or os.path.splitext(out)[0] + "_frames"
    sinks = Sinks(frames_dir=frames_dir, mp4=mp4, gif=gif, fps=req.fps)
    result = run(mode, sinks, settings, label, color_coherence="none", seed=req.seed, resume=req.resume,
                 settings_beside=out)
    if still:
        from .media import FrameDir

        last = FrameDir(frames_dir).read(mode.n_frames - 1)
        write_image(still, last)
        write_settings(settings_path_for(still), {**settings, "output": os.path.abspath(still)})
    return {**result, "mode": mode, "settings": settings}


def render_stylize(req: StyleRequest) -> dict:
    if req.gif or req.sweep_ratio or (req.output and req.output.lower().endswith(VIDEO_EXTS)):
        return render_animation(req)
    return render_still(req)


# --------------------------------------------------------------------------- the command


def stylize(
    image: str = typer.Argument(..., help="Content picture (an image file)."),
    style: list[str] = typer.Option([], "--style", help="Style picture (repeat for a blend of several)."),
    output: Optional[str] = typer.Option(None, "-o", "--output",
                                         help="Output picture (.png ...), or .mp4 for a progression/sweep."),
    style_weights: Optional[str] = typer.Option(None, help="Blend weights of the --style pictures: '0.7,0.3'."),
    content_weight: float = typer.Option(1.0, help="Weight of the content loss (0 = texture only)."),
    style_weight: float = typer.Option(1.0, help="Weight of the style loss (1 : 1 is the model's balanced look)."),
    tv_weight: float = typer.Option(1.0, help="Weight of the total-variation smoothness loss (0 = off)."),
    tv_beta: Optional[float] = typer.Option(None, help="TV as (dx^2 + dy^2)^(beta/2) instead of L1 of the differences."),
    optimizer: str = typer.Option("lbfgs", help="lbfgs or adam."),
    iters: int = typer.Option(300, help="Optimisation iterations (per frame of a sweep)."),
    lr: Optional[float] = typer.Option(None, help="Step size (Adam: 0.02 in [0, 1] pixel units; L-BFGS: 1)."),
    init: str = typer.Option("content", help="Start from: content, noise, or an image file."),
    init_blend: Optional[str] = typer.Option(None, help="Blend this picture into the start picture."),
    alpha: float = typer.Option(0.5, help="Weight of --init-blend in the start picture."),
    size: int = typer.Option(512, help="Longest side of the output, px."),
    style_scale: float = typer.Option(1.0, help="Style picture size relative to the output (longest sides)."),
    max_style_size: Optional[int] = typer.Option(None, help="Cap on the style picture's longest side, px."),
    original_colors: bool = typer.Option(False, help="Keep the content's colours: transfer luminance only."),
    color_space: str = typer.Option("ycbcr", help="Where --original-colors keeps the chroma: ycbcr or lab."),
    model: Optional[str] = typer.Option(None, help="Backbone. Default: vgg19 where its weights are here, else a "
                                                   "Caffe VGG file (--weights or cached), else efficientnet_lite0."),
    weights: Optional[str] = WEIGHTS,
    gif: Optional[str] = typer.Option(None, help="Write the progression (or sweep) as a looping GIF."),
    every: int = typer.Option(10, help="Progression: one frame every N iterations."),
    sweep_ratio: Optional[str] = typer.Option(None, help="Sweep the content:style ratio FROM:TO, log-spaced, one full "
                                                         "stylisation per frame, each from the previous: '0.1:10' "
                                                         "(content weight = ratio x --style-weight; 1 = balanced)."),
    sweep_frames: int = typer.Option(9, help="Frames of a --sweep-ratio."),
    fps: float = typer.Option(10.0, help="Frames per second of GIF/MP4."),
    then_dream: bool = typer.Option(False, help="Dream the stylised picture (at --layer)."),
    layer: Optional[str] = typer.Option(None, help="Layer(s) to dream with --then-dream (default: the model's)."),
    dream_steps: int = typer.Option(10, help="--then-dream: steps per octave."),
    dream_octaves: int = typer.Option(4, help="--then-dream: octaves."),
    frames_dir: Optional[str] = typer.Option(None, help="Folder for the PNG frames of a progression/sweep."),
    resume: bool = RESUME,
    seed: int = SEED,
    device: str = DEVICE,
) -> None:
    """Neural style transfer (Gatys et al.): a still, its progression, a content:style sweep."""
    if color_space not in ("ycbcr", "lab"):
        raise UserError(f"unknown --color-space {color_space!r}; use ycbcr or lab")
    req = StyleRequest(image=image, styles=list(style), output=output, style_weights=style_weights,
                       content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight,
                       tv_beta=tv_beta, optimizer=optimizer, iters=iters, lr=lr, init=init, init_blend=init_blend,
                       alpha=alpha, size=size, style_scale=style_scale, max_style_size=max_style_size,
                       original_colors=original_colors, color_space=color_space, model=model, weights=weights,
                       gif=gif, every=every, sweep_ratio=sweep_ratio, sweep_frames=sweep_frames, fps=fps,
                       then_dream=then_dream, layer=layer,
                       dream_params=DreamParams(octaves=dream_octaves, steps=dream_steps, lr=0.012, smooth=1.0),
                       seed=seed, device=device, resume=resume, frames_dir=frames_dir)
    render_stylize(req)
