"""How fast the command line answers: help, presets, typing mistakes (nothing rendered), and a
tiny dream (what loading costs around it).

    python tests/benchmarks/bench_cli.py [--repeats 5]

Each command runs as a fresh process (as a user types it); prints the best and median wall
time and whether torch was loaded. Set OMP_WAIT_POLICY and keep the machine quiet when timing.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROBE = ("import sys, runpy; sys.argv = ['dreamreel', *sys.argv[1:]]\n"
         "try:\n    from dreamreel.animator.cli import main; main()\n"
         "finally:\n    print('TORCH-LOADED' if 'torch' in sys.modules else 'TORCH-NOT-LOADED',\n"
         "          'ZOO-LOADED' if 'torchvision.models' in sys.modules else '', file=sys.stderr)\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp()
    fig = str(REPO / "samples" / "figures.jpg")
    cases = {
        "dreamreel --help": ["--help"],
        "dreamreel zoom --help": ["zoom", "--help"],
        "dreamreel presets": ["presets"],
        "bad option (dream --frobnicate)": ["dream", fig, "-o", f"{tmp}/x.png", "--frobnicate"],
        "missing file (dream missing.jpg)": ["dream", "missing.jpg", "-o", f"{tmp}/x.png"],
        "bad schedule (zoom --zoom '0:(1.02), 10 (1.1)')": ["zoom", fig, "-o", f"{tmp}/z.mp4", "--zoom", "0:(1.02), 10 (1.1)"],
        "bad output (zoom -o z.txt)": ["zoom", fig, "-o", f"{tmp}/z.txt"],
        "a 128 px dream (dream --size 128)": ["dream", fig, "-o", f"{tmp}/d.png", "--size", "128"],
    }
    print(f"bench_cli: {a.repeats} runs each, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}")
    for name, args in cases.items():
        times, torch_loaded, zoo_loaded, code = [], False, False, 0
        for _ in range(a.repeats):
            t = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True)
            times.append(time.perf_counter() - t)
            torch_loaded |= "TORCH-LOADED" in out.stderr
            zoo_loaded |= "ZOO-LOADED" in out.stderr
            code = out.returncode
        print(f"{name:<52} best {min(times):.3f} s  median {statistics.median(times):.3f} s  exit {code}  "
              f"torch {'loaded' if torch_loaded else 'not loaded'}"
              f"{', torchvision.models loaded' if zoo_loaded else ''}")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    label = '(for scale: python -c "import torch")'
    print(f"{label:<52} {time.perf_counter() - t:.3f} s")


if __name__ == "__main__":
    main()
