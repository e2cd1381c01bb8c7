"""Where a clip's costly artefacts are kept between renders (keyframes, trained networks), and the keys that say
whether one fits: ``cache_root`` (``$DREAMREEL_CACHE``, else ``$XDG_CACHE_HOME/dreamreel``, else
~/.cache/dreamreel), a file's key (path, size, mtime), a file's sha256."""
from __future__ import annotations

import hashlib
import os


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
