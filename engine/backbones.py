"""Backbone registry: name -> builder, layer taps, input convention, weights source.

One call, as with torchvision's ``get_model``::

    net = get_backbone("efficientnet_lite0")            # embedded ImageNet weights
    acts = net.taps(image, ["block9"])                  # image: (1, 3, H, W) RGB in [0, 1]

Every backbone takes RGB in [0, 1]; its own input convention (ImageNet mean/std,
TF-Lite (x - 0.5) / 0.5, Caffe BGR 0-255 minus mean) is applied inside. ``taps`` runs the
network only as far as the deepest requested tap. Weights are located and read by
:mod:`.weights` (an explicit file, the embedding package, the torch hub cache, a download).
"""
from __future__ import annotations

import functools
import os
from typing import Callable

import torch
from torch import nn

from . import lite0
from .specs import INPUT, LOGITS, BackboneError, ModelSpec
from .weights import fetch_weights, file_sha256, load_into, read_state_dict

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


# --------------------------------------------------------------------------- specs


def _lite0_spec() -> ModelSpec:
    taps = ("stem", *[f"block{i}" for i in range(16)], "head")
    # internal taps, in forward order: the post-ReLU6 activations inside each block
    # (``block3.expand``, ``block3.dw``), used by style losses; not listed to users
    modules: dict[str, str] = {"stem": "stem"}
    for i in range(16):
        if i:
            modules[f"block{i}.expand"] = f"block{i}.expand"
        modules[f"block{i}.dw"] = f"block{i}.depthwise"
        modules[f"block{i}"] = f"block{i}"
    modules["head"] = "head"
    return ModelSpec(
        name="efficientnet_lite0",
        description="EfficientNet-Lite0, ImageNet (embedded, works offline)",
        kind="embedded",
        convention="tflite",
        taps=taps,
        tap_modules=modules,
        default_layers=("block6", "block9"),
        build=lite0.EfficientNetLite0,
        cache_file="efficientnet-lite0-57934424.pth",
    )


def _vgg_taps(cfg: list) -> dict[str, str]:
    """relu{block}_{i} and pool{block} -> index inside ``features`` for a VGG config list."""
    taps, idx, block, conv = {}, 0, 1, 0
    for v in cfg:
        if v == "M":
            taps[f"pool{block}"] = f"features.{idx}"
            idx += 1
            block, conv = block + 1, 0
        else:
            conv += 1
            taps[f"relu{block}_{conv}"] = f"features.{idx + 1}"
            idx += 2
    return taps


VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
VGG19_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]


class VGGFeatures(nn.Module):
    """Convolutional part of VGG (what Caffe-converted style-transfer files hold)."""

    def __init__(self, cfg: list):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=False)]
                cin = v
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def _no_inplace(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, (nn.ReLU, nn.ReLU6)):
            m.inplace = False


def _tv_builder(name: str, **kwargs) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import torchvision

        return torchvision.models.get_model(name, weights=None, **kwargs)

    return build


def _drop_aux(model: nn.Module) -> None:
    # torchvision's own recipe for its pretrained GoogLeNet / Inception-v3
    model.aux_logits = False
    for attr in ("aux1", "aux2", "AuxLogits"):
        if hasattr(model, attr):
            setattr(model, attr, None)


@functools.cache
def _tv_url(name: str) -> str:
    from torchvision.models import get_model_weights

    return get_model_weights(name).DEFAULT.url


def _tv_spec(name, description, taps, default, min_size=32, **kwargs) -> ModelSpec:
    tap_modules = taps if isinstance(taps, dict) else {t: t for t in taps}
    after = _drop_aux if name in ("googlenet", "inception_v3") else _no_inplace
    return ModelSpec(
        name=name,
        description=description,
        kind="torchvision",
        convention="imagenet",
        taps=tuple(tap_modules),
        tap_modules=tap_modules,
        default_layers=default,
        build=_tv_builder(name, **kwargs),
        url=functools.partial(_tv_url, name),
        min_size=min_size,
        after_load=after,
    )


