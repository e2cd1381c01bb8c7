"""Resources running out: an output folder that cannot be written, a full disk, NaN/inf in an
optimisation, a GPU out of memory. Each: one line (exit 2) or a warning, and every finished frame kept."""
from __future__ import annotations

import errno
import json
import os
import re

import pytest
import torch

from dreamreel.animator.frameloop import scheduler
from dreamreel.animator.clips import dream, optimize
from dreamreel.animator.modes import zoom
from dreamreel.animator.media import FrameDir, atomic
from dreamreel.animator.media.ffmpeg import probe_video
from dreamreel.animator.frameloop.scheduler import CrossFade, FrameScheduler, Sinks, Source

from conftest import CLIP, SAMPLES, STARRY

FIG = SAMPLES / "figures.jpg"
TINY = ["--frames", 6, "--size", 64, "--steps", "0:(1)", "--octaves", "0:(1)"]


def one_line(err: str) -> str:
    """The one line that says what happened (the progress lines a log gets while the render ran are not it)."""
    lines = [ln for ln in err.strip().splitlines() if ln.strip() and not PROGRESS_LINE.match(ln)]
    assert len(lines) == 1, err
    return lines[0]


#: a progress line in a log (animator/progress.log_line)
PROGRESS_LINE = re.compile(r"^.+: \d+/\d+ \w+s, [-\d.]+ s/\w+, \d+:\d\d:\d\d, ETA [-\d:]+")


# --------------------------------------------------------------------------- folders that cannot be written


def test_output_in_a_folder_that_cannot_be_made_is_one_line(run_cli, tmp_path):
    (tmp_path / "file.txt").write_text("not a folder")
    code, _, err = run_cli("zoom", FIG, "-o", tmp_path / "file.txt" / "z.mp4", *TINY)
    assert code == 2 and "cannot write to" in one_line(err) and "file.txt is a file, not a folder" in err
    code, _, err = run_cli("zoom", FIG, "-o", tmp_path / "z.mp4", "--frames-dir", tmp_path / "file.txt" / "f", *TINY)
    assert code == 2 and "cannot write to the frames folder" in one_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]  # nothing made on the way


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder_is_one_line(run_cli, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        code, _, err = run_cli("zoom", FIG, "-o", ro / "z.mp4", *TINY)
        assert code == 2 and "cannot write to" in one_line(err) and "Permission denied" in err
    finally:
        ro.chmod(0o755)


def test_read_only_output_folder_via_access_check_is_one_line(run_cli, tmp_path, monkeypatch):
    """The same as root would see it on a read-only mount: creating the file fails with EROFS."""
    real = atomic.tempfile.mkstemp

    def read_only(*a, dir=None, **kw):
        if dir is not None and os.path.abspath(dir).startswith(str(tmp_path / "ro")):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), dir)
        return real(*a, dir=dir, **kw)

    monkeypatch.setattr(atomic.tempfile, "mkstemp", read_only)
    code, _, err = run_cli("zoom", FIG, "-o", tmp_path / "ro" / "z.mp4", *TINY)
    assert code == 2 and "Read-only file system" in one_line(err)


# --------------------------------------------------------------------------- disk full


def test_disk_full_stops_with_one_line_keeps_frames_and_resumes_to_the_same_frames(run_cli, tmp_path, monkeypatch):
    full = tmp_path / "full"
    assert run_cli("zoom", FIG, "-o", full / "z.mp4", "--cadence", 2, *TINY)[0] == 0

    real_replace = os.replace

    def replace(src, dst, *a, **kw):  # the disk fills up when frame 3 is written
        name = os.path.basename(dst)
        if name.startswith("frame_") and int(name[6:12]) >= 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), src)
        return real_replace(src, dst, *a, **kw)

    out = tmp_path / "cut" / "z.mp4"
    monkeypatch.setattr(os, "replace", replace)
    code, _, err = run_cli("zoom", FIG, "-o", out, "--gif", tmp_path / "cut" / "z.gif", "--cadence", 2, *TINY)
    monkeypatch.setattr(os, "replace", real_replace)  # space freed
    line = one_line(err)
    assert code == 2
    assert f"disk full while writing {tmp_path / 'cut' / 'z_frames' / 'frame_000003.png'}; 3 frames kept" in line
    assert "free space and run again with --resume" in line
    frames = tmp_path / "cut" / "z_frames"
    assert FrameDir(frames).count_complete() == 3
    assert sorted(p.name for p in (tmp_path / "cut").rglob("*") if ".tmp-" in p.name) == []  # no debris

    code, _, err = run_cli("zoom", FIG, "-o", out, "--gif", tmp_path / "cut" / "z.gif", "--cadence", 2, *TINY,
                           "--resume")
    assert code == 0, err
    for i in range(6):
        name = FrameDir.PATTERN.format(i)
        assert (frames / name).read_bytes() == (full / "z_frames" / name).read_bytes(), i
    assert probe_video(out)["frames"] == 6


