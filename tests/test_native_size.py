"""Pictures and clips already at the output size (issue 20).

When ``--size`` (or a clip's ``--width``) equals what the input already is, nothing is resized, and
the tensor the engine gets is the one the reader made, with no copy in between. A picture read as
HWC and permuted to CHW once reached L-BFGS as a non-contiguous view, and every stylisation of a
512 px picture at the default ``--size 512`` died in a traceback. Here every command meets an input
at its own output size; the pictures are small (64 px, 96 px where a tile of 64 must split it).

The property test draws picture sizes and ``--size`` values around each other (equal, one smaller,
one larger, odd, tiny, very wide): ``dream`` and ``stylize`` with both optimisers give a render
of the expected size or one line with exit code 2, never a traceback.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings, strategies as st
from PIL import Image

from dreamreel.animator.media import ClipReader, FrameDir, open_clip, read_image
from dreamreel.animator.clips.network import save_net
from dreamreel.engine.style.network import StyleNet
from dreamreel.engine.style.transfer import StyleParams, StyleTransfer

from conftest import CLIP, SCREAM, STARRY, TUBINGEN

DREAM = ["--octaves", "1", "--steps", "2"]
VIDEO = ["--octaves", "1", "--steps", "1", "--refine-steps", "1"]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    """A 64x48 picture (PNG and JPEG), a 96x72 one, a 48x64 style, a 4-frame 64x36 clip, a network."""
    d = tmp_path_factory.mktemp("native")
    content = Image.open(TUBINGEN).convert("RGB")
    out = {"png": d / "p.png", "jpg": d / "p.jpg", "p96": d / "p96.png", "style": d / "s.png",
           "clip": d / "c.mp4", "net": d / "net.pt"}
    content.resize((64, 48), Image.LANCZOS).save(out["png"])
    content.resize((64, 48), Image.LANCZOS).save(out["jpg"], quality=95)
    content.resize((96, 72), Image.LANCZOS).save(out["p96"])
    Image.open(SCREAM).convert("RGB").resize((48, 64), Image.LANCZOS).save(out["style"])
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(CLIP), "-vf", "scale=64:36",
                    "-frames:v", "4", "-pix_fmt", "yuv420p", str(out["clip"])], check=True)
    torch.manual_seed(0)
    net = StyleNet()
    torch.nn.init.normal_(net.out.weight, std=0.05)  # the untrained network would return its input
    save_net(net, {"style": "test"}, str(out["net"]))
    return out


def picture(path: Path) -> torch.Tensor:
    return read_image(str(path))


def changed(out: Path, src: Path) -> float:
    """Mean absolute change of a written picture from its source (same size asserted)."""
    a, b = picture(out), picture(src)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).abs().mean())


# ------------------------------------------------------------------------------ the engine


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_style_transfer_takes_a_content_of_any_layout(lite0, optimizer):
    """A channels-last (HWC-permuted) content, as a reader makes it, optimises like a contiguous one."""
    hwc = torch.rand(1, 48, 64, 3, generator=torch.Generator().manual_seed(0))
    view = hwc.permute(0, 3, 1, 2)  # (1, 3, 48, 64), not contiguous
    assert not view.is_contiguous()
    style = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    p = StyleParams(optimizer=optimizer)
    runs = [StyleTransfer(lite0, x, [style], params=p) for x in (view, view.contiguous())]
    for r in runs:
        r.run(3)
    assert runs[0].x.is_contiguous()
    assert torch.allclose(runs[0].x, runs[1].x, atol=1e-5)
    assert float(runs[0].history[-1]) < float(runs[0].history[0])  # it optimised


def test_a_read_picture_is_contiguous(media):
    assert picture(media["png"]).is_contiguous() and picture(media["jpg"]).is_contiguous()


# ------------------------------------------------------------------------------ every command


@pytest.mark.parametrize("case", ["plain", "jpeg", "tile", "guide", "blend"])
def test_dream_at_the_picture_size(run_cli, tmp_path, media, case):
    src = media["p96"] if case == "tile" else media["jpg"] if case == "jpeg" else media["png"]
    size = 96 if case == "tile" else 64
    extra = {"tile": ["--tile", "64"], "guide": ["--guide", media["style"]], "blend": ["--blend", media["style"]]}
    out = tmp_path / "d.png"
    code, _, err = run_cli("dream", src, "-o", out, "--size", size, *DREAM, *extra.get(case, []))
    assert code == 0, err
    assert changed(out, src) > 0.005


def test_zoom_at_the_picture_size(run_cli, tmp_path, media):
    out, gif = tmp_path / "z.mp4", tmp_path / "z.gif"
    code, _, err = run_cli("zoom", media["p96"], "-o", out, "--gif", gif, "--frames", 3, "--size", 96, "--tile", 64,
                           *DREAM)
    assert code == 0, err
    frames = FrameDir(tmp_path / "z_frames")
    assert frames.count_complete() == 3 and gif.stat().st_size > 0
    assert tuple(frames.read(2).shape[-2:]) == (72, 96)


def test_recursive_and_progression_at_the_picture_size(run_cli, tmp_path, media):
    code, _, err = run_cli("recursive", media["png"], "-o", tmp_path / "r.mp4", "--layers", "block2..block3",
                           "--size", 64, "--gif", tmp_path / "r.gif", *DREAM)
    assert code == 0, err
    assert (tmp_path / "r.gif").stat().st_size > 0
    code, _, err = run_cli("progression", media["png"], "--gif", tmp_path / "p.gif", "--steps", 4, "--every", 2,
                           "--size", 64, "--octaves", 1)
    assert code == 0, err
    assert (tmp_path / "p.gif").stat().st_size > 0


@pytest.mark.parametrize("case", ["lbfgs", "adam", "jpeg", "own-style", "gif", "init", "original-colors",
                                  "blend", "sweep", "then-dream"])
def test_stylize_at_the_picture_size(run_cli, tmp_path, media, case):
    src = media["jpg"] if case == "jpeg" else media["png"]
    extra = {"adam": ["--optimizer", "adam"], "gif": ["--gif", tmp_path / "s.gif", "--every", 2],
             "init": ["--init", media["style"]], "original-colors": ["--original-colors"],
             "blend": ["--style", media["style"]], "sweep": ["--sweep-frames", 3, "--gif", tmp_path / "s.gif"],
             "then-dream": ["--then-dream", "--dream-steps", 1, "--dream-octaves", 1]}
    style = media["png"] if case == "own-style" else STARRY
    out = tmp_path / "s.png"
    code, _, err = run_cli("stylize", src, "--style", style, "-o", out, "--size", 64, "--iters", 4,
                           *extra.get(case, []))
    assert code == 0, err
    if case != "own-style":
        assert changed(out, src) > 0.002  # 4 iterations from the content move it this far already
    if case in ("gif", "sweep"):
        assert (tmp_path / "s.gif").stat().st_size > 0


def test_a_network_on_a_still_at_the_picture_size(run_cli, tmp_path, media):
    out = tmp_path / "n.png"
    code, _, err = run_cli("stylize", media["png"], "--net", media["net"], "--size", 64, "-o", out)
    assert code == 0, err
    assert changed(out, media["png"]) > 0.005


@pytest.mark.parametrize("method", ["dream", "optimize", "keyframes", "network"])
def test_video_at_the_clip_size(run_cli, tmp_path, media, method):
    """No --width: the clip's own 64x36."""
    args = {"dream": ["--dream", *VIDEO],
            "optimize": ["--style", media["style"], "--method", "optimize", "--iters-first", 3, "--iters", 2],
            "keyframes": ["--style", media["style"], "--method", "keyframes", "--key-iters", 3],
            "network": ["--style", media["style"], "--method", "network", "--train-iters", 3,
                        "--iters-first", 3]}[method]
    code, _, err = run_cli("video", media["clip"], "-o", tmp_path / "v.mp4", *args)
    assert code == 0, err
    frames = FrameDir(tmp_path / "v_frames")
    src = ClipReader(open_clip(str(media["clip"])))
    assert frames.count_complete() == 4
    assert tuple(frames.read(3).shape[-2:]) == (36, 64)
    assert float((frames.read(3) - src.frame(3)).abs().mean()) > 0.005
    s = json.loads((tmp_path / "v.settings.json").read_text())
    assert s["frame_size"] == [64, 36]


