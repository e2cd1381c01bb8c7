import hashlib
import os
import subprocess
import sys
import time

import pytest
import torch

from dreamreel.engine import MODELS, BackboneError, WeightsUnavailable, get_backbone, get_spec, locate_weights
from dreamreel.engine.backbones import fuse_conv_bn

from conftest import (SAMPLES, VGG16_CAFFE_LAYOUT, VGG16_CAFFE_SHA256, VGG19_CAFFE_LAYOUT, random_caffe_state,
                      load)


def test_lite0_embedded_weights_classify_chelsea_as_a_cat(lite0):
    img = load(SAMPLES / "chelsea.png", 224)
    with torch.no_grad():
        probs = lite0.classify(img).softmax(1)[0]
    top = int(probs.argmax())
    assert 281 <= top <= 285, top  # ImageNet cats
    assert probs[281:286].sum() > 0.7


def test_lite0_taps_stop_early_and_have_expected_shapes(lite0):
    x = torch.rand(1, 3, 128, 96)
    acts = lite0.taps(x, ["block9", "stem", "head"])
    assert acts["stem"].shape == (1, 32, 64, 48)
    assert acts["block9"].shape == (1, 112, 8, 6)
    assert acts["head"].shape == (1, 1280, 4, 3)
    assert lite0.channels("block9") == 112


def test_layer_ranges_and_unknown_layer():
    spec = get_spec("efficientnet_lite0")
    assert spec.expand_layers("block3..block5") == ["block3", "block4", "block5"]
    assert spec.expand_layers("stem, block15..head") == ["stem", "block15", "head"]
    with pytest.raises(BackboneError, match="runs backwards"):
        spec.expand_layers("block5..block3")
    with pytest.raises(BackboneError, match="valid layers: stem, block0"):
        spec.expand_layers("block16")
    with pytest.raises(BackboneError, match="valid models"):
        get_spec("alexnet")


def test_every_registered_tap_exists_in_its_network():
    for spec in MODELS.values():
        net = spec.build()
        for tap, path in spec.tap_modules.items():
            net.get_submodule(path)  # raises if the name is wrong


def test_fused_batchnorm_gives_the_same_outputs():
    from dreamreel.engine import lite0 as l0

    net = l0.EfficientNetLite0().eval()
    for m in net.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        before = net(x)
        after = fuse_conv_bn(net)(x)
    assert torch.allclose(before, after, atol=1e-4)


def test_vgg16_caffe_loads_shared_file_and_sees_a_cat_texture(vgg16_caffe_file):
    net = get_backbone("vgg16_caffe", weights=str(vgg16_caffe_file))
    assert net.weights_sha256() == VGG16_CAFFE_SHA256
    img = load(SAMPLES / "chelsea.png", 128)
    acts = net.taps(img, ["relu1_1", "relu4_3"])
    assert acts["relu4_3"].shape[1] == 512
    # real weights: first-layer responses to a photo are strong and sparse, not random-init tiny
    assert acts["relu1_1"].mean() > 1.0


def test_random_caffe_files_have_the_layout_of_the_real_ones(vgg16_caffe_file):
    """The random stand-ins below are only as good as their layout: check it against the real file."""
    real = torch.load(vgg16_caffe_file, map_location="cpu", weights_only=True)
    fake = random_caffe_state(VGG16_CAFFE_LAYOUT)
    assert list(fake) == list(real)
    assert all(fake[k].shape == real[k].shape and fake[k].dtype == real[k].dtype for k in real)


