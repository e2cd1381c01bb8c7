"""Stop means stop (issue 36): Ctrl-C, SIGTERM and the studio's Stop end a render in seconds in every phase, keeping
its work — the frames, a keyframe as far as it was painted, a network as far as it was trained — and ``--resume``
goes on from there.

In-process renders are stopped at a known iteration (a KeyboardInterrupt raised where the signal's handler would
raise it); subprocess renders get the real signals (``helpers/paced_cli.py --slow``: a phase slowed down, a marker
file once it runs).
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import torch

from dreamreel.animator.media import FrameDir

from conftest import CLIP, SAMPLES, STARRY, start_paced, wait_for

def _judged_style(frames_dir: Path, n: int) -> float:
    """Lite0's style loss of the frames against The Starry Night, averaged (the judge of issue 21, on Lite0)."""
    from dreamreel.animator.media import ClipReader, open_clip
    from dreamreel.engine import get_backbone
    from dreamreel.engine.style import judge

    from conftest import load

    net = get_backbone("efficientnet_lite0")
    frames = FrameDir(frames_dir)
    reader = ClipReader(open_clip(str(CLIP), width=64, max_frames=n))
    style = load(STARRY, 64)
    try:
        return sum(judge(net, frames.read(t), reader.frame(t), [style])["style"] for t in range(n)) / n
    finally:
        reader.close()


def _stop_painting(monkeypatch, when) -> dict:
    """A KeyboardInterrupt from inside the optimisation (after an iteration's loss is recorded) the first time
    ``when(transfer)`` holds."""
    from dreamreel.engine.style import transfer

    done = transfer.StyleTransfer._iteration_done
    state = {"stopped": False, "armed": True}

    def iteration_done(self, *a, **kw):
        done(self, *a, **kw)
        if state["armed"] and not state["stopped"] and when(self):
            state["stopped"] = True
            raise KeyboardInterrupt

    monkeypatch.setattr(transfer.StyleTransfer, "_iteration_done", iteration_done)
    return state


def test_ctrl_c_while_painting_the_first_keyframe_stops_keeps_it_and_resume_paints_on(run_cli, tmp_path,
                                                                                       monkeypatch):
    args = ["video", CLIP, "--style", STARRY, "--width", 64, "--max-frames", 4, "--key-iters", 40]
    monkeypatch.setenv("DREAMREEL_CACHE", str(tmp_path / "cache_full"))
    code, _, err = run_cli(*args, "-o", tmp_path / "full.mp4")
    assert code == 0, err

    monkeypatch.setenv("DREAMREEL_CACHE", str(tmp_path / "cache"))
    state = _stop_painting(monkeypatch, lambda st: len(st.history) == 15)
    out = tmp_path / "cut.mp4"
    code, _, err = run_cli(*args, "-o", out)
    assert code == 130, err
    assert "interrupted before the first frame: keyframe 2 painted for 15 of 40 iterations, kept in the cache" in err
    assert "continue with: dreamreel video" in err and err.rstrip().endswith("--resume")
    assert FrameDir(tmp_path / "cut_frames").count_complete() == 0
    [kept] = list((tmp_path / "cache" / "keyframes").glob("*.pt"))
    assert len(torch.load(kept, weights_only=True)["history"]) == 15

    state["armed"] = False
    code, _, err = run_cli(*args, "-o", out, "--resume")
    assert code == 0, err
    assert "keyframe 2: painted for 15 of 40 iterations before (from the cache), painting on" in err
    assert FrameDir(tmp_path / "cut_frames").count_complete() == 4
    assert "history" not in torch.load(kept, weights_only=True)  # now painted in full
    full, resumed = _judged_style(tmp_path / "full_frames", 4), _judged_style(tmp_path / "cut_frames", 4)
    assert abs(resumed - full) <= 0.05 * full, (resumed, full)


