import json
import math

import pytest
import torch

from dreamreel.animator.request.configs import zoom_config
from dreamreel.animator.errors import UserError
from dreamreel.animator.frameloop.scheduler import FrameScheduler, Sinks, keyframes
from dreamreel.animator.media import FrameDir
from dreamreel.animator.media.ffmpeg import probe_video
from dreamreel.animator.modes.zoom import Motion, ZoomMode
from dreamreel.animator.request.schedule import parse_schedule
from dreamreel.engine import DreamParams, objectives

from conftest import REPO, SAMPLES, load
from helpers.gif_parse import gif_info

TINY = ["--size", "64", "--steps", "0:(1)", "--octaves", "0:(1)"]


def test_zoom_cli_writes_mp4_and_gif_with_requested_frames_fps_size(run_cli, tmp_path):
    out, gif = tmp_path / "z.mp4", tmp_path / "z.gif"
    code, _, err = run_cli("zoom", SAMPLES / "figures.jpg", "-o", out, "--gif", gif, "--frames", 7, "--fps", 12,
                           "--size", 97, "--steps", "0:(1)", "--octaves", "0:(1)")
    assert code == 0, err
    info = probe_video(out)
    assert info["frames"] == 7 and info["fps"] == pytest.approx(12, abs=0.01)
    assert (info["width"], info["height"]) == (98, 66)  # 97x65 made even for H.264 yuv420p
    g = gif_info(gif)
    assert g["frames"] == 7 and g["loop"] == 0 and set(g["delays_ms"]) == {80}  # 1/12 s -> 8 cs
    s = json.loads((tmp_path / "z_frames" / "settings.json").read_text())
    assert s["command"] == "zoom" and s["frames"] == 7 and s["preset"] == "journey"
    assert (tmp_path / "z.settings.json").exists()
    assert FrameDir(tmp_path / "z_frames").count_complete() == 7


class CountingMode:
    """A zoom mode that counts the frames it dreams."""

    def __init__(self, mode):
        self.inner, self.calls = mode, []
        self.n_frames, self.device = mode.n_frames, mode.device

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def step(self, t, source, seed):
        self.calls.append(t)
        return self.inner.step(t, source, seed)


def make_mode(lite0, n, zoom="0:(1.05)", angle="0:(0)", strength="0:(0.02)", size=64, start=None):
    start = load(SAMPLES / "figures.jpg", size) if start is None else start
    s = lambda text, name: parse_schedule(text, name)  # noqa: E731
    motion = Motion(s(zoom, "zoom"), s(angle, "angle"), s("0", "tx"), s("0", "ty"), s("0.5", "cx"), s("0.5", "cy"), n)
    return ZoomMode(lite0, objectives.layer("block6"), start, motion, DreamParams(octaves=1, jitter=4),
                    s(strength, "strength"), s("1", "steps"), s("1", "octaves"))


@pytest.mark.parametrize("n, k", [(10, 3), (9, 3), (7, 1), (5, 4)])
def test_cadence_dreams_every_kth_frame_only(lite0, tmp_path, n, k):
    mode = CountingMode(make_mode(lite0, n))
    result = FrameScheduler(mode, Sinks(frames_dir=str(tmp_path / "f")), {"n": n}, cadence=k).run()
    assert mode.calls == keyframes(n, k) and len(mode.calls) == math.ceil(n / k)
    assert result["stepped"] == math.ceil(n / k)
    assert FrameDir(tmp_path / "f").count_complete() == n


def test_in_between_frames_move_smoothly(lite0, tmp_path):
    """Cadence 3: each in-between frame is close to its neighbours (motion, not a jump cut)."""
    mode = make_mode(lite0, 7, zoom="0:(1.03)")
    FrameScheduler(mode, Sinks(frames_dir=str(tmp_path / "f")), {}, cadence=3).run()
    frames = FrameDir(tmp_path / "f")
    diffs = [float((frames.read(i + 1) - frames.read(i)).abs().mean()) for i in range(6)]
    assert max(diffs) < 2.5 * min(diffs) + 0.01, diffs


class Interrupt(Exception):
    pass


