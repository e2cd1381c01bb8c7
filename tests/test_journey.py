"""Zooms that travel: objective schedules (what is dreamed changes along the way)."""
import pytest

from dreamreel.animator.media import FrameDir
from dreamreel.animator.request.objective_schedule import ObjectiveScheduleError, parse_objective_schedule

from conftest import SAMPLES

TINY = ["--size", "64", "--steps", "0:(2)", "--octaves", "0:(1)", "--strength", "0:(0.05)"]


def test_keyframes_switch_and_fade_into_each_other():
    s = parse_objective_schedule("0: block3, 10: block9:12|40, 20: 0.5*class:jellyfish + random:block6:0.1", fade=4)
    assert [k.frame for k in s.keyframes] == [0, 10, 20]
    assert s.keyframes[1].terms[0].channels == (12, 40)
    assert [(t.kind, t.weight) for t in s.keyframes[2].terms] == [("class", 0.5), ("random", 1.0)]
    assert s.blend(0) == [(0, 1.0)] and s.blend(5) == [(0, 1.0)]  # held until the fade starts
    assert s.blend(8) == [(0, 0.5), (1, 0.5)]  # half way through the 4-frame fade
    assert s.blend(10) == [(1, 1.0)] and s.blend(99) == [(2, 1.0)]  # the last one holds
    assert parse_objective_schedule("0: a, 10: b", fade=0).blend(9) == [(0, 1.0)]
    assert parse_objective_schedule("block6").blend(7) == [(0, 1.0)]  # one objective, no keyframes


@pytest.mark.parametrize("text, position", [
    ("0: block6, 120 block9", 10),  # the comma promises a keyframe
    ("0: block6, 10: block9:x", 15),
    ("0: block6, 5: block7, 5: block8", 22),  # frames must increase
    ("0: random:block6:1.5", 3),
    ("0: 2*", 5),
])
def test_bad_schedules_say_where(text, position):
    with pytest.raises(ObjectiveScheduleError, match=f"at position {position} in"):
        parse_objective_schedule(text)


def test_objectives_switch_at_the_keyframes_and_blend_between(lite0):
    from dreamreel.animator.request.resolve import scheduled_objective

    at = scheduled_objective(lite0, parse_objective_schedule("0: block3, 10: block9:5, 20: random:block6", fade=4,
                                                             reseed=7), seed=1)
    assert at(0).description == at(5).description == "layer(block3)"
    assert at(8).description == "0.5*(layer(block3)) + 0.5*(channel(block9, 5))"
    assert at(10).description == at(15).description == "channel(block9, 5)"
    assert at(21).description.startswith("layer(block6, channels=[")
    assert at(21).description == at(27).description != at(28).description  # new channels every 7 frames (21-27)


def _frames(run_cli, tmp_path, name, *args):
    code, _, err = run_cli("zoom", SAMPLES / "figures.jpg", "-o", tmp_path / f"{name}.mp4", "--frames", 6, *TINY,
                           *args)
    assert code == 0, err
    frames = FrameDir(tmp_path / f"{name}_frames")
    return [frames.path_of(t).read_bytes() for t in range(6)]


def test_a_scheduled_zoom_dreams_each_objective_in_its_frames(run_cli, tmp_path):
    plain = _frames(run_cli, tmp_path, "plain", "--layers", "block3")
    journey = _frames(run_cli, tmp_path, "journey", "--objective", "0: block3, 3: block12", "--objective-fade", 0)
    assert journey[:3] == plain[:3]  # the same objective, seed and motion: the same frames
    assert all(j != p for j, p in zip(journey[3:], plain[3:]))  # then it dreams something else


@pytest.mark.parametrize("args, message", [
    (["--objective", "0: block6, 3: block99"], "unknown layer 'block99' for efficientnet_lite0; valid layers: stem"),
    (["--objective", "0: block6, 3: class:jelyfish"], "did you mean: jellyfish"),
    (["--objective", "0: block6, 3 block9"], "at position 10"),
    (["--objective", "block6", "--layers", "block3"], "give --objective or --layers, not both"),
])
def test_bad_objective_is_one_line_exit_2(run_cli, tmp_path, args, message):
    code, _, err = run_cli("zoom", SAMPLES / "figures.jpg", "-o", tmp_path / "z.mp4", "--frames", 4, *TINY, *args)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1


def test_preview_is_every_4th_frame_at_half_size(run_cli, tmp_path):
    from dreamreel.animator.media.ffmpeg import probe_video

    code, _, err = run_cli("zoom", SAMPLES / "figures.jpg", "-o", tmp_path / "z.mp4", "--frames", 10, "--preview",
                           "--size", 128, "--steps", "0:(1)", "--octaves", "0:(1)")
    assert code == 0, err
    got = probe_video(tmp_path / "z_preview.mp4")
    assert got["frames"] == 3 and (got["width"], got["height"]) == (64, 44)  # frames 0, 4, 8 at half of 128x85
    assert not (tmp_path / "z.mp4").exists() and "without --preview" in err


def test_preview_motion_is_the_renders_motion_over_4_frames():
    import numpy as np

    from dreamreel.animator.request.schedule import parse_schedule as s
    from dreamreel.animator.modes.zoom import Motion

    sched = [s("0:(1.03), 8:(1.1)"), s("0:(2)"), s("0:(3)"), s("0:(-1)"), s("0.4"), s("0.5")]
    full, preview = Motion(*sched, n_frames=12), Motion(*sched, n_frames=12, stride=4, px=0.5)
    for t in (1, 2):
        want = full.between(4 * (t - 1), 4 * t, 86, 128)
        got = preview.frame_matrix(t, 43, 64)
        assert np.allclose(got[:, :2], want[:, :2])  # the same zoom and turn ...
        assert np.allclose(got[:, 2], 0.5 * want[:, 2] + 0.0, atol=0.6)  # ... and shift, at half the pixels
