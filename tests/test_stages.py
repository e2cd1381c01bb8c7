import json

import pytest
import torch

from dreamreel.animator.request.configs import Outputs, Picture, ProgressionConfig, Target
from dreamreel.animator.media import FrameDir
from dreamreel.animator.media.ffmpeg import probe_video
from dreamreel.animator.modes.stages import render_progression, step_marks
from dreamreel.engine.objectives import random_channels
from dreamreel.engine import DreamParams, dream, objectives
from dreamreel.engine.objectives import guide_similarity

from conftest import SAMPLES, load
from helpers.gif_parse import gif_info

QUICK = ["--size", "64", "--octaves", "1", "--steps", "1"]


def test_recursive_gives_one_frame_per_stage_plus_tweens_and_a_gif(run_cli, tmp_path):
    out, gif = tmp_path / "stages", tmp_path / "stages.gif"
    code, _, err = run_cli("recursive", SAMPLES / "figures.jpg", "--layers", "block2..block4", "--blend", "0.3",
                           "--tween", "2", "-o", out, "--gif", gif, "--mp4", tmp_path / "s.mp4", *QUICK)
    assert code == 0, err
    assert FrameDir(out).count_complete() == 7  # 3 stages, 2 cross-fade frames between each
    assert gif_info(gif)["frames"] == 7 and probe_video(tmp_path / "s.mp4")["frames"] == 7
    assert (out / "sheet.png").exists()
    s = json.loads((out / "settings.json").read_text())
    assert s["stages"] == ["block2", "block3", "block4"]
    # stages are frames 0, 3, 6; a tween sits between its neighbours
    f = FrameDir(out)
    a, mid, b = f.read(0), f.read(1), f.read(3)
    assert float((mid - (2 * a + b) / 3).abs().mean()) < 0.01


