"""Where a clip's costly artefacts are kept between renders (keyframes, trained networks), and the keys that say
whether one fits: ``cache_root`` (``$DREAMREEL_CACHE``, else ``$XDG_CACHE_HOME/dreamreel``, else
~/.cache/dreamreel), a file's key (path, size, mtime), a file's sha256; ``save`` writes an entry whole or not at all."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from ..media.atomic import publish, tmp_beside, unlink_quiet


def cache_root() -> str:
    """``$DREAMREEL_CACHE``, else ``$XDG_CACHE_HOME/dreamreel``, else ~/.cache/dreamreel."""
    return os.environ.get("DREAMREEL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dreamreel")


def file_key(path: str) -> dict:
    st = os.stat(path)
    return {"path": os.path.abspath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save(state: dict, path: str | Path) -> None:
    """``torch.save(state)`` to ``path`` atomically: a temporary name beside it (its folder made), then a rename; a
    failure (OSError: a full disk) leaves no file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_beside(target)
    try:
        torch.save(state, tmp)
        publish(tmp, target)
    except BaseException:
        unlink_quiet(tmp)
        raise
