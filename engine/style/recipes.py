"""Style transfer settings: :class:`StyleParams` (the run) and :class:`StyleRecipe` (what a backbone matches)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ..backbones import Backbone
from ..colorspace import COLOR_SPACES

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise", "image")


@dataclass(frozen=True)
class StyleParams:
    """The numbers of one style transfer: the losses' weights, the optimiser and its start."""

    content_weight: float = 1.0
    """The content loss's weight (each recipe's gains make 1 : 1 its balanced result)."""
    style_weight: float = 1.0
    """The style loss's weight."""
    tv_weight: float = 1.0
    """Total variation, relative to the recipe's own TV gain (0 = off)."""
    tv_beta: float | None = None
    """None: L1 of neighbour differences; else sum((dx^2 + dy^2)^(beta/2))."""
    optimizer: str = "lbfgs"
    """``lbfgs`` or ``adam``."""
    iters: int = 500
    """Optimiser iterations."""
    lr: float | None = None
    """Adam's step in [0, 1] pixel units (default 0.02); L-BFGS's step (default 1)."""
    init: str = "content"
    """Where the picture starts: ``content``, ``noise`` or ``image`` (the ``init`` tensor given to ``stylize``)."""
    original_colors: bool = False
    """Luminance-only transfer: the content's chroma is kept."""
    color_space: str = "ycbcr"
    """Where "chroma" is kept: ``ycbcr`` or ``lab``."""
    history: int = 100
    """L-BFGS memory."""
    seed: int = 0
    """The noise start's random seed."""

    def as_dict(self) -> dict:
        return asdict(self)

    def step_size(self) -> float:
        """``lr``, or the optimiser's default: 1 for L-BFGS, 0.02 for Adam."""
        return self.lr or (1.0 if self.optimizer == "lbfgs" else 0.02)

    def validate(self) -> None:
        for name in ("content_weight", "style_weight", "tv_weight"):
            v = getattr(self, name)
            if not (v >= 0 and math.isfinite(v)):
                raise ValueError(f"{name.replace('_', ' ')} must be >= 0 (got {v})")
        if self.content_weight == 0 and self.style_weight == 0:
            raise ValueError("content weight and style weight cannot both be 0")
        if self.tv_beta is not None and not self.tv_beta > 0:
            raise ValueError(f"TV beta must be > 0 (got {self.tv_beta})")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)} (got {self.optimizer!r})")
        if self.iters < 0:
            raise ValueError(f"iterations must be >= 0 (got {self.iters})")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"learning rate must be > 0 (got {self.lr})")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)} (got {self.init!r})")
        if self.color_space not in COLOR_SPACES:
            raise ValueError(f"colour space must be one of {', '.join(COLOR_SPACES)} (got {self.color_space!r})")
        if self.history < 1:
            raise ValueError(f"L-BFGS history must be >= 1 (got {self.history})")


@dataclass(frozen=True)
class StyleRecipe:
    """Which activations carry content and style, and how their losses are formed."""

    name: str
    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    style_layer_weights: tuple[float, ...]
    # per-layer loss normalisation: "none" (classic) | "energy" (divide by the target's mean square)
    layer_norm: str = "none"
    centered: bool = False  # covariance instead of the raw Gram; channel means matched apart
    mean_weight: float = 1.0  # weight of the channel-mean term (centered only), per layer
    # also match the cross-correlations between each style layer and itself shifted by these
    # offsets (px at the layer's resolution, horizontally and vertically): spatial layout of
    # the texture that a network of depthwise convolutions keeps out of its plain Gram
    shifts: tuple[int, ...] = ()
    # reflect-pad the picture by this many px before the network and crop the activations back:
    # zero padding lets a network tell the border apart, and the optimiser then paints the
    # style picture's edge statistics (frames, strips) along the output's border
    pad: int = 0
    content_gain: float = 1.0
    style_gain: float = 1.0
    tv_gain: float = 1.0
    description: str = ""

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def taps(self) -> list[str]:
        return list(dict.fromkeys([*self.content_layers, *self.style_layers]))


