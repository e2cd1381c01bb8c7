"""Renders that loop with no seam (``--loop``, ``--pingpong``; issue 23).

The seam check: the change from the last played frame to the first is at most 1.5x the median change
between consecutive played frames (mean absolute difference; for a zoom after undoing the known
motion). It is measured on the PNG frames in the order the loop plays them (the MP4 adds its own
compression noise to every step alike), and the MP4 and GIF are checked to play that many frames.
"""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from dreamreel.animator.media import ClipReader, FrameDir, open_clip
from dreamreel.animator.media.ffmpeg import probe_video
from dreamreel.animator.frameloop.metrics import loop_steps
from dreamreel.animator.frameloop.loop import Loop
from dreamreel.animator.request.schedule import parse_schedule
from dreamreel.animator.modes.zoom import Motion
from dreamreel.engine.warp import warp_affine

from conftest import BUNNY, SAMPLES
from helpers.gif_parse import gif_info

# 30 played frames at 12 fps: a 10-frame fade (a third of the loop), the loop played from frame 20
ZOOM = ["--size", 96, "--frames", 30, "--fps", 12, "--steps", "0:(1)", "--octaves", "0:(1)", "--zoom", "0:(1.04)",
        "--angle", "0:(1)"]


def played(folder, settings: dict) -> list[torch.Tensor]:
    """The PNG frames in the order the loop plays them (read back from settings.json's loop)."""
    frames = FrameDir(folder)
    n = frames.count_complete()
    lp = settings["loop"]
    loop = Loop(lp["kind"], lp["frames"], lead=lp["lead"])
    return [frames.read(t) if a == 0 else frames.read(t) + a * (frames.read(u) - frames.read(t))
            for t, u, a in loop.playlist(n, back=settings.get("back", 0))]


def zoom_carry(settings: dict, h: int, w: int):
    """A zoom frame carried to where the next one is: the preset's motion (constant here), warped."""
    motion = Motion(*(parse_schedule(settings[k]) for k in ("zoom", "angle", "translation_x", "translation_y",
                                                              "center_x", "center_y")), n_frames=settings["frames"])
    m = motion.frame_matrix(1, h, w)
    return lambda f: warp_affine(f, m, border=settings["border"], with_mask=True)


def test_a_zoom_loop_has_no_seam(run_cli, tmp_path):
    out, gif = tmp_path / "z.mp4", tmp_path / "z.gif"
    code, _, err = run_cli("zoom", SAMPLES / "figures.jpg", "-o", out, "--gif", gif, "--loop", *ZOOM)
    assert code == 0, err
    assert "plays 30 frames in a loop" in " ".join(err.split())
    s = json.loads((tmp_path / "z.settings.json").read_text())
    assert s["loop"] == {"kind": "fade", "frames": 10, "lead": 20}
    assert FrameDir(tmp_path / "z_frames").count_complete() == 50  # 20 that prime the loop, 30 played
    assert probe_video(out)["frames"] == 30
    assert gif_info(gif)["frames"] == 30  # a 12 fps render: every frame in the GIF
    frames = played(tmp_path / "z_frames", s)
    h, w = frames[0].shape[-2:]
    seam = loop_steps(frames, zoom_carry(s, h, w))
    assert seam["ratio"] <= 1.5, seam
    # the last played frame is the one before the first (the loop goes on as the render did) ...
    f = FrameDir(tmp_path / "z_frames")
    assert torch.equal(f.read(49), f.read(19))
    # ... and without --loop the same zoom cuts: its last frame is nothing like its first
    code, _, err = run_cli("zoom", SAMPLES / "figures.jpg", "-o", tmp_path / "cut.mp4", *ZOOM)
    assert code == 0, err
    cut = FrameDir(tmp_path / "cut_frames")
    plain = loop_steps([cut.read(t) for t in range(30)], zoom_carry(s, h, w))
    assert plain["ratio"] > 3 * seam["ratio"], (plain["ratio"], seam["ratio"])


