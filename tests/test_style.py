"""Style transfer: the engine's losses and optimiser, and the ``stylize`` command (small sizes)."""
import hashlib
import json

import pytest
import torch

from dreamreel.animator.media import FrameDir
from dreamreel.engine.colorspace import lab_to_rgb, rgb_to_lab, rgb_to_ycbcr, ycbcr_to_rgb
from dreamreel.engine.style import (StyleParams, StyleTransfer, Temporal, judge, style_size, style_targets,
                                    stylize)

from conftest import SCREAM, STARRY, TUBINGEN as CONTENT, load
from helpers.gif_parse import gif_info


@pytest.fixture(scope="module")
def pics():
    return {"content": load(CONTENT, 80), "starry": load(STARRY, 80), "scream": load(SCREAM, 80)}


def test_style_loss_falls_and_stays_low(lite0, pics):
    st = StyleTransfer(lite0, pics["content"], [pics["starry"]], params=StyleParams())
    start = st.current_losses()
    st.run(25)
    hist = [float(h) for h in st.history]
    end = st.current_losses()
    assert end["style"] < 0.25 * start["style"], (start, end)
    # L-BFGS with a line search never goes back up much: no iterate above the best before it
    assert all(v <= 1.05 * min(hist[:i]) for i, v in enumerate(hist) if i), hist
    assert hist[-1] < 0.3 * hist[0], hist
    assert hist[-1] <= min(hist) * 1.05


def test_content_only_run_keeps_the_content(lite0, pics):
    params = StyleParams(style_weight=0.0, content_weight=1.0, iters=10)
    out = stylize(lite0, pics["content"], [pics["starry"]], params=params)
    st = StyleTransfer(lite0, pics["content"], [pics["starry"]], params=params)
    st.run(10)
    assert st.current_losses()["content"] < 0.01  # relative to the content features' energy; stylised: ~0.3
    assert float((out - pics["content"]).abs().mean()) < 0.01
    # from noise, a content-only run rebuilds the content (its content loss falls ~10x)
    st = StyleTransfer(lite0, pics["content"], [pics["starry"]],
                       params=StyleParams(style_weight=0.0, tv_weight=0.0, init="noise"))
    first = st.current_losses()["content"]
    st.run(30)
    assert st.current_losses()["content"] < 0.25 * first


@pytest.mark.parametrize("space", ["ycbcr", "lab"])
def test_original_colors_keeps_the_content_chroma(lite0, pics, space):
    to = rgb_to_ycbcr if space == "ycbcr" else rgb_to_lab
    scale = 1.0 if space == "ycbcr" else 1 / 100  # a/b in LAB units -> comparable numbers
    c = pics["content"]
    kept = stylize(lite0, c, [pics["starry"]], params=StyleParams(iters=15, original_colors=True, color_space=space))
    free = stylize(lite0, c, [pics["starry"]], params=StyleParams(iters=15))
    chroma = lambda x: to(x)[:, 1:] * scale  # noqa: E731
    kept_err = float((chroma(kept) - chroma(c)).abs().mean())
    free_err = float((chroma(free) - chroma(c)).abs().mean())
    assert kept_err < 1e-3, kept_err  # the chroma is the content's (up to clamping to [0, 1])
    assert free_err > 5 * kept_err, (kept_err, free_err)
    # and the luminance did change: it was stylised
    assert float((to(kept)[:, :1] - to(c)[:, :1]).abs().mean()) * scale > 0.01


def test_colour_conversions_round_trip():
    x = torch.rand(1, 3, 16, 16)
    assert torch.allclose(ycbcr_to_rgb(rgb_to_ycbcr(x)), x, atol=1e-5)
    assert torch.allclose(lab_to_rgb(rgb_to_lab(x)), x, atol=1e-4)


def test_style_weights_are_relative_and_must_be_positive(lite0, pics):
    p = StyleParams(iters=6)
    styles = [pics["starry"], pics["scream"]]
    even = stylize(lite0, pics["content"], styles, style_weights=[0.5, 0.5], params=p)
    also_even = stylize(lite0, pics["content"], styles, style_weights=[2, 2], params=p)
    mostly_starry = stylize(lite0, pics["content"], styles, style_weights=[0.9, 0.1], params=p)
    assert torch.allclose(even, also_even, atol=1e-6)
    assert not torch.equal(even, mostly_starry)
    with pytest.raises(ValueError, match="must all be > 0"):  # the same rule as the command line's
        stylize(lite0, pics["content"], styles, style_weights=[1, 0], params=p)


