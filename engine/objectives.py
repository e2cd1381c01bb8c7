"""Dream objectives as small composable objects (in the manner of Lucid / Lucent).

    obj = layer("block9") + 0.5 * channel("block6", 12) - 0.1 * klass("jellyfish")

An objective names the taps it needs (``.taps``) and maps a dict of activations to a scalar
to *maximise*. The dream loop takes one objective and never special-cases its kind.
"""
from __future__ import annotations

import difflib
from typing import Callable, Iterable, Sequence

import torch

from .backbones import LOGITS, BackboneError, imagenet_categories


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
        return Objective(self.taps, lambda a: k * self(a), f"{k:g}*({self.description})")

    __rmul__ = __mul__


def layer(name: str, weight: float = 1.0) -> Objective:
    """DeepDream's L2 objective: mean of the squared activations of a layer."""
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


def resolve_class(which: int | str) -> int:
    """ImageNet class by index or name (case-insensitive; close matches suggested)."""
    cats = imagenet_categories()
    if isinstance(which, int) or (isinstance(which, str) and which.strip().isdigit()):
        i = int(which)
        if not 0 <= i < len(cats):
            raise BackboneError(f"class index {i} out of range 0..{len(cats) - 1}")
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
