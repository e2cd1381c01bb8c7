"""Issue 34: zooms to a song through the command line, at small sizes. The render lasts as long as the song and its
MP4 carries the song from frame 0; --resume and --loop give the same frames; a zoom of ``1 + k*beat`` changes on the
beat; a song that cannot drive a render is one line, exit 2, and nothing already there is lost."""
from __future__ import annotations

import json
import re
import shutil
import sys

import numpy as np
import pytest

from dreamreel.animator.media import FrameDir
from dreamreel.animator.media.ffmpeg import probe_video, read_ffmpeg

from conftest import REPO, SAMPLES

sys.path.insert(0, str(REPO / "tests" / "helpers"))
from drums import drum_wav, hostile_song  # noqa: E402

TINY = ["--size", "64", "--steps", "0:(1)", "--octaves", "0:(1)", "--preset", "classic-zoom"]
FPS = 24


def mp4_sound(path) -> np.ndarray:
    """The MP4's audio track decoded: mono float32 at 22.05 kHz."""
    data = b"".join(read_ffmpeg(["-i", str(path), "-map", "0:a:0", "-ac", "1", "-ar", "22050", "-f", "f32le", "-"]))
    return np.frombuffer(data, "<f4")


def frame_steps(folder, n: int) -> np.ndarray:
    frames = FrameDir(folder)
    prev, out = frames.read(0), []
    for t in range(1, n):
        cur = frames.read(t)
        out.append(float((cur - prev).abs().mean()))
        prev = cur
    return np.array(out)


def test_an_8_second_song_gives_192_frames_and_an_mp4_that_carries_it_from_frame_0(run_cli, tmp_path):
    song = tmp_path / "song.wav"
    kicks = drum_wav(song, 8.0, 120, drop=4.0)
    out = tmp_path / "z.mp4"
    code, _, err = run_cli("zoom", SAMPLES / "figures.jpg", "-o", out, "--audio", song, "--zoom", "0:(1 + 0.05*beat)",
                           *TINY)
    assert code == 0, err
    info = probe_video(out)
    assert info["frames"] == 192 and info["has_audio"] and info["fps"] == pytest.approx(24)
    sound = mp4_sound(out)
    assert len(sound) / 22050 == pytest.approx(8.0, abs=0.1)
    # in sync: the first kick sounds at its time in the song (0.25 s: frame 6), not later or earlier
    first = np.flatnonzero(np.abs(sound) > 0.3)[0] / 22050
    assert first == pytest.approx(kicks[0], abs=0.5 / FPS)
    s = json.loads((tmp_path / "z_frames" / "settings.json").read_text())
    assert s["frames"] == 192 and s["audio"] == str(song) and s["song"]["beats"] == 16
    assert s["song"]["bpm"] == pytest.approx(120, rel=0.01)

    # --resume continues to the same frames
    part = tmp_path / "part"
    shutil.copytree(tmp_path / "z_frames", part / "z_frames")
    for t in range(100, 192):
        (part / "z_frames" / f"frame_{t:06d}.png").unlink()
    code, _, err = run_cli("zoom", SAMPLES / "figures.jpg", "-o", part / "z.mp4", "--audio", song, "--zoom",
                           "0:(1 + 0.05*beat)", *TINY, "--resume")
    assert code == 0, err
    for t in range(192):
        name = f"frame_{t:06d}.png"
        assert (tmp_path / "z_frames" / name).read_bytes() == (part / "z_frames" / name).read_bytes(), t
    assert probe_video(part / "z.mp4")["frames"] == 192


def test_a_loop_to_a_song_is_whole_beats_and_resumes_to_the_same_frames(run_cli, tmp_path):
    song = tmp_path / "song.wav"
    drum_wav(song, 3.3, 120)  # 6.6 beats: the loop is 6 beats, 3 s, 72 frames
    args = ["--zoom", "0:(1.01 + 0.05*beat)", "--angle", "0:(2*bass)", *TINY, "--loop"]
    out = tmp_path / "z.mp4"
    code, _, err = run_cli("zoom", SAMPLES / "figures.jpg", "-o", out, "--audio", song, *args)
    assert code == 0, err
    assert re.search(r"--loop: 72 frames, 6 whole beats at 1(19\.9|20\.[01]) bpm", err), err
    lead = 2 * 24  # a fade loop renders 2L frames before the ones it plays
    assert FrameDir(tmp_path / "z_frames").count_complete() == 72 + lead
    assert probe_video(out)["frames"] == 72
    assert len(mp4_sound(out)) / 22050 == pytest.approx(3.0, abs=0.1)

    part = tmp_path / "part"
    shutil.copytree(tmp_path / "z_frames", part / "z_frames")
    for t in range(50, 72 + lead):
        (part / "z_frames" / f"frame_{t:06d}.png").unlink()
    code, _, err = run_cli("zoom", SAMPLES / "figures.jpg", "-o", part / "z.mp4", "--audio", song, *args, "--resume")
    assert code == 0, err
    for t in range(72 + lead):
        name = f"frame_{t:06d}.png"
        assert (tmp_path / "z_frames" / name).read_bytes() == (part / "z_frames" / name).read_bytes(), t

    # --frames that are not whole beats: said, and rendered as asked
    code, _, err = run_cli("zoom", SAMPLES / "figures.jpg", "-o", tmp_path / "y.mp4", "--audio", song, *args,
                           "--frames", 40)
    assert code == 0, err
    assert re.search(r"--frames 40 is 3\.3[34] beats at 1(19\.9|20\.[01]) bpm: the loop does not land on a beat", err), err


