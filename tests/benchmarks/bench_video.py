"""Warping error and seconds per frame of video renders (first 24 frames of one_second_clip at 384 px).

    python tests/benchmarks/bench_video.py [--frames 24] [--width 384]

Video dream: (a) every frame dreamed independently (a full dream each), (b) dreamreel's flow
carry-over (full dream on frame 0, then the previous hallucination carried along the flow and
refined by 2 steps), (c) the source clip itself (the floor). Warping error after Lai et al.
2018 (flow and occlusions from the source frames). Targets: (b) <= 0.4 x (a), and (b) no
slower than (a) per frame.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLIP = REPO.parent / "shared" / "media" / "one_second_clip.mp4"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--width", type=int, default=384)
    a = ap.parse_args()
    from dreamreel.animator.metrics import warp_error_report
    from dreamreel.animator.video import render_video_dream
    from dreamreel.engine import DreamParams

    print(f"bench_video: {CLIP.name}, first {a.frames} frames at {a.width} px wide")
    full = DreamParams(octaves=2, steps=6, lr=0.012)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, carry in (("(a) independent dream per frame", "none"), ("(b) flow carry-over dream", "flow")):
            out = str(Path(tmp) / f"{carry}.mp4")
            t = time.perf_counter()
            res = render_video_dream(str(CLIP), out, width=a.width, max_frames=a.frames, layers="block6",
                                     params=full, refine_steps=2, carry=carry)
            per = (time.perf_counter() - t) / res["frames"]
            err = warp_error_report(str(CLIP), out, max_frames=a.frames)
            rows.append((name, err["output"], per, err["source"]))
    print()
    for name, err, per, _ in rows:
        print(f"{name:<36} warp error {err:.6f}   {per:6.2f} s/frame")
    print(f"{'(c) source clip (floor)':<36} warp error {rows[0][3]:.6f}")
    print(f"ratio (b)/(a): warp error {rows[1][1] / rows[0][1]:.2f} (target <= 0.4), "
          f"time {rows[1][2] / rows[0][2]:.2f} (target <= 1)")


if __name__ == "__main__":
    main()