def test_resume_gives_the_same_frames_as_an_uninterrupted_render(lite0, tmp_path):
    n = 8
    full = tmp_path / "full"
    FrameScheduler(make_mode(lite0, n), Sinks(frames_dir=str(full)), {"a": 1}, cadence=3, seed=7).run()

    part = tmp_path / "part"

    def stop_after_5(done, total, status):
        if done == 5:
            raise Interrupt

    with pytest.raises(Interrupt):
        FrameScheduler(make_mode(lite0, n), Sinks(frames_dir=str(part)), {"a": 1}, cadence=3, seed=7,
                       progress=stop_after_5).run()
    assert FrameDir(part).count_complete() == 5
    result = FrameScheduler(make_mode(lite0, n), Sinks(frames_dir=str(part)), {"a": 1}, cadence=3, seed=7,
                            resume=True).run()
    assert result["resumed_from"] == 5
    for i in range(n):
        assert (full / f"frame_{i:06d}.png").read_bytes() == (part / f"frame_{i:06d}.png").read_bytes(), i

    with pytest.raises(UserError, match="settings differ .* in: a"):
        FrameScheduler(make_mode(lite0, n), Sinks(frames_dir=str(part)), {"a": 2}, cadence=3, seed=7,
                       resume=True).run()


def test_resume_through_the_cli_refuses_changed_settings(run_cli, tmp_path):
    out = tmp_path / "z.mp4"
    assert run_cli("zoom", SAMPLES / "figures.jpg", "-o", out, "--frames", 3, *TINY)[0] == 0
    code, _, err = run_cli("zoom", SAMPLES / "figures.jpg", "-o", out, "--frames", 3, *TINY, "--resume")
    assert code == 0, err
    code, _, err = run_cli("zoom", SAMPLES / "figures.jpg", "-o", out, "--frames", 3, *TINY, "--resume",
                           "--zoom", "1.1")
    assert code == 2 and "settings differ" in err and "zoom" in err and len(err.strip().splitlines()) == 1


def mean_colour_drift(lite0, tmp_path, mode_name: str) -> float:
    """|mean RGB of frame 99 - frame 0| of a strong 100-frame feedback loop."""
    start = load(SAMPLES / "chelsea.png", 64)
    mode = make_mode(lite0, 100, zoom="0:(1.04)", strength="0:(0.06)", start=start)
    folder = tmp_path / mode_name
    FrameScheduler(mode, Sinks(frames_dir=str(folder)), {}, color_coherence=mode_name).run()
    frames = FrameDir(folder)
    return float((frames.read(99).mean((2, 3)) - frames.read(0).mean((2, 3))).abs().max())


@pytest.mark.slow
def test_colour_coherence_keeps_frame_100_near_frame_0(lite0, tmp_path):
    with_lab = mean_colour_drift(lite0, tmp_path, "lab")
    without = mean_colour_drift(lite0, tmp_path, "none")
    assert with_lab < 0.03
    assert without > 2 * with_lab and without > 0.04


def test_presets_are_listed_and_valid(run_cli):
    code, out, err = run_cli("presets")
    assert code == 0
    shipped = sorted(p.stem for p in (REPO / "presets").glob("*.toml"))
    assert {"classic-zoom", "spiral", "drift", "tunnel", "gentle", "journey"} <= set(shipped)
    for name in shipped:  # every shipped preset resolves (keys, value kinds, schedules, layers syntax)
        assert name in out + err
        song = {"audio": str(SAMPLES / "bunny.mp4")} if name in MUSIC_PRESETS else {}  # (it reads the music)
        zoom_config({"mp4": "z.mp4", "image": "noise", **song}, name)
    with pytest.raises(UserError, match="'beat' is a music variable: give --audio SONG"):
        zoom_config({"mp4": "z.mp4", "image": "noise"}, "pulse")


MUSIC_PRESETS = ("pulse",)


def test_preset_values_are_defaults_that_the_command_line_overrides():
    cfg = zoom_config({"zoom": None, "angle": "0:(3)", "mp4": "z.mp4", "image": "noise"}, "spiral")
    assert cfg.zoom == "0:(1.02)" and cfg.angle == "0:(3)" and cfg.target.layers == "block5,block8"
    assert zoom_config({"mp4": "z.mp4", "image": "noise"}, "drift").border == "wrap"


