"""The optimisation: targets, losses, :class:`StyleTransfer` (the stateful driver), :func:`stylize`,
:func:`judge`, and the temporal term of video style transfer (Ruder et al. 2016)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from ..backbones import Backbone
from ..colorspace import keep_colors, luminance_image
from ..device import amp_dtype
from ..imageops import resize
from ..params import blend_weights
from .recipes import StyleParams, StyleRecipe, recipe_for
from .stats import style_stats, tv_loss
from .taps import check_taps, padded_taps

# progress(done_iterations, total_iterations, info) -- info: {"loss": tensor}
Progress = Callable[[int, int, dict], None]

RANGE_GAIN = 1e3  # out-of-[0, 1] penalty: 0.03 of excess everywhere costs as much as the starting loss


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class ContentTargets:
    """The content features of one picture (and their energies when the recipe normalises)."""

    features: dict[str, torch.Tensor]
    norm: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class StyleTargets:
    """The style half of the targets: blended Grams and channel means of the style pictures, with norms.

    They depend only on the style pictures, their weights and the recipe, so a clip computes them once.
    """

    recipe: StyleRecipe
    weights: tuple[float, ...]  # the blend weights they were made with (as StyleTransfer.style_weights)
    grams: dict[str, torch.Tensor]
    means: dict[str, torch.Tensor] = field(default_factory=dict)
    style_norm: dict[str, torch.Tensor] = field(default_factory=dict)
    mean_norm: dict[str, torch.Tensor] = field(default_factory=dict)


def _check_norm(recipe: StyleRecipe) -> None:
    if recipe.layer_norm not in ("none", "energy"):
        raise ValueError(f"unknown layer normalisation {recipe.layer_norm!r}")


@torch.no_grad()
def content_targets(net: Backbone, content: torch.Tensor, recipe: StyleRecipe) -> ContentTargets:
    _check_norm(recipe)
    acts = padded_taps(net, content.to(net.device), recipe.content_layers, recipe.pad)
    features = {n: acts[n].detach().clone() for n in recipe.content_layers}
    norm = {}
    if recipe.layer_norm == "energy":
        norm = {n: v.pow(2).mean().clamp(min=1e-12) for n, v in features.items()}
    return ContentTargets(features, norm)


@torch.no_grad()
def _style_targets(net: Backbone, styles: Sequence[torch.Tensor], style_weights: Sequence[float] | None,
                   recipe: StyleRecipe) -> StyleTargets:
    """Style targets of ``styles`` blended by ``blend_weights(style_weights)``."""
    _check_norm(recipe)
    dev = net.device
    weights = blend_weights(len(styles), style_weights)
    grams: dict[str, torch.Tensor] = {}
    means: dict[str, torch.Tensor] = {}
    for w, s in zip(weights, styles):
        sa = padded_taps(net, s.to(dev), recipe.style_layers, recipe.pad)
        for n in recipe.style_layers:
            gs, m = style_stats(sa[n], recipe.centered, recipe.shifts)
            for suffix, g in gs.items():
                g = g * w
                grams[n + suffix] = g if n + suffix not in grams else grams[n + suffix] + g
            if recipe.centered:
                means[n] = m * w if n not in means else means[n] + m * w
    style_norm, mean_norm = {}, {}
    if recipe.layer_norm == "energy":
        style_norm = {n: g.pow(2).mean().clamp(min=1e-20) for n, g in grams.items()}
        mean_norm = {n: m.pow(2).mean().clamp(min=1e-20) for n, m in means.items()}
    given = weights if style_weights is None else style_weights
    return StyleTargets(recipe, tuple(float(w) for w in given), grams, means, style_norm, mean_norm)


def _check_picture(net: Backbone, x: torch.Tensor, what: str) -> None:
    if x.dim() != 4 or x.shape[:2] != (1, 3):
        raise ValueError(f"{what} image must be (1, 3, H, W), got {tuple(x.shape)}")
    if min(x.shape[-2:]) < net.spec.min_size:
        raise ValueError(f"{what} image {x.shape[-1]}x{x.shape[-2]} is too small for {net.name}: "
                         f"the short side needs at least {net.spec.min_size} px")


def style_targets(net: Backbone, styles: Sequence[torch.Tensor], style_weights: Sequence[float] | None = None,
                  recipe: StyleRecipe | None = None) -> StyleTargets:
    """The style targets :class:`StyleTransfer` computes for ``styles`` (without original colours), to pass
    as its ``style=`` when several pictures (a clip's frames) share the same styles."""
    if not styles:
        raise ValueError("at least one style image is needed")
    for s in styles:
        _check_picture(net, s, "style")
    recipe = recipe or recipe_for(net)
    check_taps(net, recipe.taps)
    # StyleTransfer blends the weights, and the targets blend them again (as they always did):
    # re-normalising normalised weights may move their last bit, so this order is kept
    weights = blend_weights(len(styles), style_weights)
    return _style_targets(net, [s.to(net.device, torch.float32) for s in styles], weights, recipe)


# --------------------------------------------------------------------------- losses


def losses(net: Backbone, image: torch.Tensor, content: ContentTargets, style: StyleTargets, recipe: StyleRecipe,
           tv_beta: float | None = None, amp: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """Unweighted content, style and TV losses of ``image`` (graph kept for gradients). ``amp``: the network's
    forward pass runs under autocast in that dtype; the statistics and losses stay in float32."""
    acts = padded_taps(net, image, [*recipe.content_layers, *recipe.style_layers], recipe.pad, amp)
    return losses_of(acts, image, content, style, recipe, tv_beta)


def losses_of(acts: dict[str, torch.Tensor], image: torch.Tensor, content: ContentTargets, style: StyleTargets,
              recipe: StyleRecipe, tv_beta: float | None = None) -> dict[str, torch.Tensor]:
    """:func:`losses` from the activations ``acts`` of ``image`` (1, 3, H, W) (e.g. one picture's slice of a
    batch's activations)."""
    content_loss = image.new_zeros(())
    style_loss = image.new_zeros(())
    per_layer = {}
    for n in recipe.content_layers:
        l = F.mse_loss(acts[n], content.features[n])
        content_loss = content_loss + (l / content.norm[n] if content.norm else l)
    for n, w in zip(recipe.style_layers, recipe.style_layer_weights):
        gs, mean = style_stats(acts[n], recipe.centered, recipe.shifts)
        l = image.new_zeros(())
        for suffix, g in gs.items():
            lk = F.mse_loss(g, style.grams[n + suffix])
            l = l + (lk / style.style_norm[n + suffix] if style.style_norm else lk)
        l = l / len(gs)
        if recipe.centered:
            lm = F.mse_loss(mean, style.means[n])
            l = l + recipe.mean_weight * (lm / style.mean_norm[n] if style.mean_norm else lm)
        per_layer[n] = l
        style_loss = style_loss + w * l
    return {"content": content_loss, "style": style_loss, "tv": tv_loss(image, tv_beta), "layers": per_layer}


def temporal_loss(x: torch.Tensor, warped_prev: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared difference to ``warped_prev`` over the pixels ``mask`` (1, 1, H, W) keeps."""
    return (mask * (x - warped_prev).pow(2)).sum() / (mask.sum() * x.shape[1] + 1e-8)


@dataclass(frozen=True)
class Temporal:
    """The temporal term of a video frame: ``weight * temporal_loss(x, previous, mask)``, in units of
    the starting loss. ``previous``: the previous stylised frame warped to this one; ``mask``: 1 where
    the flow holds."""

    previous: torch.Tensor
    mask: torch.Tensor
    weight: float


# --------------------------------------------------------------------------- optimisation


class StyleTransfer:
    """Stateful stylisation: targets computed once; :meth:`run` advances N iterations at a time.

    The L-BFGS memory (or Adam's moments) carries across :meth:`run` calls, so running 10
    iterations 30 times gives the same picture as running 300 at once. ``style``: the
    :func:`style_targets` of ``styles`` computed beforehand (e.g. once per clip); ``temporal``: a
    :class:`Temporal` term added to the objective.
    """

    def __init__(self, net: Backbone, content: torch.Tensor, styles: Sequence[torch.Tensor],
                 style_weights: Sequence[float] | None = None, params: StyleParams = StyleParams(),
                 init: torch.Tensor | None = None, recipe: StyleRecipe | None = None, *,
                 style: StyleTargets | None = None, temporal: Temporal | None = None,
                 amp: str | torch.dtype | None = "auto"):
        params.validate()
        if not styles:
            raise ValueError("at least one style image is needed")
        for x, what in [(content, "content")] + [(s, "style") for s in styles]:
            _check_picture(net, x, what)
        self.net = net
        self.params = params
        self.recipe = recipe or recipe_for(net)
        check_taps(net, self.recipe.taps)
        dev = net.device
        self.content_rgb = content.detach().to(dev, torch.float32)
        space = params.color_space
        if params.original_colors:
            # luminance-only transfer: grey content, grey styles matched to the content's luminance;
            # the style targets then depend on the content, so they are computed here, per content
            if style is not None:
                raise ValueError("precomputed style targets cannot be used with original colours: "
                                 "the styles are matched to each content's luminance")
            content_in = luminance_image(self.content_rgb, space)
            styles = [luminance_image(s.to(dev, torch.float32), space, match=self.content_rgb) for s in styles]
        else:
            content_in = self.content_rgb
            styles = [s.to(dev, torch.float32) for s in styles]
        self.style_weights = blend_weights(len(styles), style_weights)
        if style is None:
            style = _style_targets(net, styles, self.style_weights, self.recipe)  # blends them once more
        elif style.recipe != self.recipe or style.weights != tuple(self.style_weights):
            raise ValueError("the precomputed style targets were made with another recipe or other style weights")
        self.content_targets = content_targets(net, content_in, self.recipe)
        # the forward passes of the iterations (the targets above are float32): float16 on CUDA, where a
        # 1080p gradient follows float32's within 1 % (VGG-16) to 4 % (Lite0) and L-BFGS ends where float32 does
        self.amp = amp_dtype(dev, amp)
        self.style_targets = style
        self.temporal = temporal
        # a fresh contiguous copy whatever the caller's layout: L-BFGS flattens the gradient with view()
        self.x = self._initial(content_in, init).clone(memory_format=torch.contiguous_format).requires_grad_(True)
        self.iterations = 0
        self.evaluations = 0
        self.history: list[torch.Tensor] = []  # total loss per iteration (tensors; no host syncs)
        self._last: dict[str, torch.Tensor] = {}
        # the objective with a zero range scale (a temporal term then adds 0) sets the scale
        self._range_scale = torch.zeros((), device=dev)
        with torch.no_grad():
            self._range_scale = self.objective(self.x)[0].detach().clamp(min=1e-12)
        self._make_optimizer()

    # ---------------------------------------------------------------- setup

    def _initial(self, content_in: torch.Tensor, init: torch.Tensor | None) -> torch.Tensor:
        h, w = content_in.shape[-2:]
        p = self.params
        if init is not None:
            x = resize(init.detach().to(content_in.device, torch.float32), (h, w), clamp=True)
            if p.original_colors:
                x = luminance_image(x, p.color_space)
            return x
        if p.init == "noise":
            g = torch.Generator().manual_seed(p.seed)
            x = (0.5 + 0.25 * torch.randn(1, 3, h, w, generator=g)).clamp_(0, 1)
            if p.original_colors:
                x = x.mean(1, keepdim=True).expand(1, 3, h, w)
            return x.to(content_in.device)
        if p.init == "image":
            raise ValueError("init 'image' needs an init picture")
        return content_in

    def _make_optimizer(self) -> None:
        p = self.params
        if p.optimizer == "lbfgs":
            # strong-Wolfe line search: the fixed unit step of plain L-BFGS blows up when the
            # loss's scale does not suit it (it did with VGG in the Caffe convention)
            self.opt = torch.optim.LBFGS([self.x], lr=p.step_size(), max_iter=1, history_size=p.history,
                                         tolerance_grad=0.0, tolerance_change=0.0,
                                         line_search_fn="strong_wolfe")
        else:
            self.opt = torch.optim.Adam([self.x], lr=p.step_size())

    def set_weights(self, content_weight: float | None = None, style_weight: float | None = None) -> None:
        """Change the loss balance (a ratio sweep). The optimiser restarts: its memory fits the old loss."""
        kw = {}
        if content_weight is not None:
            kw["content_weight"] = content_weight
        if style_weight is not None:
            kw["style_weight"] = style_weight
        self.params = replace(self.params, **kw)
        self.params.validate()
        self._make_optimizer()

    def set_step_size(self, lr: float) -> None:
        """Change the optimiser's step size (e.g. halve it after a step went to NaN); the optimiser restarts."""
        self.params = replace(self.params, lr=lr)
        self.params.validate()
        self._make_optimizer()

    def restart_from(self, image: torch.Tensor) -> None:
        """Continue from ``image`` (e.g. a frame on disk when a progression resumes), with a fresh optimiser."""
        with torch.no_grad():
            x = resize(image.detach().to(self.x.device, torch.float32), tuple(self.x.shape[-2:]), clamp=True)
            if self.params.original_colors:
                x = luminance_image(x, self.params.color_space)
            self.x.copy_(x)
        self._make_optimizer()

    # ---------------------------------------------------------------- the loss

    def objective(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        p, r = self.params, self.recipe
        parts = losses(self.net, x, self.content_targets, self.style_targets, r, p.tv_beta, self.amp)
        total = (p.content_weight * r.content_gain * parts["content"]
                 + p.style_weight * r.style_gain * parts["style"])
        if p.tv_weight:
            total = total + p.tv_weight * r.tv_gain * parts["tv"]
        # pixels are free variables (no clamp in the graph: clamped pixels would lose their
        # gradient for good); a smooth penalty, in units of the starting loss, keeps them in [0, 1]
        excess = x - x.clamp(0, 1)
        parts["range"] = excess.pow(2).mean()
        total = total + self._range_scale * RANGE_GAIN * parts["range"]
        tm = self.temporal
        if tm is not None and tm.weight:
            t = temporal_loss(x, tm.previous, tm.mask)
            parts["temporal"] = t
            total = total + tm.weight * self._range_scale * t
        return total, parts

    def _closure(self) -> torch.Tensor:
        self.opt.zero_grad(set_to_none=False)
        total, parts = self.objective(self.x)
        total.backward()
        # a host check: L-BFGS reads every evaluation's loss on the host anyway (Adam, not the default, waits here
        # once an iteration)
        if self.amp is not None and not torch.isfinite(self.x.grad).all():
            # float16 overflowed (a style weight far above the defaults): this evaluation and the rest in float32
            self.amp = None
            self.opt.zero_grad(set_to_none=False)
            total, parts = self.objective(self.x)
            total.backward()
        self._last = {"total": total.detach(), **{k: v.detach() for k, v in parts.items() if k != "layers"}}
        self.evaluations += 1
        return total

    # ---------------------------------------------------------------- running

    def run(self, iters: int, progress: Progress | None = None, total: int | None = None) -> torch.Tensor:
        """Advance ``iters`` iterations; returns the current picture (see :meth:`image`).

        ``history`` gets the loss after each iteration (tensors: no host syncs here).
        """
        total = total if total is not None else iters
        if iters <= 0:
            return self.image()
        start = self.iterations
        if isinstance(self.opt, torch.optim.LBFGS):
            # one step() call of ``iters`` iterations; the L-BFGS memory stays in the optimiser's
            # state between calls. An iteration's loss is the lowest of its line-search
            # evaluations (the point the strong-Wolfe search accepts).
            group = self.opt.param_groups[0]
            group["max_iter"], group["max_eval"] = iters, 4 * iters + 8
            n0 = self.opt.state[self.x].get("n_iter", 0)
            cur = {"k": 0, "best": None}

            def closure() -> torch.Tensor:
                loss = self._closure()
                k = self.opt.state[self.x].get("n_iter", 0) - n0  # the iteration this evaluation serves
                if k != cur["k"]:
                    if cur["k"] > 0:
                        self._iteration_done(start, cur["k"] - 1, cur["best"], progress, total)
                    cur["k"], cur["best"] = k, None
                t = self._last["total"]
                cur["best"] = t if cur["best"] is None else torch.minimum(cur["best"], t)
                return loss

            self.opt.step(closure)
            if cur["k"] > 0:
                self._iteration_done(start, cur["k"] - 1, cur["best"], progress, total)
            for k in range(cur["k"] + 1, iters + 1):  # iterations skipped by an early stop
                self._iteration_done(start, k - 1, self.history[-1] if self.history else self._last["total"],
                                     progress, total)
            self.iterations = start + iters
        else:
            for k in range(iters):
                with torch.enable_grad():
                    self.opt.zero_grad(set_to_none=False)
                    self._closure()
                    self.opt.step()
                self._iteration_done(start, k, self._last["total"], progress, total)
            self.iterations = start + iters
        return self.image()

    def _iteration_done(self, start: int, k: int, loss: torch.Tensor, progress: Progress | None,
                        total: int) -> None:
        self.history.append(loss)
        if progress is not None:
            progress(k + 1, total, {"loss": loss})

    @torch.no_grad()
    def image(self) -> torch.Tensor:
        """The current picture, clamped to [0, 1], with the content's colours when asked."""
        x = self.x.detach().clamp(0, 1)
        if self.params.original_colors:
            x = keep_colors(x, self.content_rgb, self.params.color_space)
        return x.clone()

    @torch.no_grad()
    def current_losses(self) -> dict[str, float]:
        """Unweighted and total losses of the current picture (host values; for reports)."""
        total, parts = self.objective(self.x.detach())
        return {"total": float(total), "content": float(parts["content"]), "style": float(parts["style"]),
                "tv": float(parts["tv"])}


def stylize(net: Backbone, content: torch.Tensor, styles: Sequence[torch.Tensor],
            style_weights: Sequence[float] | None = None, params: StyleParams = StyleParams(),
            init: torch.Tensor | None = None, progress: Progress | None = None,
            recipe: StyleRecipe | None = None, style: StyleTargets | None = None) -> torch.Tensor:
    """Stylise ``content`` (1, 3, H, W) with ``styles``; returns a new (1, 3, H, W) picture in [0, 1]."""
    st = StyleTransfer(net, content, styles, style_weights, params, init=init, recipe=recipe, style=style)
    return st.run(params.iters, progress=progress)


@torch.no_grad()
def judge(net: Backbone, image: torch.Tensor, content: torch.Tensor, styles: Sequence[torch.Tensor],
          style_weights: Sequence[float] | None = None, recipe: StyleRecipe | None = None) -> dict:
    """Unweighted content and style losses of ``image`` under ``net``'s recipe (e.g. VGG-16 as a judge).

    Pictures are resized to ``content``'s size where needed. Returns floats:
    ``{"content", "style", "layers": {tap: style loss}}``.
    """
    recipe = recipe or recipe_for(net)
    dev = net.device
    image = resize(image.to(dev, torch.float32), tuple(content.shape[-2:]), clamp=True)
    content_t = content_targets(net, content.to(dev, torch.float32), recipe)
    style_t = _style_targets(net, [s.to(dev, torch.float32) for s in styles], style_weights, recipe)
    parts = losses(net, image, content_t, style_t, recipe)
    return {"content": float(parts["content"]), "style": float(parts["style"]),
            "layers": {k: float(v) for k, v in parts["layers"].items()}}
