"""Optical flow, backward warping, consistency masks and the warping error (engine/flow.py)."""
from __future__ import annotations

import cv2
import pytest
import torch
import torch.nn.functional as F

from dreamreel.engine.flow import (consistency_mask, estimate_flow, flow_pair, raft_weights_path, warp,
                                   warping_error)

from conftest import SAMPLES

H, W = 96, 128
DX, DY = 3, -2  # content of b sits 3 px left and 2 px down of a: a(x) = b(x + (3, -2))
INNER = (..., slice(8, -8), slice(8, -8))


def texture(h: int, w: int, seed: int) -> torch.Tensor:
    """A smooth random RGB texture (1, 3, h, w) in [0, 1] (bicubic-upsampled noise)."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(1, 3, h // 4 + 4, w // 4 + 4, generator=g)
    return F.interpolate(noise, size=(h + 16, w + 16), mode="bicubic", align_corners=False)[..., 8:-8, 8:-8].clamp(0, 1)


def photo(h: int, w: int) -> torch.Tensor:
    img = cv2.cvtColor(cv2.imread(str(SAMPLES / "figures.jpg")), cv2.COLOR_BGR2RGB)
    img = cv2.resize(img, (w * 2, round(img.shape[0] * w * 2 / img.shape[1])), interpolation=cv2.INTER_AREA)
    y0 = (img.shape[0] - h) // 2
    return torch.from_numpy(img[y0:y0 + h, :w]).permute(2, 0, 1)[None].float() / 255


def shifted_pair(big: torch.Tensor, m: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """a = crop of big, b = the crop displaced so that a(x) = b(x + (DX, DY)) exactly."""
    a = big[..., m:m + H, m:m + W]
    b = big[..., m - DY:m - DY + H, m - DX:m - DX + W]
    return a, b


def moving_square(x0: int) -> torch.Tensor:
    """Static textured background with a brighter textured 32 px square at (x0, 32)."""
    f = texture(H, W, seed=1).clone()
    f[..., 32:64, x0:x0 + 32] = texture(32, 32, seed=2) * 0.5 + 0.5
    return f


def test_shift_pair_is_exact():
    a, b = shifted_pair(texture(H + 16, W + 16, seed=0))
    assert torch.equal(a[..., 10:20, 10:20], b[..., 10 + DY:20 + DY, 10 + DX:20 + DX])
    flow = torch.tensor([DX, DY], dtype=torch.float32).view(1, 2, 1, 1).expand(1, 2, H, W)
    # an integer flow moves pixels exactly (pixel-centre coordinates, align_corners=True)
    assert torch.allclose(warp(b, flow)[INNER], a[INNER], atol=1e-5)


@pytest.mark.parametrize("method,preset,source", [("dis", "medium", "texture"), ("dis", "fast", "texture"),
                                                  ("farneback", "medium", "texture"), ("dis", "medium", "photo")])
def test_flow_and_warp_recover_a_known_shift(method, preset, source):
    big = texture(H + 16, W + 16, seed=0) if source == "texture" else photo(H + 16, W + 16)
    a, b = shifted_pair(big)
    flow = estimate_flow(a, b, method=method, preset=preset)
    assert flow.shape == (1, 2, H, W) and flow.dtype == torch.float32
    epe = (flow[:, 0] - DX).hypot(flow[:, 1] - DY)[INNER]
    assert float(epe.mean()) < 1.0, float(epe.mean())
    assert abs(float(flow[:, 0][INNER].median()) - DX) < 0.5 and abs(float(flow[:, 1][INNER].median()) - DY) < 0.5
    back = warp(b, flow)
    assert back.shape == a.shape
    assert float((back - a)[INNER].abs().mean()) < 0.03
    assert float((b - a)[INNER].abs().mean()) > 3 * float((back - a)[INNER].abs().mean())  # the shift mattered


def test_warp_any_channels_and_broadcast():
    flow = torch.zeros(1, 2, 16, 20)
    flow[:, 0] = 1.0
    img = torch.arange(5 * 16 * 20, dtype=torch.float32).view(1, 5, 16, 20)
    out = warp(img, flow, mode="nearest")
    assert out.shape == (1, 5, 16, 20)
    assert torch.equal(out[..., :-1], img[..., 1:])
    assert torch.equal(out[..., -1], img[..., -1])  # border padding
    assert warp(img.expand(3, -1, -1, -1), flow).shape == (3, 5, 16, 20)
    with pytest.raises(ValueError):
        warp(img, torch.zeros(1, 2, 8, 8))


def test_consistency_mask_marks_disocclusion():
    prev, cur = moving_square(40), moving_square(48)  # the square moves 8 px right
    fw, bw, mask = flow_pair(cur, prev)  # on cur's grid: warp(prev, fw) ≈ cur where mask == 1
    assert mask.shape == (1, 1, H, W) and set(mask.unique().tolist()) <= {0.0, 1.0}
    uncovered = mask[0, 0, 34:62, 40:48]  # background in cur, hidden under the square in prev
    assert float(uncovered.mean()) < 0.4, float(uncovered.mean())
    far = torch.cat([mask[0, 0, 4:22, 8:-8].flatten(), mask[0, 0, 74:92, 8:-8].flatten()])
    assert float(far.mean()) > 0.9, float(far.mean())
    # the same check by hand: a flow and its exact inverse are consistent, a contradicting one is not
    w = torch.full((1, 2, H, W), 2.0)
    assert float(consistency_mask(w, -w, motion_boundaries=False)[..., :-4, :-4].min()) == 1.0
    assert float(consistency_mask(w, w).max()) == 0.0
    # pixels flowing out of the frame are unreliable
    assert float(consistency_mask(w, -w)[..., :, -1].max()) == 0.0


def test_warping_error_same_vs_noise():
    frames = [moving_square(36 + 3 * t) for t in range(4)]
    g = torch.Generator().manual_seed(3)
    noisy = [(f + 0.1 * torch.randn(f.shape, generator=g)).clamp(0, 1) for f in frames]
    floor = warping_error((f for f in frames), (f for f in frames))
    bad = warping_error(iter(noisy), iter(frames))
    assert floor["pairs"] == bad["pairs"] == 3
    assert floor["warp_error"] < 1e-3, floor
    assert bad["warp_error"] > 5e-3 and bad["warp_error"] > 20 * floor["warp_error"], (floor, bad)
    assert warping_error([frames[0]], [frames[0]]) == {"warp_error": 0.0, "pairs": 0}
    with pytest.raises(ValueError, match="frame counts"):
        warping_error(frames, frames[:3])


def test_unknown_method_or_preset_raises():
    a = texture(64, 64, seed=0)
    with pytest.raises(ValueError, match="dis.*farneback"):
        estimate_flow(a, a, method="lucas-kanade")
    with pytest.raises(ValueError, match="medium"):
        estimate_flow(a, a, preset="slow")


def test_raft_without_weights_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    a = texture(64, 64, seed=0)
    with pytest.raises(ValueError, match=r"raft_small_C_T_V2-01064c6d\.pth") as err:
        estimate_flow(a, a, method="raft")
    assert str(tmp_path / "checkpoints") in str(err.value)
    with pytest.raises(ValueError, match=r"raft_large_C_T_SKHT_V2-ff5fadd5\.pth"):
        estimate_flow(a, a, method="raft_large")


def test_raft_loads_cached_weights(tmp_path, monkeypatch):
    """The RAFT path end to end with random weights in a fake hub cache (checks loading, padding, shape)."""
    from torchvision.models.optical_flow import raft_small

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    torch.manual_seed(0)
    torch.save(raft_small().state_dict(), raft_weights_path("raft_small"))
    a = texture(60, 70, seed=0)
    flow = estimate_flow(a, a.roll(1, -1), method="raft")
    assert flow.shape == (1, 2, 60, 70) and torch.isfinite(flow).all()
