"""Shared fixtures: paths to the test media, the VGG-16 Caffe file, and the CLI run in-process.

Everything the suite needs ships in the repository (``samples/``, ``tests/data/``), except the
real VGG-16 Caffe weights (58 MB): tests that need them take the ``vgg16_caffe_file`` fixture,
which looks in ``$DREAMREEL_WEIGHTS`` (a folder holding ``vgg16_caffe_features.pth``), else in
``../shared/weights/`` beside the checkout, and skips (saying so) when neither has the file.
``DREAMREEL_WEIGHTS`` set to a folder without the file is an error, not a skip (CI sets it).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

# tests share the cores with each other's ffmpeg and with whatever else runs: wait passively
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
DATA = REPO / "tests" / "data"  # see tests/data/SOURCES.md
TUBINGEN = DATA / "tubingen.jpg"  # 512x384
SCREAM = DATA / "the_scream.jpg"  # 402x512
STARRY = SAMPLES / "starry_night.jpg"  # 1024x640
CLIP = DATA / "one_second_clip.mp4"  # 24 frames, 24 fps, 256x144, no audio
BUNNY = SAMPLES / "bunny.mp4"  # 48 frames, 25 fps, 256x144, with audio

VGG16_CAFFE_NAME = "vgg16_caffe_features.pth"
VGG16_CAFFE_SHA256 = "6d1d9fc9c08447af1cdc852d0bc3887479d6a6bcb583393d563dbcf67c98ab65"

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def vgg16_caffe_path() -> Path | None:
    """The real VGG-16 Caffe file, or None when this machine does not have it."""
    folder = os.environ.get("DREAMREEL_WEIGHTS")
    if folder:
        path = Path(folder) / VGG16_CAFFE_NAME
        if not path.is_file():
            raise FileNotFoundError(f"DREAMREEL_WEIGHTS={folder} holds no {VGG16_CAFFE_NAME}")
        return path
    path = REPO.parent / "shared" / "weights" / VGG16_CAFFE_NAME
    return path if path.is_file() else None


@pytest.fixture(autouse=True, scope="session")
def network_cache(tmp_path_factory):
    """Trained style networks go to a temporary cache, never to the user's ~/.cache/dreamreel."""
    old = os.environ.get("DREAMREEL_CACHE")
    os.environ["DREAMREEL_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("DREAMREEL_CACHE", None)
    else:
        os.environ["DREAMREEL_CACHE"] = old


@pytest.fixture(scope="session")
def vgg16_caffe_file() -> Path:
    """Path of the real VGG-16 Caffe weights; skips the test when they are not on this machine."""
    path = vgg16_caffe_path()
    if path is None:
        pytest.skip(f"VGG-16 Caffe weights not found: set DREAMREEL_WEIGHTS=<folder holding {VGG16_CAFFE_NAME}> "
                    "(CI does)")
    return path


# the layout of a Caffe-converted VGG features file, read off vgg16_caffe_features.pth (and off
# torchvision's VGG-19 for the 19-layer files): (index inside ``features``, in, out channels) of
# each 3x3 convolution; keys ``features.{index}.weight`` / ``.bias``, float32
VGG16_CAFFE_LAYOUT = [(0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128), (10, 128, 256), (12, 256, 256),
                      (14, 256, 256), (17, 256, 512), (19, 512, 512), (21, 512, 512), (24, 512, 512),
                      (26, 512, 512), (28, 512, 512)]
VGG19_CAFFE_LAYOUT = [(0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128), (10, 128, 256), (12, 256, 256),
                      (14, 256, 256), (16, 256, 256), (19, 256, 512), (21, 512, 512), (23, 512, 512),
                      (25, 512, 512), (28, 512, 512), (30, 512, 512), (32, 512, 512), (34, 512, 512)]


def random_caffe_state(layout: list[tuple[int, int, int]], seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict in the layout of a Caffe VGG features file, with random (He-normal) weights."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for i, cin, cout in layout:
        state[f"features.{i}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * (2 / (cin * 9)) ** 0.5
        state[f"features.{i}.bias"] = torch.randn(cout, generator=g) * 0.01
    return state


@pytest.fixture(scope="session")
def random_vgg16_caffe(tmp_path_factory) -> Path:
    """A file like vgg16_caffe_features.pth (same keys, shapes, dtype) holding random weights."""
    path = tmp_path_factory.mktemp("weights") / "random_vgg16_caffe.pth"
    torch.save(random_caffe_state(VGG16_CAFFE_LAYOUT), path)
    yield path
    path.unlink()


@pytest.fixture(scope="session")
def random_vgg19_caffe(tmp_path_factory) -> Path:
    """The same for a 19-layer Caffe VGG file (16 convolutions)."""
    path = tmp_path_factory.mktemp("weights") / "random_vgg19_caffe.pth"
    torch.save(random_caffe_state(VGG19_CAFFE_LAYOUT, seed=1), path)
    yield path
    path.unlink()


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


# ---------------------------------------------------------------------- renders stopped from outside (subprocesses)

PACED = Path(__file__).parent / "helpers" / "paced_cli.py"


def start_paced(args: list, *helper_args) -> subprocess.Popen:
    # the same thread count as this process: the frames must match bit for bit
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads()), "OMP_WAIT_POLICY": "PASSIVE"}
    return subprocess.Popen([sys.executable, str(PACED), *map(str, helper_args), *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def wait_for(p: subprocess.Popen, path: Path, timeout: float = 300) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        if p.poll() is not None:
            raise AssertionError(f"the render ended (exit {p.returncode}) before {path.name}: "
                                 f"{p.stderr.read().decode()[-2000:]}")
        assert time.monotonic() < end, f"no {path} after {timeout} s"
        time.sleep(0.01)