# ------------------------------------------------------------------------------ sizes, drawn

SIZES = settings(max_examples=10, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@st.composite
def size_pair(draw) -> tuple[int, int, int]:
    """(height, width, --size): the picture's longest side and --size near each other, or far apart."""
    shape = draw(st.sampled_from(["square", "landscape", "portrait", "very wide", "tiny"]))
    longest = draw(st.integers(1, 8) if shape == "tiny" else st.integers(32, 96))
    short = {"square": longest, "tiny": draw(st.integers(1, longest)),
             "very wide": draw(st.integers(1, max(1, longest // 8)))}.get(shape) or draw(st.integers(32, longest))
    h, w = (longest, short) if shape == "portrait" else (short, longest)
    size = draw(st.one_of(st.sampled_from([longest, longest - 1, longest + 1, 2 * longest + 1]),
                          st.integers(1, 128)))
    return h, w, max(1, size)


def render_or_one_line(run_cli, argv: list, out: Path, h: int, w: int, size: int) -> None:
    code, _, err = run_cli(*argv)
    assert "Traceback" not in err, err
    if code == 0:
        got = picture(out)
        s = size / max(h, w)
        assert tuple(got.shape[-2:]) == (max(1, round(h * s)), max(1, round(w * s)))
    else:
        assert code == 2, err
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), err


def random_picture(folder: str, h: int, w: int) -> Path:
    path = Path(folder) / f"r{h}x{w}.png"
    rng = np.random.default_rng(h * 1000 + w)
    Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(path)
    return path


@SIZES
@given(size_pair())
@example((48, 64, 64)).via("the picture at the output size")
@example((64, 63, 63)).via("odd sizes, one smaller than the picture")
def test_dream_renders_or_says_one_line_at_any_size(run_cli, pair):
    h, w, size = pair
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "o.png"
        argv = ["dream", random_picture(d, h, w), "-o", out, "--size", size, "--octaves", 1, "--steps", 1]
        render_or_one_line(run_cli, argv, out, h, w, size)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
@SIZES
@given(pair=size_pair())
@example(pair=(48, 64, 64)).via("the picture at the output size")
@example(pair=(33, 65, 65)).via("odd sizes, equal")
def test_stylize_renders_or_says_one_line_at_any_size(run_cli, optimizer, pair):
    h, w, size = pair
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "o.png"
        argv = ["stylize", random_picture(d, h, w), "--style", STARRY, "-o", out, "--size", size, "--iters", 2,
                "--optimizer", optimizer]
        render_or_one_line(run_cli, argv, out, h, w, size)