def test_ctrl_c_while_painting_a_later_keyframe_keeps_the_frames_and_the_keyframe(run_cli, tmp_path, monkeypatch):
    from dreamreel.animator.clips import keyframes

    args = ["video", CLIP, "--style", STARRY, "--width", 64, "--max-frames", 8, "--keyframes", 2, "--key-iters", 20]
    monkeypatch.setenv("DREAMREEL_CACHE", str(tmp_path / "cache_full"))
    code, _, err = run_cli(*args, "-o", tmp_path / "full.mp4")
    assert code == 0, err

    monkeypatch.setenv("DREAMREEL_CACHE", str(tmp_path / "cache"))
    later = {"on": False}
    call = keyframes.Painter.__call__

    def painting_later(self, *a, **kw):
        later["on"] = True
        return call(self, *a, **kw)

    monkeypatch.setattr(keyframes.Painter, "__call__", painting_later)
    state = _stop_painting(monkeypatch, lambda st: later["on"] and len(st.history) == 7)
    code, _, err = run_cli(*args, "-o", tmp_path / "cut.mp4")
    assert code == 130, err
    assert "keyframe 6 painted for 7 of 20 iterations, kept in the cache" in err
    kept = FrameDir(tmp_path / "cut_frames").count_complete()
    assert 0 < kept < 8 and f"interrupted: {kept} of 8 frames done" in err
    assert "continue with: dreamreel video" in err

    state["armed"] = False
    code, _, err = run_cli(*args, "-o", tmp_path / "cut.mp4", "--resume")
    assert code == 0, err
    assert "keyframe 2: painted before, from the cache" in err
    assert "keyframe 6: painted for 7 of 20 iterations before (from the cache), painting on" in err
    assert FrameDir(tmp_path / "cut_frames").count_complete() == 8
    full, resumed = _judged_style(tmp_path / "full_frames", 8), _judged_style(tmp_path / "cut_frames", 8)
    assert abs(resumed - full) <= 0.05 * full, (resumed, full)


def test_ctrl_c_during_network_training_keeps_it_and_resume_trains_on_to_the_same_frames(run_cli, tmp_path,
                                                                                          monkeypatch):
    from dreamreel.engine.style import network

    args = ["video", CLIP, "--style", STARRY, "--method", "network", "--width", 64, "--max-frames", 4,
            "--train-iters", 30, "--keyframes", 1, "--iters-first", 10]
    monkeypatch.setenv("DREAMREEL_CACHE", str(tmp_path / "cache_full"))
    code, _, err = run_cli(*args, "-o", tmp_path / "full.mp4")
    assert code == 0, err

    monkeypatch.setenv("DREAMREEL_CACHE", str(tmp_path / "cache"))
    loss = network.NetTrainer.loss
    calls = {"n": 0}

    def stopped(self):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        return loss(self)

    monkeypatch.setattr(network.NetTrainer, "loss", stopped)
    saved = tmp_path / "net.pt"
    code, _, err = run_cli(*args, "-o", tmp_path / "cut.mp4", "--save-net", saved)
    assert code == 130, err
    assert "interrupted before the first frame: the network trained for 5 of 30 iterations" in err
    assert "kept in the cache, --resume goes on from there" in err and "continue with: dreamreel video" in err
    assert list((tmp_path / "cache" / "nets").glob("*.partial.pt")) and not saved.exists()

    monkeypatch.setattr(network.NetTrainer, "loss", loss)
    code, _, err = run_cli(*args, "-o", tmp_path / "cut.mp4", "--save-net", saved, "--resume")
    assert code == 0, err
    assert "network: trained for 5 iterations" in err and "before (from the cache), training on" in err
    assert "(optimisation)" not in err  # the keyframe was kept with the training
    assert saved.exists() and not list((tmp_path / "cache" / "nets").glob("*.partial.pt"))
    full, cut = FrameDir(tmp_path / "full_frames"), FrameDir(tmp_path / "cut_frames")
    # the training went on where it stopped (the network, Adam, the crops' generator): the frames of one that never did
    assert all(torch.equal(full.read(t), cut.read(t)) for t in range(4))


# ------------------------------------------------------------------------------------------ the real signals


