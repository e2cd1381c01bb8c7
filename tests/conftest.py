"""Shared fixtures: paths to the sample media and a way to run the CLI in-process."""
from __future__ import annotations

import os
from pathlib import Path

# tests share the cores with each other's ffmpeg and with whatever else runs: wait passively
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
SHARED = Path(os.environ.get("DREAMREEL_SHARED", REPO.parent / "shared"))
MEDIA = SHARED / "media"
VGG16_CAFFE = SHARED / "weights" / "vgg16_caffe_features.pth"

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def lite0():
    from dreamreel.engine import get_backbone

    return get_backbone("efficientnet_lite0")


@pytest.fixture
def run_cli(capsys):
    """Run ``dreamreel ARGS`` in this process; returns (exit code, stdout, stderr)."""
    from dreamreel.animator.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        code = 0
        try:
            main([str(a) for a in args])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def load(path: Path, size: int) -> torch.Tensor:
    from dreamreel.animator.media import fit_size, read_image, resize_to

    img = read_image(str(path))
    return resize_to(img, fit_size(img.shape[-2], img.shape[-1], size))
