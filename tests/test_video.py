import subprocess

import imageio_ffmpeg
import pytest

from dreamreel.animator.media import ClipReader, FrameDir, open_clip
from dreamreel.animator.media.ffmpeg import probe_video

from conftest import BUNNY, CLIP, STARRY  # CLIP: 24 frames, 24 fps, no audio; BUNNY: 25 fps, with audio
from helpers.gif_parse import gif_info
FAST = ["--width", "96", "--octaves", "1", "--steps", "2", "--refine-steps", "1"]


def test_clip_reader_streams_trimmed_resized_frames():
    info = open_clip(str(BUNNY), width=101, start=1.0, max_frames=5)
    assert (info.width, info.height) == (100, 56) and info.frames == 5 and info.fps == 25 and info.has_audio
    reader = ClipReader(info, keep=2)
    frames = [reader.frame(t) for t in range(5)]
    assert all(f.shape == (1, 3, 56, 100) for f in frames)
    assert len(reader._cache) <= 2  # only the last few frames are held
    with pytest.raises(RuntimeError):
        reader.frame(0)
    reader.close()


def test_video_dream_keeps_fps_size_count_and_audio(run_cli, tmp_path):
    out = tmp_path / "bunny.mp4"
    code, _, err = run_cli("video", BUNNY, "--dream", "--layer", "block6", "-o", out, "--max-frames", 5,
                           "--gif", tmp_path / "b.gif", *FAST)
    assert code == 0, err
    src, got = open_clip(str(BUNNY), width=96, max_frames=5), probe_video(out)
    assert got["frames"] == 5 and got["fps"] == pytest.approx(25, abs=0.01)
    assert (got["width"], got["height"]) == (src.width, src.height)
    assert got["has_audio"]
    gif = gif_info(tmp_path / "b.gif")  # every 2nd frame of 25 fps, played at 12.5 fps: the clip's duration
    assert gif["frames"] == 3 and set(gif["delays_ms"]) == {80}


def test_video_dream_without_audio_source_has_no_audio(run_cli, tmp_path):
    out = tmp_path / "clip.mp4"
    code, _, err = run_cli("video", CLIP, "--dream", "-o", out, "--max-frames", 3, *FAST)
    assert code == 0, err
    got = probe_video(out)
    assert got["frames"] == 3 and got["fps"] == pytest.approx(24, abs=0.01) and not got["has_audio"]


def _truncated_clip(tmp_path):
    """A 3 s, 30-frame clip cut in half: its header still promises 30 frames."""
    fast = tmp_path / "fast.mp4"
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
           "testsrc=size=96x64:rate=10:duration=3", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "5",
           "-movflags", "+faststart", str(fast)]
    subprocess.run(cmd, check=True)
    data = fast.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    return cut


def test_truncated_clip_renders_what_can_be_read(run_cli, tmp_path):
    cut = _truncated_clip(tmp_path)
    out = tmp_path / "o.mp4"
    code, _, err = run_cli("video", cut, "--dream", "-o", out, "--width", "96", "--octaves", "1", "--steps", "1",
                           "--refine-steps", "1")
    assert code == 2 and "decoding stopped at frame" in err
    made = probe_video(out)["frames"]
    assert 0 < made < 30 and FrameDir(tmp_path / "o_frames").count_complete() == made


@pytest.mark.parametrize("args, message", [
    (["{readme}", "--dream"], "not a video"),
    (["missing.mp4", "--dream"], "file not found"),
    (["{clip}", "--dream", "--start", "5"], "no frames"),
    (["{clip}"], "--dream"),
    (["{clip}", "--dream", "--carry", "teleport"], "flow, blend or none"),
    (["{clip}", "--dream", "--persistence", "1.5"], "between 0 and 1"),
])
def test_video_bad_input_is_one_line_exit_2(run_cli, tmp_path, args, message):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    args = [a.format(readme=text, clip=CLIP) for a in args]
    code, _, err = run_cli("video", *args, "-o", tmp_path / "o.mp4")
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1


def _dream_strength(run_cli, tmp_path, persistence: float, frames: int = 12) -> list[float]:
    """Mean |dream - source frame| of each frame of a video dream of the bunny clip."""
    import numpy as np

    out = tmp_path / f"p{persistence}.mp4"
    code, _, err = run_cli("video", BUNNY, "--dream", "-o", out, "--max-frames", frames,
                           "--persistence", persistence, *FAST)
    assert code == 0, err
    reader = ClipReader(open_clip(str(BUNNY), width=96, max_frames=frames))
    done = FrameDir(tmp_path / f"p{persistence}_frames")
    return [float(np.abs(done.read(t)[0].numpy() - reader.frame(t)[0].numpy()).mean()) for t in range(frames)]


