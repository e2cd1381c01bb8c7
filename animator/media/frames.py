"""Frame folders: numbered PNG frames written atomically, so a render can resume where it stopped."""
from __future__ import annotations

import os
import re
from pathlib import Path

import torch

from ..errors import UserError
from .atomic import TMP_MARK, PathLike, unlink_quiet
from .images import Frame, read_image, write_image


class FrameDir:
    """A folder of numbered PNG frames, ``frame_000000.png``, ``frame_000001.png``, ...

    Frames are written atomically (:func:`write_image`), so a file with a final name is
    always a complete PNG; interrupted writes leave only ``*.tmp-*`` files, which
    :meth:`count_complete` ignores and :meth:`clean_temp` removes. A render resumes at
    ``count_complete()``.

    The folder is created (with parents) if needed.
    """

    PATTERN = "frame_{:06d}.png"
    LOCK = ".dreamreel.lock"
    _RE = re.compile(r"^frame_(\d{6,})\.png$")

    def __init__(self, path: PathLike):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"FrameDir({str(self.path)!r})"

    def path_of(self, i: int) -> Path:
        """Path of frame ``i`` (whether or not it exists)."""
        if i < 0:
            raise ValueError(f"frame index must be >= 0, got {i}")
        return self.path / self.PATTERN.format(i)

    def write(self, i: int, frame: Frame) -> Path:
        """Write frame ``i`` atomically; returns its path."""
        return write_image(self.path_of(i), frame)

    def read(self, i: int, device: torch.device | str | None = None) -> torch.Tensor:
        """Read frame ``i`` as a (1, 3, H, W) float tensor in [0, 1]."""
        p = self.path_of(i)
        if not p.exists():
            raise FileNotFoundError(p)
        return read_image(p, device)

    def indices(self) -> set[int]:
        """Indices of all complete frames present (temporary files excluded)."""
        out = set()
        with os.scandir(self.path) as it:
            for entry in it:
                m = self._RE.match(entry.name)
                if m:
                    out.add(int(m.group(1)))
        return out

    def count_complete(self) -> int:
        """Number ``k`` such that frames ``0 .. k-1`` are all present (stops at the first gap)."""
        present = self.indices()
        k = 0
        while k in present:
            k += 1
        return k

    def paths(self, stop: int | None = None) -> list[Path]:
        """Paths of frames ``0 .. stop-1`` (default: the complete run, ``count_complete()``)."""
        n = self.count_complete() if stop is None else stop
        return [self.path_of(i) for i in range(n)]

    def clean_temp(self) -> int:
        """Delete leftover temporary files (``*.tmp-*``) from interrupted writes; returns how many."""
        n = 0
        with os.scandir(self.path) as it:
            for entry in it:
                if TMP_MARK in entry.name and entry.is_file():
                    unlink_quiet(entry.path)
                    n += 1
        return n

    def lock(self) -> "FolderLock":
        """Take the folder for this process: a second render into it stops with one UserError line
        instead of deleting or overwriting this one's frames and temporaries. The lock is the
        kernel's (``flock``), so a killed render (even SIGKILL) leaves none behind."""
        return FolderLock(self.path / self.LOCK)

    def __len__(self) -> int:
        return self.count_complete()


class FolderLock:
    """An exclusive advisory lock on a file (``flock``); :meth:`release` (or process death) frees it.
    Where ``fcntl`` does not exist (Windows), no lock is taken."""

    def __init__(self, path: Path):
        self.fd: int | None = None
        try:
            import fcntl
        except ImportError:
            return
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UserError(f"another render is writing to {path.parent}; wait for it to end, or give this one "
                            "another output or --frames-dir") from None
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
