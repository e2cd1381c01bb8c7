"""Pictures in and out: decoding, reading, 8-bit conversion, sizing, atomic writing.

Frames travel through dreamreel as RGB float tensors in [0, 1] of shape (1, 3, H, W), possibly on
a GPU; :func:`to_uint8` is the only place where they become 8-bit.
"""
from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Union

import cv2
import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

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


#: Pictures with more pixels than this are refused from their header, before they are decoded (one
#: line): OpenCV's decoding alone takes about 6 bytes a pixel for an 8-bit PNG and 12 for a 16-bit
#: one (tests/benchmarks/bench_inputs.py), and no render needs that many pixels.
MAX_PIXELS = 150_000_000
#: Pictures with more pixels than this are shrunk while they are read, right after decoding (area
#: averaging, to the size the caller will use; a JPEG by its decoder), so a huge picture never
#: becomes a full-size float image (12 bytes a pixel). Below it, reading is exact as always.
LARGE_PIXELS = 64_000_000

_ORIENTATION = 0x0112  # the EXIF tag
# EXIF orientation -> how the stored pixels become the picture as it is meant to be seen (the
# transpositions Pillow's ImageOps.exif_transpose applies; tests/test_inputs.py checks all eight)
_ORIENT = {
    2: lambda a: a[:, ::-1],  # mirrored
    3: lambda a: a[::-1, ::-1],  # upside down
    4: lambda a: a[::-1],  # mirrored upside down
    5: lambda a: a.swapaxes(0, 1),  # transposed
    6: lambda a: a.swapaxes(0, 1)[:, ::-1],  # turned 90 degrees clockwise (a phone held upright)
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],  # transversed
    8: lambda a: a.swapaxes(0, 1)[::-1],  # turned 90 degrees counter-clockwise
}


class ImageError(ValueError):
    """A file that cannot be read as a picture; the message says why, in one line."""


def _header(path: str) -> tuple[tuple[int, int] | None, int, str]:
    """(width, height), EXIF orientation and format from the file's header (Pillow reads no pixels
    here); (None, 1, "") for what Pillow does not know (OpenCV may still)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                size, fmt = im.size, im.format or ""
                orientation = _orientation(im) if size[0] * size[1] <= MAX_PIXELS else 1
    except Image.DecompressionBombError:  # over Pillow's own limit, which is above ours
        raise ImageError(f"picture {path} has more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels; the limit is "
                         f"{MAX_PIXELS / 1e6:g} megapixels: make it smaller first") from None
    except Exception:
        return None, 1, ""
    return size, orientation if orientation in _ORIENT else 1, fmt


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation tag of an opened picture, without decoding its pixels."""
    if im.format == "PNG" and "exif" not in im.info:
        return 1  # (Pillow would decode the whole picture to look for an eXIf chunk after it)
    try:
        return im.getexif().get(_ORIENTATION, 1)
    except Exception:  # a damaged EXIF block: the pixels may still be fine
        return 1


def _too_large(path: str, w: int, h: int) -> ImageError:
    return ImageError(f"picture {path} is {w}x{h} px ({w * h / 1e6:.3g} megapixels); the limit is "
                      f"{MAX_PIXELS / 1e6:g} megapixels: make it smaller first")


def _cv2_decode(path: str, reduce: int = 1) -> np.ndarray | None:
    """OpenCV's decoding as stored (BGR, BGRA or grey; 8 or 16 bits; EXIF orientation not applied),
    None when it cannot. ``reduce`` 2, 4 or 8: a JPEG decoded at that fraction of its size (8-bit BGR;
    the decoder scales, so the full picture is never in memory). OpenCV's warnings about broken
    files are kept off the console: the caller says what is wrong."""
    data = np.fromfile(path, dtype=np.uint8)
    flags = cv2.IMREAD_UNCHANGED if reduce == 1 else (
        {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}[reduce]
        | cv2.IMREAD_IGNORE_ORIENTATION)
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        return cv2.imdecode(data, flags)
    except cv2.error:
        return None
    finally:
        cv2.utils.logging.setLogLevel(level)


