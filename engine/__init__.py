"""dreamreel's engine: PyTorch only. Tensors in, tensors out; no files, no printing.

Frames are RGB float tensors in [0, 1], shape (1, 3, H, W), on the engine's device.
"""
# OpenMP threads that spin while they wait make torch many times slower as soon as anything else
# runs on the machine (ffmpeg encoding our own MP4, another job): the same dream took 0.5 s with
# passive waiting and 1.5-14 s with spinning on 2 busy cores. It must be set before torch loads;
# a value the user set wins.
import os as _os

_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import objectives  # noqa: E402
from .backbones import (DEFAULT_MODEL, MODELS, Backbone, BackboneError,  # noqa: E402
                        WeightsUnavailable, get_backbone, get_spec, locate_weights)
from .device import pick_device  # noqa: E402
from .deepdream import DreamParams, ascend, dream, dream_step, octave_sizes  # noqa: E402

__all__ = ["objectives", "DEFAULT_MODEL", "MODELS", "Backbone", "BackboneError", "WeightsUnavailable",
           "get_backbone", "get_spec", "locate_weights", "pick_device", "DreamParams", "dream",
           "dream_step", "octave_sizes", "ascend"]