def _caffe_spec(name: str, cfg: list, default: tuple[str, ...], cached: str) -> ModelSpec:
    taps = _vgg_taps(cfg)
    return ModelSpec(
        name=name,
        description=f"{name[:5].upper()} features, Caffe convention (BGR 0-255 minus mean); file via --weights",
        kind="caffe",
        convention="caffe",
        taps=tuple(taps),
        tap_modules=taps,
        default_layers=default,
        build=lambda: VGGFeatures(cfg),
        cache_file=cached,
        has_classifier=False,
    )


def _registry() -> dict[str, ModelSpec]:
    googlenet_taps = ["conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b",
                      "maxpool3", "inception4a", "inception4b", "inception4c", "inception4d", "inception4e",
                      "maxpool4", "inception5a", "inception5b"]
    inception_taps = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
                      "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b",
                      "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"]
    resnet_taps = ["relu", "maxpool"]
    for i, n in enumerate([3, 4, 6, 3], start=1):
        resnet_taps += [f"layer{i}.{j}" for j in range(n)] + [f"layer{i}"]
    specs = [
        _lite0_spec(),
        _tv_spec("googlenet", "GoogLeNet (Inception v1), ImageNet, torchvision", googlenet_taps,
                 ("inception4c",), aux_logits=True, transform_input=True, init_weights=False),
        _tv_spec("inception_v3", "Inception v3, ImageNet, torchvision", inception_taps, ("Mixed_5d",),
                 min_size=75, aux_logits=True, transform_input=True, init_weights=False),
        _tv_spec("vgg16", "VGG-16, ImageNet, torchvision", _vgg_taps(VGG16_CFG), ("relu4_3",)),
        _tv_spec("vgg19", "VGG-19, ImageNet, torchvision", _vgg_taps(VGG19_CFG), ("relu4_4",)),
        _tv_spec("resnet50", "ResNet-50, ImageNet, torchvision", resnet_taps, ("layer3",)),
        _tv_spec("efficientnet_b3", "EfficientNet-B3, ImageNet, torchvision",
                 [f"features.{i}" for i in range(9)], ("features.5",)),
        _caffe_spec("vgg16_caffe", VGG16_CFG, ("relu4_3",), "vgg16-00b39a1b.pth"),
        _caffe_spec("vgg19_caffe", VGG19_CFG, ("relu4_4",), "vgg19-d01eb7cb.pth"),
    ]
    return {s.name: s for s in specs}


MODELS: dict[str, ModelSpec] = _registry()
DEFAULT_MODEL = "efficientnet_lite0"


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise BackboneError(f"unknown model {name!r}; valid models: {', '.join(MODELS)}") from None


