"""Dream objectives as small composable objects (in the manner of Lucid / Lucent).

    obj = layer("block9") + 0.5 * channel("block6", 12) - 0.1 * klass("jellyfish")

An objective names the taps it needs (``.taps``) and maps a dict of activations to a scalar
to *maximise*. The dream loop takes one objective and never special-cases its kind.
:func:`as_objective` turns what a user types (layers, channels, a class, a guide) into one.
"""
from __future__ import annotations

import difflib
import math
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

from .backbones import INPUT, LOGITS, BackboneError, imagenet_categories


class Objective:
    def __init__(self, taps: Iterable[str], fn: Callable[[dict], torch.Tensor], description: str):
        self.taps = frozenset(taps)
        self._fn = fn
        self.description = description

    def __call__(self, acts: dict) -> torch.Tensor:
        return self._fn(acts)

    def __repr__(self) -> str:
        return f"Objective({self.description})"

    def __add__(self, other):
        if isinstance(other, (int, float)):
            return Objective(self.taps, lambda a: self(a) + other, f"{self.description} + {other}")
        return Objective(self.taps | other.taps, lambda a: self(a) + other(a), f"{self.description} + {other.description}")

    __radd__ = __add__

    def __neg__(self):
        return -1.0 * self

    def __sub__(self, other):
        return self + (-other)

    def __mul__(self, k):
        if not isinstance(k, (int, float)):
            return NotImplemented
        if k == 1:
            return self
        return Objective(self.taps, lambda a: k * self(a), f"{k:g}*({self.description})")

    __rmul__ = __mul__


def layer(name: str, weight: float = 1.0, channels: Sequence[int] | None = None) -> Objective:
    """DeepDream's L2 objective: mean of the squared activations of a layer (or of some of its channels)."""
    if channels is not None:
        idx = list(channels)
        desc = f"layer({name}, channels={idx})"
        return Objective([name], lambda a: weight * a[name][:, idx].pow(2).mean(), desc if weight == 1 else f"{weight:g}*{desc}")
    return Objective([name], lambda a: weight * a[name].pow(2).mean(), f"layer({name})" if weight == 1 else f"{weight:g}*layer({name})")


def layers(names: Sequence[str], weights: Sequence[float] | None = None) -> Objective:
    """Weighted sum of :func:`layer` objectives (weights default to 1 each)."""
    weights = list(weights) if weights is not None else [1.0] * len(names)
    if len(weights) != len(names):
        raise ValueError(f"{len(names)} layers but {len(weights)} weights")
    objs = [layer(n, w) for n, w in zip(names, weights)]
    total = objs[0]
    for o in objs[1:]:
        total = total + o
    return total


def channel(name: str, index: int | Sequence[int]) -> Objective:
    """Mean activation of one or several channels of a layer (Lucid's ``channel``)."""
    idx = [index] if isinstance(index, int) else list(index)
    return Objective([name], lambda a: a[name][:, idx].mean(), f"channel({name}, {idx if len(idx) > 1 else idx[0]})")


def random_channels(n_channels: int, fraction: float, seed: int, draw: int) -> list[int]:
    """A seeded random subset of a layer's ``n_channels`` channels (sorted, at least one); ``draw``
    numbers the subsets drawn from one seed (a recursive run's stage, a zoom's reseed epoch)."""
    k = max(1, round(n_channels * fraction))
    rng = np.random.default_rng([seed, draw])
    return sorted(int(c) for c in rng.choice(n_channels, size=k, replace=False))


def resolve_class(which: int | str) -> int:
    """ImageNet class by index or name (case-insensitive; close matches suggested)."""
    cats = imagenet_categories()
    if isinstance(which, int) or (isinstance(which, str) and which.strip().isdecimal()):
        digits = str(which).strip()
        i = int(digits) if len(digits) <= 6 else len(cats)  # (Python refuses to convert thousands of digits)
        if not 0 <= i < len(cats):
            shown = digits if len(digits) <= 12 else digits[:12] + "..."
            raise BackboneError(f"class index {shown} out of range 0..{len(cats) - 1}")
        return i
    low = [c.lower() for c in cats]
    key = which.strip().lower().replace("_", " ")
    if key in low:
        return low.index(key)
    close = difflib.get_close_matches(key, low, n=5, cutoff=0.6)
    close += [c for c in low if key in c and c not in close][: 5 - len(close)]
    hint = f"; did you mean: {', '.join(close)}?" if close else "; give a name like 'jellyfish' or an index 0..999"
    raise BackboneError(f"unknown ImageNet class {which!r}{hint}")


def klass(which: int | str) -> Objective:
    """The pre-softmax logit of an ImageNet class (needs a backbone with a classifier)."""
    i = resolve_class(which)
    name = imagenet_categories()[i]
    return Objective([LOGITS], lambda a: a[LOGITS][:, i].mean(), f"class({name} #{i})")


SIMILARITIES = ("dot", "l1", "l2")


def _positions(act: torch.Tensor) -> torch.Tensor:
    """(1, C, h, w) -> (h*w, C)."""
    return act.flatten(2)[0].transpose(0, 1)


