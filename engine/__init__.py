"""dreamreel's engine: PyTorch only. Tensors in, tensors out; no files, no printing.

Frames are RGB float tensors in [0, 1], shape (1, 3, H, W), on the engine's device.
"""
# OpenMP's waiting policy must be chosen before torch loads; a value the user set wins.
# Measured on 2 cores (bench_dream, default 512 px still): idle machine: spinning (libgomp's
# default) 2.1 s, passive 3.0 s; one core busy with another process: spinning 6.3 s, passive
# 2.6 s (the earlier session saw 3-14x with two busy cores). No spin count is good at both.
# So: passive waiting only when the machine is already busy at start-up.
import os as _os


def _choose_omp_wait_policy() -> None:
    if "OMP_WAIT_POLICY" in _os.environ:
        return
    try:
        busy = _os.getloadavg()[0] >= 0.5
    except (OSError, AttributeError):  # no load average (Windows)
        busy = False
    if busy:
        _os.environ["OMP_WAIT_POLICY"] = "PASSIVE"


_choose_omp_wait_policy()

from . import objectives  # noqa: E402
from .backbones import DEFAULT_MODEL, MODELS, Backbone, get_backbone, get_spec  # noqa: E402
from .weights import BackboneError, WeightsUnavailable, locate_weights  # noqa: E402
from .device import pick_device  # noqa: E402
from .deepdream import DreamParams, ascend, dream, dream_step, octave_sizes  # noqa: E402

__all__ = ["objectives", "DEFAULT_MODEL", "MODELS", "Backbone", "BackboneError", "WeightsUnavailable",
           "get_backbone", "get_spec", "locate_weights", "pick_device", "DreamParams", "dream",
           "dream_step", "octave_sizes", "ascend"]
