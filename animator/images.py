"""Start pictures from the user's words: an image file, ``noise`` or ``solid:#RRGGBB`` (resolving, not media I/O)."""
from __future__ import annotations

import os
import re

import torch

from ..engine import start
from .errors import UserError
from .media import fit_size, read_image, resize_to

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
