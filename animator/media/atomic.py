"""Atomic files: temporary names beside the target, publishing by rename, quiet unlinks, write checks."""
from __future__ import annotations

import os
import stat
import re
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
    except BaseException as e:
        unlink_quiet(tmp)
        if isinstance(e, OSError) and e.filename is None:
            e.filename = str(path)  # (a failed write names no file: a full disk does not say where)
        raise
    return path


def temporaries_of(path: PathLike) -> list[Path]:
    """Temporary files of ``path`` present in its folder: ``<name>.tmp-XXXXXXXX<suffix>`` (what
    :func:`tmp_beside` makes; a killed writer leaves them behind)."""
    path = Path(path)
    pattern = re.compile(re.escape(path.name + TMP_MARK) + r"[a-z0-9_]{8}" + re.escape(path.suffix) + "$")
    try:
        with os.scandir(path.parent) as it:
            return sorted(Path(e.path) for e in it if pattern.match(e.name) and e.is_file(follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        return []


def clean_temporaries(paths, keep=()) -> int:
    """Delete the stale temporaries (:func:`temporaries_of`) of each of ``paths``, except those in
    ``keep`` (made by this render); returns how many."""
    keep = {os.path.abspath(k) for k in keep if k}
    n = 0
    for path in paths:
        for tmp in temporaries_of(path):
            if os.path.abspath(tmp) not in keep:
                unlink_quiet(tmp)
                n += 1
    return n


def _missing(folder: PathLike) -> tuple[list[Path], Path]:
    """The folders that would have to be made for ``folder`` (innermost first), and the nearest existing one."""
    made = []
    p = Path(os.path.abspath(folder))
    while not p.exists() and p != p.parent:
        made.append(p)
        p = p.parent
    return made, p


def _probe(folder: PathLike, label: str, keep: bool) -> None:
    """A file can be created in ``folder`` (made if missing), else one UserError line naming ``label``.
    ``keep``: leave the folders made for the check (a still's writer needs them), else remove them.

    Probes of sibling folders may run at once (a split render's ranges): one may remove a parent it made
    while another is making it again; a folder that vanished so is made again (at most 8 times)."""
    made: list[Path] = []
    try:
        for attempt in range(8):
            missing, existing = _missing(folder)
            try:
                is_folder = stat.S_ISDIR(os.stat(existing).st_mode)  # (one look: it may vanish between two)
            except FileNotFoundError:
                continue
            if not is_folder:
                raise UserError(f"cannot write to {label}: {existing} is a file, not a folder")
            made = sorted(set(made) | set(missing), key=lambda p: len(p.parts), reverse=True)  # innermost first
            try:
                os.makedirs(folder, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=".dreamreel-check-", dir=folder)
                os.close(fd)
                os.remove(tmp)
                break
            except FileNotFoundError:  # a parent vanished between our mkdirs (another probe's cleanup)
                if attempt == 7:
                    raise
        else:
            raise UserError(f"cannot write to {label}: its folders keep being removed")
    except OSError as e:
        raise UserError(f"cannot write to {label}: {e.strerror or e}") from None
    finally:
        for d in ([] if keep else made):  # innermost first
            try:
                os.rmdir(d)
            except OSError:
                pass


def check_folder_writable(folder: PathLike, what: str = "folder") -> None:
    """A file can be created in ``folder``, else one UserError line. Folders made for the check are
    removed again (the render makes them when it writes)."""
    _probe(folder, f"{what} {folder}", keep=False)


def check_writable(path: str, exts: tuple[str, ...] = IMAGE_EXTS) -> None:
    """Fail early, before any rendering, when ``path`` cannot be written."""
    if exts and os.path.splitext(path)[1].lower() not in exts:
        raise UserError(f"output {path} must end in one of {', '.join(exts)}")
    if os.path.isdir(path):
        raise UserError(f"output {path} is a folder; give a file name")
    _probe(os.path.dirname(os.path.abspath(path)), path, keep=True)
