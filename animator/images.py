"""Still images in and out: decoding, sizing, start images, atomic writes."""
from __future__ import annotations

import os
import re
import tempfile

import cv2
import numpy as np
import torch

from ..engine import start
from .errors import UserError
from .sinks import decode_image_file, write_image_atomic

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def read_image(path: str) -> torch.Tensor:
    """Decode an image file to (1, 3, H, W) RGB float in [0, 1] (alpha dropped, grey expanded)."""
    if not os.path.exists(path):
        raise UserError(f"file not found: {path}")
    if os.path.isdir(path):
        raise UserError(f"{path} is a folder, not an image")
    try:
        arr = decode_image_file(path)
    except (ValueError, OSError):
        raise UserError(f"not an image (or a corrupt one): {path}") from None
    return torch.from_numpy(arr).permute(2, 0, 1)[None].float().div_(255.0)


def fit_size(h: int, w: int, longest: int) -> tuple[int, int]:
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


_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


def parse_color(text: str) -> tuple[float, float, float]:
    """``#RRGGBB``, ``RRGGBB`` or ``r,g,b`` (0-255) -> floats in [0, 1]."""
    t = text.strip()
    m = _HEX.match(t)
    if m:
        v = m.group(1)
        return tuple(int(v[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]
    parts = t.split(",")
    if len(parts) == 3:
        try:
            vals = [float(p) for p in parts]
        except ValueError:
            vals = []
        if vals and all(0 <= v <= 255 for v in vals):
            return tuple(v / 255 for v in vals)  # type: ignore[return-value]
    raise UserError(f"bad colour {text!r}: use #RRGGBB or r,g,b with values 0-255")


def start_image(spec: str, size: int, seed: int = 0) -> tuple[torch.Tensor, dict]:
    """The start picture from ``spec``: an image file, ``noise``, or ``solid:#RRGGBB``.

    Files are scaled so their longest side is ``size``; noise and solid starts are square.
    Returns (image, description for settings.json).
    """
    low = spec.lower()
    if low == "noise" and not os.path.exists(spec):
        return start.noise(size, size, seed=seed), {"kind": "noise", "seed": seed}
    if (low.startswith("solid:") or low.startswith("color:")) and not os.path.exists(spec):
        rgb = parse_color(spec.split(":", 1)[1])
        return start.solid(size, size, rgb), {"kind": "solid", "rgb": [round(c * 255) for c in rgb]}
    img = read_image(spec)
    return resize_to(img, fit_size(img.shape[-2], img.shape[-1], size)), {"kind": "file", "path": os.path.abspath(spec)}


def check_writable(path: str, exts: tuple[str, ...] = IMAGE_EXTS) -> None:
    """Fail early, before any rendering, when ``path`` cannot be written."""
    if exts and os.path.splitext(path)[1].lower() not in exts:
        raise UserError(f"output {path} must end in one of {', '.join(exts)}")
    if os.path.isdir(path):
        raise UserError(f"output {path} is a folder; give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".dreamreel-check-", dir=folder)
        os.close(fd)
        os.remove(tmp)
    except OSError as e:
        raise UserError(f"cannot write to {path}: {e.strerror or e}") from None


def write_image(path: str, frame: torch.Tensor) -> None:
    """Encode by extension, write to a temporary name beside ``path``, then rename."""
    write_image_atomic(path, frame)
