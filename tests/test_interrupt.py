"""Stopped renders: SIGKILL at any moment, Ctrl-C (SIGINT), and resuming to the very same frames.

Each render runs in a subprocess (``helpers/paced_cli.py``: the real command line, pausing after
each frame so the signal lands mid-render at a known frame), is stopped, and is resumed with
``--resume``; every frame must then be byte for byte the frame of a render that never stopped.
"""
from __future__ import annotations

import os
import shlex
import signal
import time
from pathlib import Path

import pytest
import torch

from dreamreel.animator.media import FrameDir
from dreamreel.animator.media.ffmpeg import probe_video
from dreamreel.animator.frameloop.scheduler import CrossFade, FrameScheduler, Sinks, Source

from conftest import CLIP, SAMPLES, STARRY, start_paced, wait_for
from helpers.gif_parse import gif_info

FIG = SAMPLES / "figures.jpg"


def zoom(d: Path) -> list:
    return ["zoom", FIG, "-o", d / "z.mp4", "--gif", d / "z.gif", "--gif-width", "full", "--frames", 6, "--cadence", 2, "--size", 64,
            "--steps", "0:(1)", "--octaves", "0:(1)"]


# mode: (its command line in a folder, its frames folder, frames)
MODES = {
    "zoom": (zoom, "z_frames", 6),
    # a loop: 6 played frames, a 2-frame fade, 4 frames before the loop; killed after frame 1, so the resumed render
    # keeps the fade's head frames in memory; test_loop resumes one inside the fade
    "zoom loop": (lambda d: [*zoom(d), "--loop"], "z_frames", 10),
    "recursive": (lambda d: ["recursive", FIG, "--layers", "block2..block4", "--tween", 1, "-o", d / "stages",
                             "--mp4", d / "r.mp4", "--size", 64, "--octaves", 1, "--steps", 1], "stages", 5),
    "progression": (lambda d: ["progression", FIG, "--layers", "block6", "--steps", 10, "--every", 2, "-o", d / "p.mp4",
                               "--size", 64, "--octaves", 1], "p_frames", 6),
    "video dream": (lambda d: ["video", CLIP, "--dream", "-o", d / "v.mp4", "--width", 96, "--max-frames", 5,
                               "--octaves", 1, "--steps", 1, "--refine-steps", 1], "v_frames", 5),
    "video style": (lambda d: ["video", CLIP, "--style", STARRY, "-o", d / "s.mp4", "--width", 64, "--max-frames", 4,
                               "--method", "optimize", "--iters-first", 3, "--iters", 2], "s_frames", 4),
    # the keyframes method: keyframe 3 of 8, later keyframes every 2 frames; the resumed render
    # replays its sweep from the first keyframe (from the cache) and must give the same frames
    "video style keyframes": (lambda d: ["video", CLIP, "--style", STARRY, "-o", d / "k.mp4", "--width", 64,
                                         "--max-frames", 8, "--method", "keyframes", "--key-iters", 4, "--keyframes", 2],
                              "k_frames", 8),
}


def stale(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if ".tmp-" in p.name)


def assert_same_frames(a: Path, b: Path, n: int) -> None:
    assert FrameDir(a).count_complete() == n and FrameDir(b).count_complete() == n
    for i in range(n):
        name = FrameDir.PATTERN.format(i)
        assert (a / name).read_bytes() == (b / name).read_bytes(), f"frame {i} differs"


@pytest.mark.parametrize("mode", list(MODES))
def test_sigkill_mid_render_then_resume_gives_the_frames_of_an_unbroken_render(run_cli, tmp_path, mode):
    command, frames, n = MODES[mode]
    full, cut = tmp_path / "full", tmp_path / "cut"
    full.mkdir(), cut.mkdir()
    code, _, err = run_cli(*command(full))
    assert code == 0, err

    p = start_paced(command(cut), 1.5)
    wait_for(p, cut / frames / FrameDir.PATTERN.format(1))
    os.kill(p.pid, signal.SIGKILL)  # kill -9 while it sleeps after frame 1: the MP4 is half made
    assert p.wait() == -signal.SIGKILL
    assert FrameDir(cut / frames).count_complete() == 2
    if mode != "zoom loop":  # (a loop's MP4 starts at its first played frame, 4)
        assert any(t.suffix == ".mp4" for t in stale(cut)), "expected the killed render's MP4 temporary"

    code, _, err = run_cli(*command(cut), "--resume")
    assert code == 0, err
    assert_same_frames(full / frames, cut / frames, n)
    assert stale(cut) == [], "a resumed render cleans up the temporaries of its outputs"
    mp4 = next(a for a in command(cut) if isinstance(a, Path) and a.parent == cut and a.suffix == ".mp4")
    assert probe_video(mp4)["frames"] == (6 if mode == "zoom loop" else n)  # a loop plays 6 of its 10 frames


