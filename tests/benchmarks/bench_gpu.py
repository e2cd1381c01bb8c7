"""Issue 22's figures on one device (a CUDA GPU; ``--device cpu --small`` checks the script on a CPU).

    python tests/benchmarks/bench_gpu.py [--device cuda] [--small] [--frames 48]

Prints, each with the peak GPU memory it took (``torch.cuda.max_memory_allocated``; none on a CPU):
1. zoom frames/s through the real path (``render_zoom``: PNG frames and a streamed MP4, everything
   included), the classic-zoom preset, at 512x512 and 1920x1080, cadence 1 and 3;
2. a still dream at 1920x1080 (the ``dream`` defaults: 4 octaves x 10 steps), seconds; on CUDA also in float32
   (the default there runs the forward passes in float16);
3. one L-BFGS iteration of VGG-16 style transfer at 1920x1080 (random weights in the Caffe file's
   layout: the time does not depend on the values), seconds; on CUDA also in float32;
4. the network method: training iterations/s on 1080p frame pairs as ``video --method network`` trains there
   (its batch, 512 px crops) and the time of its default iterations, and inference frames/s at 1080p in batches
   of 4;
5. the keyframes method (the default of ``video --style``) through the real path (``render_video``:
   flow, PatchMatch synthesis, PNG frames and MP4), samples/bunny.mp4 scaled to 1920 px wide, its 48
   frames, The Starry Night: seconds end to end with the keyframe painted (``--key-iters`` 100), then
   again with the keyframe from the cache (the synthesis alone), frames/s;
6. on CUDA, the 1080p zoom at cadence 1 again with cuDNN's autotuning (``cudnn.benchmark``, off in dreamreel:
   a resumed render must pick the same kernels);
7. the network method the same way, with its defaults on this device (its training: the flows of the pairs and
   1000 iterations of 4 pairs on CUDA), then from the cache; a 10-second clip's time from the two (the training
   is the same for a longer clip: at most 64 pairs).
8. ``--clip10`` (instead of 1-7; issue 33): a 10-second 1080p clip end to end with the defaults of ``dreamreel video
   CLIP --style S`` (240 frames at 24 fps, 1920x1080: samples/bunny.mp4's 48 frames forward and back, Lanczos
   enlarged; The Starry Night): seconds, seconds a frame, the keyframes, the peak host memory (the process' maximum
   resident set) and the peak GPU memory.
``--small``: 128 px / 192x108 instead, a few frames: to see the script run, not to measure.
Run on a quiet machine; every figure is from this one run.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

import torch  # noqa: E402


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def peak(device: str) -> str:
    if not device.startswith("cuda"):
        return "-"
    return f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"


def reset(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def zoom_fps(device: str, w: int, h: int, cadence: int, frames: int, folder: Path) -> float:
    from PIL import Image

    from dreamreel.animator.request.configs import zoom_config
    from dreamreel.animator.modes.zoom import render_zoom

    start = folder / f"start_{w}x{h}.png"
    Image.open(REPO / "samples" / "figures.jpg").convert("RGB").resize((w, h)).save(start)
    out = folder / f"z_{w}x{h}_c{cadence}.mp4"
    cfg = zoom_config({"image": str(start), "frames": frames, "size": max(w, h), "cadence": cadence,
                       "mp4": str(out), "device": device}, "classic-zoom")
    t = time.perf_counter()
    render_zoom(cfg)
    sync(device)
    return frames / (time.perf_counter() - t)


def still_dream(device: str, w: int, h: int, amp: str = "auto") -> float:
    from dreamreel.engine import DreamParams, dream, get_backbone
    from dreamreel.engine.objectives import as_objective

    net = get_backbone("efficientnet_lite0", device=device)
    x = torch.rand(1, 3, h, w, device=device)
    objective = as_objective(net, None)
    dream(net, x, objective, DreamParams(octaves=1, steps=1), amp=amp)  # warm-up (kernels, autotuning)
    sync(device)
    t = time.perf_counter()
    dream(net, x, objective, DreamParams(), amp=amp)
    sync(device)
    return time.perf_counter() - t


def lbfgs_iteration(device: str, w: int, h: int, folder: Path, amp: str = "auto") -> tuple[float, str]:
    """Seconds per iteration, and the precision the iterations ended in (float16 overflowing goes to float32)."""
    from conftest import VGG16_CAFFE_LAYOUT, random_caffe_state

    from dreamreel.engine import get_backbone
    from dreamreel.engine.style import StyleParams, StyleTransfer

    path = folder / "random_vgg16_caffe.pth"
    torch.save(random_caffe_state(VGG16_CAFFE_LAYOUT), path)
    net = get_backbone("vgg16_caffe", weights=str(path), device=device)
    content = torch.rand(1, 3, h, w, device=device)
    style = torch.rand(1, 3, h, w, device=device)
    run = StyleTransfer(net, content, [style], params=StyleParams(), amp=amp)
    run.run(1)  # warm-up
    sync(device)
    t = time.perf_counter()
    run.run(3)
    sync(device)
    return (time.perf_counter() - t) / 3, str(run.amp or torch.float32).replace("torch.", "")


def network(device: str, w: int, h: int, iters: int):
    """Training iterations/s as ``video --method network`` trains on this device (``clips.network.train_params``: its
    batch, crops, upsampling; after 3 iterations of warm-up) on frame pairs of this size, inference frames/s in
    batches of 4; and the training's parameters there."""
    from dataclasses import replace

    from dreamreel.animator.request.config_parts import ClipSpec, Outputs, StyleSpec
    from dreamreel.animator.request.configs import VideoConfig
    from dreamreel.animator.clips.network import train_params
    from dreamreel.engine import get_backbone
    from dreamreel.engine.style.network import NetTrainer, training_clip

    cfg = VideoConfig(clip=ClipSpec(str(REPO / "samples" / "bunny.mp4")), outputs=Outputs(mp4="unused.mp4"),
                      style_spec=StyleSpec((str(REPO / "samples" / "starry_night.jpg"),)), method="network")
    params = train_params(cfg, 240, torch.device(device))
    net = get_backbone("efficientnet_lite0", device=device)
    g = torch.Generator().manual_seed(0)
    pairs = [(torch.rand(1, 3, h, w, generator=g), torch.rand(1, 3, h, w, generator=g), torch.zeros(1, 2, h, w),
              torch.ones(1, 1, h, w)) for _ in range(8)]
    style = torch.rand(1, 3, h, w, generator=g).to(device)
    trainer = NetTrainer(net, [style], None, training_clip(pairs), replace(params, iters=3, seconds=None))
    trainer.train()
    trainer.params = replace(params, iters=iters, seconds=None)
    sync(device)
    t = time.perf_counter()
    model = trainer.train()
    sync(device)
    train_its = iters / (time.perf_counter() - t)
    frames = torch.rand(4, 3, h, w, device=device)
    with torch.no_grad():
        model.stylize(frames)  # warm-up
        sync(device)
        t = time.perf_counter()
        reps = 3
        for _ in range(reps):
            model.stylize(frames)
        sync(device)
    return train_its, 4 * reps / (time.perf_counter() - t), params


