import math

import numpy as np
import pytest
import torch

from dreamreel.engine.warp import (
    BORDERS,
    INTERPOLATIONS,
    affine_matrix,
    compose,
    invert,
    motion_matrix,
    warp_affine,
)

from conftest import SAMPLES, load

H, W = 96, 128
CX, CY = (W - 1) / 2, (H - 1) / 2


def blob(x0: float, y0: float, h: int = H, w: int = W, sigma: float = 1.5) -> torch.Tensor:
    """A small bright Gaussian dot at (x0, y0) on black, (1, 3, h, w)."""
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    g = torch.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma**2))
    return g.expand(1, 3, h, w).float().contiguous()


def centroid(img: torch.Tensor) -> tuple[float, float]:
    a = img[0, 0].double()
    y, x = torch.meshgrid(torch.arange(a.shape[0]), torch.arange(a.shape[1]), indexing="ij")
    s = a.sum()
    return (float((a * x).sum() / s), float((a * y).sum() / s))


def smooth(h: int = H, w: int = W) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    return torch.stack([0.5 + 0.4 * torch.sin(x / 7), 0.5 + 0.4 * torch.cos(y / 5), (x + y) / (h + w)])[None]


def apply(m: np.ndarray, x: float, y: float) -> tuple[float, float]:
    return tuple(m @ np.array([x, y, 1.0]))


@pytest.mark.parametrize(
    "kwargs, src, dst",
    [
        (dict(zoom=2.0), (CX + 10, CY + 5), (CX + 20, CY + 10)),  # magnifies about the centre
        (dict(zoom=0.5), (CX - 30, CY + 20), (CX - 15, CY + 10)),
        (dict(angle=90), (CX + 20, CY), (CX, CY - 20)),  # right of centre -> above: counter-clockwise
        (dict(angle=-90), (CX + 20, CY), (CX, CY + 20)),
        (dict(tx=7, ty=-4), (40, 50), (47, 46)),  # tx right, ty down
        (dict(zoom=2.0, tx=3, ty=2), (CX + 10, CY), (CX + 23, CY + 2)),  # zoom first, then translate
        (dict(zoom=2.0, cx=20, cy=30), (25, 35), (30, 40)),  # explicit centre
    ],
)
def test_dot_lands_where_the_maths_says(kwargs, src, dst):
    m = affine_matrix(H, W, **kwargs)
    assert m.shape == (2, 3) and m.dtype == np.float64
    assert apply(m, *src) == pytest.approx(dst, abs=1e-9)
    out = warp_affine(blob(*src), m, border="constant")  # reflect would mirror copies in
    got = centroid(out)
    assert math.dist(got, dst) < 1.0, (got, dst)


def test_identity_leaves_image_unchanged():
    img = smooth()
    ident = affine_matrix(H, W)
    np.testing.assert_allclose(ident, [[1, 0, 0], [0, 1, 0]], atol=1e-12)
    for interp in INTERPOLATIONS:
        out = warp_affine(img, ident, interp=interp)
        assert out.shape == img.shape and out.dtype == img.dtype and out.device == img.device
        assert (out - img).abs().max() < 1e-5, interp


def test_dtype_preserved_and_clamped():
    # a hard edge makes lanczos overshoot; the result must stay in [0, 1]
    img = torch.zeros(1, 3, 64, 64, dtype=torch.float64)
    img[..., 20:40] = 1.0
    out = warp_affine(img, affine_matrix(64, 64, zoom=1.37, angle=11), interp="lanczos")
    assert out.dtype == torch.float64 and out.shape == img.shape
    assert out.min() >= 0 and out.max() <= 1


def test_compose_and_invert():
    m = affine_matrix(H, W, zoom=1.3, angle=17, tx=5, ty=-3)
    np.testing.assert_allclose(compose(m, invert(m)), [[1, 0, 0], [0, 1, 0]], atol=1e-9)
    np.testing.assert_allclose(compose(invert(m), m), [[1, 0, 0], [0, 1, 0]], atol=1e-9)
    # compose(m1, m2) means m1 first, then m2
    m1 = affine_matrix(H, W, tx=10)
    m2 = affine_matrix(H, W, zoom=2.0)
    p = (CX + 5, CY)
    assert apply(compose(m1, m2), *p) == pytest.approx(apply(m2, *apply(m1, *p)))
    assert apply(compose(m1, m2), *p) == pytest.approx((CX + 30, CY))
    # warping by the composition = warping twice (up to interpolation)
    src = blob(CX + 5, CY)
    assert math.dist(centroid(warp_affine(src, compose(m1, m2))), (CX + 30, CY)) < 1.0


