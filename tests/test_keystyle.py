"""The keyframes method of ``video --style`` (``--method keyframes``): keyframes painted by the optimisation, every
frame synthesised from their patches along the flow (engine/style/synth.py, animator/clips/keyframes.py)."""
from __future__ import annotations

import json
import re

import pytest
import torch
import torch.nn.functional as F

from dreamreel.animator.media import ClipReader, FrameDir, open_clip, read_image, resize_to
from dreamreel.engine.style.synth import KeyframeBank, PatchSynth, SynthParams, carry_field, identity_field

from conftest import CLIP, SCREAM, STARRY


def _scene(h: int = 48, w: int = 96, seed: int = 0) -> torch.Tensor:
    """A textured picture: smooth colour blobs plus fine noise (every patch distinct)."""
    g = torch.Generator().manual_seed(seed)
    blobs = F.interpolate(torch.rand(1, 3, h // 8, w // 8, generator=g), size=(h, w), mode="bicubic",
                          align_corners=False)
    return (0.7 * blobs + 0.3 * torch.rand(1, 3, h, w, generator=g)).clamp(0, 1)


def _painted(x: torch.Tensor) -> torch.Tensor:
    """A "stylisation" no patch copy gets for free: channels swapped, inverted, a fixed stroke texture added."""
    g = torch.Generator().manual_seed(7)
    strokes = torch.rand(1, 1, x.shape[-2], x.shape[-1], generator=g)
    return (1 - x[:, [2, 0, 1]] * 0.8 + 0.2 * strokes).clamp(0, 1)


def test_synthesis_follows_the_motion_with_the_keyframes_strokes():
    """A scene moving 2 px a frame: each synthesised frame is the painted keyframe moved with it (the strokes
    go along; they are not re-invented), apart from the band that came into view."""
    big = _scene(48, 120)
    frames = [big[..., 2 * t: 2 * t + 96] for t in range(6)]  # the camera pans right: content moves left
    painted_big = _painted(big)
    bank = KeyframeBank([frames[0]], [painted_big[..., :96]], SynthParams())
    syn = PatchSynth(bank)
    field = identity_field(0, 48, 96)
    assert torch.allclose(syn.render(field), painted_big[..., :96], atol=1e-5)  # the keyframe itself
    flow = torch.zeros(1, 2, 48, 96)
    flow[:, 0] = 2.0  # frame t at x is frame t-1 at x + 2
    mask = torch.ones(1, 1, 48, 96)
    mask[..., -2:] = 0
    out = syn.render(field)
    for t in range(1, 6):
        from dreamreel.engine.flow import warp

        field = syn.match(frames[t], carry_field(field, flow), warp(out, flow, mode="bicubic"), mask, seed=t)
        out = syn.render(field)
    seen = slice(2, 96 - 2 * 5 - 2)  # what frame 0 saw of frame 5, away from the edges
    expected = painted_big[..., 10:106]
    err = (out - expected)[..., seen].abs().mean()
    assert err < 0.02, f"the strokes did not follow the motion (mean error {err:.3f})"
    # the field points where the content came from: 2 px per frame
    x = field[2].view(48, 96)[:, seen]
    assert torch.allclose(x - torch.arange(96, dtype=torch.float32)[seen], torch.full_like(x, 10.0), atol=0.5)


def test_synthesis_on_new_content_uses_the_closest_source_patches():
    """Content the keyframe never saw is painted with the strokes of the keyframe patches whose source is
    closest: a frame made of the keyframe's own pixels rearranged (tiles swapped) comes out as its painting
    rearranged the same way."""
    src = _scene(48, 96, seed=3)
    painted = _painted(src)
    bank = KeyframeBank([src], [painted], SynthParams(iters=4))
    swapped = torch.cat([src[..., 48:], src[..., :48]], -1)
    expected = torch.cat([painted[..., 48:], painted[..., :48]], -1)
    syn = PatchSynth(bank)
    field = syn.match(swapped, identity_field(0, 48, 96), None, torch.zeros(1, 1, 48, 96))
    err = (syn.render(field) - expected)[..., 4:-4, 4:44].abs().mean()
    assert err < 0.05, err


def test_synthesis_rematches_only_where_the_flow_does_not_hold():
    """Half a frame traces back (its carried match is right), the other half is new (its tiles swapped): the new
    half, matched by the rounds over the new pixels alone, comes out as the painting rearranged; the carried half
    keeps its match exactly (sub-pixel positions included)."""
    src = _scene(48, 96, seed=5)
    painted = _painted(src)
    bank = KeyframeBank([src], [painted], SynthParams())
    left = torch.cat([src[..., 24:48], src[..., :24]], -1)  # the left half new: its two quarters swapped
    frame = torch.cat([left, src[..., 48:]], -1)
    expected = torch.cat([painted[..., 24:48], painted[..., :24], painted[..., 48:]], -1)
    mask = torch.ones(1, 1, 48, 96)
    mask[..., :48] = 0
    carried = identity_field(0, 48, 96)
    carried[2] += 0.25 * (torch.arange(48 * 96) % 96 >= 48)  # the traced half moved a quarter pixel
    syn = PatchSynth(bank)
    field = syn.match(frame, carried, painted, mask, seed=1)
    kept = (torch.arange(48 * 96) % 96) >= 52
    assert torch.equal(field[:, kept], carried[:, kept])
    err = (syn.render(field) - expected)[..., 4:-4, 4:20].abs().mean()
    assert err < 0.05, err


def _pan_mode(tmp_path, step: int, n: int, first: int, strokes_per_key: bool = False):
    """A clip panning ``step`` px a frame over a textured scene, and the keyframes mode on it with a painter that
    paints a keyframe as the scene's painting there (``_painted`` of the whole scene, cropped; with
    ``strokes_per_key`` each keyframe's strokes are its own). Returns the mode, the painting seen at each frame
    (as keyframe t would paint it: ``painting(t, k)``) and the frames painted."""
    from dreamreel.animator.clips.keyframes import KeyframeStyleMode
    from dreamreel.animator.media import Mp4Writer

    big = _scene(64, 96 + step * (n - 1), seed=11)
    with Mp4Writer(tmp_path / "pan.mp4", fps=10, crf=0) as w:
        for t in range(n):
            w.write(big[..., step * t: step * t + 96])
    reader = ClipReader(open_clip(str(tmp_path / "pan.mp4")), keep=3)
    g = torch.Generator().manual_seed(3)
    strokes = [torch.rand(1, 1, *big.shape[-2:], generator=g) for _ in range(n if strokes_per_key else 1)]

    def painting(t, k=0):
        return (1 - big[:, [2, 0, 1]] * 0.8 + 0.2 * strokes[k if strokes_per_key else 0]).clamp(0, 1)[
            ..., step * t: step * t + 96]

    painted: list[int] = []

    def paint(t, frame, init):
        painted.append(t)
        return painting(t, t)

    mode = KeyframeStyleMode(reader, first, painting(first, first), paint, SynthParams())
    return mode, painting, painted


def test_a_pan_takes_its_new_content_from_the_next_keyframe_and_ends_on_keyframes(tmp_path):
    """A pan brings 6 px of new scene a frame. The frames before a later keyframe show what came into view painted
    as that keyframe paints it (the frames between two keyframes are synthesised again from the later one), not
    strokes borrowed from unrelated places; the clip's first and last frames, each with more than a tenth of it new
    since the last keyframe, are keyframes of their own."""
    mode, painting, painted = _pan_mode(tmp_path, step=6, n=16, first=8)
    out = [mode.step(t, None, 0) for t in range(16)]
    later = [t for t in painted if t > 8]
    assert later and later[-1] == 15 and 0 in painted, painted
    k = later[0]
    for t in range(9, k):
        band = slice(96 - 6 * (t - 8), 92)  # come into view since keyframe 8 (not within 4 px of the edge)
        err = float((out[t] - painting(t))[..., 4:-4, band].abs().mean())
        assert err < 0.06, (t, err)
    whole = [float((o - painting(t))[..., 4:-4, 4:-4].abs().mean()) for t, o in enumerate(out)]
    assert max(whole) < 0.06, whole


def test_a_frame_between_two_keyframes_shows_what_they_share_as_the_nearer_one_painted_it(tmp_path):
    """Each keyframe with strokes of its own: the frame after keyframe 8 shows mostly the strokes of 8 where it
    shares the view with 8, the frame before the next keyframe mostly that one's, and the frames between go from
    one to the other in steps (a dissolve, not a switch in one frame)."""
    mode, painting, painted = _pan_mode(tmp_path, step=6, n=16, first=8, strokes_per_key=True)
    out = [mode.step(t, None, 0) for t in range(16)]
    k = min(t for t in painted if t > 8)
    assert k >= 12, painted
    shared = slice(4, 96 - 6 * (k - 8) - 4)  # in view at 8 and at k, in frames 8..k

    def to(t, j):
        return float((out[t] - painting(t, j))[..., 4:-4, shared].abs().mean())

    for t, nearer, other in ((9, 8, k), (k - 1, k, 8)):
        assert to(t, nearer) < 0.6 * to(t, other), (t, to(t, nearer), to(t, other))
    away = [to(t, 8) for t in range(9, k)]  # from keyframe 8's strokes, growing
    steps = [b - a for a, b in zip(away, away[1:])]
    assert min(steps) > 0 and max(steps) < 0.6 * sum(steps), away


def test_a_still_clip_gets_no_keyframe_at_its_ends(tmp_path):
    mode, painting, painted = _pan_mode(tmp_path, step=0, n=10, first=5)
    out = [mode.step(t, None, 0) for t in range(10)]
    assert painted == [] and mode.keys == [5]
    assert max(float((o - painting(5)).abs().mean()) for o in out) < 0.02


def test_a_frame_rendered_between_pixels_keeps_the_keyframes_fine_texture():
    """A field half a pixel off the keyframe's grid (a sub-pixel pan): bicubic sampling alone loses much of the
    strokes' finest texture; the detail restoration brings the band back near the keyframe's own energy. At the
    keyframe's own positions the render is the keyframe."""
    src = _scene(48, 96, seed=2)
    painted = _painted(src)

    def fine(x):  # the energy of a picture's finest band, inside its border
        return (x - F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, 1)).square()[..., 6:-6, 6:-6].mean()

    field = identity_field(0, 48, 96)
    field[1:] += 0.5
    plain = PatchSynth(KeyframeBank([src], [painted], SynthParams(detail=0))).render(field)
    syn = PatchSynth(KeyframeBank([src], [painted], SynthParams()))
    restored = syn.render(field)
    assert fine(plain) < 0.6 * fine(painted)
    assert fine(restored) > 1.3 * fine(plain)
    assert fine(restored) < 1.1 * fine(painted)
    assert (syn.render(identity_field(0, 48, 96)) - painted).abs().max() < 1e-4


