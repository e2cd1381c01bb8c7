"""Captions and contact sheets (OpenCV drawing on 8-bit frames)."""
from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from ..media import to_uint8, write_image


def _to_tensor(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)[None].float().div_(255.0).contiguous()


def _label(arr: np.ndarray, text: str) -> np.ndarray:
    """Draw ``text`` in the bottom-left corner on a dark band (in place)."""
    h, w = arr.shape[:2]
    scale = max(0.35, min(1.0, w / 640))
    thick = 1 if scale < 0.7 else 2
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    pad = max(3, th // 3)
    y0 = h - th - base - 2 * pad
    band = arr[y0:h, 0 : min(w, tw + 2 * pad)]
    band[:] = (band.astype(np.float32) * 0.35).astype(np.uint8)
    cv2.putText(arr, text, (pad, h - base - pad), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return arr


def caption(frame: torch.Tensor, text: str) -> torch.Tensor:
    """A copy of ``frame`` (1, 3, H, W) with ``text`` written on it."""
    return _to_tensor(_label(to_uint8(frame).copy(), text)).to(frame.device)


def contact_sheet(frames, labels: list[str], path: str, cell_width: int = 256, cols: int | None = None) -> None:
    """A grid of ``frames`` (tensors), each scaled to ``cell_width`` and labelled, written to ``path``."""
    frames = list(frames)
    cols = cols or min(len(frames), max(1, math.ceil(math.sqrt(len(frames) * 1.5))))
    rows = math.ceil(len(frames) / cols)
    cells = []
    for f, text in zip(frames, labels):
        a = to_uint8(f)
        h = round(a.shape[0] * cell_width / a.shape[1])
        cells.append(_label(cv2.resize(a, (cell_width, h), interpolation=cv2.INTER_AREA), text))
    ch = max(c.shape[0] for c in cells)
    gap = 4
    sheet = np.full((rows * (ch + gap) + gap, cols * (cell_width + gap) + gap, 3), 16, np.uint8)
    for i, c in enumerate(cells):
        r, k = divmod(i, cols)
        y, x = gap + r * (ch + gap), gap + k * (cell_width + gap)
        sheet[y : y + c.shape[0], x : x + cell_width] = c
    write_image(path, _to_tensor(sheet))