def full_disk_mp4(monkeypatch):
    """The MP4 writer's temporary file is a link to /dev/full: ffmpeg's writes fail with ENOSPC."""
    from dreamreel.animator.media import mp4

    real = mp4.tmp_beside

    def tmp_on_full_disk(path):
        tmp = real(path)
        tmp.unlink()
        tmp.symlink_to("/dev/full")
        return tmp

    monkeypatch.setattr(mp4, "tmp_beside", tmp_on_full_disk)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_mp4_writer_never_publishes_what_ffmpeg_could_not_finish(tmp_path, monkeypatch):
    from dreamreel.animator.media import Mp4Writer
    from dreamreel.animator.media.ffmpeg import FfmpegError

    full_disk_mp4(monkeypatch)
    w = Mp4Writer(tmp_path / "z.mp4", fps=10)
    for i in range(5):
        w.write(torch.full((1, 3, 32, 32), i / 5))
    with pytest.raises(FfmpegError, match="No space left on device"):
        w.close()
    assert list(tmp_path.iterdir()) == []  # no z.mp4, no temporary (the link) left


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_disk_full_while_the_mp4_is_written_is_the_same_line(run_cli, tmp_path, monkeypatch):
    full_disk_mp4(monkeypatch)
    code, _, err = run_cli("zoom", FIG, "-o", tmp_path / "z.mp4", *TINY)
    line = one_line(err)
    kept = FrameDir(tmp_path / "z_frames").count_complete()  # ffmpeg fails when its buffers first reach the disk
    assert code == 2 and kept >= 1 and f"disk full while writing {tmp_path / 'z.mp4'}; {kept} frame" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z_frames"]


# --------------------------------------------------------------------------- NaN / inf


class NanAt(CrossFade):
    """A mode whose step gives NaN at frame ``bad`` (always, or only the first time)."""

    def __init__(self, n: int, bad: int, once: bool, smaller: bool):
        self.n_frames, self.bad, self.once = n, bad, once
        self.calls: list[tuple[int, str]] = []
        if smaller:
            self.step_smaller = lambda t, source, seed: self._step(t, source, "smaller")

    def first_source(self) -> Source:
        return Source(torch.full((1, 3, 16, 16), 0.5))

    def source(self, t, prev, prev_t) -> Source:
        return Source((prev + 0.1).clamp(0, 1))

    def step(self, t, source, seed):
        return self._step(t, source, "step")

    def _step(self, t, source, how):
        self.calls.append((t, how))
        if t == self.bad and (how == "step" or not self.once):
            return torch.full_like(source.image, float("nan"))
        return source.image * (0.5 if how == "smaller" else 0.9)


@pytest.mark.parametrize("once, smaller, expect", [
    (True, True, "half the step size"),  # the retry at half the step size works
    (False, True, "is kept as its start picture"),  # NaN twice: the frame is its source
    (False, False, "is kept as its start picture"),  # a mode that cannot step smaller
])
def test_nan_step_is_retried_smaller_or_the_frame_keeps_its_source_never_black(tmp_path, once, smaller, expect):
    mode, warnings = NanAt(4, 2, once, smaller), []
    FrameScheduler(mode, Sinks(frames_dir=str(tmp_path)), {}, warn=warnings.append).run()
    assert len(warnings) == 1 and "frame 2" in warnings[0] and expect in warnings[0]
    frames = FrameDir(tmp_path)
    one = frames.read(1)
    source = (one + 0.1).clamp(0, 1)
    want = source * 0.5 if once else source
    assert torch.allclose(frames.read(2), scheduler.quantize(want), atol=1e-6)
    assert mode.calls.count((2, "step")) == 1 and frames.count_complete() == 4


