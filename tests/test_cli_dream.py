import hashlib
import json
import os

import pytest

from conftest import SAMPLES, VGG16_CAFFE_LAYOUT, VGG16_CAFFE_SHA256, random_caffe_state

FIG = SAMPLES / "figures.jpg"
QUICK = ["--size", "96", "--octaves", "2", "--steps", "3"]


def test_dream_writes_picture_and_settings(run_cli, tmp_path):
    out = tmp_path / "sub" / "dream.png"
    code, _, err = run_cli("dream", FIG, "-o", out, *QUICK, "--seed", "5")
    assert code == 0, err
    assert out.exists() and not list(out.parent.glob(".tmp-*"))
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's private 0600
    s = json.loads((tmp_path / "sub" / "dream.settings.json").read_text())
    assert s["model"] == "efficientnet_lite0" and s["seed"] == 5 and s["frame_size"] == [96, 64]
    assert len(s["weights"]["sha256"]) == 64 and s["versions"]["torch"]
    assert s["dream"]["steps"] == 3 and s["objective"] == "layer(block6) + layer(block9)"


def test_same_seed_same_file(run_cli, tmp_path):
    a, b, c = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    for path, seed in ((a, 1), (b, 1), (c, 2)):
        assert run_cli("dream", FIG, "-o", path, *QUICK, "--seed", seed)[0] == 0
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_channels_class_noise_solid_and_blend_starts(run_cli, tmp_path):
    runs = [
        ["dream", FIG, "--layers", "block9", "--channels", "3,7"],
        ["dream", FIG, "--class", "jellyfish"],
        ["dream", "noise", "--layers", "block3..block5"],
        ["dream", "solid:#336699"],
        ["dream", FIG, "--blend", SAMPLES / "starry_night.jpg", "--alpha", "0.4"],
    ]
    for i, args in enumerate(runs):
        code, _, err = run_cli(*args, "-o", tmp_path / f"{i}.png", *QUICK)
        assert code == 0, (args, err)
    s = json.loads((tmp_path / "4.settings.json").read_text())
    assert s["start"]["alpha"] == 0.4


def test_vgg16_caffe_dream_with_shared_weights(run_cli, tmp_path, vgg16_caffe_file):
    out = tmp_path / "vgg.png"
    code, _, err = run_cli("dream", FIG, "-o", out, "--model", "vgg16_caffe", "--weights", vgg16_caffe_file,
                           "--layers", "relu4_3", *QUICK)
    assert code == 0, err
    s = json.loads((tmp_path / "vgg.settings.json").read_text())
    assert s["model"] == "vgg16_caffe"
    assert s["weights"]["sha256"] == VGG16_CAFFE_SHA256


def test_dream_with_a_caffe_file_given_by_weights_records_its_hash(run_cli, tmp_path, random_vgg16_caffe):
    out = tmp_path / "vgg.png"
    code, _, err = run_cli("dream", FIG, "-o", out, "--model", "vgg16_caffe", "--weights", random_vgg16_caffe,
                           "--layers", "relu3_3", *QUICK)
    assert code == 0, err
    s = json.loads((tmp_path / "vgg.settings.json").read_text())
    assert s["model"] == "vgg16_caffe" and s["objective"] == "layer(relu3_3)"
    assert s["weights"]["sha256"] == hashlib.sha256(random_vgg16_caffe.read_bytes()).hexdigest()
    assert out.exists()


def test_caffe_file_missing_a_tensor_is_one_line_and_exit_2(run_cli, tmp_path):
    import torch

    state = random_caffe_state(VGG16_CAFFE_LAYOUT)
    del state["features.0.weight"]
    bad = tmp_path / "short.pth"
    torch.save(state, bad)
    code, _, err = run_cli("dream", FIG, "-o", tmp_path / "x.png", "--model", "vgg16_caffe", "--weights", bad, *QUICK)
    assert code == 2 and "does not fit vgg16_caffe" in err and "features.0.weight" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("args, message", [
    (["dream", "missing.jpg"], "file not found: missing.jpg"),
    (["dream", "{readme}"], "not an image"),
    (["dream", "{fig}", "--model", "alexnet"], "valid models: efficientnet_lite0"),
    (["dream", "{fig}", "--layers", "block99"], "valid layers: stem, block0"),
    (["dream", "{fig}", "--layers", "block9", "--channels", "112"], "channels 0..111"),
    (["dream", "{fig}", "--layers", "block6,block9", "--channels", "1"], "exactly one layer"),
    (["dream", "{fig}", "--class", "jelyfish"], "did you mean: jellyfish"),
    (["dream", "{fig}", "--size", "20"], "too small"),
    (["dream", "{fig}", "--model", "vgg16_caffe"], "--weights"),
    (["dream", "{fig}", "--model", "vgg16_caffe", "--weights", "nowhere.pth"], "weights file not found"),
    (["dream", "{fig}", "--octave-scale", "0.5"], "octave scale"),
    (["dream", "{fig}", "--steps", "many"], "--steps"),
    (["dream", "{fig}", "--frobnicate"], "No such option"),
    (["dream", "{fig}", "--device", "cuda:7"], "not available"),
    (["dream", "solid:#zzzzzz"], "bad colour"),
])
def test_bad_input_is_one_line_and_exit_2(run_cli, tmp_path, args, message):
    readme = tmp_path / "notes.jpg"
    readme.write_text("this is text, not a JPEG")
    args = [a.format(readme=readme, fig=FIG) for a in args]
    code, out, err = run_cli(*args, "-o", tmp_path / "x.png")
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert message in lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "x.png").exists()


def test_unwritable_output_is_refused_before_rendering(run_cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run_cli("dream", FIG, "-o", blocker / "out.png", *QUICK)
    assert code == 2 and "cannot write" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli("dream", FIG, "-o", tmp_path / "out.txt", *QUICK)
    assert code == 2 and "must end in one of" in err


def test_models_lists_layers_and_weight_availability(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = run_cli("models")
    text = out + err
    assert code == 0
    for name in ("efficientnet_lite0", "googlenet", "inception_v3", "vgg16", "vgg19", "resnet50",
                 "efficientnet_b3", "vgg16_caffe", "vgg19_caffe"):
        assert name in text
    assert "block0..block15" in text and "available (embedded)" in text
    assert "missing: googlenet-1378be20.pth" in text