def fuse_conv_bn(module: nn.Module) -> nn.Module:
    """Fold every BatchNorm2d that directly follows a Conv2d inside a Sequential (eval maths)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for child in module.children():
        fuse_conv_bn(child)
    if isinstance(module, nn.Sequential):
        items = list(module._modules.items())
        for (_, a), (kb, b) in zip(items, items[1:]):
            if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d) and a.out_channels == b.num_features:
                fused = fuse_conv_bn_eval(a, b)
                a.weight, a.bias = fused.weight, fused.bias
                module._modules[kb] = nn.Identity()
    return module


# --------------------------------------------------------------------------- backbone


class _Stop(Exception):
    pass


class Backbone(nn.Module):
    """A frozen network that maps RGB [0, 1] images to named activations."""

    def __init__(self, spec: ModelSpec, net: nn.Module, weights_path: str):
        super().__init__()
        self.spec = spec
        self.net = net
        self.weights_path = weights_path
        self._modules_by_tap = {t: net.get_submodule(p) for t, p in spec.tap_modules.items()}
        self._order = {t: i for i, t in enumerate(spec.tap_modules)}  # forward order
        if spec.convention == "imagenet":
            mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        elif spec.convention == "tflite":
            mean, std = torch.full((3,), 0.5), torch.full((3,), 0.5)
        else:  # caffe: RGB[0,1] -> BGR*255 - mean  ==  (x_bgr - mean/255) / (1/255)
            mean, std = torch.tensor(CAFFE_MEAN_BGR[::-1]) / 255.0, torch.full((3,), 1 / 255.0)
        self.register_buffer("mean", mean.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", std.view(1, 3, 1, 1), persistent=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def device(self) -> torch.device:
        return self.mean.device

    def weights_sha256(self) -> str:
        return file_sha256(self.weights_path)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        if self.spec.convention == "caffe":
            x = x.flip(1)  # RGB -> BGR
        return x

    def taps(self, x: torch.Tensor, names, amp: torch.dtype | None = None) -> dict[str, torch.Tensor]:
        """Activations at ``names`` for RGB images ``x`` (B, 3, H, W) in [0, 1].

        Runs the network only up to the deepest requested tap (``"logits"`` runs it whole). ``amp``: the network
        runs under autocast in that dtype (float16 on a GPU) and the activations come back as float32, so what is
        computed from them (an objective, Gram statistics, losses) stays float32.
        """
        if amp is not None:
            with torch.autocast(x.device.type, dtype=amp):
                out = self.taps(x, names)
            return {k: v.float() for k, v in out.items()}
        names = list(dict.fromkeys(names))
        want_logits = LOGITS in names
        want_input = INPUT in names
        names = [n for n in names if n != INPUT]
        layer_names = [n for n in names if n != LOGITS]
        for n in names:
            self.spec.check_tap(n)
        last = None if want_logits or not layer_names else max(layer_names, key=self._order.__getitem__)
        out: dict[str, torch.Tensor] = {}
        if want_input:
            out[INPUT] = x
        if not names:
            return out
        handles = []
        for n in layer_names:
            def hook(_m, _inp, output, n=n):
                out[n] = output
                if n == last and len(out) == len(layer_names) + want_input:
                    raise _Stop

            handles.append(self._modules_by_tap[n].register_forward_hook(hook))
        try:
            logits = self.net(self.normalize(x).contiguous(memory_format=torch.channels_last))
            if want_logits:
                out[LOGITS] = logits
        except _Stop:
            pass
        finally:
            for h in handles:
                h.remove()
        return out

    def channels(self, tap: str) -> int:
        """Number of channels at ``tap`` (1000 for ``logits``)."""
        if not hasattr(self, "_channels"):
            self._channels: dict[str, int] = {}
        if tap not in self._channels:
            s = max(64, self.spec.min_size)
            with torch.no_grad():
                act = self.taps(torch.full((1, 3, s, s), 0.5, device=self.device), [tap])[tap]
            self._channels[tap] = int(act.shape[1])
        return self._channels[tap]

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (B, 1000)."""
        if not self.spec.has_classifier:
            raise BackboneError(f"{self.name} has no classifier (features only)")
        return self.taps(x, [LOGITS])[LOGITS]


_CACHE: dict[tuple, Backbone] = {}


def get_backbone(name: str = DEFAULT_MODEL, weights: str | None = None, device: torch.device | str = "cpu") -> Backbone:
    """Build ``name``, load its weights (see module doc), freeze it, move it to ``device``."""
    spec = get_spec(name)
    path = fetch_weights(spec, weights)
    key = (name, os.path.abspath(path), str(device))
    if key in _CACHE:
        return _CACHE[key]
    net = spec.build()
    load_into(spec, net, read_state_dict(path), path)
    if spec.after_load:
        spec.after_load(net)
    net.eval()
    fuse_conv_bn(net)
    for p in net.parameters():
        p.requires_grad_(False)
    # channels-last runs the convolutions about twice as fast on the CPU (oneDNN), and suits cuDNN
    bb = Backbone(spec, net, path).to(device=device, memory_format=torch.channels_last).eval()
    _CACHE[key] = bb
    return bb


def imagenet_categories() -> list[str]:
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])