def test_nan_in_a_zoom_dream_is_retried_at_half_the_strength(run_cli, tmp_path, monkeypatch):
    real, seen = zoom.dream, []

    def dream(net, image, objective, params):
        seen.append(params.lr)
        out = real(net, image, objective, params)
        return out * float("nan") if len(seen) == 3 else out  # frame 2's dream

    monkeypatch.setattr(zoom, "dream", dream)
    code, _, err = run_cli("zoom", FIG, "-o", tmp_path / "z.mp4", *TINY)
    assert code == 0, err
    assert "warning: frame 2: the step gave NaN/inf values; stepped again at half the step size" in err
    assert seen[3] == seen[2] / 2 and len(seen) == 7  # 6 frames, one retried
    f = FrameDir(tmp_path / "z_frames")
    assert abs(float(f.read(2).mean()) - float(f.read(1).mean())) < 0.05  # a picture, not black


def test_nan_in_a_video_style_step_never_writes_a_black_frame(run_cli, tmp_path, monkeypatch):
    from dreamreel.engine.style import StyleTransfer

    real = StyleTransfer.run

    def run(self, iters, *a, **kw):  # every optimisation of frame 1 (a warm-started one) blows up
        out = real(self, iters, *a, **kw)
        return out + float("inf") if self.temporal is not None and run.frame1 else out

    run.frame1 = False
    real_step = optimize.VideoStyleMode.step

    def step(self, t, source, seed, lr_scale=1.0):
        run.frame1 = t == 1
        return real_step(self, t, source, seed, lr_scale)

    monkeypatch.setattr(StyleTransfer, "run", run)
    monkeypatch.setattr(optimize.VideoStyleMode, "step", step)
    code, _, err = run_cli("video", CLIP, "--style", STARRY, "-o", tmp_path / "s.mp4", "--width", 64,
                           "--max-frames", 3, "--method", "optimize", "--iters-first", 3, "--iters", 2)
    assert code == 0, err
    assert "frame 1: the step gave NaN/inf values (twice, the second time at half the step size)" in err
    f = FrameDir(tmp_path / "s_frames")
    assert f.count_complete() == 3 and float(f.read(1).mean()) > 0.1
    assert probe_video(tmp_path / "s.mp4")["frames"] == 3


def test_nan_in_a_still_dream_is_retried_then_refused_in_one_line(run_cli, tmp_path, monkeypatch):
    from dreamreel.animator.modes import still

    real = still.dream
    monkeypatch.setattr(still, "dream", lambda *a, **kw: real(*a, **kw) * float("nan"))
    out = tmp_path / "d.png"
    code, _, err = run_cli("dream", FIG, "-o", out, "--size", 64, "--octaves", 1, "--steps", 1)
    assert code == 2 and "NaN/inf values, also at half the step size" in err.strip().splitlines()[-1]
    assert not out.exists()


# --------------------------------------------------------------------------- out of memory