def _pillow_decode(path: str) -> np.ndarray:
    """Pillow's decoding of what OpenCV does not read (GIF on older OpenCV, TGA, ICO ...): first frame,
    RGB, EXIF orientation applied. ImageError saying why when it cannot either."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.seek(0)
                return np.array(ImageOps.exif_transpose(im).convert("RGB"))
    except UnidentifiedImageError:
        raise ImageError(f"not an image (or a corrupt one): {path}") from None
    except Exception as e:  # truncated, damaged: Pillow's words
        why = " ".join(str(e).split())[:120] or type(e).__name__
        if "truncated" in why:
            raise ImageError(f"picture {path} is truncated: the file ends before the picture does") from None
        raise ImageError(f"not an image (or a corrupt one): {path} ({why})") from None


def _to_8bit(img: np.ndarray) -> np.ndarray:
    """16 -> 8 bits (round(v / 257)), a band of rows at a time so a big picture needs no float copy."""
    out = np.empty(img.shape, np.uint8)
    step = max(1, (1 << 22) // max(1, img[0].size))
    for i in range(0, img.shape[0], step):
        out[i : i + step] = np.clip(np.rint(img[i : i + step] / 257.0), 0, 255)
    return out


def _shrink_size(h: int, w: int, longest: int | None) -> tuple[int, int] | None:
    """The size a picture of h x w is shrunk to while it is read (None: it is read as it is)."""
    if h * w <= LARGE_PIXELS:
        return None
    cap = int((LARGE_PIXELS / (h * w)) ** 0.5 * max(h, w))  # the longest side that fits LARGE_PIXELS
    while cap > 1 and math.prod(fit_size(h, w, cap)) > LARGE_PIXELS:  # (the short side is rounded)
        cap -= 1
    side = min(cap, longest) if longest else cap
    return fit_size(h, w, side) if side < max(h, w) else None


def decode_image(path: PathLike, longest: int | None = None) -> np.ndarray:
    """Read an image file as an HxWx3 uint8 RGB array, turned as its EXIF orientation says; grey and
    palettes are expanded, alpha is dropped, 16 bits are rounded to 8, animations give their first
    frame. A picture over :data:`LARGE_PIXELS` is shrunk while it is read (its longest side to
    ``longest`` when that is given, else to fit :data:`LARGE_PIXELS`); one over :data:`MAX_PIXELS`
    is refused. :class:`ImageError` (one line: empty, not an image, truncated, too large) otherwise.
    """
    path = str(path)
    if os.path.getsize(path) == 0:
        raise ImageError(f"{path} is an empty file (0 bytes), not an image")
    size, orientation, fmt = _header(path)
    reduce, target = 1, None
    if size is not None:
        w, h = size
        if w * h > MAX_PIXELS:
            raise _too_large(path, w, h)
        target = _shrink_size(h, w, longest)
        if target is not None and fmt == "JPEG":  # the decoder itself shrinks by 2, 4 or 8
            reduce = max([1] + [k for k in (2, 4, 8) if max(h, w) // k >= max(target)])
    img = _cv2_decode(path, reduce)
    if img is None:
        img = _pillow_decode(path)  # RGB, turned
        target = _shrink_size(img.shape[0], img.shape[1], longest)
        return img if target is None else cv2.resize(img, target[::-1], interpolation=cv2.INTER_AREA)
    if img.shape[0] * img.shape[1] > MAX_PIXELS:
        raise _too_large(path, img.shape[1], img.shape[0])
    if img.dtype not in (np.uint8, np.uint16):
        raise ImageError(f"picture {path} has {img.dtype} pixels; dreamreel reads 8- and 16-bit pictures")
    if reduce == 1:  # (a reduced decode keeps the target from the header)
        target = _shrink_size(img.shape[0], img.shape[1], longest)
    if target is not None and img.shape[:2] != target:  # shrunk first: every later copy is small
        img = cv2.resize(img, target[::-1], interpolation=cv2.INTER_AREA)
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]  # alpha dropped
    elif img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.dtype == np.uint16:
        img = _to_8bit(img)
    if orientation != 1:
        img = np.ascontiguousarray(_ORIENT[orientation](img))
    if img.ndim == 2:
        return np.ascontiguousarray(np.repeat(img[:, :, None], 3, axis=2))
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_image(path: PathLike, device: torch.device | str | None = None, longest: int | None = None) -> torch.Tensor:
    """An image file as a (1, 3, H, W) float32 tensor in [0, 1] (as :func:`decode_image` reads it;
    ``longest``: the longest side the caller will resize it to, which bounds what a huge picture
    costs). A missing, folder, empty, undecodable or too large file is a one-line UserError."""
    require_file(path, kind="an image")
    try:
        arr = decode_image(path, longest)
    except ImageError as e:
        raise UserError(str(e)) from None
    except (ValueError, OSError):
        raise UserError(f"not an image (or a corrupt one): {path}") from None
    # contiguous CHW: with no resize after it, this tensor is what the engine optimises
    t = torch.from_numpy(arr).permute(2, 0, 1)[None].float().div_(255.0).contiguous()
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