def test_a_zoom_of_1_plus_k_beat_changes_on_the_beat(run_cli, tmp_path):
    """The frame-to-frame change of the render pulses at the beat's frequency (2 Hz at 120 bpm: every 12 frames),
    and does not without the beat in the schedule."""
    song = tmp_path / "song.wav"
    drum_wav(song, 6.0, 120)
    runs = {}
    for name, zoom in (("beat", "0:(1 + 0.08*beat)"), ("steady", "0:(1.02)")):
        out = tmp_path / f"{name}.mp4"
        code, _, err = run_cli("zoom", SAMPLES / "figures.jpg", "-o", out, "--audio", song, "--zoom", zoom, *TINY)
        assert code == 0, err
        runs[name] = frame_steps(tmp_path / f"{name}_frames", 144)
    for name, steps in runs.items():
        x = steps[24:] - steps[24:].mean()  # (the first second: the start picture settling)
        power = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
        freqs = np.fft.rfftfreq(len(x), d=1 / FPS)
        beat = np.abs(freqs - 2.0).argmin()
        share = power[beat - 1:beat + 2].sum() / power[1:].sum()
        if name == "beat":
            assert int(np.argmax(power[1:])) + 1 in (beat - 1, beat, beat + 1), freqs[np.argmax(power[1:]) + 1]
            assert share > 0.3, share
        else:
            assert share < 0.1, share
    # the steps are largest on the beat frames (6, 18, 30, ...: frame t's step is steps[t - 1])
    steps = runs["beat"]
    on = steps[[t - 1 for t in range(30, 144, 12)]]
    off = steps[[t - 1 for t in range(36, 144, 12)]]
    assert on.mean() > 3 * off.mean(), (on.mean(), off.mean())


def test_music_weights_in_the_objective_render(run_cli, tmp_path):
    song = tmp_path / "song.wav"
    drum_wav(song, 1.5, 120)
    out = tmp_path / "z.mp4"
    code, _, err = run_cli("zoom", SAMPLES / "figures.jpg", "-o", out, "--audio", song, *TINY,
                           "--objective", "0: block6 + 2*bass*block9, 24: (0.5 + beat)*class:jellyfish")
    assert code == 0, err
    assert probe_video(out)["frames"] == 36


@pytest.mark.parametrize("kind, message", [
    ("text", "is not audio ffmpeg can read"), ("silent", "is silent"), ("short", "needs at least 1 s"),
    ("no_sound", "has no sound (no audio stream)"), ("missing", "not found"), ("no_audio", "is a music variable"),
    ("past_end", "--start 9 s is past the end")])
def test_a_song_that_cannot_drive_a_render_is_one_line_and_loses_nothing(run_cli, tmp_path, kind, message):
    song, extra = hostile_song(tmp_path, kind), []
    if kind == "past_end":
        drum_wav(song, 2.0, 120)
        extra = ["--start", "9"]
    out = tmp_path / "z.mp4"
    out.write_bytes(b"an earlier render")
    audio = [] if kind == "no_audio" else ["--audio", song]
    code, _, err = run_cli("zoom", SAMPLES / "figures.jpg", "-o", out, *audio, "--zoom", "0:(1 + 0.1*beat)", *TINY,
                           *extra)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert out.read_bytes() == b"an earlier render" and not (tmp_path / "z_frames").exists()
    here = [song.name] if song.parent == tmp_path and song.exists() else []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["z.mp4", *here])  # no temporaries left


PROGRESSION = ["--size", "64", "--octaves", "1", "--dream-steps", "1", "--fps", "24"]


def test_a_feedback_progression_to_a_song_dreams_harder_on_the_beat(run_cli, tmp_path):
    """progression --audio: full dreams of the frame before, as many as the song lasts, with the step size that
    --strength gives each frame; the MP4 carries the song."""
    song = tmp_path / "song.wav"
    drum_wav(song, 3.0, 120)
    steps = {}
    for name, strength in (("beat", "0:(0.002 + 0.05*beat)"), ("steady", "0:(0.01)")):
        out = tmp_path / f"{name}.mp4"
        code, _, err = run_cli("progression", SAMPLES / "figures.jpg", "--audio", song, "--strength", strength,
                               *PROGRESSION, "-o", out)
        assert code == 0, err
        info = probe_video(out)
        assert info["frames"] == 72 and info["has_audio"]
        assert len(mp4_sound(out)) / 22050 == pytest.approx(3.0, abs=0.1)
        steps[name] = frame_steps(tmp_path / f"{name}_frames", 72)
    for name, s in steps.items():
        on = s[[t - 1 for t in range(18, 72, 12)]]  # the beats: frames 6, 18, 30, ...
        off = s[[t - 1 for t in range(24, 72, 12)]]
        ratio = on.mean() / off.mean()
        assert (ratio > 3) if name == "beat" else (0.5 < ratio < 2), (name, ratio)


@pytest.mark.parametrize("args, message", [
    (["--strength", "0:(0.01 + beat)"], "--strength is the step size of each --feedback dream"),
    (["--feedback", "3", "--strength", "0:(0.01 + beat)"], "'beat' is a music variable: give --audio SONG"),
    (["--audio", "SONG", "--loop"], "--loop and --pingpong play frames again"),
])
def test_progression_song_mistakes_are_one_line(run_cli, tmp_path, args, message):
    drum_wav(tmp_path / "song.wav", 2.0, 120)
    args = [str(tmp_path / "song.wav") if a == "SONG" else a for a in args]
    code, _, err = run_cli("progression", SAMPLES / "figures.jpg", *PROGRESSION, *args, "-o", tmp_path / "p.mp4")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
