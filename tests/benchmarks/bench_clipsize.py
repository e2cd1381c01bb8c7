"""Issue 33: a clip stylised at the sizes people shoot (720p, 1080p) with the defaults of ``dreamreel video --style``.

For each size the clip is rendered end to end as a user would (``dreamreel video CLIP --style S -o out.mp4``, each
in a process of its own, one after the other), and this prints: the wall time, the peak memory of the process
(its maximum resident set), the keyframes placed, and — where the VGG-16 judge's weights are there (``--vgg``, by
default ``../shared/weights/vgg16_caffe_features.pth``) — the judged style loss of the render seen at 384 px
(area reduction) against the 384 px render's, over 4 frames. The 1080p clip is made from the 720p one (Lanczos)
where the clip has no 1080p of its own.

    python tests/benchmarks/bench_clipsize.py [--clip CLIP] [--style S] [--sizes 384,720,1080] [--out DIR]

Time on a quiet machine (nothing else on the cores), with OMP_WAIT_POLICY set (PASSIVE here), and say the CPU's
flags (``lscpu``) beside the figures.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_clipmatrix import high_water  # noqa: E402  (a render's own peak memory)
SHARED = REPO.parent / "shared"


def scaled_clip(clip: str, height: int, folder: Path) -> str:
    """``clip`` at ``height`` px high (Lanczos, H.264 crf 18, its audio kept)."""
    from dreamreel.animator.media.ffmpeg import run_ffmpeg

    out = folder / f"clip_{height}p.mp4"
    if not out.exists():
        run_ffmpeg(["-i", clip, "-vf", f"scale=-2:{height}:flags=lanczos", "-c:v", "libx264", "-crf", "18",
                    "-pix_fmt", "yuv420p", "-c:a", "copy", str(out)])
    return str(out)


def render(clip: str, style: str, out: Path, width: int | None, cache: Path) -> dict:
    """One render in a process of its own: seconds, its peak resident memory (GB), the keyframes its log names."""
    args = [sys.executable, "-m", "dreamreel.animator.cli", "video", clip, "--style", style, "-o", str(out)]
    if width:
        args += ["--width", str(width)]
    env = {**os.environ, "DREAMREEL_CACHE": str(cache), "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    log = out.with_suffix(".log")
    t0 = time.perf_counter()
    peak = 0
    with open(log, "w") as f:  # (its own peak from /proc: a forked child starts with this process' high-water mark)
        p = subprocess.Popen(args, env=env, stdout=f, stderr=subprocess.STDOUT)
        while p.poll() is None:
            peak = max(peak, high_water(p.pid))
            time.sleep(0.2)
    seconds = time.perf_counter() - t0
    text = log.read_text()
    if p.returncode != 0:
        raise SystemExit(f"render failed ({p.returncode}): {text[-2000:]}")
    keys = sorted({int(k) for k in re.findall(r"^keyframe (\d+)", text, flags=re.M)})
    return {"seconds": seconds, "peak_gb": peak / 1e6, "keyframes": keys, "frames": out.with_name(
        out.stem + "_frames")}


def judged_at_384(frames: Path, clip: str, style: str, vgg: str, at: list[int]) -> float:
    import torch.nn.functional as F

    from dreamreel.animator.media import ClipReader, FrameDir, fit_size, open_clip, read_image, resize_to
    from dreamreel.engine import get_backbone
    from dreamreel.engine.style import judge

    net = get_backbone("vgg16_caffe", weights=vgg)
    picture = read_image(style)
    picture = resize_to(picture, fit_size(*picture.shape[-2:], 384))
    reader = ClipReader(open_clip(clip, width=384, max_frames=max(at) + 1))
    sources = {}
    for t in range(max(at) + 1):
        f = reader.frame(t)
        if t in at:
            sources[t] = f
    reader.close()
    d, total = FrameDir(str(frames)), 0.0
    for t, s in sources.items():
        x = d.read(t)
        if x.shape[-2:] != s.shape[-2:]:
            x = F.interpolate(x, size=s.shape[-2:], mode="area")
        total += judge(net, x, s, [picture])["style"]
    return total / len(sources)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", default=str(SHARED / "media" / "bigbuckbunny.mp4"))
    ap.add_argument("--style", default=str(SHARED / "media" / "starry_night.jpg"))
    ap.add_argument("--sizes", default="384,720,1080", help="384: --width 384; 720, 1080: the clip at that height")
    ap.add_argument("--vgg", default=str(SHARED / "weights" / "vgg16_caffe_features.pth"))
    ap.add_argument("--out", default=None, help="folder for the renders (default: a temporary one)")
    a = ap.parse_args()
    folder = Path(a.out or tempfile.mkdtemp(prefix="bench_clipsize-"))
    folder.mkdir(parents=True, exist_ok=True)
    from dreamreel.animator.media import open_clip

    info = open_clip(a.clip)
    results = {}
    for size in [int(s) for s in a.sizes.split(",")]:
        if size == 384:
            clip, width = a.clip, 384
        else:
            clip = a.clip if info.height == size else scaled_clip(a.clip, size, folder)
            width = None
        r = render(clip, a.style, folder / f"out_{size}.mp4", width, folder / f"cache_{size}")
        results[size] = r
        print(f"{size}: {r['seconds']:.0f} s, peak {r['peak_gb']:.2f} GB, "
              f"keyframes {r['keyframes']}", flush=True)
    if Path(a.vgg).exists() and 384 in results:
        n = info.frames
        at = sorted({0, n // 4, n // 2, n - 1})
        base = judged_at_384(results[384]["frames"], a.clip, a.style, a.vgg, at)
        for size, r in results.items():
            if size != 384:
                s = judged_at_384(r["frames"], a.clip, a.style, a.vgg, at)
                print(f"{size}: VGG-16 style seen at 384 px {s:.4g}, {s / base:.2f}x the 384 px render's ({base:.4g})")
    elif 384 not in results:
        print("(no judged style: it compares with the 384 px render; --sizes has no 384)")
    else:
        print(f"(no judged style: {a.vgg} is not there)")
    if 720 in results and 1080 in results:
        print(f"1080p / 720p time: {results[1080]['seconds'] / results[720]['seconds']:.2f}")
    print(f"renders in {folder}")


if __name__ == "__main__":
    main()