def test_gpu_out_of_memory_is_one_line_suggesting_tile_and_keeps_frames(run_cli, tmp_path, monkeypatch):
    real = zoom.ZoomMode.step

    def step(self, t, source, seed):
        if t == 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB "
                                              "total capacity; 5.10 GiB already allocated)")
        return real(self, t, source, seed)

    monkeypatch.setattr(zoom.ZoomMode, "step", step)
    code, _, err = run_cli("zoom", FIG, "-o", tmp_path / "z.mp4", *TINY)
    line = one_line(err)
    assert code == 2 and line.startswith("error: out of memory on cpu at frame 2 of zoom 64x43")
    assert "2 frames kept" in line and "128 px gradient tiles" in line and "smaller --size" in line
    assert FrameDir(tmp_path / "z_frames").count_complete() == 2
    assert not (tmp_path / "z.mp4").exists() and [p for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


def fits_in(limit: int, real):
    """A dream that runs out of memory unless its gradients are tiled at ``limit`` px or less."""
    def dream(net, image, objective, params, *args, **kwargs):
        if params.tile == 0 or params.tile > limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(net, image, objective, params, *args, **kwargs)
    return dream


def test_a_zoom_that_does_not_fit_chooses_its_tile_and_says_so(run_cli, tmp_path, monkeypatch):
    code, _, err = run_cli("zoom", FIG, "-o", tmp_path / "tiled.mp4", *TINY, "--tile", 256)
    assert code == 0, err
    monkeypatch.setattr(zoom, "dream", fits_in(256, zoom.dream))
    code, _, err = run_cli("zoom", FIG, "-o", tmp_path / "z.mp4", *TINY)
    assert code == 0, err
    said = " ".join(err.split())
    assert said.count("did not fit in memory") == 2  # 512 px tiles, then 256, once each: later frames start at 256
    assert "dreaming in 256 px gradient tiles from here on (--tile 256)" in said
    a, b = FrameDir(tmp_path / "z_frames"), FrameDir(tmp_path / "tiled_frames")
    assert a.count_complete() == b.count_complete() == 6
    assert all(torch.equal(a.read(t), b.read(t)) for t in range(6))  # the frames of --tile 256


def test_a_still_that_does_not_fit_chooses_its_tile_or_says_it_cannot(run_cli, tmp_path, monkeypatch):
    from dreamreel.animator.modes import still

    real = still.dream
    monkeypatch.setattr(still, "dream", fits_in(512, real))
    code, _, err = run_cli("dream", FIG, "-o", tmp_path / "d.png", "--size", 96, "--octaves", 1, "--steps", 1)
    assert code == 0 and "dreaming in 512 px gradient tiles" in " ".join(err.split()), err
    assert json.loads((tmp_path / "d.settings.json").read_text())["dream"]["tile"] == 512
    monkeypatch.setattr(still, "dream", fits_in(64, real))
    code, _, err = run_cli("dream", FIG, "-o", tmp_path / "e.png", "--size", 96, "--octaves", 1, "--steps", 1)
    assert code == 2 and "even in 128 px gradient tiles" in err.splitlines()[-1] and not (tmp_path / "e.png").exists()


def test_out_of_memory_in_a_video_suggests_a_smaller_width(run_cli, tmp_path, monkeypatch):
    def step(self, t, source, seed, lr_scale=1.0):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory.")

    monkeypatch.setattr(dream.VideoDreamMode, "step", step)
    code, _, err = run_cli("video", CLIP, "--dream", "-o", tmp_path / "v.mp4", "--width", 96, "--max-frames", 2)
    assert code == 2 and "out of memory" in one_line(err) and "a smaller --width" in err


# --------------------------------------------------------------------------- frame counts read back


@pytest.mark.parametrize("rate", ["30000/1001", "24000/1001"])
def test_every_frame_is_kept_when_the_clips_audio_ends_just_before_the_last_frame(tmp_path, rate):
    """29.97 and 23.976 fps clips: their audio cut to frames / fps ends a hair early, and ``-shortest``
    dropped the last frame (found by bench_long: 499 of 500 frames)."""
    import subprocess

    from dreamreel.animator.media import Mp4Writer, open_clip, trimmed_audio
    from dreamreel.animator.media.ffmpeg import ffmpeg_exe

    clip = tmp_path / "ntsc.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", f"testsrc=size=64x36:rate={rate}:duration=2",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2", "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(clip)], check=True)
    for n in (5, 47):
        info = open_clip(str(clip), max_frames=n)
        audio = trimmed_audio(info, beside=str(tmp_path / "out.mp4"))
        with Mp4Writer(tmp_path / "out.mp4", fps=info.fps, audio_path=audio) as w:
            for k in range(n):
                w.write(torch.full((1, 3, 36, 64), k / n))
        os.remove(audio)
        got = probe_video(tmp_path / "out.mp4")
        assert got["frames"] == n and got["has_audio"], (n, got)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ntsc.mp4", "out.mp4"]
