"""Atomic files: temporary names beside the target, publishing by rename, quiet unlinks, write checks."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Union

from ..errors import UserError

PathLike = Union[str, os.PathLike]

#: Marks temporary names: ``<name>.tmp-XXXXXXXX<suffix>``.
TMP_MARK = ".tmp-"

#: The suffixes a picture output may have (OpenCV encodes by suffix); :func:`check_writable`'s default.
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def tmp_beside(path: Path) -> Path:
    """Create (empty) and return a unique temporary file next to ``path``.

    The name is ``<name>.tmp-XXXXXXXX<suffix>``: it keeps the real suffix at the end so that
    tools choosing a format by extension (ffmpeg, OpenCV) still do the right thing.
    """
    fd, name = tempfile.mkstemp(prefix=path.name + TMP_MARK, suffix=path.suffix, dir=path.parent)
    os.close(fd)
    return Path(name)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def publish(tmp: PathLike, path: PathLike) -> None:
    """Give a finished temporary file the normal permissions (mkstemp makes it 0600) and rename it."""
    os.chmod(tmp, 0o666 & ~_UMASK)
    os.replace(tmp, path)


def unlink_quiet(path: PathLike | None) -> None:
    """Delete ``path`` if given and present."""
    if path is not None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def write_atomic(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to a temporary name beside ``path``, then publish it as ``path``."""
    path = Path(path)
    tmp = tmp_beside(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        publish(tmp, path)
    except BaseException:
        unlink_quiet(tmp)
        raise
    return path


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
