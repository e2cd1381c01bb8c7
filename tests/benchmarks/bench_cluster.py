"""A clip's frames on 1 and 2 local Ray workers (1 thread each): frames/s, per worker; and the
warping error at the seams of a split video dream against elsewhere.

    python tests/benchmarks/bench_cluster.py [--clip bigbuckbunny.mp4] [--width 128] [--frames 48]
        [--only dream|network] [--net-width 384] [--max-frames N] [--net FILE]

**The network method** (``video --style --method network --workers N``): its inference only — a
network is trained once before the timing (``--train-iters 40``, no keyframes: how well it paints
does not change its speed; or ``--net FILE``), then the clip (bigbuckbunny: all 132 frames unless
``--max-frames``) at ``--net-width`` (384) is rendered from that file with 1 and 2 workers:
wall time (decoding, batches of 8, PNG frames, each range's H.264 segment, the join with the audio)
and, inside the workers' frame loops, frames/s per worker. The frames of the 1- and 2-worker runs
are compared (equal bit for bit: the same batches, 1 thread each).

The video dream (default options: a full dream on each range's first frame, then the flow
carry-over refined by 2 steps) at a small width. ``video --workers N`` splits the clip into N
frame ranges; each range after the first renders 4 frames before its own, cross-faded with the
previous range's last 4 (the dream is recurrent). Warping error (Lai et al. 2018, flow and
occlusions from the source frames) per frame pair: at the seams (the pairs from the frame before
the cross-fade to the range's first own frame) and elsewhere, for the 2-worker run and, at the
same pairs, the 1-worker run (= a one-process run). Ray's start is not timed.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # set explicitly: the workers share 2 cores
os.environ["OMP_NUM_THREADS"] = "1"

REPO = Path(__file__).resolve().parents[2]
CLIP = REPO.parent / "shared" / "media" / "bigbuckbunny.mp4"
STYLE = REPO / "samples" / "starry_night.jpg"


def pair_errors(frames: list, src: list) -> list[float]:
    """Warping error of each pair (t, t+1) (engine.flow's measure, one pair at a time)."""
    from dreamreel.engine.flow import warping_error

    return [warping_error(frames[t:t + 2], src[t:t + 2])["warp_error"] for t in range(len(frames) - 1)]


def network(a, counts: list[int]) -> None:
    """The network method's inference split over ``counts`` workers (see the module's docstring)."""
    import torch

    from dreamreel.animator.request.configs import VideoConfig, build
    from dreamreel.animator.media import FrameDir, open_clip
    from dreamreel.animator.cluster.split import render_video_split
    from dreamreel.animator.clips.video import render_video

    info = open_clip(a.clip, width=a.net_width, max_frames=a.max_frames)
    clip = dict(path=a.clip, width=a.net_width, max_frames=a.max_frames)
    with tempfile.TemporaryDirectory() as tmp:
        net = a.net
        if net is None:
            net = os.path.join(tmp, "net.pt")
            t0 = time.perf_counter()
            render_video(build(VideoConfig, dict(clip, max_frames=8, styles=(str(STYLE),), method="network",
                                                 train_iters=40, train_seconds=None, keyframes=0, net_cache=False,
                                                 save_net=net, mp4=os.path.join(tmp, "train.mp4"))))
            print(f"network trained on 8 frames (40 iterations; not part of the timing: {time.perf_counter() - t0:.0f} s)",
                  flush=True)
        frames, secs = {}, {}
        for w in counts:
            out = os.path.join(tmp, f"net{w}.mp4")
            t0 = time.perf_counter()
            res = render_video_split(build(VideoConfig, dict(clip, net=net, mp4=out)), workers=w)
            secs[w] = time.perf_counter() - t0
            fps = info.frames / secs[w]
            loop = [r.rendered / max(1e-9, x["seconds"]) for r, x in zip(res["ranges"], res["results"])]
            print(f"network, {w} worker{'s' * (w > 1)}: {info.frames} frames {info.width}x{info.height} in {secs[w]:.1f} s"
                  f" = {fps:.2f} frames/s, {fps / w:.2f} frames/s per worker (ranges "
                  f"{[(r.start, r.stop) for r in res['ranges']]}); in the workers' frame loops: "
                  f"{', '.join(f'{v:.2f}' for v in loop)} frames/s", flush=True)
            got = FrameDir(os.path.join(tmp, f"net{w}_frames"))
            frames[w] = [got.read(t) for t in range(info.frames)]
        for w in counts[1:]:
            same = all(torch.equal(x, y) for x, y in zip(frames[counts[0]], frames[w]))
            print(f"network: speed-up {counts[0]} -> {w} workers {secs[counts[0]] / secs[w]:.2f}x; frames of "
                  f"{counts[0]} and {w} workers equal bit for bit: {same}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", default=str(CLIP))
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--only", choices=("dream", "network"), default=None)
    ap.add_argument("--net-width", type=int, default=384)
    ap.add_argument("--max-frames", type=int, default=None, help="network: at most this many frames")
    ap.add_argument("--net", default=None, help="network: this trained network file (else one is trained first)")
    a = ap.parse_args()

    import ray
    import torch

    torch.set_num_threads(1)
    counts = [int(w) for w in a.workers.split(",")]
    ray.init(num_cpus=max(counts), include_dashboard=False, log_to_driver=False, configure_logging=False)
    if a.only != "dream":
        network(a, counts)
    if a.only != "network":
        dream(a, counts)
    ray.shutdown()


def dream(a, counts: list[int]) -> None:
    """The video dream split over ``counts`` workers, and the warping error at its seams."""
    import torch

    from dreamreel.animator.request.configs import VideoConfig, build
    from dreamreel.animator.media import ClipReader, FrameDir, open_clip
    from dreamreel.animator.cluster.split import render_video_split

    info = open_clip(a.clip, width=a.width, max_frames=a.frames)
    src = list(ClipReader(info))
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for w in counts:
            out = os.path.join(tmp, f"w{w}.mp4")
            cfg = build(VideoConfig, dict(path=a.clip, width=a.width, max_frames=a.frames, dream_clip=True, mp4=out))
            t0 = time.perf_counter()
            res = render_video_split(cfg, workers=w)
            secs = time.perf_counter() - t0
            frames = FrameDir(os.path.join(tmp, f"w{w}_frames"))
            runs[w] = {"secs": secs, "ranges": res["ranges"], "frames": [frames.read(t) for t in range(info.frames)]}
            fps = info.frames / secs
            print(f"{w} worker{'s' * (w > 1)}: {info.frames} frames {info.width}x{info.height} in {secs:.1f} s = "
                  f"{fps:.2f} frames/s, {fps / w:.2f} frames/s per worker "
                  f"(ranges {[(r.start, r.stop) for r in res['ranges']]})", flush=True)
            loop = [r.rendered / max(1e-9, x["seconds"]) for r, x in zip(res["ranges"], res["results"])]
            print(f"   in the workers' frame loops (without start-up, model load, join): "
                  f"{', '.join(f'{v:.2f}' for v in loop)} frames/s per worker", flush=True)
        if len(counts) > 1:
            base = runs[counts[0]]["secs"]
            for w in counts[1:]:
                print(f"speed-up {counts[0]} -> {w} workers: {base / runs[w]['secs']:.2f}x")
        split = runs[max(counts)]
        seams = set()
        for r in split["ranges"][1:]:
            seams |= set(range(r.start - r.head - 1, r.start))  # pairs (t, t+1) into, through and out of the fade
        for w, run in runs.items():
            errors = pair_errors(run["frames"], src)
            at = [e for t, e in enumerate(errors) if t in seams]
            rest = [e for t, e in enumerate(errors) if t not in seams]
            if at and rest:
                print(f"warp error, {w} worker{'s' * (w > 1)}: at the {max(counts)}-worker seams "
                      f"{sum(at) / len(at):.6f} ({len(at)} pairs), elsewhere {sum(rest) / len(rest):.6f} "
                      f"({len(rest)} pairs)")
        floor = pair_errors(src, src)
        print(f"warp error of the source itself (the floor): {sum(floor) / len(floor):.6f}")


if __name__ == "__main__":
    main()
