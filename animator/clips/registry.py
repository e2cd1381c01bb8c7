"""The clip methods, by name: ``video --dream`` is ``dream``; ``video --style`` is ``--method`` (or what its options
imply: :attr:`..request.configs.VideoConfig.chosen_method`). Adding a method: a module with its ``ClipMethod``
subclass, its line here, and its name in ``request.configs.METHODS`` (the ``--method`` names a config accepts,
checked before torch loads; a test holds the two lists together)."""
from __future__ import annotations

from ..request.configs import VideoConfig
from .base import ClipMethod
from .dream import DreamMethod
from .keyframes import KeyframesMethod
from .network import NetworkMethod
from .optimize import OptimizeMethod

METHODS: dict[str, type[ClipMethod]] = {
    "dream": DreamMethod,
    "optimize": OptimizeMethod,
    "keyframes": KeyframesMethod,
    "network": NetworkMethod,
}


def method_name(cfg: VideoConfig) -> str:
    return "dream" if cfg.dream_clip else cfg.chosen_method


def method_for(cfg: VideoConfig) -> ClipMethod:
    """The method that renders ``cfg``'s clip (not yet prepared)."""
    return METHODS[method_name(cfg)](cfg)