def test_same_seed_same_output_and_chunks_equal_one_run(lite0, pics):
    p = StyleParams(iters=6, init="noise", seed=3)
    a = stylize(lite0, pics["content"], [pics["starry"]], params=p)
    b = stylize(lite0, pics["content"], [pics["starry"]], params=p)
    c = stylize(lite0, pics["content"], [pics["starry"]], params=StyleParams(iters=6, init="noise", seed=4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    st = StyleTransfer(lite0, pics["content"], [pics["starry"]], params=p)
    st.run(3)
    chunked = st.run(3)
    assert torch.allclose(chunked, a, atol=1e-5)  # L-BFGS memory carries across run() calls


def test_precomputed_style_targets_give_the_same_picture(lite0, pics):
    styles, weights = [pics["starry"], pics["scream"]], [0.7, 0.3]
    p = StyleParams(iters=3)
    inside = stylize(lite0, pics["content"], styles, weights, params=p)
    targets = style_targets(lite0, styles, weights)
    before = stylize(lite0, pics["content"], styles, weights, params=p, style=targets)
    assert torch.equal(inside, before)
    with pytest.raises(ValueError, match="other style weights"):
        StyleTransfer(lite0, pics["content"], styles, [0.5, 0.5], params=p, style=targets)
    with pytest.raises(ValueError, match="original colours"):
        StyleTransfer(lite0, pics["content"], styles, weights, params=StyleParams(original_colors=True), style=targets)


def test_temporal_term_pulls_toward_the_previous_frame_inside_the_mask(lite0, pics):
    c = pics["content"]
    previous = torch.flip(c, dims=(-1,))  # a different picture of the same size
    mask = torch.zeros(1, 1, *c.shape[-2:])
    mask[..., : c.shape[-1] // 2] = 1.0  # the left half follows the previous frame

    def run(temporal):
        st = StyleTransfer(lite0, c, [pics["starry"]], params=StyleParams(), temporal=temporal)
        out = st.run(6)
        return out, float((mask * (out - previous).pow(2)).sum() / (3 * mask.sum()))

    free, d_free = run(None)
    off, _ = run(Temporal(previous, mask, 0.0))
    pulled, d_pulled = run(Temporal(previous, mask, 50.0))
    assert torch.equal(free, off)  # weight 0: no term at all
    assert d_pulled < 0.5 * d_free, (d_pulled, d_free)


def test_vgg_classic_recipe_and_judge(pics, vgg16_caffe_file):
    from dreamreel.engine import get_backbone

    vgg = get_backbone("vgg16_caffe", weights=str(vgg16_caffe_file))
    c, s = pics["content"], pics["starry"]
    out = stylize(vgg, c, [s], params=StyleParams(iters=10))
    before, after = judge(vgg, c, c, [s]), judge(vgg, out, c, [s])
    assert set(after["layers"]) == {"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"}
    assert after["style"] < 0.2 * before["style"] and before["content"] == 0.0


def test_pixel_bands_see_orientation_and_scale():
    from dreamreel.engine.style import pixel_bands

    x = torch.zeros(1, 3, 64, 64)
    x[..., :, ::4] = 1.0  # vertical lines, 4 px apart
    b = pixel_bands(x, 0)
    assert b.shape == (1, 27, 64, 64)
    energy = b[0, :24].pow(2).mean((1, 2)).view(2, 3, 4)  # (sign, colour, orientation)
    horizontal, vertical = energy[..., 0].sum(), energy[..., 1].sum()
    assert horizontal > 0 and vertical == 0  # the lines change across x only
    assert torch.allclose(b[0, 24:], x[0])  # the colours themselves
    # halved twice the lines (period 4) are blurred flat: no contrast left
    assert pixel_bands(x, 2)[0, :24].abs().max() < 1e-6
    second = pixel_bands(x, 0, second=True)
    assert second.shape == (1, 72, 32, 32)
    with pytest.raises(ValueError, match="pixel0x"):
        from dreamreel.engine.style.taps import _pixel_level
        _pixel_level("pixelq")


def test_gram_stats_backward_matches_autograd():
    from dreamreel.engine.style.stats import _GramStats

    f = torch.randn(23, 5, dtype=torch.double, requires_grad=True)
    for offsets in ((), (1,), (1, 4)):
        assert torch.autograd.gradcheck(lambda x: _GramStats.apply(x, offsets), (f,))
        g, total, *rest = _GramStats.apply(f, offsets)
        assert torch.allclose(g, f.t() @ f) and torch.allclose(total, f.sum(0))
        for i, k in enumerate(offsets):
            gs, sa, sb = rest[3 * i : 3 * i + 3]
            assert torch.allclose(gs, f[:-k].t() @ f[k:]) and torch.allclose(sa, f[:-k].sum(0))
            assert torch.allclose(sb, f[k:].sum(0))


def test_style_size_helper():
    assert style_size((300, 400), (600, 1000)) == (240, 400)
    assert style_size((300, 400), (600, 1000), scale=0.5) == (120, 200)
    assert style_size((300, 400), (600, 1000), scale=2.0, max_size=500) == (300, 500)


# --------------------------------------------------------------------------- the command


QUICK = ["--size", "64", "--iters", "4"]


def test_stylize_still_writes_picture_settings_and_names_the_model(run_cli, tmp_path):
    out = tmp_path / "s.png"
    code, _, err = run_cli("stylize", CONTENT, "--style", STARRY, "--style", SCREAM, "--style-weights", "0.7,0.3",
                           "--original-colors", "-o", out, *QUICK)
    assert code == 0, err
    assert "model: efficientnet_lite0" in err
    s = json.loads((tmp_path / "s.settings.json").read_text())
    assert s["model"] == "efficientnet_lite0" and s["recipe"]["name"] == "lite0-painterly"
    assert s["style_weights"] == [0.7, 0.3] and s["style"]["original_colors"] is True
    assert len(s["styles"]) == 2 and s["frame_size"] == [64, 48] and len(s["weights"]["sha256"]) == 64


@pytest.mark.parametrize("layers", [13, 16])
def test_stylize_with_a_caffe_vgg_file_picks_vgg16_or_vgg19(run_cli, tmp_path, request, layers):
    """The model follows the number of convolutions in the --weights file (random weights, real layout)."""
    name = "vgg16_caffe" if layers == 13 else "vgg19_caffe"
    path = request.getfixturevalue(f"random_{name}")
    code, _, err = run_cli("stylize", CONTENT, "--style", STARRY, "--weights", path, "-o",
                           tmp_path / "v.png", "--size", "64", "--iters", "2")
    assert code == 0, err
    assert f"model: {name}" in err
    s = json.loads((tmp_path / "v.settings.json").read_text())
    assert s["model"] == name and s["recipe"]["name"] == "vgg-classic"
    assert s["weights"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (tmp_path / "v.png").exists()


def test_stylize_with_a_weights_file_of_unknown_layout_asks_for_the_model(run_cli, tmp_path):
    import torch

    from conftest import VGG16_CAFFE_LAYOUT, random_caffe_state

    bad = tmp_path / "twelve.pth"
    state = random_caffe_state(VGG16_CAFFE_LAYOUT[:12])
    torch.save(state, bad)
    code, _, err = run_cli("stylize", CONTENT, "--style", STARRY, "--weights", bad, "-o", tmp_path / "x.png", *QUICK)
    assert code == 2 and "(12 convolutions); give --model" in err and len(err.strip().splitlines()) == 1


def test_progression_gif_has_a_frame_every_n_iterations(run_cli, tmp_path):
    gif = tmp_path / "p.gif"
    code, _, err = run_cli("stylize", CONTENT, "--style", STARRY, "--gif", gif, "--every", "2", "--size", "64",
                           "--iters", "6")
    assert code == 0, err
    assert gif_info(gif)["frames"] == 4  # iterations 0, 2, 4, 6
    frames = FrameDir(tmp_path / "p_frames")
    assert float((frames.read(3) - frames.read(0)).abs().mean()) > 0.01


def test_sweep_ratio_one_frame_per_ratio(run_cli, tmp_path):
    gif = tmp_path / "sw.gif"
    code, _, err = run_cli("stylize", CONTENT, "--style", STARRY, "--gif", gif, "--sweep-ratio", "0.1:10",
                           "--sweep-frames", "3", *QUICK)
    assert code == 0, err
    s = json.loads((tmp_path / "sw.settings.json").read_text())
    assert [round(r, 6) for r in s["ratios"]] == [0.1, 1.0, 10.0]
    assert gif_info(gif)["frames"] == 3


def test_then_dream_and_blend_start_and_small_style_warning(run_cli, tmp_path):
    tiny = tmp_path / "tiny.png"
    from dreamreel.animator.media import write_image

    write_image(str(tiny), load(STARRY, 40))
    out = tmp_path / "d.png"
    code, _, err = run_cli("stylize", CONTENT, "--style", tiny, "--then-dream", "--layer", "block6",
                           "--dream-octaves", "1", "--dream-steps", "2", "--init-blend", SCREAM, "--alpha", "0.3",
                           "-o", out, "--size", "96", "--iters", "2")
    assert code == 0, err
    assert "warning" in err and "upscaling" in err
    s = json.loads((tmp_path / "d.settings.json").read_text())
    assert s["then_dream"]["objective"] == "layer(block6)" and s["init_picture"]["alpha"] == 0.3
    assert (tmp_path / "d_styled.png").exists()


@pytest.mark.parametrize("args, message", [
    (["--style", "nowhere.jpg"], "style image not found: nowhere.jpg"),
    ([], "at least one --style"),
    (["--style", "{starry}", "--style", "{scream}", "--style-weights", "1"], "1 value for 2 --style images"),
    (["--style", "{starry}", "--style", "{scream}", "--style-weights", "1,0"], "must all be > 0"),
    (["--style", "{starry}", "--style-weights", "-1"], "must all be > 0"),
    (["--style", "{starry}", "--style-weight", "0"], "--style-weight must be > 0"),
    (["--style", "{starry}", "--content-weight", "-2"], "--content-weight must be >= 0"),
    (["--style", "{starry}", "--optimizer", "sgd"], "unknown --optimizer"),
    (["--style", "{starry}", "--init", "nowhere.png"], "--init must be content, noise or an image file"),
    (["--style", "{starry}", "--sweep-ratio", "10", "--gif", "{tmp}/a.gif"], "bad --sweep-ratio"),
    (["--style", "{starry}", "--model", "alexnet"], "valid models"),
])
def test_bad_input_is_one_line_and_exit_2(run_cli, tmp_path, args, message):
    args = [a.format(starry=STARRY, scream=SCREAM, tmp=tmp_path) for a in args]
    code, _, err = run_cli("stylize", CONTENT, *args, "-o", tmp_path / "x.png", *QUICK)
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert message in lines[0]
    assert not (tmp_path / "x.png").exists()


def test_a_float16_optimisation_ends_where_the_float32_one_does(lite0, pics):
    """What a GPU runs by default (the network's forward passes in float16, the statistics and losses in float32),
    here on the CPU's float16: L-BFGS follows the same road (at 1080p the gradient's cosine with float32's was
    0.999 on Lite0 and 1.000 on VGG-16; at 256 px 60 iterations ended within 1 % of float32's loss)."""
    runs = {}
    for amp in ("fp32", "fp16"):
        st = StyleTransfer(lite0, pics["content"], [pics["starry"]], params=StyleParams(), amp=amp)
        assert st.amp == (None if amp == "fp32" else torch.float16)
        st.run(20)
        runs[amp] = (float(st.history[0]), float(st.history[-1]), st.image())
    (s32, e32, p32), (s16, e16, p16) = runs["fp32"], runs["fp16"]
    assert e32 < 0.3 * s32 and abs(e16 - e32) < 0.05 * e32, (runs["fp32"][:2], runs["fp16"][:2])
    change = (p32 - pics["content"]).abs().mean()
    assert (p16 - p32).abs().mean() < 0.5 * change and not torch.equal(p16, p32)  # not float32 again


def test_a_float16_optimisation_that_overflows_goes_on_in_float32(lite0, pics):
    """A style weight far beyond the defaults overflows float16 in the backward pass: the evaluation is done
    again in float32 and the run stays there, its loss falling, its picture finite."""
    heavy = StyleParams(style_weight=1e6)  # the defaults' gradient stays finite up to about 1e3 times
    st = StyleTransfer(lite0, pics["content"], [pics["starry"]], params=heavy, amp="fp16")
    assert st.amp == torch.float16
    st.run(5)
    assert st.amp is None
    ref = StyleTransfer(lite0, pics["content"], [pics["starry"]], params=heavy, amp="fp32")
    ref.run(5)
    hist, want = [float(h) for h in st.history], [float(h) for h in ref.history]
    assert all(map(torch.isfinite, st.history)) and hist[-1] < 0.9 * hist[0]
    assert abs(hist[-1] - want[-1]) < 0.05 * want[-1], (hist, want)  # float32's road
    assert torch.isfinite(st.image()).all()
