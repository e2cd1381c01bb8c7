import subprocess
import sys

import pytest
import torch

from dreamreel.engine import DreamParams, dream, objectives, octave_sizes
from dreamreel.engine.deepdream import tile_margin
from dreamreel.engine.imageops import gaussian_blur
from dreamreel.engine.start import blend, noise, solid

from conftest import REPO, SAMPLES, load

FAST = DreamParams(octaves=2, steps=4, lr=0.02, seed=3)


def objective_value(net, img, obj):
    with torch.no_grad():
        return float(obj(net.taps(img, obj.taps)))


@pytest.mark.parametrize("make_obj", [
    lambda: objectives.layer("block9"),
    lambda: objectives.channel("block6", 7),
    lambda: objectives.klass("jellyfish"),
    lambda: objectives.layers(["block4", "block9"], [0.5, 1.0]),
])
def test_dream_raises_the_objective_and_keeps_the_frame_contract(lite0, make_obj):
    img = load(SAMPLES / "figures.jpg", 128)
    obj = make_obj()
    out = dream(lite0, img, obj, FAST)
    assert out.shape == img.shape and out.dtype == torch.float32
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0
    assert objective_value(lite0, out, obj) > objective_value(lite0, img, obj) * 1.1
    # still the same picture underneath: a dream, not noise
    assert float((out - img).abs().mean()) < 0.2


