"""dreamreel's engine: PyTorch only. Tensors in, tensors out; no files written, no printing.

Frames are RGB float tensors in [0, 1], shape (1, 3, H, W), on the engine's device.

Importing the engine has no side effects and is cheap: the names below load their module (and
torch) on first use, so ``from dreamreel.engine.params import DreamParams`` does not load torch.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "objectives": None,
    "DEFAULT_MODEL": "backbones", "MODELS": "backbones", "Backbone": "backbones", "get_backbone": "backbones",
    "get_spec": "backbones",
    "BackboneError": "weights", "WeightsUnavailable": "weights", "locate_weights": "weights",
    "pick_device": "device",
    "DreamParams": "params",
    "dream": "deepdream", "dream_step": "deepdream", "octave_sizes": "deepdream", "ascend": "deepdream",
    "OctaveClimb": "deepdream",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_EXPORTS[name] or name}")
    value = module if _EXPORTS[name] is None else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
