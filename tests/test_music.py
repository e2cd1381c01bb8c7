"""Issue 34: a song's beat and bands in every schedule. The analysis on synthetic drum tracks (kicks at a known tempo,
off-beat hi-hats, a bass drop), the schedules and objective weights that read it, and the songs that cannot drive
a render."""
from __future__ import annotations

import sys
import tracemalloc

import numpy as np
import pytest

from dreamreel.animator.errors import UserError
from dreamreel.animator.media.audio import AudioError
from dreamreel.animator.media.ffmpeg import run_ffmpeg
from dreamreel.animator.media.music import analyse
from dreamreel.animator.request.configs import zoom_config
from dreamreel.animator.request.objective_schedule import parse_objective_schedule
from dreamreel.animator.request.schedule import parse_schedule

from conftest import REPO

sys.path.insert(0, str(REPO / "tests" / "helpers"))
from drums import RATE, drum_wav, hostile_song, write_wav  # noqa: E402

FPS = 24


def kicks_found(beats: np.ndarray, kicks: np.ndarray, fps: float = FPS) -> float:
    """The share of kicks with a beat within one frame at ``fps`` (both as frame numbers)."""
    if not len(beats):
        return 0.0
    bf, kf = np.round(beats * fps).astype(int), np.round(kicks * fps).astype(int)
    return float(np.mean([np.abs(bf - k).min() <= 1 for k in kf]))


@pytest.mark.parametrize("bpm", [90, 120, 174])
@pytest.mark.parametrize("seed", [0, 1])
def test_beats_land_on_the_kicks_and_bass_rises_at_the_drop(tmp_path, bpm, seed):
    drop = 6.0
    kicks = drum_wav(tmp_path / "d.wav", 12.0 + seed * 1.3, bpm, drop=drop, seed=seed, first=0.25 + 0.13 * seed)
    song = analyse(str(tmp_path / "d.wav"))
    assert song.bpm == pytest.approx(bpm, rel=0.02)
    assert kicks_found(song.beats, kicks) >= 0.95
    assert len(song.beats) <= len(kicks) + 1  # the beats are the kicks, not the off-beat hats as well
    c = song.curves(FPS, song.frames(FPS))
    bass = c.values["bass"]
    d = int(drop * FPS)
    assert bass[d + 6:].mean() > bass[:d - 6].mean() + 0.15, (bass[:d - 6].mean(), bass[d + 6:].mean())
    # beat: 1 on the beat frames, falling to 0 before the next; beat_n counts them
    assert np.all(c.values["beat"][c.beat_frames] == 1.0)
    mid = (c.beat_frames[:-1] + c.beat_frames[1:]) // 2 + 1
    assert np.all(c.values["beat"][mid] < 0.05)
    assert c.values["beat_n"][-1] == len(c.beat_frames) and c.values["beat_n"][0] == 0
    for name in ("onset", "energy", "bass", "mid", "treble"):
        v = c.values[name]
        assert v.min() >= 0 and v.max() <= 1 and v.max() > 0.9, name


def test_a_steady_tone_has_no_beat(tmp_path):
    t = np.arange(3 * RATE) / RATE
    write_wav(tmp_path / "tone.wav", 0.5 * np.sin(2 * np.pi * 330 * t))
    song = analyse(str(tmp_path / "tone.wav"))
    assert song.bpm == 0 and len(song.beats) == 0 and any("no steady beat" in n for n in song.notes)
    assert song.curves(FPS, 72).values["beat"].max() == 0


def test_start_and_end_cut_the_song(tmp_path):
    kicks = drum_wav(tmp_path / "d.wav", 8.0, 120)
    song = analyse(str(tmp_path / "d.wav"), start=2.0, end=6.0)
    assert song.seconds == pytest.approx(4.0, abs=0.02) and song.frames(FPS) == 96
    inside = kicks[(kicks >= 2.0) & (kicks < 6.0)] - 2.0
    assert kicks_found(song.beats, inside) >= 0.95