def guide_similarity(features: torch.Tensor, guide: torch.Tensor, similarity: str = "dot") -> torch.Tensor:
    """How much ``features`` look like ``guide`` (both (1, C, h, w), sizes may differ).

    Every position of ``features`` is matched to its best guide position (Google's guided
    DeepDream): ``dot`` = mean of the best dot products; ``l1`` / ``l2`` = minus the mean distance
    (mean absolute / mean squared difference per channel) to the nearest guide vector.
    """
    x, y = _positions(features), _positions(guide).to(features.dtype)
    if similarity not in SIMILARITIES:
        raise ValueError(f"unknown similarity {similarity!r}; use one of {', '.join(SIMILARITIES)}")
    with torch.no_grad():  # find each position's best guide vector; the gradient flows through that pair only
        xd = x.detach()
        if similarity == "dot":
            best = (xd @ y.T).argmax(dim=1)
        elif similarity == "l2":
            best = (y.pow(2).sum(1)[None] - 2 * xd @ y.T).argmin(dim=1)
        else:
            best = torch.cdist(xd[None], y[None], p=1)[0].argmin(dim=1)
    match = y[best]
    if similarity == "dot":
        return (x * match).sum(1).mean()
    if similarity == "l2":
        return -(x - match).pow(2).mean()
    return -(x - match).abs().mean()


def guide(net, image: torch.Tensor, layer: str, similarity: str = "dot") -> Objective:
    """Steer a dream toward the features ``image`` (1, 3, H, W) has at ``layer``."""
    if similarity not in SIMILARITIES:
        raise ValueError(f"unknown similarity {similarity!r}; use one of {', '.join(SIMILARITIES)}")
    with torch.no_grad():
        target = net.taps(image.to(net.device), [layer])[layer].detach()
    return Objective([layer], lambda a: guide_similarity(a[layer], target, similarity),
                     f"guide({layer}, {similarity})")


def pixel_mean(rgb: torch.Tensor, weight: float = 1.0) -> Objective:
    """Minus the squared distance of the image's mean colour to ``rgb`` (3,): keeps the original's colours."""
    target = rgb.detach().reshape(1, 3)

    def fn(a):
        mean = a[INPUT].mean(dim=(2, 3))
        return -weight * (mean - target.to(mean)).pow(2).sum() * 100.0

    return Objective([INPUT], fn, "pixel_mean" if weight == 1 else f"{weight:g}*pixel_mean")


# --------------------------------------------------------------------------- from text


class ObjectiveError(BackboneError):
    """What a user typed does not make an objective (one line, for the user)."""


def parse_layers(spec, text: str | None) -> tuple[list[str], list[float]]:
    """``"block6:0.5,block9"`` / ``"block3..block5"`` -> (taps, weights); ``None``: the model's default layers."""
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
                raise ObjectiveError(f"bad layer weight {wt!r} in --layers {text!r} (write name:weight)") from None
            if not math.isfinite(w):
                raise ObjectiveError(f"layer weight {wt!r} in --layers {text!r} must be a finite number")
        expanded = spec.expand_layers(part)
        names += expanded
        weights += [w] * len(expanded)
    if not names:
        raise ObjectiveError(f"no layer given in --layers {text!r}; {spec.name} layers: {', '.join(spec.taps)}")
    return names, weights


def parse_channels(text: str) -> list[int]:
    try:
        chans = [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        raise ObjectiveError(f"bad --channels {text!r}: give channel numbers like 12 or 12,40") from None
    if not chans:
        raise ObjectiveError(f"no channel given in --channels {text!r}: give channel numbers like 12 or 12,40")
    return chans


def check_similarity(similarity: str) -> None:
    if similarity not in SIMILARITIES:
        raise ObjectiveError(f"unknown --similarity {similarity!r}; use one of {', '.join(SIMILARITIES)}")


# as_objective's arguments are named as the user's options; these are the objectives behind them
_guide, _layers, _klass = guide, layers, klass


def as_objective(net, layers: str | None = None, channels: str | None = None, klass: str | None = None,
                 guide: torch.Tensor | None = None, similarity: str = "dot", pixel_weight: float = 0.0,
                 original: torch.Tensor | None = None) -> Objective:
    """The objective a request names, for ``net``: a class, else a guide picture's features at the
    layer(s), else the layer(s) (or some channels of one layer); ``pixel_weight`` > 0 adds a term
    that keeps ``original``'s mean colour. Raises :class:`BackboneError` with one line for the user.
    """
    spec = net.spec
    if klass is not None:
        if not spec.has_classifier:
            raise ObjectiveError(f"{spec.name} has no classifier, so --class cannot be used; try efficientnet_lite0")
        obj = _klass(klass)
    elif guide is not None:
        check_similarity(similarity)
        names, weights = parse_layers(spec, layers)
        obj = _guide(net, guide, names[0], similarity) * weights[0]
        for n, w in zip(names[1:], weights[1:]):
            obj = obj + w * _guide(net, guide, n, similarity)
    else:
        names, weights = parse_layers(spec, layers)
        if channels:
            if len(names) != 1:
                raise ObjectiveError(f"--channels needs exactly one layer (got {', '.join(names)})")
            chans = parse_channels(channels)
            n = net.channels(names[0])
            bad = [c for c in chans if not 0 <= c < n]
            if bad:
                raise ObjectiveError(f"channel {bad[0]} out of range for {names[0]}: it has channels 0..{n - 1}")
            obj = channel(names[0], chans)
        else:
            obj = _layers(names, weights)
    if pixel_weight:
        if pixel_weight < 0:
            raise ObjectiveError(f"--pixel-weight must be >= 0 (got {pixel_weight})")
        if original is None:
            raise ObjectiveError("--pixel-weight needs a start picture")
        obj = obj + pixel_mean(original.mean(dim=(0, 2, 3)), pixel_weight)
    return obj

