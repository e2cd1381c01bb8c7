"""Pictures in and out: decoding, reading, 8-bit conversion, sizing, atomic writing.

Frames travel through dreamreel as RGB float tensors in [0, 1] of shape (1, 3, H, W), possibly on
a GPU; :func:`to_uint8` is the only place where they become 8-bit.
"""
from __future__ import annotations

from pathlib import Path
from typing import Union

import cv2
import numpy as np
import torch

from ..errors import UserError, require_file
from .atomic import PathLike, write_atomic

Frame = Union[torch.Tensor, np.ndarray]


def to_uint8(frame: Frame) -> np.ndarray:
    """Convert a frame to an ``H x W x 3`` uint8 RGB numpy array (C-contiguous).

    Accepts a torch tensor of shape (1, 3, H, W) or (3, H, W) with values in [0, 1]
    (any device, any float dtype), or a numpy array of shape (H, W, 3), either float in
    [0, 1] or already uint8 (returned as is, made contiguous). Float values are scaled by
    255, rounded to the nearest integer and clamped to [0, 255]; NaN becomes 0.

    For tensors the scaling and the uint8 cast happen on the tensor's device, so only a
    quarter of the bytes cross to the host.
    """
    if isinstance(frame, torch.Tensor):
        t = frame.detach()
        if t.dim() == 4:
            if t.shape[0] != 1:
                raise ValueError(f"expected a batch of one frame, got shape {tuple(t.shape)}")
            t = t[0]
        if t.dim() != 3 or t.shape[0] != 3:
            raise ValueError(f"expected a (1,3,H,W) or (3,H,W) tensor, got shape {tuple(frame.shape)}")
        if t.dtype == torch.uint8:
            u = t
        else:
            u = torch.nan_to_num(t.float(), nan=0.0).mul(255.0).round_().clamp_(0, 255).to(torch.uint8)
        return np.ascontiguousarray(u.permute(1, 2, 0).cpu().numpy())
    a = np.asarray(frame)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 array, got shape {a.shape}")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    a = np.nan_to_num(a.astype(np.float32, copy=False), nan=0.0)
    return np.ascontiguousarray(np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8))


def decode_image(path: PathLike) -> np.ndarray:
    """Read an image file as an HxWx3 uint8 RGB array (grey and alpha are handled); ValueError if it is not one."""
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"could not decode image {path}")
    if img.dtype == np.uint16:
        img = np.clip(np.rint(img / 257.0), 0, 255).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise ValueError(f"unsupported image dtype {img.dtype} in {path}")
    if img.ndim == 2:
        return np.ascontiguousarray(np.repeat(img[:, :, None], 3, axis=2))
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_image(path: PathLike, device: torch.device | str | None = None) -> torch.Tensor:
    """An image file as a (1, 3, H, W) float32 tensor in [0, 1] (grey expanded, alpha dropped, 16 bits
    reduced to 8). A missing, folder or undecodable path is a one-line UserError."""
    require_file(path, kind="an image")
    try:
        arr = decode_image(path)
    except (ValueError, OSError):
        raise UserError(f"not an image (or a corrupt one): {path}") from None
    t = torch.from_numpy(arr).permute(2, 0, 1)[None].float().div_(255.0)
    return t.to(device) if device is not None else t


def write_image(path: PathLike, frame: Frame) -> Path:
    """Write ``frame`` as an 8-bit RGB image at ``path`` (format by suffix; PNG if none), atomically.

    The image is encoded in memory, written to ``<path>.tmp-XXXXXXXX<suffix>`` in the same
    directory and renamed over ``path``. Returns ``Path(path)``.
    """
    path = Path(path)
    ext = path.suffix.lower() or ".png"
    ok, buf = cv2.imencode(ext, cv2.cvtColor(to_uint8(frame), cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError(f"OpenCV could not encode {ext} for {path}")
    return write_atomic(path, buf.tobytes())


def fit_size(h: int, w: int, longest: int) -> tuple[int, int]:
    """(h, w) scaled so that the longer side is ``longest`` (each side at least 1)."""
    s = longest / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def resize_to(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize with OpenCV: area when shrinking, Lanczos when enlarging."""
    h, w = size
    if tuple(img.shape[-2:]) == (h, w):
        return img
    interp = cv2.INTER_AREA if h < img.shape[-2] else cv2.INTER_LANCZOS4
    arr = img[0].permute(1, 2, 0).cpu().numpy()
    out = cv2.resize(arr, (w, h), interpolation=interp)
    return torch.from_numpy(np.clip(out, 0, 1)).permute(2, 0, 1)[None].contiguous()
