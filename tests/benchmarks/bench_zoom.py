"""Zoom speed at 512x512 (issue 13): before/after figures, where a frame's time goes, GFLOP/s ratios.

    python tests/benchmarks/bench_zoom.py [--quick] [--before DIR] [--frames 30] [--omp-wait PASSIVE]

1. **Renders** through the real path (``render_zoom``, preset classic-zoom (the default until issue 23), 512x512, PNG
   frames + streamed MP4), cadence 1 and 3, run alternately with this tree's code and with the
   tree ``--before`` (default ``/work/wt-zoombase``, a checkout of main at cf13fd3, imported
   with a small shim; skipped when missing): seconds per frame (wall, and CPU seconds of the
   process and its ffmpeg), frames/s against the targets (>= 2 at cadence 1, >= 5 at cadence 3),
   peak RSS, after/before. With the 300-frame cases (not ``--quick``) peak RSS must not grow with
   the number of frames. Each child applies the program's own process settings (OpenMP waiting,
   malloc) as ``dreamreel`` does at its entry point.
2. **Where a frame goes**: one zoom frame split into its parts (warp, each octave's forward,
   backward and gradient smoothing, colour coherence, quantising, 8-bit conversion, PNG, MP4 pipe,
   GIF), each timed on its own, in the loop's thread (the render writes PNG and MP4 in a thread
   beside it); the dream is replayed step by step and checked equal to ``engine.dream``'s. Then the
   top lines of cProfile over a short render.
3. **GFLOP/s**: FLOPs (``torch.utils.flop_counter.FlopCounterMode``) of Lite0's forward+backward at
   the octave sizes, over the measured time of the dream's steps, beside this machine's measured
   3x3 conv and sgemm GFLOP/s; the same for one L-BFGS iteration of VGG-16 style transfer at
   160x90 (Caffe weights in ``/work/shared/weights``), with each VGG conv layer's own GFLOP/s
   (forward and input-gradient), the evaluations per iteration and 1 against 2 threads.

Figures are seconds on a shared 2-core machine: the load average is printed at the start and
the end; ratios are measured in one run (before and after alternate).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
VGG = SHARED / "weights" / "vgg16_caffe_features.pth"
LION = SHARED / "media" / "lion.jpg"  # square, so --size 512 gives 512x512
CLIP = SHARED / "media" / "one_second_clip.mp4"
TARGETS = {1: 2.0, 3: 5.0}  # frames/s at 512x512 (issue 13)

# imports the ``dreamreel`` of another tree (a checkout of an older commit) instead of this one
SHIM = r"""
import importlib.util, sys, types
def use_tree(root):
    pkg = types.ModuleType("dreamreel"); pkg.__path__ = []; sys.modules["dreamreel"] = pkg
    for name in ("engine", "animator", "presets"):
        spec = importlib.util.spec_from_file_location(f"dreamreel.{name}", f"{root}/{name}/__init__.py",
                                                      submodule_search_locations=[f"{root}/{name}"])
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        setattr(pkg, name, mod)
        spec.loader.exec_module(mod)
"""

CHILD = SHIM + r"""
import json, resource, time
args = json.loads(sys.argv[1])
if args.get("tree"):
    use_tree(args["tree"])
from dreamreel.animator import cli
for setting in ("keep_freed_memory",):  # the process settings dreamreel's entry point makes (if this tree has them)
    getattr(cli, setting, lambda: None)()
