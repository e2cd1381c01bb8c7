"""What a backbone is, before it is built: ``ModelSpec`` (name, input convention, layer taps, builder, where its
weights come from), the layer names users type (``LOGITS``, ``INPUT``), and ``BackboneError`` (a user-facing problem
with a model, a layer or a weights file, in one line). :mod:`.backbones` registers the specs and builds them;
:mod:`.weights` finds and reads their weights: both import this module, neither the other's.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

from torch import nn

LOGITS = "logits"
INPUT = "input"  # the RGB [0, 1] image itself, for pixel-space objective terms


class BackboneError(ValueError):
    """A user-facing problem with a model name, a layer name or a weights file (one line)."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    kind: str  # "embedded" | "torchvision" | "caffe"
    convention: str  # "imagenet" | "tflite" | "caffe"
    taps: tuple[str, ...]  # names users type, in forward order
    tap_modules: dict[str, str]  # tap -> module path inside the network (public taps and internal ones)
    default_layers: tuple[str, ...]
    build: Callable[[], nn.Module] = field(repr=False)
    cache_file: str | None = None  # file name in the hub cache (when there is no URL)
    url: Callable[[], str] | None = field(default=None, repr=False)  # where torchvision downloads it from
    has_classifier: bool = True
    min_size: int = 32
    after_load: Callable[[nn.Module], None] | None = field(default=None, repr=False)

    @property
    def weights_url(self) -> str | None:
        """The download URL; asked of torchvision only when needed (its model zoo is slow to import)."""
        return self.url() if self.url else None

    @property
    def weights_file(self) -> str | None:
        """The weights' file name in the hub cache (torchvision's own name for its models)."""
        return os.path.basename(self.weights_url) if self.url else self.cache_file

    @property
    def layer_taps(self) -> tuple[str, ...]:
        return self.taps

    def expand_layers(self, text: str) -> list[str]:
        """``"block3..block5"`` -> taps in order; ``"a,b"`` -> [a, b]; unknown -> BackboneError."""
        out: list[str] = []
        for part in [p.strip() for p in text.split(",") if p.strip()]:
            if ".." in part and part not in self.tap_modules:
                a, b = (s.strip() for s in part.split("..", 1))
                self.check_tap(a, ordered=True)
                self.check_tap(b, ordered=True)
                i, j = self.taps.index(a), self.taps.index(b)
                if i > j:
                    raise BackboneError(f"layer range {part!r} runs backwards; write {b}..{a}")
                out.extend(self.taps[i : j + 1])
            else:
                self.check_tap(part)
                out.append(part)
        if not out:
            raise BackboneError(f"no layer given; {self.name} layers: {', '.join(self.taps)}")
        return out

    def check_tap(self, tap: str, ordered: bool = False) -> None:
        """``tap`` is one of the model's; ``ordered``: one of its listed layers (a range's ends)."""
        if ((tap == LOGITS and self.has_classifier) or tap == INPUT) and not ordered:
            return
        if tap not in (self.taps if ordered else self.tap_modules):
            where = " in a layer range" if ordered and tap in (LOGITS, INPUT, *self.tap_modules) else ""
            raise BackboneError(f"unknown layer {tap!r}{where} for {self.name}; valid layers: {', '.join(self.taps)}")