VGG_CLASSIC = StyleRecipe(
    name="vgg-classic",
    content_layers=("relu4_2",),
    style_layers=("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
    style_layer_weights=(1.0, 1.0, 1.0, 1.0, 1.0),
    # neural-style's defaults (content 5, style 100) in the Caffe convention's feature scale
    content_gain=5.0,
    style_gain=100.0,
    tv_gain=2.0e3,
    description="Gatys et al.: content relu4_2; style relu1_1..relu5_1, Gram/(CHW), equal weights",
)

LITE0_PAINTERLY = StyleRecipe(
    name="lite0-painterly",
    # /4 and /8: with block5.expand alone, strong styles (The Scream) wash the houses away
    content_layers=("block2.dw", "block5.expand"),
    # post-ReLU6 activations inside the blocks, from full detail (/2) to /16, and a fixed
    # filter bank on the picture itself (first order at /1../8, second order at /2../8)
    style_layers=("stem", "block0.dw", "block1.expand", "block1.dw", "block2.expand", "block2.dw",
                  "block3.expand", "block4.expand", "block5.expand", "block6.expand",
                  "pixel0", "pixel1", "pixel2", "pixel3", "pixel0x", "pixel1x", "pixel2x"),
    style_layer_weights=(1.0,) * 10 + (3.0,) * 7,
    centered=True,
    layer_norm="energy",
    shifts=(1,),
    pad=16,
    content_gain=5.0,
    style_gain=10.0,
    tv_gain=1.0,
    description="EfficientNet-Lite0: post-ReLU6 taps inside the blocks plus rectified oriented differences "
                "of the picture (first and second order, 4 octaves); centred Grams (+ channel means) and "
                "1-px shifted cross-Grams, each layer's loss divided by its target's energy; reflect-padded; "
                "content at block2.dw + block5.expand",
)


RECIPES: dict[str, StyleRecipe] = {r.name: r for r in (VGG_CLASSIC, LITE0_PAINTERLY)}


def recipe_for(net: Backbone) -> StyleRecipe:
    """The style recipe of a backbone (VGG: classic; Lite0: painterly; others: a generic one)."""
    name = net.spec.name
    if name.startswith("vgg"):
        return VGG_CLASSIC
    if name == "efficientnet_lite0":
        return LITE0_PAINTERLY
    # a generic recipe for the other torchvision networks (not tuned: their weights were not
    # here): five taps spread over the first two thirds of the network for style, the default
    # dream layer's predecessor for content, Lite0's centred, energy-normalised Grams
    taps = [t for t in net.spec.taps if not t.startswith("maxpool")]
    cut = max(5, (2 * len(taps)) // 3)
    picks = tuple(dict.fromkeys(taps[round(i * (cut - 1) / 4)] for i in range(5)))
    default = net.spec.default_layers[0]
    content = taps[max(0, taps.index(default) - 1)] if default in taps else picks[-2]
    return StyleRecipe(name=f"{name}-generic", content_layers=(content,), style_layers=picks,
                       style_layer_weights=(1.0,) * len(picks), centered=True, layer_norm="energy",
                       style_gain=10.0, description=f"{name}: centred, energy-normalised Gram losses (untuned)")


def style_size(content_hw: tuple[int, int], style_hw: tuple[int, int], scale: float = 1.0,
               max_size: int | None = None) -> tuple[int, int]:
    """Size of a style picture: its longest side is ``scale`` x the output's longest side, at most ``max_size``."""
    if not scale > 0:
        raise ValueError(f"style scale must be > 0 (got {scale})")
    longest = scale * max(content_hw)
    if max_size:
        longest = min(longest, max_size)
    s = longest / max(style_hw)
    return max(1, round(style_hw[0] * s)), max(1, round(style_hw[1] * s))