def test_same_seed_same_dream_other_seed_other_dream(lite0):
    img = load(SAMPLES / "figures.jpg", 96)
    obj = objectives.layer("block9")
    a = dream(lite0, img, obj, FAST)
    b = dream(lite0, img, obj, FAST)
    c = dream(lite0, img, obj, DreamParams(octaves=2, steps=4, lr=0.02, seed=4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_objectives_compose_like_numbers(lite0):
    img = load(SAMPLES / "chelsea.png", 96)
    a, b = objectives.layer("block9"), objectives.channel("block6", 3)
    acts = lite0.taps(img, ["block6", "block9"])
    combo = a + 0.5 * b - objectives.layer("block6")
    assert combo.taps == {"block6", "block9"}
    expected = float(a(acts)) + 0.5 * float(b(acts)) - float(objectives.layer("block6")(acts))
    assert float(combo(acts)) == pytest.approx(expected, rel=1e-5)


def test_class_names_resolve_and_suggest():
    from dreamreel.engine.weights import BackboneError

    assert objectives.resolve_class("jellyfish") == 107
    assert objectives.resolve_class("107") == 107
    with pytest.raises(BackboneError, match="did you mean: jellyfish"):
        objectives.resolve_class("jelyfish")


def test_octave_pyramid_sizes():
    assert octave_sizes(341, 512, 4, 1.4, 32) == [(124, 187), (174, 261), (244, 366), (341, 512)]
    # levels that would be too small for the network are dropped, the full size always stays
    assert octave_sizes(64, 64, 4, 2.0, 32) == [(32, 32), (64, 64)]


def test_gradient_smoothing_is_a_normalised_blur():
    x = torch.zeros(1, 3, 31, 31)
    x[..., 15, 15] = 1
    y = gaussian_blur(x, 2.0)
    assert y.sum().item() == pytest.approx(3.0, rel=1e-4)
    assert y[0, 0, 15, 15] < 0.1 and y[0, 0, 15, 17] > 0.01


def test_start_images():
    n1, n2 = noise(32, 48, seed=1), noise(32, 48, seed=1)
    assert n1.shape == (1, 3, 32, 48) and torch.equal(n1, n2) and not torch.equal(n1, noise(32, 48, seed=2))
    s = solid(8, 8, (1.0, 0.5, 0.0))
    assert s[0, :, 3, 3].tolist() == [1.0, 0.5, 0.0]
    mix = blend(s, torch.zeros(1, 3, 16, 16), 0.25)
    assert mix.shape == s.shape and mix[0, 0, 0, 0].item() == pytest.approx(0.75)


def _tiled_run(tile: int, out_path) -> tuple[float, dict]:
    res = subprocess.run([sys.executable, str(REPO / "tests" / "helpers" / "tiled_dream.py"), str(tile),
                          str(out_path), str(SAMPLES / "figures.jpg"), "2"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return float(res.stdout.strip().splitlines()[-1]), torch.load(out_path, weights_only=True)


@pytest.mark.slow
def test_tiles_bound_memory_and_leave_no_seams(tmp_path):
    """1600x1000 with 256 px tiles: less added peak RSS than untiled, and no seam lines.

    Seam proxy: the mean |horizontal step| of the change image (dream - start) in the columns
    where the tile grid would cut, relative to its median over all columns. A tile seam is a
    step at exactly those columns (measured at about 1.5 when the grid does not move and tiles
    get no context); the untiled dream gives about 1.0.
    """
    rss_untiled, untiled = _tiled_run(0, tmp_path / "a.pt")
    rss_tiled, tiled = _tiled_run(256, tmp_path / "b.pt")
    assert rss_tiled < 0.6 * rss_untiled, (rss_tiled, rss_untiled)

    def seam_ratio(result) -> float:
        g = (result["out"] - result["in"]).abs().sum(1)[0]
        steps = (g[:, 1:] - g[:, :-1]).abs().mean(0)
        cols = [round(i * 1600 / 7) for i in range(1, 7)]  # 7 near-equal tiles across 1600 px
        return float(torch.stack([steps[c - 1] for c in cols]).mean() / steps.median())

    assert tile_margin(256) == 32
    assert seam_ratio(tiled) < 1.15
    assert seam_ratio(untiled) < 1.15
    # tiling changes the picture about as much as the untiled dream does (it is not a no-op)
    change_t = (tiled["out"] - tiled["in"]).abs().mean()
    change_u = (untiled["out"] - untiled["in"]).abs().mean()
    assert 0.7 < float(change_t / change_u) < 1.3


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.flatten().float(), b.flatten().float(), dim=0))


def test_precision_is_float16_on_cuda_and_float32_elsewhere():
    from dreamreel.engine.device import amp_dtype

    assert amp_dtype("cuda") == torch.float16 and amp_dtype("cpu") is None and amp_dtype("mps") is None
    assert amp_dtype("cuda", "fp32") is None and amp_dtype("cpu", "bf16") == torch.bfloat16
    with pytest.raises(ValueError, match="auto, fp32, fp16 or bf16"):
        amp_dtype("cuda", "fp8")


def test_a_float16_dream_follows_the_float32_one(lite0):
    """What a GPU runs (the forward pass in float16, the loss scaled), here on the CPU: the gradient points where
    float32's does and a short dream raises the objective as much (Lite0: float16's gradient has a cosine of
    0.94-0.97 with float32's at 512 px to 1080p; bf16's 0.62-0.77, so it is not the default)."""
    from dreamreel.engine.deepdream import LossScale, objective_gradient

    img = load(SAMPLES / "figures.jpg", 128)
    obj = objectives.layer("block9")
    ref, _ = objective_gradient(lite0, img, obj)
    scale = LossScale("cpu")
    for _ in range(2):  # the first step runs unscaled, the second with the scale it set
        g, loss = objective_gradient(lite0, img, obj, amp=torch.float16, scale=scale)
        assert g.dtype == torch.float32 and loss.dtype == torch.float32
        assert _cos(g, ref) > 0.95
    obj = objectives.as_objective(lite0, None)  # the default, as a zoom dreams
    before = objective_value(lite0, img, obj)
    gains = {amp: sum(objective_value(lite0, dream(lite0, img, obj, DreamParams(octaves=2, steps=4, seed=seed),
                                                   amp=amp), obj) - before for seed in (3, 4, 5))
             for amp in ("fp32", "fp16")}
    assert gains["fp32"] > 0 and abs(gains["fp16"] - gains["fp32"]) < 0.2 * gains["fp32"]  # measured 3 %


def test_the_loss_scale_keeps_a_small_gradient_from_underflowing(lite0):
    """A dream objective's gradient at its layer is 2a/N: at 1080p on VGG-16's relu5_3 unscaled float16 lost 55 % of
    the image gradient to zero. An objective weighted down to such magnitudes shows it here: unscaled, float16
    loses all of the gradient; scaled, it is as close to float32's as at weight 1."""
    from dreamreel.engine.deepdream import LossScale, objective_gradient

    img = load(SAMPLES / "figures.jpg", 128)
    small = objectives.layer("block6", weight=1e-6)
    ref, _ = objective_gradient(lite0, img, small)
    unscaled, _ = objective_gradient(lite0, img, small, amp=torch.float16)
    assert float((unscaled == 0).float().mean()) > 0.5  # the failure the scale is there for
    scale = LossScale("cpu")
    for _ in range(3):  # all zero at first: the scale goes up, then aims at the largest value
        g, _ = objective_gradient(lite0, img, small, amp=torch.float16, scale=scale)
    whole, _ = objective_gradient(lite0, img, objectives.layer("block6"), amp=torch.float16)
    assert float((g == 0).float().mean()) < 0.01
    assert _cos(g, ref) > 0.95 and _cos(g, ref) > _cos(whole, ref) - 0.01  # as float16 does at weight 1
    assert float(scale.value) > 1e6


def test_a_step_that_overflows_in_float16_is_skipped_and_its_scale_cut(lite0):
    from dreamreel.engine.deepdream import LossScale, dream_step
    import random

    img = load(SAMPLES / "figures.jpg", 128)
    scale = LossScale("cpu")
    scale.value = torch.tensor(2.0**24)
    out, _ = dream_step(lite0, img, objectives.layer("block9"), FAST, random.Random(0), amp=torch.float16,
                        scale=scale)
    assert torch.equal(out, img) and float(scale.value) == 2.0**16  # nothing added; the scale cut by 2**8
    for _ in range(3):  # cut again while it overflows, then a step dreams
        out, _ = dream_step(lite0, img, objectives.layer("block9"), FAST, random.Random(0), amp=torch.float16,
                            scale=scale)
        if not torch.equal(out, img):
            break
    assert torch.isfinite(out).all() and not torch.equal(out, img)