PHASES = {
    # (the command's own options, the helper's pacing, what the cache keeps)
    "paint": (["--method", "keyframes", "--key-iters", 200], ("--slow", "paint", 0.3), "keyframes/*.pt"),
    "train": (["--method", "network", "--train-iters", 200], ("--slow", "train", 0.3), "nets/*.partial.pt"),
    "frames": (["--method", "keyframes", "--key-iters", 5], (1.0,), None),
}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("phase", list(PHASES))
def test_a_signal_stops_the_render_in_seconds_in_every_phase(tmp_path, phase, sig):
    own, pacing, cached = PHASES[phase]
    out = tmp_path / "o.mp4"
    args = ["video", CLIP, "--style", STARRY, "--width", 64, "--max-frames", 6, *own, "-o", out]
    marker = tmp_path / "marker"
    p = start_paced(args, *pacing, *((marker,) if phase != "frames" else ()))
    wait_for(p, marker if phase != "frames" else tmp_path / "o_frames" / "frame_000001.png")
    t0 = time.monotonic()
    if sig == signal.SIGINT:
        os.killpg(p.pid, signal.SIGINT)  # Ctrl-C in a terminal: the foreground group
    else:
        os.kill(p.pid, signal.SIGTERM)  # kill, timeout, a container's stop: the process
    _, err = p.communicate(timeout=60)
    seconds = time.monotonic() - t0
    err = err.decode()
    assert p.returncode == 128 + sig, err
    assert seconds <= 5, f"{seconds:.1f} s to stop"
    assert "interrupted" in err and "continue with: dreamreel video" in err and "--resume" in err
    if cached:
        assert list((Path(os.environ["DREAMREEL_CACHE"])).glob(cached)), err
    else:
        kept = FrameDir(tmp_path / "o_frames").count_complete()
        assert 2 <= kept < 6 and out.exists(), err  # the frames so far, and the MP4 that plays them


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DREAMREEL_CACHE", str(tmp_path / "cache"))


def test_sigterm_in_a_zoom_writes_the_mp4_of_the_frames_so_far(tmp_path):
    """Before: SIGTERM killed a zoom at once (exit -15, no MP4 of its frames, a .tmp MP4 left)."""
    out = tmp_path / "z.mp4"
    args = ["zoom", SAMPLES / "figures.jpg", "--frames", 8, "--size", 64, "--steps", "0:(1)", "--octaves", "0:(1)",
            "-o", out, "--gif", tmp_path / "z.gif"]
    p = start_paced(args, 1.0)
    wait_for(p, tmp_path / "z_frames" / "frame_000001.png")
    os.kill(p.pid, signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    err = err.decode()
    assert p.returncode == 143, err
    assert "interrupted: " in err and "continue with: dreamreel zoom" in err
    assert out.exists() and (tmp_path / "z.gif").exists() and not list(tmp_path.glob("*.tmp-*"))


def test_a_ctrl_c_that_lands_where_python_ignores_exceptions_still_stops_the_render(run_cli, tmp_path, monkeypatch):
    """The handler's KeyboardInterrupt, raised while the main thread runs an at-fork hook (as it starts ffmpeg) or a
    ``__del__``, is ignored by Python: that Ctrl-C was lost and the render ran to its end. It is raised again."""
    from dreamreel.animator.modes import zoom

    step = zoom.ZoomMode.step

    class Lost:
        def __del__(self):
            raise KeyboardInterrupt  # what the signal handler does when the signal lands in such a place

    def step_and_lose(self, t, *a, **kw):
        time.sleep(0.2)
        if t == 2:
            Lost()  # collected at once: "Exception ignored in ... __del__"
        return step(self, t, *a, **kw)

    monkeypatch.setattr(zoom.ZoomMode, "step", step_and_lose)
    # (Python's own Ctrl-C handler, as in a terminal: a test run started in the background by a shell without job
    # control has SIGINT ignored, and then dreamreel leaves it ignored, as under nohup)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code, _, err = run_cli("zoom", SAMPLES / "figures.jpg", "-o", tmp_path / "z.mp4", "--frames", 8, "--size", 64,
                               "--steps", "0:(1)", "--octaves", "0:(1)")
    finally:
        signal.signal(signal.SIGINT, before)
    assert code == 130, err
    kept = FrameDir(tmp_path / "z_frames").count_complete()
    assert 2 <= kept < 8 and f"interrupted: {kept} of 8 frames done" in err, err
