"""dreamreel's engine: PyTorch only. Tensors in, tensors out; no files, no printing.

Frames are RGB float tensors in [0, 1], shape (1, 3, H, W), on the engine's device.
"""
from . import objectives
from .backbones import (DEFAULT_MODEL, MODELS, Backbone, BackboneError, WeightsUnavailable,
                        get_backbone, get_spec, locate_weights)
from .device import pick_device
from .deepdream import DreamParams, ascend, dream, dream_step, octave_sizes

__all__ = ["objectives", "DEFAULT_MODEL", "MODELS", "Backbone", "BackboneError", "WeightsUnavailable",
           "get_backbone", "get_spec", "locate_weights", "pick_device", "DreamParams", "dream",
           "dream_step", "octave_sizes", "ascend"]
