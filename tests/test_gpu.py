"""Every command on a CUDA GPU (issue 22): correct frames, and a resume on the same device gives the same frames.

Marked ``gpu`` and skipped where torch sees no CUDA device (CI has none); ``tests/device/check.sh`` runs them
on the lent GPU machine with ``pytest -m gpu``. ``DREAMREEL_TEST_DEVICE=cpu`` runs the command cases on the CPU
instead (the check's dry run: the device's Python, torch and ffmpeg can be tried on the CPU machine first); the
host-sync tests need CUDA and skip there.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
import torch

from dreamreel.animator.media import FrameDir, read_image

from conftest import BUNNY, SAMPLES, STARRY, load

DEVICE = os.environ.get("DREAMREEL_TEST_DEVICE", "cuda")
NO_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device (tests/device/check.sh runs these)")
pytestmark = pytest.mark.gpu

FIG = SAMPLES / "figures.jpg"
DREAM = ["--octaves", 1, "--steps", 2]
CASES = {
    # name: (command line in a folder, the frames folder (None: a still), frames, resumed)
    "dream": (lambda d: ["dream", FIG, "-o", d / "d.png", "--size", 256, *DREAM], None, 1, False),
    "zoom": (lambda d: ["zoom", FIG, "-o", d / "z.mp4", "--frames", 8, "--size", 256, "--steps", "0:(2)",
                        "--octaves", "0:(1)"], "z_frames", 8, True),
    "zoom cadence 3": (lambda d: ["zoom", FIG, "-o", d / "z.mp4", "--frames", 8, "--size", 256, "--cadence", 3,
                                  "--steps", "0:(2)", "--octaves", "0:(1)"], "z_frames", 8, True),
    "recursive": (lambda d: ["recursive", FIG, "--layers", "block2..block4", "-o", d / "st", "--gif", d / "r.gif",
                             "--size", 256, *DREAM], "st", 3, False),
    "progression": (lambda d: ["progression", FIG, "--gif", d / "p.gif", "-o", d / "p.mp4", "--steps", 12, "--every", 3,
                               "--size", 256, "--octaves", 1], "p_frames", 5, True),
    "stylize": (lambda d: ["stylize", FIG, "--style", STARRY, "-o", d / "s.png", "--size", 256, "--iters", 10], None, 1,
                False),
    "video dream": (lambda d: ["video", BUNNY, "--dream", "-o", d / "v.mp4", "--max-frames", 8, "--width", 256,
                               "--octaves", 1, "--steps", 2, "--refine-steps", 1], "v_frames", 8, True),
    "video optimize": (lambda d: ["video", BUNNY, "--style", STARRY, "--method", "optimize", "-o", d / "v.mp4",
                                  "--max-frames", 6, "--width", 256, "--iters-first", 20, "--iters", 5], "v_frames", 6,
                       True),
    "video keyframes": (lambda d: ["video", BUNNY, "--style", STARRY, "--method", "keyframes", "-o", d / "v.mp4",
                                   "--max-frames", 8, "--width", 256, "--key-iters", 20], "v_frames",
                        8, True),
    "video network": (lambda d: ["video", BUNNY, "--style", STARRY, "--method", "network", "-o", d / "v.mp4",
                                 "--max-frames", 8, "--width", 256, "--train-iters", 20], "v_frames", 8,
                      True),
}


def hashes(folder: Path) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("frame_*.png"))]


@pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(),
                    reason="no CUDA device (tests/device/check.sh runs these)")
@pytest.mark.parametrize("case", list(CASES))
def test_every_command_renders_on_cuda_and_resumes_to_the_same_frames(run_cli, tmp_path, case, monkeypatch):
    # a cache of its own: the clip methods paint their keyframe / train their network here, on this device, and
    # the resume reads them back from it, as a user's resume does
    monkeypatch.setenv("DREAMREEL_CACHE", str(tmp_path / "cache"))
    command, frames_dir, n, resumed = CASES[case]
    code, _, err = run_cli(*command(tmp_path), "--device", DEVICE)
    assert code == 0, err
    settings = next(tmp_path.rglob("*settings.json"))
    assert f'"device": "{DEVICE}' in settings.read_text()  # it ran where it was asked to
    if frames_dir is None:
        out = next(p for p in command(tmp_path) if isinstance(p, Path) and p.suffix == ".png")
        still = read_image(str(out))
        assert torch.isfinite(still).all() and float(still.std()) > 0.05
        return
    folder = tmp_path / frames_dir
    frames = FrameDir(folder)
    assert frames.count_complete() == n
    first, last = frames.read(0), frames.read(n - 1)
    assert torch.isfinite(last).all() and float(last.std()) > 0.05 and not torch.equal(first, last)
    if not resumed:
        return
    # stopped after half the frames (a copy of the folder without its second half), resumed on the same
    # device: the same frames, bit for bit
    whole = hashes(folder)
    again = tmp_path / "again"
    again.mkdir()
    shutil.copytree(folder, again / frames_dir)
    for t in range(n // 2, n):
        (again / frames_dir / f"frame_{t:06d}.png").unlink()
    code, _, err = run_cli(*command(again), "--device", DEVICE, "--resume")
    assert code == 0, err
    assert hashes(again / frames_dir) == whole


@NO_CUDA
def test_a_dream_makes_no_host_sync_on_cuda():
    """The step loop of a dream runs without the host waiting for the GPU (tests/test_syncs.py checks the
    code everywhere; this runs it under CUDA's sync debug mode)."""
    from dreamreel.engine import DreamParams, dream, get_backbone
    from dreamreel.engine.objectives import as_objective

    net = get_backbone("efficientnet_lite0", device="cuda")
    x = torch.rand(1, 3, 256, 256, device="cuda")
    objective = as_objective(net, None)
    dream(net, x, objective, DreamParams(octaves=1, steps=1))  # warm-up: lazy initialisation may sync
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = dream(net, x, objective, DreamParams(octaves=2, steps=3))
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert out.device.type == "cuda" and not torch.equal(out, x)


@NO_CUDA
def test_network_training_iterations_make_no_host_sync_on_cuda():
    """The network method's training on CUDA: the clip on the device (no copy per iteration), float16 under the
    GradScaler with the fused Adam (the plain Adam's step reads the scaler's inf check on the host), and the loss
    still falls."""
    from test_network import moving_pattern, pairs_of, style_picture

    from dreamreel.engine import get_backbone
    from dreamreel.engine.style.network import NetTrainer, NetTrainParams, training_clip

    net = get_backbone("efficientnet_lite0", device="cuda")
    frames = moving_pattern(4, size=96)
    keys = [(frames[1], frames[1].flip(-1))]
    trainer = NetTrainer(net, [style_picture()], None, training_clip(pairs_of(frames), keys),
                         NetTrainParams(iters=2, crop=64, batch=2, lr=4e-3))
    assert trainer.clip.first.device.type == "cuda" and trainer.clip.key_sources.device.type == "cuda"
    trainer.train()  # warm-up: lazy initialisation (the scaler's scale, Adam's state) may sync
    torch.cuda.synchronize()
    trainer.params = NetTrainParams(iters=30, crop=64, batch=2, lr=4e-3)
    torch.cuda.set_sync_debug_mode("error")
    try:
        trainer.train()
    finally:
        torch.cuda.set_sync_debug_mode(0)
    losses = torch.stack(trainer.history).float().cpu()
    assert torch.isfinite(losses).all() and float(losses[-5:].mean()) < float(losses[:3].mean())


@NO_CUDA
def test_a_float16_dream_on_cuda_follows_the_float32_one():
    """The default on CUDA (forward passes in float16, the loss scaled) against float32 there: the objective rises
    as much (tests/test_dream.py does the same on the CPU, where 3 % was measured), the frame stays finite."""
    from dreamreel.engine import DreamParams, dream, get_backbone
    from dreamreel.engine.objectives import as_objective

    net = get_backbone("efficientnet_lite0", device="cuda")
    img = load(FIG, 384).cuda()
    objective = as_objective(net, None)

    def value(x):
        with torch.no_grad():
            return float(objective(net.taps(x, objective.taps)))

    before = value(img)
    gains = {}
    for amp in ("fp32", "auto"):
        outs = [dream(net, img, objective, DreamParams(octaves=2, steps=5, seed=s), amp=amp) for s in (3, 4, 5)]
        assert all(torch.isfinite(o).all() for o in outs)
        gains[amp] = sum(value(o) - before for o in outs)
    assert gains["fp32"] > 0 and abs(gains["auto"] - gains["fp32"]) < 0.2 * gains["fp32"], gains


@NO_CUDA
def test_a_float16_optimisation_on_cuda_ends_where_the_float32_one_does():
    """The optimisation's default on CUDA (its network in float16) against float32 there (tests/test_style.py does
    the same on the CPU): L-BFGS ends within 5 % of float32's loss and stays in float16."""
    from dreamreel.engine import get_backbone
    from dreamreel.engine.style import StyleParams, StyleTransfer

    net = get_backbone("efficientnet_lite0", device="cuda")
    content, style = load(FIG, 256).cuda(), load(STARRY, 256).cuda()
    ends = {}
    for amp in ("fp32", "auto"):
        st = StyleTransfer(net, content, [style], params=StyleParams(), amp=amp)
        st.run(30)
        ends[amp] = (float(st.history[0]), float(st.history[-1]), st.amp)
    assert ends["auto"][2] == torch.float16 and ends["fp32"][1] < 0.3 * ends["fp32"][0]
    assert abs(ends["auto"][1] - ends["fp32"][1]) < 0.05 * ends["fp32"][1], ends


@NO_CUDA
def test_a_zoom_warp_on_a_cuda_frame_makes_no_host_sync():
    """The warp builds its sampling grid on the GPU (the matrix goes as six numbers), so the frame loop does not
    wait for the GPU at each zoom frame; the result is the CPU's torch warp."""
    import numpy as np

    from dreamreel.engine.warp import warp_affine_torch

    frame = torch.rand(1, 3, 144, 256, generator=torch.Generator().manual_seed(0))
    m = np.array([[1.03, 0.02, -4.0], [-0.02, 1.03, -2.5]])
    on_cpu = warp_affine_torch(frame, m, with_mask=True)
    gpu = frame.cuda()
    warp_affine_torch(gpu, m)  # warm-up
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out, mask = warp_affine_torch(gpu, m, with_mask=True)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert (out.cpu() - on_cpu[0]).abs().max().item() < 1e-4 and (mask.cpu() - on_cpu[1]).abs().max().item() < 1e-4


@NO_CUDA
def test_colour_coherence_on_a_cuda_frame_stays_there_without_a_host_sync():
    """A zoom's colour match on a GPU frame runs in torch on the GPU (tests/test_color.py compares the two paths
    on the CPU); here it runs under CUDA's sync debug mode and agrees with the CPU's numpy path."""
    from dreamreel.animator.frameloop.color import ColorMatcher

    g = torch.Generator().manual_seed(0)
    ref = torch.nn.functional.interpolate(torch.rand(1, 3, 20, 24, generator=g), size=(160, 192), mode="bicubic")
    frame = (0.8 * torch.rand(1, 3, 144, 256, generator=g) + 0.1).clamp(0, 1)
    on_cpu = ColorMatcher(ref.clamp(0, 1), "lab")(frame)
    matcher = ColorMatcher(ref.clamp(0, 1).cuda(), "lab")
    matcher(frame.cuda())  # warm-up: the reference goes to the GPU once
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = matcher(frame.cuda())
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert out.device.type == "cuda"
    assert (out.cpu() - on_cpu).abs().mean().item() * 255 < 0.5
