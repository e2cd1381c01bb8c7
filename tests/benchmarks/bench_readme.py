"""README's first command, rendered as a user types it, and what its loop and GIF measure.

    python tests/benchmarks/bench_readme.py [--keep DIR]

Runs ``dreamreel zoom samples/figures.jpg --frames 240 --loop -o zoom.mp4 --gif zoom.gif`` in a
temporary folder (with ``samples`` beside it, as in a clone) and prints: the time, the GIF's size,
frames and width (README promises at most 10 MB), whether it is byte for byte docs/gallery/zoom.gif (the
one README shows; rendered on another CPU the floats may differ), and the loop's seam: the step
from the last played frame to the first, after undoing the zoom's motion, over the median step
between played frames, on the PNG frames and on the MP4.
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
sys.path.insert(0, str(REPO / "tests"))

COMMAND = "dreamreel zoom samples/figures.jpg --frames 240 --loop -o zoom.mp4 --gif zoom.gif"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", help="render in this folder (kept) instead of a temporary one")
    a = ap.parse_args()
    assert COMMAND in (REPO / "README.md").read_text(), "README's first command changed: update this script"
    folder = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="bench-readme-"))
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "samples").exists():
        os.symlink(REPO / "samples", folder / "samples")
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dreamreel.animator.cli", *COMMAND.split()[1:]], cwd=folder, env=env,
                   check=True)
    seconds = time.perf_counter() - t0

    from helpers.gif_parse import gif_info
    from test_loop import played, zoom_carry

    from dreamreel.animator.media import ClipReader, open_clip
    from dreamreel.animator.frameloop.metrics import loop_steps

    gif = folder / "zoom.gif"
    info = gif_info(gif)
    same = gif.read_bytes() == (REPO / "docs" / "gallery" / "zoom.gif").read_bytes()
    s = json.loads((folder / "zoom.settings.json").read_text())
    frames = played(folder / "zoom_frames", s)
    h, w = frames[0].shape[-2:]
    png = loop_steps(frames, zoom_carry(s, h, w))
    clip = ClipReader(open_clip(str(folder / "zoom.mp4")))
    mp4 = loop_steps([clip.frame(t) for t in range(clip.info.frames)], zoom_carry(s, h, w))
    print(f"rendered {len(frames)} played frames ({s['loop']['lead']} before the loop) in {seconds:.1f} s")
    print(f"GIF {gif.stat().st_size / 1e6:.2f} MB (README: at most 10), {info['frames']} frames, {info['width']} px, "
          f"loop {info['loop']}; the same bytes as docs/gallery/zoom.gif: {same}")
    for name, r in (("PNG", png), ("MP4", mp4)):
        print(f"seam {name}: last->first {r['seam']:.4f}, median step {r['median']:.4f}, ratio {r['ratio']:.2f} "
              f"(at most 1.5); largest step {max(r['steps']):.4f}")
    print(f"frames in {folder}")


if __name__ == "__main__":
    main()
