"""Warping error and seconds per frame of video renders (first 24 frames of one_second_clip at 384 px).

    python tests/benchmarks/bench_video.py [--frames 24] [--width 384]

Style (default model: VGG-19 where its weights are, else Lite0): (a) every frame stylised
independently (--iters-first iterations each), (b) dreamreel's temporally consistent mode (frame 0
fully, then flow-warped warm starts + temporal loss, --iters each). Video dream: (a) every frame
dreamed independently (a full dream each), (b) flow carry-over (full dream on frame 0, then the
previous hallucination carried along the flow, kept at the default --persistence 0.9 per frame,
and refined by 2 steps). (c) the source clip itself
(the floor). Warping error after Lai et al.
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
    ap.add_argument("--iters-first", type=int, default=100, help="style: iterations of frame 0 (and of every (a) frame)")
    ap.add_argument("--iters", type=int, default=25, help="style: iterations of each later (b) frame")
    ap.add_argument("--skip-dream", action="store_true")
    ap.add_argument("--skip-style", action="store_true")
    a = ap.parse_args()
    from dreamreel.animator.frameloop.metrics import warp_error_report
    from dreamreel.animator.request.configs import ClipSpec, Outputs, StyleSpec, Target, VideoConfig
    from dreamreel.animator.clips.video import render_video
    from dreamreel.engine import DreamParams

    def video(out: str, **kw) -> dict:
        return render_video(VideoConfig(clip=ClipSpec(str(CLIP), width=a.width, max_frames=a.frames),
                                        outputs=Outputs(mp4=out), **kw))

    print(f"bench_video: {CLIP.name}, first {a.frames} frames at {a.width} px wide")
    full = DreamParams(octaves=2, steps=6, lr=0.012)
    starry = str(CLIP.parent / "starry_night.jpg")
    cases = []
    if not a.skip_style:
        cases += [("style (a) every frame stylised independently",
                   lambda out: video(out, style_spec=StyleSpec((starry,)), iters_first=a.iters_first, iters=a.iters,
                                     independent=True)),
                  ("style (b) flow warm start + temporal loss",
                   lambda out: video(out, style_spec=StyleSpec((starry,)), iters_first=a.iters_first, iters=a.iters))]
    if not a.skip_dream:
        cases += [("dream (a) independent dream per frame",
                   lambda out: video(out, dream_clip=True, target=Target(layers="block6"), dream=full, refine_steps=2,
                                     carry="none")),
                  ("dream (b) flow carry-over dream",
                   lambda out: video(out, dream_clip=True, target=Target(layers="block6"), dream=full, refine_steps=2,
                                     carry="flow"))]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, render) in enumerate(cases):
            out = str(Path(tmp) / f"{i}.mp4")
            t = time.perf_counter()
            res = render(out)
            per = (time.perf_counter() - t) / res["frames"]
            err = warp_error_report(str(CLIP), out, max_frames=a.frames)
            rows.append((name, err["output"], per, err["source"]))
    print()
    for name, err, per, _ in rows:
        print(f"{name:<46} warp error {err:.6f}   {per:6.2f} s/frame")
    if rows:
        print(f"{'(c) source clip (floor)':<46} warp error {rows[0][3]:.6f}")
    for k in range(0, len(rows), 2):
        (na, ea, pa, _), (nb, eb, pb, _) = rows[k], rows[k + 1]
        print(f"{nb.split()[0]}: (b)/(a) warp error {eb / ea:.2f} (target <= 0.4), time {pb / pa:.2f} (target <= 1)")


if __name__ == "__main__":
    main()
