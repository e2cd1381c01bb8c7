"""The network method of video stylisation: training, the temporal term, the saved artefact, --net."""
from __future__ import annotations

import json
import pickle

import pytest
import torch
import torch.nn.functional as F

from conftest import CLIP, STARRY, TUBINGEN, load
from dreamreel.animator.media import ClipReader, FrameDir, open_clip, read_image
from dreamreel.animator.clips.network import NetworkStyleMode, save_net, train_params
from dreamreel.animator.request.resolve import read_net
from dreamreel.animator.errors import UserError
from dreamreel.engine.flow import flow_pair, warping_error
from dreamreel.engine.style.network import (NetArch, NetTrainer, NetTrainParams, StyleNet, StyleNetError,
                                            training_clip)

STYLE = None


def style_picture() -> torch.Tensor:
    global STYLE
    if STYLE is None:
        STYLE = load(STARRY, 96)
    return STYLE


def moving_pattern(n: int = 6, size: int = 64, speed: int = 3) -> list[torch.Tensor]:
    """A smooth random texture sliding right by ``speed`` px a frame (the flow is known and everywhere)."""
    g = torch.Generator().manual_seed(7)
    base = F.interpolate(torch.rand(1, 3, size // 8, size // 8 + n * speed // 8 + 2, generator=g),
                         scale_factor=8, mode="bicubic", align_corners=False).clamp(0, 1)
    return [base[..., :, base.shape[-1] - size - t * speed: base.shape[-1] - t * speed].contiguous() for t in range(n)]


def pairs_of(frames):
    out = []
    for a, b in zip(frames, frames[1:]):
        fw, _, mask = flow_pair(a, b)
        out.append((a, b, fw, mask))
    return out


def train(lite0, frames, iters: int, **kw) -> NetTrainer:
    params = NetTrainParams(iters=iters, crop=64, batch=1, lr=4e-3, seed=0, **kw)
    trainer = NetTrainer(lite0, [style_picture()], None, training_clip(pairs_of(frames)), params)
    trainer.train()
    return trainer


@pytest.mark.parametrize("up", ["nearest", "bilinear"])  # the CPU's network, and the GPU's
def test_training_loss_falls(lite0, up):
    frames = moving_pattern()
    trainer = train(lite0, frames, 24, temporal_weight=0.0, arch=NetArch(up=up))
    losses = torch.stack(trainer.history)
    assert float(losses[-6:].mean()) < 0.8 * float(losses[:3].mean())
    # and the trained network changed the pictures (the untrained one returns its input)
    out = trainer.net.stylize(frames[0])
    assert float((out - frames[0]).abs().mean()) > 0.02


@pytest.mark.parametrize("budget", ["iters", "seconds"])
def test_learning_rate_halves_for_the_last_third_of_the_budget(lite0, budget):
    """Of the iterations, or of the time budget when that ends the training first (a time-bound run that
    never reached 2/3 of its iteration cap trained at the first rate to the end)."""
    seen = []
    kw = {"iters": 9} if budget == "iters" else {"iters": 10_000, "seconds": 1.5}
    trainer = NetTrainer(lite0, [style_picture()], None, training_clip(pairs_of(moving_pattern(3))),
                         NetTrainParams(crop=64, lr=1e-3, temporal_weight=0.0, **kw))
    trainer.train(lambda i, n, info: seen.append(trainer.opt.param_groups[0]["lr"]))
    assert seen[0] == 1e-3 and seen[-1] == 5e-4, seen
    if budget == "iters":
        assert seen == [1e-3] * 6 + [5e-4] * 3


def test_temporal_loss_lowers_warping_error(lite0):
    frames = moving_pattern()
    errors = {}
    for weight in (0.0, 200.0):
        net = train(lite0, frames, 20, temporal_weight=weight).net
        out = [net.stylize(f) for f in frames]
        errors[weight] = warping_error(out, frames)["warp_error"]
    assert errors[200.0] < 0.8 * errors[0.0], errors


@pytest.mark.parametrize("up", ["nearest", "bilinear"])
def test_saved_network_reloads_and_gives_identical_frames(tmp_path, up):
    torch.manual_seed(3)
    net = StyleNet(NetArch(up=up)).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    path = tmp_path / "n.pt"
    save_net(net, {"style": "starry"}, str(path))
    again, settings = read_net(str(path), "cpu")
    x = load(TUBINGEN, 96)
    assert settings == {"style": "starry"} and again.arch.up == up
    assert torch.equal(net.stylize(x), again.stylize(x))
    assert not torch.equal(net.stylize(x), x.clamp(0, 1))


def test_a_network_file_without_its_upsampling_is_read_as_nearest():
    """Files written before the upsampling was a choice (all nearest) still load as they rendered."""
    state = StyleNet().state()
    arch = json.loads(state["arch"])
    assert arch.pop("up") == "nearest"
    assert NetArch.from_dict(arch).up == "nearest"
    with pytest.raises(StyleNetError, match="bad network shape"):
        NetArch.from_dict({**arch, "up": "bicubic"})


def test_network_mode_batches_give_the_frames_of_one_at_a_time():
    """Frames computed a batch at a time equal frames computed alone, whatever frame the render starts at."""
    torch.manual_seed(0)
    net = StyleNet().eval()
    with torch.no_grad():
        net.out.weight.normal_(0, 0.05)
    info = open_clip(str(CLIP), width=64, max_frames=10)
    whole = NetworkStyleMode(net, ClipReader(info, keep=6), batch=4)
    frames = [whole.step(t, None, 0) for t in range(10)]
    resumed = NetworkStyleMode(net, ClipReader(info, keep=6), batch=4)
    later = [resumed.step(t, None, 0) for t in range(6, 10)]
    assert all(torch.equal(a, b) for a, b in zip(frames[6:], later))
    assert not torch.equal(frames[0], frames[5])


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_training_is_sized_by_the_device_and_bounded_by_the_options(device):
    """A CPU trains one pair an iteration for its time budget; a CUDA GPU a batch of pairs for a number of
    iterations with no time budget (the same network on any GPU); --train-iters and --train-seconds bound either."""
    from dreamreel.animator.request.config_parts import ClipSpec, Outputs, StyleSpec
    from dreamreel.animator.request.configs import (NET_CPU_ITERS, NET_GPU_BATCH, NET_GPU_ITERS, NET_GPU_UPSAMPLING,
                                            VideoConfig)

    def params(**kw):
        cfg = VideoConfig(clip=ClipSpec(str(CLIP)), outputs=Outputs(mp4="o.mp4"), style_spec=StyleSpec((STARRY,)),
                          method="network", **kw)
        cfg.validate()
        return train_params(cfg, 48, torch.device(device))

    p = params()
    if device == "cpu":
        assert (p.iters, p.seconds, p.batch, p.arch) == (NET_CPU_ITERS, 120.0, 1, NetArch())
        assert params().as_dict() == params(train_iters=NET_CPU_ITERS).as_dict()  # what --train-iters 3000 asked before
    else:
        assert (p.iters, p.seconds, p.batch) == (NET_GPU_ITERS, None, NET_GPU_BATCH) and NET_GPU_BATCH > 1
        assert p.arch == NetArch(up=NET_GPU_UPSAMPLING)
    p = params(train_iters=7, train_seconds=5.0)
    assert (p.iters, p.seconds) == (7, 5.0)


@pytest.mark.slow
def test_video_network_method_end_to_end_then_cached_then_net(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("DREAMREEL_CACHE", str(tmp_path / "cache"))
    out, saved = tmp_path / "n.mp4", tmp_path / "starry.pt"
    args = ["video", CLIP, "--style", STARRY, "--method", "network", "--width", "64", "--max-frames", 6,
            "--train-iters", 6, "--train-seconds", 60, "--keyframes", 1, "--iters-first", 5, "--net-batch", 4]
    code, _, err = run_cli(*args, "-o", out, "--save-net", saved)
    assert code == 0, err
    assert "network trained: 6 iterations" in err and saved.exists()
    frames = FrameDir(tmp_path / "n_frames")
    src = ClipReader(open_clip(str(CLIP), width=64, max_frames=6))
    assert frames.count_complete() == 6
    assert float((frames.read(3) - src.frame(3)).abs().mean()) > 0.01  # stylised, not the source
    settings = json.loads((tmp_path / "n.settings.json").read_text())
    assert settings["method"] == "network" and settings["provenance"]["network"]["cached"] is False

    # stopped after 4 frames and resumed: the network now comes from the cache, the frames are the same
    whole = [frames.read(t) for t in range(6)]
    for t in (4, 5):
        (tmp_path / "n_frames" / f"frame_{t:06d}.png").unlink()
    code, _, err = run_cli(*args, "-o", out, "--resume")
    assert code == 0, err
    assert "from the cache" in err and "network trained" not in err
    assert all(torch.equal(whole[t], frames.read(t)) for t in range(6))

    # the same clip, style and settings again: the cached network, no training, the same frames
    code, _, err = run_cli(*args, "-o", tmp_path / "again.mp4")
    assert code == 0, err
    assert "from the cache" in err and "network trained" not in err
    again = FrameDir(tmp_path / "again_frames")
    assert all(torch.equal(frames.read(t), again.read(t)) for t in range(6))

    # the saved network on a still: the same look as the clip's frames had
    still = tmp_path / "still.png"
    code, _, err = run_cli("stylize", TUBINGEN, "--net", saved, "--size", 96, "-o", still)
    assert code == 0, err
    net, _ = read_net(str(saved), "cpu")
    x = load(TUBINGEN, 96)
    assert float((read_image(str(still)) - net.stylize(x)).abs().max()) <= 1 / 255 + 1e-6


def _bad_files(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    weights = tmp_path / "weights.pth"
    torch.save({"conv.weight": torch.zeros(2, 2)}, weights)
    pickled = tmp_path / "evil.pt"
    pickled.write_bytes(pickle.dumps({"format": "dreamreel-stylenet", "x": object()}))
    truncated = tmp_path / "cut.pt"
    torch.save(StyleNet().state(), truncated)
    truncated.write_bytes(truncated.read_bytes()[:2000])
    return {"missing": (tmp_path / "nope.pt", "network file not found"),
            "text": (text, "is not a dreamreel style network"),
            "weights": (weights, "is not a dreamreel style network"),
            "pickle": (pickled, "is not a dreamreel style network"),
            "truncated": (truncated, "is not a dreamreel style network")}


@pytest.mark.parametrize("kind", ["missing", "text", "weights", "pickle", "truncated"])
def test_bad_net_is_one_line_exit_2(run_cli, tmp_path, kind):
    path, message = _bad_files(tmp_path)[kind]
    for args in (["video", CLIP, "--net", path, "-o", tmp_path / "o.mp4", "--width", 64, "--max-frames", 2],
                 ["stylize", TUBINGEN, "--net", path, "--size", 64, "-o", tmp_path / "o.png"]):
        code, _, err = run_cli(*args)
        assert code == 2, err
        assert message in err and len(err.strip().splitlines()) == 1, err
    with pytest.raises(UserError):
        read_net(str(path), "cpu")


@pytest.mark.parametrize("args, message", [
    (["--style", "{starry}", "--method", "paint"], "unknown --method 'paint'"),
    (["--style", "{starry}", "--method", "network", "--net-blend", "1.5"], "--net-blend must be in [0, 1)"),
    (["--style", "{starry}", "--method", "network", "--train-seconds", "0"], "--train-seconds must be > 0"),
    (["--style", "{starry}", "--method", "network", "--train-iters", "0"], "--train-iters, --train-pairs and"),
    (["--style", "{starry}", "--method", "network", "--cadence", "2"], "options of --method optimize"),
    (["--style", "{starry}", "--method", "network", "--save-net", "net.txt"], "must end in one of .pt, .pth"),
])
def test_network_method_bad_options(run_cli, tmp_path, args, message):
    args = [a.format(starry=STARRY) for a in args]
    code, _, err = run_cli("video", CLIP, *args, "-o", tmp_path / "o.mp4", "--width", "64", "--max-frames", 2)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1