def test_memory_stays_bounded_on_a_long_song(tmp_path):
    """Ten minutes of song (53 MB as float32 at 22 kHz) analysed in a few MB: the decoding streams."""
    path = tmp_path / "long.flac"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=110:beep_factor=4:duration=600:sample_rate=22050",
                "-c:a", "flac", str(path)])
    tracemalloc.start()
    try:
        song = analyse(str(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert song.seconds == pytest.approx(600, abs=0.1)
    assert peak < 16e6, peak / 1e6


# --------------------------------------------------------------------------- schedules and objective weights


class Flat:
    """Music curves that hold one value each."""

    def __init__(self, **values):
        self.v = values

    def value(self, name, t):
        return self.v[name]


def test_schedules_read_the_music_once_bound():
    s = parse_schedule("0:(1 + 0.1*beat), 10:(2*bass + t)", "zoom")
    assert set(s.music) == {"beat", "bass"} and s.music["beat"] == 11
    b = s.bind(Flat(beat=1.0, bass=0.25))
    assert b(0) == pytest.approx(1.1) and b(10) == pytest.approx(10.5) and b(5) == pytest.approx((1.1 + 5.5) / 2)
    assert "'beat' is a music variable: give --audio SONG at position 11" in s.needs_audio()
    assert parse_schedule("0:(1.02)").music == {}


def test_objective_weights_read_the_music():
    s = parse_objective_schedule("0: block6 + 2*bass*class:jellyfish, 40: (0.5 + energy)*block9:12")
    a, b = s.keyframes[0].terms
    assert a.expr is None and a.weight == 1 and b.kind == "class" and b.arg == "jellyfish"
    assert b.weight_at(3, Flat(bass=0.25)) == pytest.approx(0.5)
    c = s.keyframes[1].terms[0]
    assert c.kind == "channels" and c.channels == (12,) and c.weight_at(0, Flat(energy=1.0)) == pytest.approx(1.5)
    assert set(s.music) == {"bass", "energy"}
    # numbers alone stay numbers; a guide path may hold '*'
    g = parse_objective_schedule("0: 0.5*block6 + guide:a*b.png")
    assert g.keyframes[0].terms[0].weight == 0.5 and g.keyframes[0].terms[1].arg == "a*b.png" and not g.music


@pytest.mark.parametrize("option, value", [("zoom", "0:(1 + 0.05*beat)"), ("angle", "0:(3*bass)"),
                                           ("strength", "0:(0.5 + energy)"),
                                           ("objective", "0: block6 + 2*bass*class:jellyfish")])
def test_a_music_variable_without_audio_is_one_line(option, value):
    with pytest.raises(UserError, match="is a music variable: give --audio SONG at position"):
        zoom_config({"image": "noise", "mp4": "z.mp4", option: value}, None)


def test_audio_without_frames_lasts_as_long_as_the_song(tmp_path):
    drum_wav(tmp_path / "d.wav", 2.0, 120)
    song = str(tmp_path / "d.wav")
    cfg = zoom_config({"image": "noise", "mp4": "z.mp4", "audio": song, "zoom": "0:(1 + 0.1*beat)"}, None)
    assert cfg.song_length and cfg.frames == 0  # counted once the song is read (the preset's 240 do not apply)
    cfg = zoom_config({"image": "noise", "mp4": "z.mp4", "audio": song, "frames": 30}, None)
    assert not cfg.song_length and cfg.frames == 30
    s = zoom_config({"image": "noise", "mp4": "z.mp4"}, None).as_settings()
    assert not {"audio", "start", "end", "beat_decay"} & set(s)  # a render without a song records as before


@pytest.mark.parametrize("values, message", [
    ({"start": 2.0}, "--start and --end cut the --audio song"),
    ({"audio": "missing.wav"}, "not found"),
    ({"audio": "SONG", "beat_decay": 0.0}, "--beat-decay must be in"),
    ({"audio": "SONG", "start": 3.0, "end": 2.0}, "--end must come after --start"),
])
def test_song_options_are_checked(tmp_path, values, message):
    drum_wav(tmp_path / "d.wav", 2.0, 120)
    values = {k: (str(tmp_path / "d.wav") if v == "SONG" else v) for k, v in values.items()}
    with pytest.raises(UserError, match=message):
        zoom_config({"image": "noise", "mp4": "z.mp4", **values}, None)


# --------------------------------------------------------------------------- songs that cannot drive a render


@pytest.mark.parametrize("kind, message", [
    ("text", "is not audio ffmpeg can read"), ("empty", "empty file"), ("silent", "is silent"),
    ("short", "needs at least 1 s"), ("no_sound", r"has no sound \(no audio stream\)"),
    ("picture", r"has no sound \(no audio stream\)")])
def test_hostile_songs_are_one_line(tmp_path, kind, message):
    with pytest.raises(AudioError, match=message):
        analyse(str(hostile_song(tmp_path, kind)))


def test_a_truncated_file_is_used_as_far_as_it_goes(tmp_path):
    wav, flac = tmp_path / "song.wav", tmp_path / "cut.flac"
    drum_wav(wav, 6.0, 120)
    run_ffmpeg(["-i", str(wav), "-c:a", "flac", str(flac)])
    data = flac.read_bytes()
    flac.write_bytes(data[: len(data) // 2])  # its header still says 6 s
    song = analyse(str(flac))
    assert 2.5 < song.seconds < 3.5 and song.header_seconds == pytest.approx(6.0)
    assert any("truncated" in n and "6.0 s its header says" in n for n in song.notes)


def test_the_studio_draws_the_song_under_the_schedules(tmp_path):
    pytest.importorskip("gradio", reason="the studio extra (gradio) is not installed")
    from dreamreel.animator.front.studio import schedule_curves

    drum_wav(tmp_path / "d.wav", 3.0, 120)
    drawn, note, music = schedule_curves({"audio": str(tmp_path / "d.wav"), "zoom": "0:(1 + 0.1*beat)"}, None, None)
    assert "schedules of 72 frames" in note and "bpm, 6 beats" in note, note
    zoom, beat = np.array(dict(drawn)["zoom"]), np.array(dict(music)["beat"])
    assert len(zoom) == len(beat) == 72 and np.allclose(zoom, 1 + 0.1 * beat)
    assert {name for name, _ in music} == {"beat", "onset", "energy", "bass", "mid", "treble"}
    assert "is a music variable" in schedule_curves({"zoom": "0:(1 + 0.1*beat)"}, None, None)[1]
    assert "has no sound" in schedule_curves({"audio": str(REPO / "tests" / "data" / "one_second_clip.mp4")}, None,
                                             None)[1]


def test_a_fade_loop_reads_the_song_from_its_first_played_frame_and_its_lead_reads_the_end(tmp_path):
    drum_wav(tmp_path / "d.wav", 3.0, 120)
    c = analyse(str(tmp_path / "d.wav")).curves(FPS, 72)
    looped = c.shifted(48, wrap=True)  # a fade loop renders 48 frames before the 72 it plays
    for t in range(0, 120):
        assert looped.value("beat", t) == c.values["beat"][(t - 48) % 72]
        assert looped.value("bass", t) == c.values["bass"][(t - 48) % 72]
    assert c.value("beat", 200) == c.values["beat"][-1] and c.value("beat", -3) == c.values["beat"][0]
    assert c.value("bass", 10.5) == pytest.approx((c.values["bass"][10] + c.values["bass"][11]) / 2)


def test_objective_weights_change_the_dream_objective_each_frame(lite0):
    import torch

    from dreamreel.animator.request.resolve import scheduled_objective
    from dreamreel.engine import objectives

    class Ramp:
        def value(self, name, t):
            return {"bass": t / 10, "beat": 1.0}[name]

    s = parse_objective_schedule("0: block6 + 2*bass*block9")
    at = scheduled_objective(lite0, s, seed=0, song=Ramp())
    img = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        acts = lite0.taps(img, {"block6", "block9"})
        b6, b9 = objectives.layer("block6")(acts), objectives.layer("block9")(acts)
        for t in (0, 5, 10):
            assert float(at(t)(acts)) == pytest.approx(float(b6 + 2 * (t / 10) * b9), rel=1e-5)