def test_motion_matrix_fractions():
    full = motion_matrix(H, W, zoom=1.21, angle=8, tx=0, ty=0)
    half = motion_matrix(H, W, zoom=1.21, angle=8, tx=0, ty=0, fraction=0.5)
    np.testing.assert_allclose(full, affine_matrix(H, W, zoom=1.21, angle=8), atol=1e-12)
    np.testing.assert_allclose(half, affine_matrix(H, W, zoom=1.1, angle=4), atol=1e-12)
    np.testing.assert_allclose(compose(half, half), full, atol=1e-9)  # zoom/rotation split exactly
    zero = motion_matrix(H, W, zoom=1.21, angle=8, tx=4, ty=2, fraction=0.0)
    np.testing.assert_allclose(zero, [[1, 0, 0], [0, 1, 0]], atol=1e-12)
    np.testing.assert_allclose(
        motion_matrix(H, W, 1.0, 0.0, 4.0, -2.0, fraction=0.25), affine_matrix(H, W, tx=1.0, ty=-0.5), atol=1e-12
    )


@pytest.mark.parametrize("border", sorted(BORDERS))
def test_every_border_mode(border):
    out = warp_affine(smooth(), affine_matrix(H, W, zoom=0.8, angle=10, tx=3), border=border, interp="linear")
    assert out.shape == (1, 3, H, W) and torch.isfinite(out).all()


def test_wrap_wraps_and_constant_is_black():
    img = torch.zeros(1, 3, 64, 64)
    img[..., 56:60] = 1.0  # vertical stripe near the right edge
    m = affine_matrix(64, 64, tx=12)  # moves it past the right edge: 68..71 -> 4..7
    wrapped = warp_affine(img, m, border="wrap", interp="linear")
    assert (wrapped[0, :, :, 4:8] > 0.99).all()
    assert wrapped[0, :, :, 8:64].max() < 1e-6 and wrapped[0, :, :, 0:4].max() < 1e-6
    black = warp_affine(img, m, border="constant", interp="linear")
    assert black.max() < 1e-6  # the stripe left the frame; uncovered area is black
    # a shift down by ty wraps vertically too
    img = torch.zeros(1, 3, 64, 64)
    img[..., 60:62, :] = 1.0
    down = warp_affine(img, affine_matrix(64, 64, ty=10), border="wrap", interp="nearest")
    assert (down[0, :, 6:8, :] == 1).all()


def test_reflect_and_replicate_fill_from_the_image():
    img = torch.zeros(1, 3, 64, 64)
    img[..., :, 0:2] = 1.0  # bright left edge
    m = affine_matrix(64, 64, tx=8)  # uncover 8 columns on the left
    rep = warp_affine(img, m, border="replicate", interp="nearest")
    assert (rep[..., :, 0:10] == 1).all()
    ref = warp_affine(img, m, border="reflect", interp="nearest")
    assert (ref[..., :, 7:10] == 1).all() and (ref[..., :, 0:6] == 0).all()


def test_bad_names_raise_value_error():
    img = smooth(32, 32)
    m = affine_matrix(32, 32)
    with pytest.raises(ValueError, match="reflect, replicate, wrap, constant"):
        warp_affine(img, m, border="mirror")
    with pytest.raises(ValueError, match="nearest, linear, cubic, lanczos, area"):
        warp_affine(img, m, interp="bilinear")
    with pytest.raises(ValueError, match="zoom"):
        affine_matrix(32, 32, zoom=0)
    with pytest.raises(ValueError, match="2x3"):
        warp_affine(img, np.eye(2))


# ---------------------------------------------------------------- the torch warp (frames on a GPU stay there)


@pytest.mark.parametrize("border", ["reflect", "replicate", "wrap", "constant"])
@pytest.mark.parametrize("interp, mean_tol, p99_tol", [("linear", 1e-4, 1e-3), ("cubic", 1e-4, 1e-3),
                                                       ("nearest", 1e-4, 1e-3), ("lanczos", 5e-3, 0.04)])
def test_the_torch_warp_agrees_with_opencv(border, interp, mean_tol, p99_tol):
    """On a CUDA device frames are warped by grid_sample (warp_affine_torch); on the CPU by OpenCV. Stated
    tolerances (measured: linear and cubic agree to ~1e-6 on average; Lanczos is bicubic in torch, mean 0.002-0.003,
    p99 0.016-0.03 at 160 px; nearest differs only at exact ties), for a zoom in and a zoom out with rotation and a shift."""
    from dreamreel.engine.warp import warp_affine_torch

    img = load(SAMPLES / "figures.jpg", 160)
    h, w = img.shape[-2:]
    for m in (affine_matrix(h, w, 1.05, 3, 2, -1), affine_matrix(h, w, 0.8, 10, 5, 3)):
        a, b = warp_affine(img, m, border, interp), warp_affine_torch(img, m, border, interp)
        d = (a - b).abs().flatten()
        assert float(d.mean()) <= mean_tol and float(d.quantile(0.99)) <= p99_tol, (float(d.mean()), float(d.max()))
    _, ma = warp_affine(img, m, border, "linear", with_mask=True)
    _, mb = warp_affine_torch(img, m, border, "linear", with_mask=True)
    assert float((ma - mb).abs().max()) <= 1e-4 and float(ma.min()) == 0.0  # the zoom out uncovers the border
