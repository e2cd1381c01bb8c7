"""Seconds and peak RSS of a 512 px dream still, default settings, on this machine.

    python tests/benchmarks/bench_dream.py [--image PATH]

Each case runs in its own process (so peak RSS is its own): the dreamreel default
(EfficientNet-Lite0, block6+block9, 4 octaves x 10 steps), and the settings of the classic
PyTorch DeepDream script (VGG-16 Caffe weights, relu4_3, 4 octaves x 1.8, 10 steps).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VGG = REPO.parent / "shared" / "weights" / "vgg16_caffe_features.pth"

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import torch
from dreamreel.animator.request.resolve import start_image
from dreamreel.engine import DreamParams, dream, get_backbone, pick_device
from dreamreel.engine.objectives import as_objective
cfg = json.loads(sys.argv[1])
dev = pick_device("auto")
img, _ = start_image(cfg["image"], 512)
net = get_backbone(cfg["model"], weights=cfg.get("weights"), device=dev)
obj = as_objective(net, cfg.get("layers"))
t_load = time.perf_counter() - t0
p = DreamParams(**cfg["params"])
dream(net, img, obj, DreamParams(octaves=1, steps=1))  # warm-up (first-call allocations)
times = []
for seed in range(cfg["repeats"]):
    t = time.perf_counter()
    dream(net, img, obj, DreamParams(**{**cfg["params"], "seed": seed}))
    times.append(time.perf_counter() - t)
print(json.dumps({"size": list(img.shape[-2:]), "load_s": t_load, "times": times,
                  "threads": torch.get_num_threads(),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(name: str, cfg: dict) -> None:
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(cfg)], capture_output=True, text=True)
    if out.returncode:
        print(f"{name}: FAILED\n{out.stderr}")
        return
    r = json.loads(out.stdout.strip().splitlines()[-1])
    h, w = r["size"]
    best, mean = min(r["times"]), sum(r["times"]) / len(r["times"])
    print(f"{name:<44} {w}x{h}  {best:6.2f} s best, {mean:6.2f} s mean of {len(r['times'])}  "
          f"(+{r['load_s']:.1f} s start-up)  peak RSS {r['peak_rss_mb']:.0f} MB  threads {r['threads']}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", default=str(REPO / "samples" / "figures.jpg"))
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    print("bench_dream: one 512 px still (seconds exclude interpreter start-up and model load)")
    run("dreamreel default (lite0 block6+block9 4x10)",
        {"image": a.image, "model": "efficientnet_lite0", "repeats": a.repeats,
         "params": {"octaves": 4, "octave_scale": 1.4, "steps": 10, "lr": 0.012, "smooth": 1.0}})
    if VGG.exists():
        run("vgg16_caffe relu4_3, 4 oct x 1.8, 10 steps",
            {"image": a.image, "model": "vgg16_caffe", "weights": str(VGG), "layers": "relu4_3",
             "repeats": 1, "params": {"octaves": 4, "octave_scale": 1.8, "steps": 10, "lr": 0.012}})
    print("reference: the classic PyTorch DeepDream script takes ~26 s per 512x341 image here "
          "(VGG-16, 4 octaves, 10 steps)")


if __name__ == "__main__":
    main()