def test_video_dream_persistence_keeps_the_dream_from_piling_up(run_cli, tmp_path):
    keep_all = _dream_strength(run_cli, tmp_path, 1.0)
    fading = _dream_strength(run_cli, tmp_path, 0.8)
    assert keep_all[0] == pytest.approx(fading[0])  # the first frame is a full dream either way
    # keeping all of it, every frame's refine step adds on top: still growing at the end
    assert keep_all[-1] > 1.1 * keep_all[-6], keep_all
    # fading it, the strength levels off ...
    assert fading[-1] < 1.08 * fading[-6], fading
    # ... well below the piled-up one
    assert fading[-1] < 0.7 * keep_all[-1], (fading, keep_all)


def test_video_style_keeps_fps_size_count_and_steadies_frames(run_cli, tmp_path):
    out = tmp_path / "s.mp4"
    code, _, err = run_cli("video", CLIP, "--style", STARRY, "-o", out, "--width", "64", "--max-frames", 3,
                           "--method", "optimize", "--iters-first", 20, "--iters", 3)
    assert code == 0, err
    got = probe_video(out)
    assert got["frames"] == 3 and got["fps"] == pytest.approx(24, abs=0.01) and (got["width"], got["height"]) == (64, 36)
    assert "model: efficientnet_lite0" in err
    frames = FrameDir(tmp_path / "s_frames")
    src = ClipReader(open_clip(str(CLIP), width=64, max_frames=3))
    # stylised: far from the source colours, yet consecutive frames stay close (warm start + temporal loss)
    assert float((frames.read(0) - src.frame(0)).abs().mean()) > 0.03
    assert float((frames.read(2) - frames.read(1)).abs().mean()) < 0.05


@pytest.mark.parametrize("args, message", [
    (["--style", "{starry}", "--style-weights", "0.5,0.5"], "has 2 values for 1 --style image"),
    (["--style", "{starry}", "--style-weights", "-1"], "must all be > 0"),
    (["--style", "nope.jpg"], "style image not found: nope.jpg"),
    (["--style", "{starry}", "--dream"], "one of them"),
])
def test_video_style_bad_arguments(run_cli, tmp_path, args, message):
    args = [a.format(starry=STARRY) for a in args]
    code, _, err = run_cli("video", CLIP, *args, "-o", tmp_path / "o.mp4", "--width", "64", "--max-frames", 2)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("given, method", [
    ({}, "keyframes"),
    ({"method": "optimize"}, "optimize"),
    ({"original_colors": True}, "optimize"),
    ({"independent": True}, "optimize"),
    ({"cadence": 2}, "optimize"),
    ({"net": "n.pt"}, "network"),
    ({"method": "network"}, "network"),
])
def test_a_clip_is_stylised_by_the_keyframes_method_unless_asked_or_implied_otherwise(given, method):
    from dreamreel.animator.request.configs import ClipSpec, StyleSpec, VideoConfig

    cfg = VideoConfig(clip=ClipSpec("c.mp4"), style_spec=StyleSpec(styles=() if "net" in given else ("s.jpg",)), **given)
    assert cfg.chosen_method == method
    assert cfg.keyframes_method == (method == "keyframes") and cfg.network == (method == "network")
    assert cfg.as_settings().get("method", "optimize") == method  # what a resume compares


def test_style_mode_carries_frames_without_blurring_them_away():
    """Each frame of the optimisation starts from the previous one carried along the flow, so the carry's
    blur compounds: 8 carries along bunny.mp4's flows keep ~0.92 of a sharp picture's finest detail
    bicubically, ~0.68 bilinearly (the detail the optimisation puts back for it shows as grain)."""
    import torch
    import torch.nn.functional as F

    from conftest import TUBINGEN, load
    from dreamreel.animator.clips.base import along_flow
    from dreamreel.animator.clips.optimize import VideoStyleMode

    def fine(x):
        k = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).view(1, 1, 3, 3).repeat(3, 1, 1, 1)
        return float(F.conv2d(x, k, groups=3).pow(2).mean())

    info = open_clip(str(BUNNY), width=128, max_frames=9)
    reader = ClipReader(info, keep=12)
    mode = VideoStyleMode.__new__(VideoStyleMode)  # only the carry: no backbone
    mode.clip, mode.flow_method = reader, "dis"
    picture = load(TUBINGEN, 128)[..., : info.height, :]
    carried = bilinear = picture
    for t in range(1, 9):
        source = mode._warped(t, carried, t - 1)
        carried = source.warped
        bilinear, _ = along_flow(reader, t, t - 1, bilinear, "dis")
    assert float(source.image.min()) >= 0 and float(source.image.max()) <= 1
    assert fine(bilinear) < 0.8 * fine(picture)  # the clip's sub-pixel flows do blur a bilinear carry
    assert fine(carried) > 0.85 * fine(picture)
    reader.close()