def test_random_vgg19_layout_is_torchvisions():
    from torchvision.models.vgg import cfgs, make_layers

    ref = {f"features.{k}": v for k, v in make_layers(cfgs["E"]).state_dict().items()}
    fake = random_caffe_state(VGG19_CAFFE_LAYOUT)
    assert list(fake) == list(ref) and all(fake[k].shape == ref[k].shape for k in ref)


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_vgg16_caffe_file_loads_with_its_taps_convention_and_hash(random_vgg16_caffe):
    """A file in the layout of vgg16_caffe_features.pth (random values) through the normal path."""
    net = get_backbone("vgg16_caffe", weights=str(random_vgg16_caffe))
    assert net.weights_path == str(random_vgg16_caffe)
    assert net.weights_sha256() == _sha256(random_vgg16_caffe)
    state = torch.load(random_vgg16_caffe, weights_only=True)
    for i, _, _ in VGG16_CAFFE_LAYOUT:  # every tensor of the file is in the network, unchanged
        conv = net.net.features[i]
        assert torch.equal(conv.weight, state[f"features.{i}.weight"])
        assert torch.equal(conv.bias, state[f"features.{i}.bias"])
        assert not conv.weight.requires_grad
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        acts = net.taps(x, ["relu1_1", "relu2_2", "relu3_3", "relu4_3", "relu5_3", "pool5"])
    shapes = {k: tuple(v.shape) for k, v in acts.items()}
    assert shapes == {"relu1_1": (1, 64, 64, 96), "relu2_2": (1, 128, 32, 48), "relu3_3": (1, 256, 16, 24),
                      "relu4_3": (1, 512, 8, 12), "relu5_3": (1, 512, 4, 6), "pool5": (1, 512, 2, 3)}
    # the Caffe input convention: BGR, 0-255, minus the mean pixel
    bgr = x.flip(1) * 255 - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
    want = torch.nn.functional.conv2d(bgr, state["features.0.weight"], state["features.0.bias"], padding=1).relu()
    assert torch.allclose(acts["relu1_1"], want, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("wrap", ["state_dict", "bare keys"])
def test_caffe_file_wrapped_or_with_bare_keys_loads_the_same(tmp_path, wrap):
    state = random_caffe_state(VGG16_CAFFE_LAYOUT, seed=5)
    if wrap == "state_dict":
        saved = {"state_dict": state}
    else:
        saved = {k.removeprefix("features."): v for k, v in state.items()}
    path = tmp_path / "w.pth"
    torch.save(saved, path)
    net = get_backbone("vgg16_caffe", weights=str(path))
    assert torch.equal(net.net.features[28].weight, state["features.28.weight"])


@pytest.mark.parametrize("damage, message", [
    ("drop", "1 of the 26 tensors it needs are missing, e.g. features.28.bias"),
    ("reshape", "features.14.weight is 256x128x3x3 in the file, vgg16_caffe needs 256x256x3x3"),
])
def test_caffe_file_with_a_missing_or_misshapen_tensor_is_one_clear_error(tmp_path, damage, message):
    state = random_caffe_state(VGG16_CAFFE_LAYOUT)
    if damage == "drop":
        del state["features.28.bias"]
    else:
        state["features.14.weight"] = state["features.14.weight"][:, :128].contiguous()
    path = tmp_path / f"{damage}.pth"
    torch.save(state, path)
    with pytest.raises(BackboneError) as e:
        get_backbone("vgg16_caffe", weights=str(path))
    msg = str(e.value)
    assert msg.startswith(f"weights file {path} does not fit vgg16_caffe: ") and message in msg, msg
    assert "\n" not in msg


def test_caffe_model_without_weights_says_what_to_pass(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsUnavailable, match="--weights"):
        get_backbone("vgg16_caffe")


def test_weights_file_that_does_not_fit_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(3)}, bad)
    with pytest.raises(BackboneError, match="does not fit vgg16_caffe"):
        get_backbone("vgg16_caffe", weights=str(bad))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(BackboneError, match="junk.pth is not a PyTorch weights file"):
        get_backbone("vgg16_caffe", weights=str(junk))


def test_torchvision_weights_come_from_the_torch_hub_cache(tmp_path):
    """The real torchvision path: a checkpoint under $TORCH_HOME/hub/checkpoints is found and loaded."""
    import torchvision

    home = tmp_path / "torch"
    ckpt = home / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    ref = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True)
    torch.save(ref.state_dict(), ckpt / "googlenet-1378be20.pth")
    code = (
        "import torch; from dreamreel.engine import get_backbone, locate_weights, get_spec\n"
        "info = locate_weights(get_spec('googlenet')); print(info.origin, info.available)\n"
        "net = get_backbone('googlenet')\n"
        "w = torch.load(info.path, weights_only=True)['conv1.conv.weight']\n"
        "print(torch.equal(net.net.conv1.conv.weight, w), net.taps(torch.rand(1,3,64,64), ['inception4c'])['inception4c'].shape[1])\n"
    )
    env = dict(os.environ, TORCH_HOME=str(home), DREAMREEL_OFFLINE="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["cache", "True", "True", "512"]


def test_offline_and_not_cached_fails_fast_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("DREAMREEL_OFFLINE", "1")
    info = locate_weights(get_spec("resnet50"))
    assert not info.available and "resnet50-11ad3fa6.pth" in info.hint
    t = time.perf_counter()
    with pytest.raises(WeightsUnavailable) as e:
        get_backbone("resnet50")
    assert time.perf_counter() - t < 5
    msg = str(e.value)
    assert "resnet50-11ad3fa6.pth" in msg and str(tmp_path) in msg and "\n" not in msg