def test_the_detail_restoration_is_kept_only_where_the_backbone_says_it_keeps_the_style():
    """``choose_detail`` renders the first keyframe moved a quarter pixel with and without the restoration and
    keeps the one whose style loss (the method's own backbone) is lower: both answers occur, by the style."""
    from dreamreel.animator.clips.keyframes import DETAIL_PROBE, choose_detail
    from dreamreel.engine import get_backbone
    from dreamreel.engine.style import judge

    net = get_backbone("efficientnet_lite0")
    g = torch.Generator().manual_seed(0)
    h, w = 96, 160
    src = F.interpolate(torch.rand(1, 3, h // 8, w // 8, generator=g), size=(h, w), mode="bicubic").clamp(0, 1)
    grain = (torch.rand(1, 1, h, w, generator=g) > 0.5).float().expand(1, 3, h, w) * 0.6 + 0.2
    grain_pic = (torch.rand(1, 1, 128, 128, generator=g) > 0.5).float().expand(1, 3, 128, 128) * 0.6 + 0.2
    wash = F.interpolate(torch.rand(1, 3, h // 4, w // 4, generator=g), size=(h, w), mode="bilinear")
    wash_pic = F.interpolate(torch.rand(1, 3, 32, 32, generator=g), size=(128, 128), mode="bilinear")
    cases = {"grain": ((0.5 * src + 0.5 * grain).clamp(0, 1), (0.5 * F.interpolate(
        torch.rand(1, 3, 16, 16, generator=g), size=(128, 128), mode="bicubic") + 0.5 * grain_pic).clamp(0, 1)),
             "wash": ((0.5 * src + 0.5 * wash).clamp(0, 1), wash_pic)}
    field = identity_field(0, h, w)
    field[1:] += DETAIL_PROBE
    chosen = {}
    for name, (styled, picture) in cases.items():
        chosen[name] = choose_detail(src, styled, SynthParams(),
                                     lambda pic, source, p=picture: judge(net, pic, source, [p])["style"]).detail
        loss = {d: judge(net, PatchSynth(KeyframeBank([src], [styled], SynthParams(detail=d))).render(field), src,
                         [picture])["style"] for d in (0.0, SynthParams().detail)}
        assert loss[chosen[name]] == min(loss.values()), (name, loss)
    assert chosen == {"grain": 0.0, "wash": SynthParams().detail}


class _Curve:
    """A stand-in for StyleTransfer's iteration count and loss history, following ``loss(iteration)``."""

    def __init__(self, loss):
        self.loss, self.iterations, self.history = loss, 0, []

    def run(self, n, progress=None):
        for i in range(self.iterations, self.iterations + n):
            self.history.append(torch.tensor(self.loss(i)))
            if progress:
                progress(i + 1 - self.iterations, n, None)
        self.iterations += n


@pytest.mark.parametrize("loss, stop", [
    (lambda i: 100 * 0.995 ** i, 100),  # settling: -12 % over 25 iterations
    (lambda i: 100 * 0.99 ** min(i, 150), 175),  # -22 % per 25 until 150, then flat
    (lambda i: 100 * 0.99 ** i, 200),  # still falling at twice --key-iters
])
def test_a_keyframe_still_converging_is_painted_on_up_to_twice_its_iterations(loss, stop):
    from dreamreel.animator.clips.keyframes import paint_on

    st = _Curve(loss)
    st.run(100)
    paint_on(st, 100, 0)
    assert st.iterations == stop


def test_a_keyframe_painted_on_writes_progress_lines_into_a_log(monkeypatch, capsys):
    """The rounds after --key-iters are a phase of their own in a log (25 iterations: ~25 s at 384 px)."""
    from dreamreel.animator import progress
    from dreamreel.animator.clips.keyframes import MORE_ITERS, paint_on

    monkeypatch.setattr(progress, "LOG_EVERY", 0.0)
    st = _Curve(lambda i: 100 * 0.99 ** i)
    st.run(100)
    paint_on(st, 100, 7)
    err = capsys.readouterr().err
    lines = re.findall(rf"^keyframe 7 \(painting on\): (\d+)/{MORE_ITERS} iters, .* ETA \d:\d\d:\d\d", err, flags=re.M)
    assert [int(k) for k in lines] == 4 * list(range(1, MORE_ITERS)), err


def test_the_clip_eta_counts_the_keyframes_still_to_paint(tmp_path):
    """The clip's ETA (its progress bar's) is the frames not reached at the synthesis' rate, plus the keyframes
    still to paint at a keyframe's cost: a pan that needs keyframes as it goes has, after its first sweep, an ETA
    that holds the later ones' cost (here 0.3 s each, far above the synthesis of a 96-px frame), and it falls to 0."""
    import time

    mode, painting, painted = _pan_mode(tmp_path, step=6, n=40, first=4)
    slow = mode.paint

    def paint(t, frame, init):
        time.sleep(0.3)
        return slow(t, frame, init)

    mode.paint = paint
    etas, t0 = [], time.perf_counter()
    for t in range(40):
        mode.step(t, None, 0)
        etas.append(mode.eta(t + 1, time.perf_counter() - t0))
    later = [t for t in painted if t > 4]
    assert len(later) >= 3, painted
    i = later[0]  # the first frame written after the first later keyframe was painted
    per_key = mode._keys_s / mode._keys_n
    assert per_key >= 0.3
    keys_after = len([t for t in later if t > mode.keys[mode.keys.index(later[0])]])
    assert etas[i] >= per_key * (keys_after - 1), (etas, painted)  # what is left holds the keyframes still to paint
    assert etas[-1] == 0.0


def _judge_style(frames, src, style):
    from dreamreel.engine import get_backbone
    from dreamreel.engine.style import judge

    net = get_backbone("efficientnet_lite0")
    return sum(judge(net, f, s, [style])["style"] for f, s in zip(frames, src)) / len(frames)


@pytest.mark.slow
def test_video_keyframes_method_stylises_then_reuses_its_keyframes(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("DREAMREEL_CACHE", str(tmp_path / "cache"))
    args = ["video", CLIP, "--style", SCREAM, "--width", 96, "--max-frames", 8, "--key-iters", 30]  # the default method
    code, _, err = run_cli(*args, "-o", tmp_path / "k.mp4")
    assert code == 0, err
    assert "method: keyframes" in err and "keyframe 4 (optimisation)" in err
    out = FrameDir(tmp_path / "k_frames")
    assert out.count_complete() == 8
    src = list(ClipReader(open_clip(str(CLIP), width=96, max_frames=8), keep=9))
    frames = [out.read(t) for t in range(8)]
    style = read_image(str(SCREAM))
    style = resize_to(style, (96, round(96 * style.shape[-1] / style.shape[-2])))
    judged, source = _judge_style(frames[::3], src[::3], style), _judge_style(src[::3], src[::3], style)
    assert judged < 0.5 * source, (judged, source)  # stylised: well on the way to the painting
    assert all(float((f - s).abs().mean()) > 0.05 for f, s in zip(frames, src))  # not the identity
    settings = json.loads((tmp_path / "k.settings.json").read_text())
    assert settings["method"] == "keyframes" and settings["keyframes"]["first"] == 4
    # again: the keyframes from the cache, no optimisation, the same frames
    code, _, err = run_cli(*args, "-o", tmp_path / "again.mp4")
    assert code == 0, err
    assert "from the cache" in err and "(optimisation)" not in err
    again = FrameDir(tmp_path / "again_frames")
    assert all(torch.equal(again.read(t), frames[t]) for t in range(8))


@pytest.mark.parametrize("args, message", [
    (["--save-net", "x.pt"], "--save-net saves the network of --method network"),
    (["--keyframes", "0"], "needs at least one keyframe"),
    (["--key-iters", "0"], "--key-iters must be >= 1"),
    (["--method", "paint"], "unknown --method 'paint'; use optimize, keyframes, network"),
    (["--original-colors"], "options of --method optimize"),
])
def test_keyframes_method_bad_options(run_cli, tmp_path, args, message):
    code, _, err = run_cli("video", CLIP, "--style", STARRY, "-o", tmp_path / "o.mp4", "--method", "keyframes", *args)
    assert code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1, err


def test_a_clip_render_writes_progress_lines_with_an_eta_into_a_log(run_cli, tmp_path, monkeypatch):
    """Output that is not a terminal (here captured; a log file, the studio's log) gets a line every LOG_EVERY
    seconds from every long phase: the keyframe's painting and the frames, each with its rate and ETA."""
    import re

    from dreamreel.animator import progress

    monkeypatch.setenv("DREAMREEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(progress, "LOG_EVERY", 0.0)  # a line at every update
    code, _, err = run_cli("video", CLIP, "--style", STARRY, "--width", 64, "--max-frames", 4, "--key-iters", 12,
                           "--keyframes", 2, "-o", tmp_path / "p.mp4")
    assert code == 0, err
    painting = re.findall(r"^keyframe 1 \(optimisation\): (\d+)/12 iters, [\d.]+ s/iter, \d:\d\d:\d\d, ETA \d:\d\d:\d\d",
                          err, flags=re.M)
    frames = re.findall(r"^video style 64x\d+: (\d+)/4 frames, [\d.]+ s/frame, \d:\d\d:\d\d, ETA \d:\d\d:\d\d",
                        err, flags=re.M)
    assert [int(k) for k in painting] == list(range(1, 12)), err  # every iteration but the last (the bar's own)
    # the later keyframe, painted inside the frame loop's bar: its lines too
    later = re.findall(r"^keyframe 3 \(optimisation\): (\d+)/12 iters, [\d.]+ s/iter", err, flags=re.M)
    assert [int(k) for k in later] == list(range(1, 12)), err
    assert [int(k) for k in frames] == [1, 2, 3], err


def test_a_clip_three_times_larger_gets_the_same_keyframes_and_frames_at_its_own_size(tmp_path):
    """The method sees a clip larger than its working size at that size (issue 33: at 720p a clip got a keyframe
    every 3 frames where its 384 px copy got one in 48): the same pan at 96 and at 288 px wide, worked at 96, places
    the same keyframes, and its frames come out at the clip's own size."""
    from dreamreel.animator.clips.keyframes import KeyframeStyleMode, working_clip
    from dreamreel.animator.media import Mp4Writer

    n, step = 16, 6
    scene = _scene(64, 96 + step * (n - 1), seed=11)
    keys, outs, sources = {}, {}, {}
    for scale in (1, 3):
        path = tmp_path / f"pan{scale}.mp4"
        big = F.interpolate(scene, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)
        with Mp4Writer(path, fps=10, crf=0) as w:
            for t in range(n):
                w.write(big[..., step * scale * t: step * scale * (t + 16)])
        info = open_clip(str(path))
        work = working_clip(info, 96)
        assert (work.width, work.height) == (96, 64) and (info.width, info.height) == (96 * scale, 64 * scale)
        first = ClipReader(work).frame(8)
        sources[scale] = [ClipReader(work).frame(t) for t in (0, 8, 15)]

        def paint(t, frame, init):
            return 1 - frame  # (a "painting": the frame's negative)

        mode = KeyframeStyleMode(ClipReader(info, keep=3), 8, 1 - first, paint, SynthParams(), work=work)
        out = [mode.step(t, None, 0) for t in range(n)]
        assert all(o.shape[-2:] == (64 * scale, 96 * scale) for o in out)
        keys[scale], outs[scale] = sorted(mode.keys), out
    assert keys[1] == keys[3] and len(keys[1]) >= 3, keys
    # the larger clip's frames, seen at the working size, are the smaller clip's, as near as the two clips' own
    # frames are at that size (a bicubic enlargement, H.264's chroma, ffmpeg's area reduction)
    small = [F.interpolate(o, size=(64, 96), mode="area") for o in outs[3]]
    apart = max(float((a - b).abs().mean()) for a, b in zip(small, outs[1]))
    sources_apart = max(float((a - b).abs().mean()) for a, b in zip(sources[3], sources[1]))
    assert apart < 1.5 * sources_apart + 0.005, (apart, sources_apart)


def test_a_shot_cut_gets_one_keyframe_the_first_frame_of_the_new_shot(tmp_path):
    """Two slow pans over different scenes, joined: the cut is new content the flow cannot trace, so the first frame
    after it becomes a keyframe — one (the clip's ends follow their own rule: more than a tenth new since the last
    keyframe) — and the frames of each shot show their own scene's painting."""
    from dreamreel.animator.clips.keyframes import KeyframeStyleMode
    from dreamreel.animator.media import Mp4Writer

    n, cut = 24, 12
    shots = [_scene(64, 96 + 2 * n, seed=s) for s in (21, 22)]
    frames = [shots[t >= cut][..., 2 * t: 2 * t + 96] for t in range(n)]
    with Mp4Writer(tmp_path / "cut.mp4", fps=10, crf=0) as w:
        for f in frames:
            w.write(f)
    reader = ClipReader(open_clip(str(tmp_path / "cut.mp4")), keep=3)
    painted: list[int] = []

    def painting(x):  # (strokes-free: a frame's painting is its scene's, wherever the frame is)
        return 1 - x[:, [2, 0, 1]] * 0.8

    def paint(t, frame, init):
        painted.append(t)
        return painting(frame)

    decoded = ClipReader(open_clip(str(tmp_path / "cut.mp4")))
    frames = [decoded.frame(t) for t in range(n)]  # (as the mode sees them: H.264's chroma)
    mode = KeyframeStyleMode(reader, 6, painting(frames[6]), paint, SynthParams())
    out = [mode.step(t, None, 0) for t in range(n)]
    assert [t for t in painted if 0 < t < n - 1] == [cut], painted
    err = [float((o - painting(f))[..., 4:-4, 4:-4].abs().mean()) for o, f in zip(out, frames)]
    other = [float((o - painting(frames[cut - 1 if t >= cut else cut]))[..., 4:-4, 4:-4].abs().mean())
             for t, o in enumerate(out)]
    assert max(err) < 0.04 and min(other) > 4 * max(err), (err, other)  # no shot shows the other's painting


def test_slow_non_rigid_motion_over_100_frames_gets_at_most_3_keyframes(tmp_path):
    """Water or smoke moves every pixel a little and differently, for a long time: that is not new content. 100
    frames of a surface rippling (a travelling sine displacement, up to 2 px at 96 px wide, and a slow drift) get
    at most 3 keyframes with the default rules (issue 33: a 720p smoke clip got a new keyframe every 3 frames)."""
    import cv2
    import numpy as np

    from dreamreel.animator.clips.keyframes import KeyframeStyleMode, default_keyframes
    from dreamreel.animator.clips.base import keyframes_at
    from dreamreel.animator.media import Mp4Writer

    n, h, w = 100, 64, 96
    scene = _scene(h + 16, w + 40, seed=5)[0].permute(1, 2, 0).numpy().astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    with Mp4Writer(tmp_path / "water.mp4", fps=24, crf=0) as wr:
        for t in range(n):
            s = t / 24
            dx = 2.0 * np.sin(2 * np.pi * (yy / 40 + 0.3 * s)) + 8 + 0.25 * t
            dy = 1.5 * np.sin(2 * np.pi * (xx / 50 - 0.25 * s)) + 8
            frame = cv2.remap(scene, xx + dx, yy + dy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
            wr.write(torch.from_numpy(np.clip(frame, 0, 1)).permute(2, 0, 1)[None])
    info = open_clip(str(tmp_path / "water.mp4"))
    first = keyframes_at(n, default_keyframes(n))[0]
    reader = ClipReader(info, keep=3)
    painted = []

    def paint(t, frame, init):
        painted.append(t)
        return _painted(frame)

    mode = KeyframeStyleMode(reader, first, _painted(ClipReader(info).frame(first)), paint, SynthParams())
    for t in range(n):
        mode.step(t, None, 0)
    assert len(mode.keys) <= 3, sorted(mode.keys)