def test_unknown_preset_key_is_named(run_cli, tmp_path):
    bad = tmp_path / "mine.toml"
    bad.write_text('description = "x"\nzoom = "0:(1.01)"\nzooom = "0:(1.2)"\n')
    code, _, err = run_cli("zoom", SAMPLES / "figures.jpg", "-o", tmp_path / "z.mp4", "--preset", bad)
    assert code == 2 and "unknown key 'zooom'" in err
    code, _, err = run_cli("zoom", SAMPLES / "figures.jpg", "-o", tmp_path / "z.mp4", "--preset", "nope")
    assert code == 2 and "presets: classic-zoom" in err


@pytest.mark.parametrize("args, message", [
    (["--zoom", "0:(1.02), 10 (1.1)"], "position 13"),
    (["--angle", "0:(__import__('os').system('true'))"], "angle"),
    (["--frames", "0"], "--frames must be >= 1"),
    (["--color-coherence", "purple"], "lab, rgb, hsv"),
    (["--border", "mirror"], "reflect, replicate, wrap"),
    (["--cadence", "0"], "--cadence"),
])
def test_zoom_bad_input_is_one_line_exit_2(run_cli, tmp_path, args, message):
    code, _, err = run_cli("zoom", SAMPLES / "figures.jpg", "-o", tmp_path / "z.mp4", *args)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "z.mp4").exists()


def test_zoom_from_noise_and_solid_colour(run_cli, tmp_path):
    for start in ("noise", "solid:#203040"):
        code, _, err = run_cli("zoom", start, "-o", tmp_path / "z.gif", "--frames", 3, *TINY, "--gif-width", "full")
        assert code == 0, err
        assert gif_info(tmp_path / "z.gif")["frames"] == 3


def test_default_gif_is_made_to_be_posted_and_full_keeps_every_frame(run_cli, tmp_path):
    args = ["--frames", 6, "--size", 400, "--steps", "0:(1)", "--octaves", "0:(1)"]
    code, _, err = run_cli("zoom", SAMPLES / "figures.jpg", "-o", tmp_path / "a.mp4", "--gif", tmp_path / "a.gif", *args)
    assert code == 0, err
    small = gif_info(tmp_path / "a.gif")
    # every 2nd frame of the 24 fps render, played at 12 fps (the same duration), at most 320 px wide
    assert small["frames"] == 3 and set(small["delays_ms"]) == {80} and small["width"] == 320
    code, _, err = run_cli("zoom", SAMPLES / "figures.jpg", "-o", tmp_path / "b.mp4", "--gif", tmp_path / "b.gif", *args,
                           "--gif-width", "full")
    assert code == 0, err
    full = gif_info(tmp_path / "b.gif")
    assert full["frames"] == 6 and set(full["delays_ms"]) == {40} and full["width"] == 400
    assert (tmp_path / "a.gif").stat().st_size < 0.5 * (tmp_path / "b.gif").stat().st_size
    code, _, err = run_cli("zoom", SAMPLES / "figures.jpg", "-o", tmp_path / "c.mp4", *args, "--gif-width", "wide")
    assert code == 2 and "--gif-width must be a width in px or 'full'" in err


def test_readme_first_command_and_the_gif_it_made():
    """README's first command loops with the default preset, which travels; the GIF README shows (docs/gallery/) is the
    one that command wrote: at most 10 MB, 120 frames at 320 px, looping. (Rendering it again takes minutes:
    tests/benchmarks/bench_readme.py does, and checks that it writes the same GIF.)"""
    readme = (REPO / "README.md").read_text()
    command = "dreamreel zoom samples/figures.jpg --frames 240 --loop -o zoom.mp4 --gif zoom.gif"
    assert command in readme
    cfg = zoom_config({"image": str(SAMPLES / "figures.jpg"), "frames": 240, "loop": True, "mp4": "zoom.mp4",
                       "gif": "zoom.gif"}, None)
    assert cfg.preset == "journey" and cfg.outputs.loop and len(cfg.objective_schedule().keyframes) >= 5
    gif = gif_info(REPO / "docs" / "gallery" / "zoom.gif")
    assert gif["frames"] == 120 and gif["width"] == 320 and set(gif["delays_ms"]) == {80} and gif["loop"] == 0
    assert (REPO / "docs" / "gallery" / "zoom.gif").stat().st_size <= 10e6