def test_sigkill_while_a_frame_is_being_written_leaves_no_half_frame(run_cli, tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    full.mkdir(), cut.mkdir()
    assert run_cli(*zoom(full))[0] == 0
    p = start_paced(zoom(cut), "--kill-in-write", 3)
    assert p.wait(timeout=300) == -signal.SIGKILL
    frames = FrameDir(cut / "z_frames")
    assert frames.count_complete() == 3 and not (cut / "z_frames" / "frame_000003.png").exists()
    assert [t.name.split(".tmp-")[0] for t in stale(cut / "z_frames")] == ["frame_000003.png"]
    code, _, err = run_cli(*zoom(cut), "--resume")
    assert code == 0, err
    assert_same_frames(full / "z_frames", cut / "z_frames", 6)
    assert stale(cut) == []


def test_ctrl_c_writes_the_frames_so_far_and_prints_the_resume_command(run_cli, tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    full.mkdir(), cut.mkdir()
    assert run_cli(*zoom(full))[0] == 0
    args = [str(a) for a in zoom(cut)]
    p = start_paced(args, 1.5)
    wait_for(p, cut / "z_frames" / "frame_000001.png")
    os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
    _, err = p.communicate(timeout=120)
    err = err.decode()
    assert p.returncode == 130, err
    # frame 1 was on disk (not yet in the MP4) when Ctrl-C came: both outputs hold frames 0 and 1
    assert "interrupted: 2 of 6 frames done" in err
    assert f"continue with: {shlex.join(['dreamreel', *args, '--resume'])}" in err
    assert probe_video(cut / "z.mp4")["frames"] == 2
    assert gif_info(cut / "z.gif")["frames"] == 2
    assert stale(cut) == []

    code, _, err = run_cli(*args, "--resume")
    assert code == 0, err
    assert_same_frames(full / "z_frames", cut / "z_frames", 6)
    assert probe_video(cut / "z.mp4")["frames"] == 6 and gif_info(cut / "z.gif")["frames"] == 6


def test_resume_command_keeps_the_users_words():
    from dreamreel.animator.cli import resume_command

    assert resume_command(["zoom", "my pic.jpg", "-o", "o.mp4"]) == "dreamreel zoom 'my pic.jpg' -o o.mp4 --resume"
    assert resume_command(["zoom", "a.jpg", "--resume"]) == "dreamreel zoom a.jpg --resume"
    assert resume_command(["zoom", "a.jpg", "--no-resume"]) == "dreamreel zoom a.jpg --resume"
    assert resume_command(["zoom", "-o", "x.mp4", "--", "-a.jpg"]) == "dreamreel zoom -o x.mp4 --resume -- -a.jpg"


def test_a_second_render_into_the_same_frames_folder_is_refused(run_cli, tmp_path):
    p = start_paced(zoom(tmp_path), 5.0)
    try:
        wait_for(p, tmp_path / "z_frames" / "frame_000000.png")
        code, _, err = run_cli(*zoom(tmp_path))
        assert code == 2 and "another render is writing to" in err and len(err.strip().splitlines()) == 1
        assert (tmp_path / "z_frames" / "frame_000000.png").exists()  # the first render's frames untouched
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()


class Fade(CrossFade):
    """A tiny mode: grey frames getting lighter."""

    n_frames = 6

    def first_source(self):
        return Source(torch.full((1, 3, 16, 16), 0.2))

    def source(self, t, prev, prev_t):
        return Source(prev + 0.05)

    def step(self, t, source, seed):
        return source.image


def test_ctrl_c_inside_the_mp4_writer_and_again_while_finishing(tmp_path, monkeypatch):
    """Ctrl-C while a frame goes into ffmpeg kills that writer: the MP4 is made again from the frames on
    disk. A second Ctrl-C while the outputs are finished skips the rest (here: the GIF)."""
    from dreamreel.animator.frameloop import scheduler
    from dreamreel.animator.errors import RenderInterrupted
    from dreamreel.animator.media import ffmpeg

    real_write, calls = ffmpeg.FfmpegPipe.write, []

    def write(self, data):  # the bytes of frame 2 going down ffmpeg's pipe, the first time
        calls.append(len(calls))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_write(self, data)

    def gif(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(ffmpeg.FfmpegPipe, "write", write)
    monkeypatch.setattr(scheduler, "make_gif", gif)
    sinks = Sinks(frames_dir=str(tmp_path / "f"), mp4=str(tmp_path / "o.mp4"), gif=str(tmp_path / "o.gif"), fps=10)
    with pytest.raises(RenderInterrupted) as e:
        FrameScheduler(Fade(), sinks, {}).run()
    assert (e.value.done, e.value.total, e.value.outputs) == (3, 6, [str(tmp_path / "o.mp4")])
    assert len(calls) == 6  # 0, 1, (2: killed), then a new writer took frames 0..2 from disk
    assert probe_video(tmp_path / "o.mp4")["frames"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f", "o.mp4"]  # no GIF, no temporaries


def test_the_studios_stop_interrupts_a_render_even_when_sigint_was_ignored(tmp_path):
    """``nohup dreamreel studio &`` from a script starts the studio with SIGINT ignored, which its render processes
    inherit; Stop (a SIGINT to the render) still stops the render as Ctrl-C does: exit 130, the frames so far kept."""
    pytest.importorskip("gradio", reason="the studio extra is not installed: pip install '.[studio]'")
    from dreamreel.animator.front.studio import Render

    out = tmp_path / "out.mp4"
    argv = ["zoom", str(FIG), "--frames", "400", "--size", "64", "--steps", "0:(1)", "--octaves", "0:(1)",
            "-o", str(out)]
    render = Render("zoom", argv, tmp_path, {"mp4": out}, tmp_path / "out_frames")
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited by the render's process
    try:
        render.start()
    finally:
        signal.signal(signal.SIGINT, old)
    end = time.monotonic() + 120
    while render.frame_count() < 2 and render.proc.poll() is None and time.monotonic() < end:
        time.sleep(0.1)
    render.stop()
    rc = render.proc.wait(timeout=60)
    log = render.log.read_text()
    assert rc == 130 and "interrupted" in log, log
    assert 2 <= FrameDir(tmp_path / "out_frames").count_complete() < 400