def clip_method(device: str, method: str, w: int, frames: int, folder: Path, **kw) -> tuple[float, float]:
    """samples/bunny.mp4 at ``w`` px wide through ``render_video`` with ``method``, twice: its keyframe painted or
    its network trained, then from the cache. Returns (seconds end to end the first time, frames/s the second)."""
    from dreamreel.animator.request.config_parts import Backend, ClipSpec, Outputs, StyleSpec
    from dreamreel.animator.request.configs import VideoConfig
    from dreamreel.animator.clips.video import render_video

    os.environ["DREAMREEL_CACHE"] = str(folder / f"cache_{method}")
    times = []
    for run in ("first", "cached"):
        cfg = VideoConfig(clip=ClipSpec(str(REPO / "samples" / "bunny.mp4"), width=w, max_frames=frames),
                          style_spec=StyleSpec((str(REPO / "samples" / "starry_night.jpg"),)), method=method,
                          backend=Backend(device=device), outputs=Outputs(mp4=str(folder / f"{method}_{run}.mp4")),
                          **kw)
        t = time.perf_counter()
        res = render_video(cfg)
        sync(device)
        times.append(time.perf_counter() - t)
    return times[0], res["frames"] / times[1]


def clip10(device: str, frames: int, size: tuple[int, int], folder: Path) -> None:
    """Section 8: a 10-second clip at ``size`` through ``render_video`` with the defaults."""
    import re
    import resource

    import cv2
    import numpy as np

    from dreamreel.animator.clips.video import render_video
    from dreamreel.animator.media import ClipReader, Mp4Writer, open_clip
    from dreamreel.animator.request.config_parts import Backend, ClipSpec, Outputs, StyleSpec
    from dreamreel.animator.request.configs import VideoConfig
    from dreamreel.animator.progress import console

    r = ClipReader(open_clip(str(REPO / "samples" / "bunny.mp4")), keep=60)
    src = [r.frame(t) for t in range(r.info.frames)]
    r.close()
    order = (src + src[::-1]) * (frames // (2 * len(src)) + 1)
    clip = folder / "clip10.mp4"
    with Mp4Writer(clip, fps=24, crf=14) as w:
        for f in order[:frames]:
            a = cv2.resize(f[0].permute(1, 2, 0).numpy(), size, interpolation=cv2.INTER_LANCZOS4)
            w.write(torch.from_numpy(np.clip(a, 0, 1)).permute(2, 0, 1)[None])
    os.environ["DREAMREEL_CACHE"] = str(folder / "cache_clip10")
    cfg = VideoConfig(clip=ClipSpec(str(clip)), style_spec=StyleSpec((str(REPO / "samples" / "starry_night.jpg"),)),
                      backend=Backend(device=device), outputs=Outputs(mp4=str(folder / "clip10_out.mp4")))
    reset(device)
    with console.capture() as said:
        t = time.perf_counter()
        render_video(cfg)
        sync(device)
        seconds = time.perf_counter() - t
    keys = sorted({int(k) for k in re.findall(r"^keyframe (\d+)", said.get(), flags=re.M)})
    host = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"a {frames / 24:g}-second {size[0]}x{size[1]} clip ({frames} frames) with the defaults of video --style: "
          f"{seconds:.1f} s end to end ({seconds / frames:.2f} s/frame), keyframes {keys}, peak host memory "
          f"{host:.2f} GB, peak GPU {peak(device)}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--small", action="store_true", help="tiny sizes: check the script, measure nothing")
    ap.add_argument("--frames", type=int, default=48, help="frames of each zoom")
    ap.add_argument("--clip10", action="store_true", help="only section 8: a 10-second 1080p clip end to end")
    a = ap.parse_args()
    dev = a.device
    name = torch.cuda.get_device_name(0) if dev.startswith("cuda") else "CPU"
    print(f"device {dev} ({name}), torch {torch.__version__}, small={a.small}")
    sizes = [(128, 128), (192, 108)] if a.small else [(512, 512), (1920, 1080)]
    hd = (192, 108) if a.small else (1920, 1080)
    frames = 4 if a.small else a.frames
    if a.clip10:
        with tempfile.TemporaryDirectory() as tmp:
            clip10(dev, 12 if a.small else 240, (384, 216) if a.small else (1920, 1080), Path(tmp))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for w, h in sizes:
            for cadence in (1, 3):
                reset(dev)
                fps = zoom_fps(dev, w, h, cadence, frames, folder)
                print(f"zoom {w}x{h} cadence {cadence}: {fps:.2f} frames/s over {frames} frames "
                      f"(everything included), peak {peak(dev)}", flush=True)
        reset(dev)
        print(f"still dream {hd[0]}x{hd[1]} (4 octaves x 10 steps): {still_dream(dev, *hd):.2f} s, "
              f"peak {peak(dev)}", flush=True)
        if dev.startswith("cuda"):  # the default there is float16 with a loss scale: beside it, float32
            reset(dev)
            print(f"still dream {hd[0]}x{hd[1]} in float32: {still_dream(dev, *hd, amp='fp32'):.2f} s, "
                  f"peak {peak(dev)}", flush=True)
        for amp in ("auto", "fp32") if dev.startswith("cuda") else ("auto",):
            reset(dev)
            secs, ended = lbfgs_iteration(dev, *hd, folder, amp)
            print(f"VGG-16 style transfer {hd[0]}x{hd[1]}: {secs:.2f} s per L-BFGS iteration ({amp}: {ended}), "
                  f"peak {peak(dev)}", flush=True)
        reset(dev)
        its, fps, p = network(dev, *hd, iters=3 if a.small else 40)
        default = (f"its default {p.iters} iterations: {p.iters / its:.0f} s" if p.seconds is None
                   else f"a {p.seconds:.0f} s budget for a 10-second clip")
        print(f"network {hd[0]}x{hd[1]}: training {its:.2f} iterations/s ({p.batch} frame pair{'s' * (p.batch > 1)} "
              f"each, {p.crop} px crops, {p.arch.up} upsampling; {default}), inference {fps:.1f} frames/s (batches "
              f"of 4), peak {peak(dev)}", flush=True)
        reset(dev)
        clip_w = 192 if a.small else 1920
        clip_frames = frames if a.small else 48
        first, fps = clip_method(dev, "keyframes", clip_w, clip_frames, folder, key_iters=5 if a.small else 100)
        print(f"keyframes method, samples/bunny.mp4 at {clip_w} px wide, {clip_frames} frames: {first:.1f} s end to "
              f"end with its keyframe painted, {fps:.1f} frames/s from the cached keyframe, peak {peak(dev)}",
              flush=True)
        if dev.startswith("cuda"):  # cuDNN's autotuning (off by default: it may pick other kernels in another
            reset(dev)              # process, and a resumed render must give the same frames): what it would gain
            torch.backends.cudnn.benchmark = True
            try:
                fps = zoom_fps(dev, *hd, 1, frames, folder)
            finally:
                torch.backends.cudnn.benchmark = False
            print(f"zoom {hd[0]}x{hd[1]} cadence 1 with cuDNN autotuning: {fps:.2f} frames/s, peak {peak(dev)}",
                  flush=True)
        # the network method last (its default training is the longest figure here): its defaults on this device
        reset(dev)
        first, fps = clip_method(dev, "network", clip_w, clip_frames, folder,
                                 **({"train_iters": 3, "train_pairs": 2} if a.small else {}))
        print(f"network method, samples/bunny.mp4 at {clip_w} px wide, {clip_frames} frames: {first:.1f} s end to end "
              f"with its network trained (the defaults), {fps:.1f} frames/s with it from the cache; a 10-second clip "
              f"(240 frames) about {first + (240 - clip_frames) / fps:.0f} s, peak {peak(dev)}", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    main()