def test_recursive_stages_grow_more_complex(run_cli, tmp_path, lite0):
    """Each stage adds detail: the high-frequency energy rises from stage to stage."""
    out = tmp_path / "st"
    code, _, err = run_cli("recursive", SAMPLES / "figures.jpg", "--layers", "block3,block6,block9", "-o", out,
                           "--size", "128", "--octaves", "2", "--steps", "4")
    assert code == 0, err
    f = FrameDir(out)

    def detail(x):
        return float((x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean())

    start = load(SAMPLES / "figures.jpg", 128)
    values = [detail(start)] + [detail(f.read(i)) for i in range(3)]
    assert values == sorted(values), values


def test_random_channel_subsets_are_seeded(run_cli, tmp_path):
    assert random_channels(112, 0.25, seed=1, draw=3) == random_channels(112, 0.25, seed=1, draw=3)
    assert random_channels(112, 0.25, seed=1, draw=3) != random_channels(112, 0.25, seed=2, draw=3)
    assert len(random_channels(112, 0.25, seed=1, draw=3)) == 28

    def stage_objectives(seed, name):
        code, _, err = run_cli("recursive", SAMPLES / "figures.jpg", "--layers", "block5..block7",
                               "--random-channels-from", "1", "-o", tmp_path / name, "--seed", seed, *QUICK)
        assert code == 0, err
        return json.loads((tmp_path / name / "settings.json").read_text())["stage_objectives"]

    a, b, c = stage_objectives(4, "a"), stage_objectives(4, "b"), stage_objectives(5, "c")
    assert a == b and a != c
    assert a[0] == "layer(block5)" and a[1].startswith("layer(block6, channels=[")


@pytest.mark.parametrize("kind", ["layer", "channel", "class"])
def test_progression_objective_rises_over_the_steps(tmp_path, kind):
    args = {"layer": dict(layers="block9", channels=None, klass=None),
            "channel": dict(layers="block6", channels="5", klass=None),
            "class": dict(layers=None, channels=None, klass="jellyfish")}[kind]
    res = render_progression(ProgressionConfig(picture=Picture(str(SAMPLES / "figures.jpg"), 96),
                                               outputs=Outputs(gif=str(tmp_path / "p.gif")), steps=24, every=6, dream=DreamParams(octaves=1, lr=0.02, jitter=4),
                                               target=Target(**args)))
    frames = FrameDir(tmp_path / "p_frames")
    values = [res["mode"].value(frames.read(i)) for i in range(frames.count_complete())]
    assert len(values) == 5 and res["marks"] == [0, 6, 12, 18, 24]
    assert values[-1] > values[2] > values[0], values
    assert gif_info(tmp_path / "p.gif")["frames"] == 5


def test_progression_climbs_the_octaves_to_full_size(tmp_path):
    res = render_progression(ProgressionConfig(picture=Picture(str(SAMPLES / "figures.jpg"), 96),
                                               outputs=Outputs(gif=str(tmp_path / "p.gif")),
                                               target=Target(klass="jellyfish"), steps=30, every=5,
                                               dream=DreamParams(octaves=3, lr=0.02, jitter=4)))
    mode = res["mode"]
    assert [mode.climb.octave_of(s) for s in (0, 9, 10, 19, 20, 29)] == [0, 0, 1, 1, 2, 2]
    frames = FrameDir(tmp_path / "p_frames")
    assert frames.read(6).shape == frames.read(0).shape
    assert mode.value(frames.read(6)) > 2 * mode.value(frames.read(0))


def test_progression_cli_captions_ease_and_feedback(run_cli, tmp_path):
    code, _, err = run_cli("progression", SAMPLES / "figures.jpg", "--class", "jellyfish", "--steps", 12,
                           "--every", 4, "--gif", tmp_path / "j.gif", "--caption", "--size", 96)
    assert code == 0, err
    png = FrameDir(tmp_path / "j_frames").read(3)
    import imageio.v3 as iio

    gif_last = torch.from_numpy(iio.imread(tmp_path / "j.gif", index=3)[..., :3].copy()).permute(2, 0, 1)[None] / 255
    corner = (slice(None), slice(None), slice(-12, None), slice(0, 40))
    assert float((gif_last[corner] - png[corner]).abs().mean()) > 0.1  # caption drawn on the GIF only
    code, _, err = run_cli("progression", "noise", "--layers", "block9", "--feedback", 3, "--gif", tmp_path / "f.gif",
                           "--size", 64, "--octaves", 1, "--dream-steps", 2)
    assert code == 0, err
    assert gif_info(tmp_path / "f.gif")["frames"] == 3


def test_eased_progression_records_more_frames_early():
    marks = step_marks(300, 10, ease=True)
    assert marks[0] == 0 and marks[-1] == 300
    gaps = [b - a for a, b in zip(marks, marks[1:])]
    assert gaps[0] < gaps[-1] / 5
    assert step_marks(300, 10, ease=False) == list(range(0, 301, 10))


def test_unknown_class_in_progression_suggests_close_names(run_cli, tmp_path):
    code, _, err = run_cli("progression", SAMPLES / "figures.jpg", "--class", "jely fish", "--gif", tmp_path / "x.gif")
    assert code == 2 and "did you mean" in err and "jellyfish" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("similarity", ["dot", "l2", "l1"])
def test_guided_dream_moves_features_toward_the_guide(lite0, similarity):
    img = load(SAMPLES / "figures.jpg", 128)
    g = load(SAMPLES / "starry_night.jpg", 128)
    obj = objectives.guide(lite0, g, "block6", similarity)
    out = dream(lite0, img, obj, DreamParams(octaves=2, steps=5, lr=0.02, seed=1))
    with torch.no_grad():
        target = lite0.taps(g, ["block6"])["block6"]
        before = guide_similarity(lite0.taps(img, ["block6"])["block6"], target, similarity)
        after = guide_similarity(lite0.taps(out, ["block6"])["block6"], target, similarity)
    assert after > before  # dot: more similar; l1/l2: the (negated) distance shrank
    if similarity == "l2":
        assert -after < 0.9 * -before


def test_guided_dream_cli_and_pixel_weight(run_cli, tmp_path):
    code, _, err = run_cli("dream", SAMPLES / "figures.jpg", "--guide", SAMPLES / "starry_night.jpg",
                           "--similarity", "dot", "-o", tmp_path / "g.png", "--size", 96, "--octaves", 2,
                           "--steps", 3, "--pixel-weight", 1)
    assert code == 0, err
    s = json.loads((tmp_path / "g.settings.json").read_text())
    assert s["objective"].startswith("guide(block6, dot)") and "pixel_mean" in s["objective"]
    code, _, err = run_cli("dream", SAMPLES / "figures.jpg", "--guide", SAMPLES / "starry_night.jpg",
                           "--similarity", "cosine", "-o", tmp_path / "h.png")
    assert code == 2 and "dot, l1, l2" in err


def test_zoom_every_thins_the_gif(run_cli, tmp_path):
    code, _, err = run_cli("zoom", SAMPLES / "figures.jpg", "-o", tmp_path / "z.mp4", "--gif", tmp_path / "z.gif",
                           "--every", 2, "--frames", 5, "--size", 64, "--steps", "1", "--octaves", "1",
                           "--gif-width", 48)
    assert code == 0, err
    g = gif_info(tmp_path / "z.gif")
    assert g["frames"] == 3 and g["width"] == 48 and probe_video(tmp_path / "z.mp4")["frames"] == 5