from dreamreel.animator.request.configs import zoom_config
from dreamreel.animator.modes.zoom import render_zoom
import dreamreel.engine
assert dreamreel.engine.__file__.startswith(args.get("tree") or args["repo"]), dreamreel.engine.__file__
cfg = zoom_config({**args["cli"], "mp4": args["out"]}, args.get("preset") or "classic-zoom")
def cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime
c0, t = cpu(), time.perf_counter()
res = render_zoom(cfg)
print(json.dumps({"seconds": res["seconds"], "wall": time.perf_counter() - t, "cpu": cpu() - c0,
                  "frames": res["frames"], "stepped": res["stepped"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def load() -> str:
    a, b, c = os.getloadavg()
    return f"load average {a:.2f} {b:.2f} {c:.2f}"


def render(frames: int, cadence: int, tree: str | None, workdir: Path, env: dict) -> dict | None:
    cli = {"image": str(LION) if LION.exists() else "noise", "frames": frames, "size": 512, "cadence": cadence}
    out = workdir / f"z_{cadence}_{frames}_{'before' if tree else 'after'}.mp4"
    args = {"cli": cli, "out": str(out), "tree": tree, "repo": str(REPO)}
    p = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, text=True, env=env,
                       cwd=workdir)
    if p.returncode:
        print(f"  FAILED ({'before' if tree else 'after'}):\n{p.stderr[-2000:]}")
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


def renders(a, env: dict) -> None:
    before = a.before if a.before and Path(a.before, "engine").is_dir() else None
    print(f"\n== 1. renders: 512x512 classic-zoom, PNG frames + MP4 ({'before: ' + before if before else 'no before tree'})")
    print(f"{'case':<24}{'code':<8}{'s/frame':>9}{'frames/s':>10}{'target':>8}{'CPU s/frame':>13}{'peak RSS':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for frames in (a.frames,) if a.quick else (a.frames, 300):
            for cadence in (1, 3):
                got = {}
                for which in (("before", "after") if before else ("after",)):
                    r = render(frames, cadence, before if which == "before" else None, Path(tmp), env)
                    if r is None:
                        continue
                    got[which] = per = r["seconds"] / r["frames"]
                    ok = "met" if 1 / per >= TARGETS[cadence] else "no"
                    print(f"{f'cadence {cadence}, {frames} frames':<24}{which:<8}{per:9.3f}{1 / per:10.2f}"
                          f"{f'{TARGETS[cadence]:g} {ok}':>8}{r['cpu'] / r['frames']:13.3f}"
                          f"{r['peak_rss_mb']:8.0f} MB", flush=True)
                if len(got) == 2:
                    print(f"{'':<24}after/before: {got['after'] / got['before']:.2f} of the time "
                          f"({got['before'] / got['after']:.2f}x as fast)")


# --------------------------------------------------------------------------- 2. where a frame goes


def frame_parts(frames: int) -> None:
    import cProfile
    import pstats
    import random

    import torch

    from dreamreel.animator.frameloop.color import ColorMatcher
    from dreamreel.animator.request.configs import zoom_config
    from dreamreel.animator.media import FrameDir, Mp4Writer, make_gif
    from dreamreel.animator.media.images import to_uint8
    from dreamreel.animator.request.resolve import resolve
    from dreamreel.animator.frameloop.scheduler import frame_seed, quantize
    from dreamreel.animator.modes.zoom import Motion, ZoomMode, render_zoom
    from dreamreel.engine.deepdream import dream, octave_sizes
    from dreamreel.engine.imageops import resize, smooth_gradient

    print(f"\n== 2. one 512x512 zoom frame, part by part (mean of {frames} frames, seconds, the loop's thread)")
    cfg = zoom_config({"image": str(LION) if LION.exists() else "noise", "frames": 240, "size": 512,
                       "mp4": "unused.mp4"}, "classic-zoom")
    plan = resolve(cfg.backend, picture=cfg.picture, target=cfg.target)
    motion = Motion(*(cfg.schedule(k) for k in ("zoom", "angle", "translation_x", "translation_y", "center_x",
                                                 "center_y")), n_frames=cfg.frames)
    mode = ZoomMode(plan.net, plan.objective, plan.start, motion, cfg.base_dream(), cfg.schedule("strength"),
                    cfg.schedule("steps"), cfg.schedule("octaves"), border=cfg.border)
    net, objective = plan.net, plan.objective
    parts: dict[str, float] = {}

    def add(name: str, t0: float) -> float:
        t1 = time.perf_counter()
        parts[name] = parts.get(name, 0.0) + t1 - t0
        return t1

    def replay(image: torch.Tensor, p) -> torch.Tensor:
        """engine.dream, step by step with a clock (checked equal to it below)."""
        rng = random.Random(p.seed)
        base = image.detach().to(net.device, torch.float32)
        detail = None
        for oi, size in enumerate(octave_sizes(*base.shape[-2:], p.octaves, p.octave_scale, net.spec.min_size)):
            octave_base = resize(base, size)
            img = octave_base if detail is None else (octave_base + resize(detail, size)).clamp_(0, 1)
            tag = f"octave {oi + 1} {size[1]}x{size[0]}"
            for _ in range(p.steps):
                t0 = time.perf_counter()
                j = p.jitter
                dy, dx = (rng.randint(-j, j), rng.randint(-j, j)) if j else (0, 0)
                x = torch.roll(img, shifts=(dy, dx), dims=(-2, -1)).detach().requires_grad_(True)
                t0 = add("dream: roll, update, resize", t0)
                with torch.enable_grad():
                    loss = objective(net.taps(x, list(objective.taps)))
                    t0 = add(f"{tag}: forward", t0)
                    (g,) = torch.autograd.grad(loss, x)
                t0 = add(f"{tag}: backward", t0)
                g = torch.roll(g, shifts=(-dy, -dx), dims=(-2, -1))
                g = smooth_gradient(g, p.smooth)
                t0 = add(f"{tag}: gradient smoothing", t0)
                g = g / (g.abs().mean() + 1e-8)
                img = (img + p.lr * g).clamp_(0, 1)
                add("dream: roll, update, resize", t0)
            detail = img - octave_base
        return img

    with tempfile.TemporaryDirectory() as tmp:
        fd = FrameDir(Path(tmp) / "frames")
        mp4 = Mp4Writer(Path(tmp) / "z.mp4", fps=24)
        prev = quantize(mode.step(0, mode.first_source(), frame_seed(0, 0)))
        matcher = ColorMatcher(prev, cfg.color_coherence)
        for t in range(1, frames + 1):
            t0 = time.perf_counter()
            source = mode.source(t, prev, t - 1)
            t0 = add("warp (lanczos)", t0)
            p = mode.params(t, frame_seed(0, t))
            with torch.no_grad():
                out = replay(source.image, p)
            t0 = time.perf_counter()
            if t == 1:  # the replay is the engine's dream
                assert torch.equal(out, mode.step(t, source, frame_seed(0, t))), "replay differs from engine.dream"
                t0 = time.perf_counter()
            out = matcher(out)
            t0 = add("colour coherence (lab)", t0)
            prev = quantize(out)
            t0 = add("quantise to the 8-bit grid", t0)
            u8 = to_uint8(prev)
            t0 = add("8-bit array for the sinks", t0)
            fd.write(t, u8)
            t0 = add("PNG frame (encode + atomic write)", t0)
            mp4.write(u8)
            add("MP4 pipe write", t0)
        t0 = time.perf_counter()
        mp4.close()
        add("MP4 close (ffmpeg finishing)", t0)
        t0 = time.perf_counter()
        make_gif(fd.paths(stop=frames + 1)[1:], Path(tmp) / "z.gif", fps=12, width=360)
        add("GIF (360 px, after the render)", t0)
    total = sum(parts.values())
    net_s = sum(v for k, v in parts.items() if k.endswith(("forward", "backward")))
    for k, v in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"  {k:<42}{v / frames:8.4f}  {100 * v / total:5.1f} %")
    print(f"  {'sum per frame':<42}{total / frames:8.4f}; the network's forward+backward: {net_s / frames:.3f} s "
          f"= {100 * net_s / total:.0f} % of it")

    print(f"\n   cProfile of a {frames}-frame render (loop thread; the PNG/MP4 writer thread is not in it):")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = zoom_config({"image": str(LION) if LION.exists() else "noise", "frames": frames, "size": 512,
                           "mp4": str(Path(tmp) / "p.mp4")}, "classic-zoom")
        prof = cProfile.Profile()
        prof.enable()
        render_zoom(cfg)
        prof.disable()
    stats = pstats.Stats(prof)
    stats.sort_stats("tottime").print_stats(14)


# --------------------------------------------------------------------------- 3. GFLOP/s


def machine_gflops() -> tuple[float, float]:
    import torch

    def best(fn, flop: float, n: int = 5) -> float:
        fn()
        times = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return flop / min(times) / 1e9

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    mm = best(lambda: a @ b, 2 * 2048**3)
    conv = torch.nn.Conv2d(128, 128, 3, padding=1, bias=False).eval()
    x = torch.randn(1, 128, 128, 128).contiguous(memory_format=torch.channels_last)
    conv = conv.to(memory_format=torch.channels_last)
    with torch.no_grad():
        cv = best(lambda: conv(x), 2 * 128 * 128 * 9 * 128 * 128)
    return cv, mm


def gflops() -> None:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from dreamreel.engine import get_backbone
    from dreamreel.engine.deepdream import octave_sizes
    from dreamreel.engine.objectives import layers

    print(f"\n== 3. GFLOP/s ({torch.get_num_threads()} threads)")
    conv_peak, mm_peak = machine_gflops()
    print(f"  this machine: 3x3 conv 128->128 at 128x128: {conv_peak:.0f} GFLOP/s; sgemm 2048^3: {mm_peak:.0f} GFLOP/s")

    net = get_backbone("efficientnet_lite0")
    objective = layers(["block6", "block9"])

    def step(x):
        x = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(objective(net.taps(x, list(objective.taps))), x)
        return g

    sizes = octave_sizes(512, 512, 2, 1.5, net.spec.min_size)
    flop, secs = 0, 0.0
    for h, w in sizes:
        x = torch.rand(1, 3, h, w)
        with FlopCounterMode(display=False) as fc:
            step(x)
        step(x)
        times = []
        for _ in range(4):
            t = time.perf_counter()
            step(x)
            times.append(time.perf_counter() - t)
        f, s = fc.get_total_flops(), min(times)
        flop, secs = flop + f, secs + s
        print(f"  Lite0 block6+block9 forward+backward at {w}x{h}: {f / 1e9:.2f} GFLOP in {s:.3f} s = {f / s / 1e9:.0f} GFLOP/s")
    print(f"  a classic-zoom frame (2 octaves x 3 steps): {3 * flop / 1e9:.1f} GFLOP, the network alone {3 * secs:.3f} s "
          f"= {flop / secs / 1e9:.0f} GFLOP/s: {flop / secs / 1e9 / conv_peak:.2f} of the conv peak, "
          f"{flop / secs / 1e9 / mm_peak:.2f} of sgemm")
    print(f"  -> the network alone allows at most {1 / (3 * secs):.2f} frames/s at cadence 1 "
          f"({3 / (3 * secs):.2f} at cadence 3, were the in-between frames free)")
    style_gflops(conv_peak, mm_peak)


def style_gflops(conv_peak: float, mm_peak: float) -> None:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from dreamreel.animator.media import read_image, resize_to
    from dreamreel.engine import get_backbone
    from dreamreel.engine.style import StyleParams, StyleTransfer

    if not VGG.exists():
        print(f"  (no {VGG}: VGG-16 style transfer skipped)")
        return
    content = resize_to(read_image(str(SHARED / "media" / "tubingen.jpg"))[..., 96:-96, :], (90, 160))
    style = resize_to(read_image(str(SHARED / "media" / "starry_night.jpg")), (101, 160))
    vgg = get_backbone("vgg16_caffe", weights=str(VGG))
    threads0 = torch.get_num_threads()
    for threads in (threads0, 1):
        torch.set_num_threads(threads)
        st = StyleTransfer(vgg, content, [style], params=StyleParams(iters=20))
        st._closure()
        st.opt.zero_grad()
        with FlopCounterMode(display=False) as fc:
            st._closure()
        st.opt.zero_grad()
        per_eval = fc.get_total_flops()
        e0, t = st.evaluations, time.perf_counter()
        st.run(20)
        dt = (time.perf_counter() - t) / 20
        evals = (st.evaluations - e0) / 20
        t = time.perf_counter()
        for _ in range(5):
            st._closure()
        ev_s = (time.perf_counter() - t) / 5
        print(f"  VGG-16 style transfer 160x90, {threads} thread{'s' * (threads > 1)}: {dt:.3f} s per L-BFGS iteration, "
              f"{evals:.2f} evaluations per iteration (strong-Wolfe line search), {ev_s:.3f} s per evaluation; "
              f"{per_eval / 1e9:.1f} GFLOP per evaluation (forward {fc.get_flop_counts()['Global'].get(torch.ops.aten.convolution, 0) / 1e9:.1f} "
              f"+ input gradient of the convs + Grams) = {per_eval / ev_s / 1e9:.0f} GFLOP/s "
              f"({per_eval / ev_s / 1e9 / conv_peak:.2f} of the conv peak)")
    torch.set_num_threads(threads0)
    # each conv layer at its own size: forward, and the input gradient (what the backward computes here)
    print("   VGG-16 conv layers at 160x90 (forward / input gradient GFLOP/s):")
    x = vgg.normalize(content).contiguous(memory_format=torch.channels_last)
    feats = vgg.net.features
    for i, m in enumerate(feats[:24]):
        if isinstance(m, torch.nn.Conv2d):
            xi = x.detach().requires_grad_(True)
            flop = 2 * m.in_channels * m.out_channels * 9 * x.shape[-2] * x.shape[-1]
            y = m(xi)
            gy = torch.ones_like(y)

            def fwd():
                with torch.no_grad():
                    m(x)

            def bwd():
                torch.autograd.grad(y, xi, gy, retain_graph=True)

            res = []
            for fn in (fwd, bwd):
                fn()
                ts = []
                for _ in range(5):
                    t = time.perf_counter()
                    fn()
                    ts.append(time.perf_counter() - t)
                res.append(flop / min(ts) / 1e9)
            print(f"     conv {m.in_channels:>3}->{m.out_channels:<3} at {x.shape[-1]:>3}x{x.shape[-2]:<3} "
                  f"({flop / 1e9:.2f} GFLOP, weights {m.weight.numel() * 4 / 2**20:4.1f} MB): "
                  f"{res[0]:5.0f} / {res[1]:5.0f}")
        with torch.no_grad():
            x = m(x)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="the short renders only (no 300-frame cases)")
    ap.add_argument("--frames", type=int, default=30, help="frames of the short renders")
    ap.add_argument("--before", default="/work/wt-zoombase", help="a dreamreel tree to compare with ('' for none)")
    ap.add_argument("--omp-wait", default="PASSIVE", choices=("PASSIVE", "ACTIVE"))
    ap.add_argument("--parts-frames", type=int, default=8)
    ap.add_argument("--skip", default="", help="comma list of sections to skip: renders,parts,gflops")
    a = ap.parse_args()
    os.environ["OMP_WAIT_POLICY"] = a.omp_wait  # before torch loads (here and in the children)
    env = {**os.environ, "OMP_WAIT_POLICY": a.omp_wait}
    skip = set(filter(None, a.skip.split(",")))
    print(f"bench_zoom: OMP_WAIT_POLICY={a.omp_wait}, {os.cpu_count()} CPUs, {load()}")
    if "renders" not in skip:
        renders(a, env)
    from dreamreel.animator.cli import keep_freed_memory

    keep_freed_memory()  # (as the program does)
    if "parts" not in skip:
        frame_parts(a.parts_frames)
    if "gflops" not in skip:
        gflops()
    print(f"\nend: {load()}")


if __name__ == "__main__":
    main()
