"""Seconds per frame and peak RSS of 512x512 zoom renders, through the real CLI path.

    python tests/benchmarks/bench_zoom.py [--quick]

Cases: the default preset (classic-zoom) at cadence 1 and 3, for 30 and for 300 frames (peak
RSS must not grow with the number of frames), MP4 + frames written as a user would; and the
settings of the classic PyTorch DeepDream tool's zoom mode (VGG-16 Caffe weights, relu4_3,
4 octaves x 1.8, 10 steps, a full dream every frame) for a few frames.
Targets on a 2-core CPU: >= 1 frame/s at cadence 1, >= 2.5 frames/s at cadence 3; the VGG
case no slower than that tool (~26 s per 512x341 frame, 1.9 GB peak).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
VGG = SHARED / "weights" / "vgg16_caffe_features.pth"

CHILD = r"""
import json, resource, sys, time
from dreamreel.animator.configs import zoom_config
from dreamreel.animator.zoom import render_zoom
args = json.loads(sys.argv[1])
cfg = zoom_config({**args["cli"], "mp4": args["out"]}, args.get("preset"))
t = time.perf_counter()
res = render_zoom(cfg)
wall = time.perf_counter() - t
print(json.dumps({"seconds": res["seconds"], "wall": wall, "frames": res["frames"], "stepped": res["stepped"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(name: str, image: str, frames: int, extra: dict, workdir: Path) -> None:
    cli = {"image": image, "frames": frames, "size": 512, **extra}
    args = {"cli": cli, "out": str(workdir / f"{name.replace(' ', '_')}.mp4")}
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, text=True)
    if out.returncode:
        print(f"{name}: FAILED\n{out.stderr[-2000:]}")
        return
    r = json.loads(out.stdout.strip().splitlines()[-1])
    per = r["seconds"] / r["frames"]
    print(f"{name:<36} {r['frames']:4d} frames  {per:6.3f} s/frame  {1 / per:6.2f} frames/s  "
          f"{r['stepped']:4d} dreamed  peak RSS {r['peak_rss_mb']:6.0f} MB", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="30-frame cases only")
    a = ap.parse_args()
    lion = SHARED / "media" / "lion.jpg"  # square, so --size 512 gives 512x512
    image = str(lion) if lion.exists() else "noise"
    print(f"bench_zoom: 512x512 frames from {image}; seconds include PNG frames + streamed MP4")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for frames in (30,) if a.quick else (30, 300):
            for cadence in (1, 3):
                run(f"classic-zoom cadence {cadence}", image, frames, {"cadence": cadence}, work)
        if VGG.exists():
            run("vgg16_caffe relu4_3 4x1.8 10 steps", image, 3,
                {"model": "vgg16_caffe", "weights": str(VGG), "layers": "relu4_3", "octaves": "4",
                 "octave_scale": 1.8, "steps": "10", "strength": "0.016", "cadence": 1}, work)
    print("reference: the classic PyTorch DeepDream tool's zoom mode: ~26 s per 512x341 frame, 1.9 GB peak")


if __name__ == "__main__":
    main()