@pytest.mark.parametrize("pingpong", [False, True])
def test_a_progression_loop_comes_back_without_a_seam(run_cli, tmp_path, pingpong):
    gif, out = tmp_path / "p.gif", tmp_path / "p.mp4"
    args = ["progression", SAMPLES / "figures.jpg", "--gif", gif, "-o", out, "--steps", 24, "--every", 3,
            "--size", 96, "--octaves", 1, "--loop", *(["--pingpong"] if pingpong else [])]
    code, _, err = run_cli(*args)
    assert code == 0, err
    s = json.loads((tmp_path / "p.settings.json").read_text())
    assert s["loop"]["kind"] == ("pingpong" if pingpong else "return")
    frames = FrameDir(tmp_path / "p_frames")
    n = frames.count_complete()
    assert n == 9  # steps 0, 3, ..., 24
    shown = probe_video(out)["frames"]
    assert gif_info(gif)["frames"] == shown
    if pingpong:
        assert shown == 2 * n - 2
        seq = played(tmp_path / "p_frames", s)
    else:
        back = shown - n
        assert back >= 1
        seq = played(tmp_path / "p_frames", {**s, "back": back})
    steps = loop_steps(seq)
    assert steps["ratio"] <= 1.5, steps
    # the way back is no faster than the way there: no step of it beyond the largest step forward (+1/255 rounding)
    forward = max(steps["steps"][: n - 1])
    assert max(steps["steps"]) <= forward + 1 / 255, steps


def test_a_loop_render_resumed_equals_one_that_never_stopped(run_cli, tmp_path):
    args = ["zoom", SAMPLES / "figures.jpg", "--loop", *ZOOM]
    code, _, err = run_cli(*args, "-o", tmp_path / "a.mp4")
    assert code == 0, err
    whole = FrameDir(tmp_path / "a_frames")
    # stopped before the fade (its head frames then come from memory) and inside it (from the disk)
    for stop in (25, 45):
        folder = tmp_path / f"b{stop}_frames"
        shutil.copytree(tmp_path / "a_frames", folder)
        for t in range(stop, 50):
            (folder / f"frame_{t:06d}.png").unlink()
        code, _, err = run_cli(*args, "-o", tmp_path / f"b{stop}.mp4", "--resume")
        assert code == 0, err
        again = FrameDir(folder)
        assert again.count_complete() == 50
        assert all(torch.equal(whole.read(t), again.read(t)) for t in range(50))
        assert probe_video(tmp_path / f"b{stop}.mp4")["frames"] == 30
    # a resume without --loop is refused: the frames would differ
    code, _, err = run_cli("zoom", SAMPLES / "figures.jpg", *ZOOM, "-o", tmp_path / "a.mp4", "--resume")
    assert code == 2 and "settings differ" in err and "loop" in err


def test_a_dreamed_clip_loops_without_its_audio(run_cli, tmp_path):
    out = tmp_path / "v.mp4"
    code, _, err = run_cli("video", BUNNY, "--dream", "-o", out, "--loop", "--width", 64, "--max-frames", 12,
                           "--octaves", 1, "--steps", 1, "--refine-steps", 1)
    assert code == 0, err
    s = json.loads((tmp_path / "v.settings.json").read_text())
    assert s["loop"] == {"kind": "fade", "frames": 4, "lead": 4}
    info = probe_video(out)
    assert info["frames"] == 8 and not info["has_audio"]
    f = FrameDir(tmp_path / "v_frames")
    assert torch.equal(f.read(11), f.read(3))  # the last frame played is the one before the first
    seq = played(tmp_path / "v_frames", s)
    first = ClipReader(open_clip(str(out))).frame(0)
    assert float((first - seq[0]).abs().mean()) < 0.03  # the MP4 starts where the loop does


@pytest.mark.parametrize("args, words", [
    (["video", BUNNY, "--style", SAMPLES / "starry_night.jpg", "-o", "{tmp}/v.mp4", "--loop"], "--loop serves video --dream"),
    (["video", BUNNY, "--dream", "-o", "{tmp}/v.mp4", "--loop", "--workers", 2], "cannot be split"),
    (["recursive", SAMPLES / "figures.jpg", "--layers", "block2..block3", "-o", "{tmp}/st", "--loop"], "give --gif"),
    (["zoom", SAMPLES / "figures.jpg", "-o", "{tmp}/z.mp4", "--loop", "--frames", 2], "at least 3 --frames"),
    (["zoom", SAMPLES / "figures.jpg", "-o", "{tmp}/z.mp4", "--pingpong"], "No such option"),
    (["video", BUNNY, "--dream", "-o", "{tmp}/v.mp4", "--loop", "--max-frames", 2, "--width", 64], "at least 3 frames"),
])
def test_a_loop_it_cannot_serve_is_one_line(run_cli, tmp_path, args, words):
    code, _, err = run_cli(*[str(a).replace("{tmp}", str(tmp_path)) for a in args])
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and words in lines[0], err
