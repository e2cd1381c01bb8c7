"""Tests for dreamreel.animator.media: PNG frames, MP4, GIF, clips (small sizes, bundled ffmpeg)."""

from __future__ import annotations

import os
import subprocess
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import torch

from dreamreel.animator.errors import UserError
from dreamreel.animator.media import (FrameDir, Mp4Writer, make_gif, open_clip, read_image, to_uint8, trimmed_audio,
                                      write_image)
from dreamreel.animator.media.ffmpeg import FfmpegError, probe_video, run_ffmpeg

from helpers.gif_parse import gif_info

H, W = 67, 91  # odd on purpose


def gradient(k: int = 0, h: int = H, w: int = W) -> torch.Tensor:
    """A smooth colourful (1,3,h,w) frame in [0,1]; k shifts it a little."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    b = 0.25 + 0.5 * ((xx + yy) / 2 + 0.03 * k) % 1.0
    return torch.stack([0.1 + 0.8 * xx, 0.1 + 0.8 * yy, b])[None]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def read_first_frame(path: Path, size: tuple[int, int]) -> np.ndarray:
    gen = imageio_ffmpeg.read_frames(str(path), output_params=["-sws_flags", "accurate_rnd+full_chroma_int"])
    try:
        next(gen)
        raw = next(gen)
    finally:
        gen.close()
    w, h = size
    return np.frombuffer(raw, np.uint8).reshape(h, w, 3)


def ffmpeg(*args: str) -> None:
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-v", "error", "-y", *args], check=True)


# ---------------------------------------------------------------------------- to_uint8


def test_to_uint8_shapes_rounding_clamping():
    t = torch.tensor([0.0, 0.5 / 255, 1.49 / 255, 1.51 / 255, 1.0, 1.7, -0.3]).view(1, 1, 1, 7).expand(1, 3, 1, 7)
    a = to_uint8(t)
    assert a.shape == (1, 7, 3) and a.dtype == np.uint8 and a.flags.c_contiguous
    assert a[0, :, 0].tolist() == [0, 0, 1, 2, 255, 255, 0]
    assert np.array_equal(to_uint8(t[0]), a)  # (3,H,W)
    assert np.array_equal(to_uint8(t[0].permute(1, 2, 0).numpy()), a)  # HxWx3 float
    assert np.array_equal(to_uint8(a), a)  # uint8 passes through
    with pytest.raises(ValueError):
        to_uint8(torch.zeros(2, 3, 4, 4))


# ---------------------------------------------------------------------------- PNG / FrameDir


def test_png_roundtrip_atomic(tmp_path):
    f = gradient()
    p = write_image(tmp_path / "x.png", f)
    assert p == tmp_path / "x.png" and os.listdir(tmp_path) == ["x.png"]
    back = read_image(p)
    assert back.shape == (1, 3, H, W) and back.dtype == torch.float32
    assert (back - f).abs().max().item() <= 0.5 / 255 + 1e-6


def test_framedir_count_complete_stops_at_gap_and_ignores_temp(tmp_path):
    fd = FrameDir(tmp_path / "frames")
    assert fd.count_complete() == 0
    for i in (0, 1, 2, 4):
        fd.write(i, gradient(i))
    assert fd.path_of(3).name == "frame_000003.png"
    # a leftover from an interrupted write of frame 3
    (fd.path / "frame_000003.png.tmp-abcd1234.png").write_bytes(b"partial")
    assert fd.count_complete() == 3
    assert fd.paths() == [fd.path_of(i) for i in range(3)]
    assert fd.clean_temp() == 1
    assert sorted(os.listdir(fd.path)) == [f"frame_{i:06d}.png" for i in (0, 1, 2, 4)]
    fd.write(3, gradient(3))
    assert fd.count_complete() == 5
    assert (fd.read(2) - gradient(2)).abs().max().item() <= 0.5 / 255 + 1e-6
    with pytest.raises(FileNotFoundError):
        fd.read(7)


# ---------------------------------------------------------------------------- MP4


def test_mp4_frames_fps_size_and_quality(tmp_path):
    out = tmp_path / "a.mp4"
    with Mp4Writer(out, fps=12) as w:
        for k in range(10):
            w.write(gradient(k))
    assert sorted(os.listdir(tmp_path)) == ["a.mp4"]  # temp file renamed away
    info = probe_video(out)
    assert info["frames"] == 10
    assert info["fps"] == pytest.approx(12.0)
    assert (info["width"], info["height"]) == (W + 1, H + 1)  # odd sizes padded to even
    assert info["has_audio"] is False
    got = read_first_frame(out, (W + 1, H + 1))
    assert psnr(got[:H, :W], to_uint8(gradient(0))) > 30.0


def test_mp4_crop_mode_and_fractional_fps(tmp_path):
    out = tmp_path / "c.mp4"
    with Mp4Writer(out, fps=Fraction(30000, 1001), crf=23, preset="ultrafast", odd="crop") as w:
        for k in range(5):
            w.write(to_uint8(gradient(k)))  # HxWx3 uint8 arrays are accepted too
    info = probe_video(out)
    assert (info["width"], info["height"], info["frames"]) == (W - 1, H - 1, 5)
    assert info["fps"] == pytest.approx(29.97, abs=0.01)


def test_mp4_exception_leaves_nothing(tmp_path):
    out = tmp_path / "b.mp4"
    with pytest.raises(KeyError):
        with Mp4Writer(out, fps=10) as w:
            for k in range(3):
                w.write(gradient(k))
            raise KeyError("boom")
    assert not out.exists()
    assert os.listdir(tmp_path) == []


def test_mp4_no_frames_and_size_change(tmp_path):
    with pytest.raises(ValueError, match="veryslow"):
        Mp4Writer(tmp_path / "p.mp4", fps=10, preset="bogus")
    with pytest.raises(ValueError):
        with Mp4Writer(tmp_path / "empty.mp4", fps=10):
            pass
    with pytest.raises(ValueError):
        with Mp4Writer(tmp_path / "sz.mp4", fps=10) as w:
            w.write(gradient(0))
            w.write(gradient(0, h=H + 2))
    assert os.listdir(tmp_path) == []


def test_mp4_audio_muxed_when_source_has_audio(tmp_path):
    with_audio = tmp_path / "src_audio.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=2",
           "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(with_audio))
    no_audio = tmp_path / "src_silent.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(no_audio))
    assert probe_video(with_audio)["has_audio"] and not probe_video(no_audio)["has_audio"]

    for src, expect in ((with_audio, True), (no_audio, False)):
        out = tmp_path / f"out_{src.stem}.mp4"
        with Mp4Writer(out, fps=10, preset="ultrafast", audio_path=src) as w:
            for k in range(10):
                w.write(gradient(k, 64, 64))
        info = probe_video(out)
        assert info["has_audio"] is expect
        assert info["frames"] == 10 and (info["width"], info["height"]) == (64, 64)
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["src_audio.mp4", "src_silent.mp4", "out_src_audio.mp4", "out_src_silent.mp4"]
    )


# ---------------------------------------------------------------------------- GIF


@pytest.mark.parametrize("delay_ms", [100, 40])
def test_gif_delay_loop_and_frames_from_generator(tmp_path, delay_ms):
    out = tmp_path / "g.gif"
    make_gif((gradient(k, 48, 64) for k in range(7)), out, delay_ms=delay_ms)
    info = gif_info(out)
    assert info["frames"] == 7
    assert info["delays_ms"] == [delay_ms] * 7
    assert info["loop"] == 0  # forever
    assert (info["width"], info["height"]) == (64, 48)
    assert os.listdir(tmp_path) == ["g.gif"]  # palette / intermediate / temp removed
    PIL = pytest.importorskip("PIL.Image")
    with PIL.open(out) as im:  # cross-check the hand-written parser
        assert im.n_frames == 7 and im.info["loop"] == 0 and im.info["duration"] == delay_ms


def test_gif_from_framedir_fps_width_dither_loop(tmp_path):
    fd = FrameDir(tmp_path / "frames")
    for k in range(5):
        fd.write(k, gradient(k, 48, 64))
    out = tmp_path / "d.gif"
    make_gif(fd, out, fps=25, dither="bayer", max_colors=64, width=32, loop=-1)
    info = gif_info(out)
    assert info["frames"] == 5 and info["delays_ms"] == [40] * 5
    assert info["loop"] is None  # played once: no NETSCAPE2.0 block
    assert (info["width"], info["height"]) == (32, 24)
    # a list of PNG paths works the same; delay_ms is rounded to centiseconds
    make_gif(fd.paths(), out, delay_ms=33, dither="none")
    assert gif_info(out)["delays_ms"] == [30] * 5


def test_gif_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="sierra2_4a"):
        make_gif([gradient(0)], tmp_path / "x.gif", dither="atkinson-ish")
    with pytest.raises(ValueError):
        make_gif([gradient(0)], tmp_path / "x.gif", fps=10, delay_ms=100)
    with pytest.raises(ValueError):
        make_gif([], tmp_path / "x.gif")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------- ffmpeg runner, images, clips


def test_ffmpeg_failure_is_one_line(tmp_path):
    with pytest.raises(FfmpegError) as e:
        run_ffmpeg(["-i", str(tmp_path / "missing.mp4"), "-f", "null", "-"])
    msg = str(e.value)
    assert msg.startswith("ffmpeg failed (exit ") and "\n" not in msg and "missing.mp4" in msg
    assert e.value.rc != 0 and e.value.cmd[-1] == "-"


def test_read_image_errors_are_user_errors(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    for path, words in ((bad, "not an image"), (tmp_path / "none.png", "file not found"), (tmp_path, "is a folder")):
        with pytest.raises(UserError, match=words):
            read_image(path)


def test_trimmed_audio_covers_the_frames_used(tmp_path):
    src = tmp_path / "src.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=3",
           "-f", "lavfi", "-i", "sine=frequency=440:duration=3",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(src))
    info = open_clip(str(src), start=0.5, max_frames=12)
    assert info.has_audio and info.frames == 12
    audio = trimmed_audio(info)
    try:
        listing = run_ffmpeg(["-i", audio, "-f", "null", "-"], log="info")
    finally:
        os.remove(audio)
    assert "Audio:" in listing and "Video:" not in listing
    h, m, s = listing.split("Duration: ", 1)[1].split(",", 1)[0].split(":")
    assert float(s) + 60 * float(m) + 3600 * float(h) == pytest.approx(1.2, abs=0.05)

    silent = tmp_path / "silent.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(silent))
    assert trimmed_audio(open_clip(str(silent))) is None


def test_probes_of_sibling_folders_at_once_do_not_fail_each_other(tmp_path):
    """A split render's ranges check their frames folders at once, under a parent none of them made yet:
    one probe removing the parent it made must not fail another (the old "range 1 failed after 2 retries:
    cannot write to the frames folder ...: No such file or directory"; 226 of 300 rounds failed before)."""
    import threading

    from dreamreel.animator.errors import UserError
    from dreamreel.animator.media.atomic import check_folder_writable

    errors = []
    for round_ in range(60):
        work = tmp_path / f"w{round_}"

        def probe(i):
            try:
                for _ in range(5):
                    check_folder_writable(work / f"range_{i:04d}", "the frames folder")
            except UserError as e:
                errors.append(str(e))

        threads = [threading.Thread(target=probe, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not work.exists() or not any(work.iterdir())  # the probes leave nothing behind
    assert errors == []


@pytest.mark.parametrize("version, option", [("4.2.2-static", "-vsync"), ("5.0.1", "-vsync"), ("5.1", "-fps_mode"),
                                             ("n9.0.2-17-g2a571b6068-20260930", "-fps_mode"),
                                             ("N-118000-g1234abcd", "-fps_mode")])
def test_the_frame_timing_option_is_the_one_the_ffmpeg_in_use_knows(monkeypatch, version, option):
    """imageio-ffmpeg 0.5 and older bundle ffmpeg 4.2, which has no -fps_mode (every clip failed to open there)."""
    from dreamreel.animator.media import ffmpeg

    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_version", lambda: version)
    ffmpeg.ffmpeg_version.cache_clear()
    try:
        assert ffmpeg.fps_mode() == [option, "passthrough"] and ffmpeg.fps_mode("vfr") == [option, "vfr"]
    finally:
        ffmpeg.ffmpeg_version.cache_clear()
