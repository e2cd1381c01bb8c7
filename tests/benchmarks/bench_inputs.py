"""What reading a huge picture costs in memory: peak resident memory of reading a 10000x10000 picture
as a dream's start picture (``--size 512``), measured in a fresh process per picture.

    python tests/benchmarks/bench_inputs.py [--side 10000] [--size 512]

Pictures (made in a temporary folder): an 8-bit RGB PNG, a 16-bit RGB PNG, an 8-bit JPEG, and one
over the size limit (refused before it is decoded). Each line: the peak (``ru_maxrss``) after
the imports, after reading, and the difference. Memory figures, not seconds: fine to run while
the machine is busy.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

PROBE = r"""
import resource, sys
from dreamreel.animator.request.resolve import start_image   # imports torch, OpenCV, Pillow
from dreamreel.animator.errors import UserError
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
before = peak()
try:
    img, _ = start_image(sys.argv[1], int(sys.argv[2]))
    result = "x".join(map(str, img.shape[-2:][::-1]))
except UserError as e:
    result = f"refused: {e}"
print(f"{before:.0f} {peak():.0f} {result}")
"""


def names(folder: Path, side: int) -> dict[str, Path]:
    over = int(side * 1.3)
    return {f"{side}x{side} 8-bit PNG": folder / "big.png", f"{side}x{side} 16-bit PNG": folder / "big16.png",
            f"{side}x{side} JPEG": folder / "big.jpg", f"{over}x{over} PNG (over the limit)": folder / "over.png"}


def make(folder: Path, side: int) -> None:
    import cv2
    import numpy as np

    y, x = np.mgrid[0:side, 0:side].astype(np.float32)
    a = np.stack([(x / 40) % 256, (y / 40) % 256, ((x + y) / 80) % 256], 2).astype(np.uint8)
    del x, y
    png, png16, jpg, over = names(folder, side).values()
    cv2.imwrite(str(png), a)
    cv2.imwrite(str(png16), a.astype(np.uint16) * 257)
    cv2.imwrite(str(jpg), a, [cv2.IMWRITE_JPEG_QUALITY, 90])
    del a
    n = int(side * 1.3)
    cv2.imwrite(str(over), np.zeros((n, n, 3), np.uint8))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", type=int, default=10000)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--make", help=argparse.SUPPRESS)  # (the pictures are made in a child process)
    a = ap.parse_args()
    if a.make:
        make(Path(a.make), a.side)
        return
    with tempfile.TemporaryDirectory() as tmp:
        # a child's peak memory starts at its parent's (Linux keeps it across exec): this process
        # stays small, the pictures are made by one child and each is read by another
        subprocess.run([sys.executable, __file__, "--make", tmp, "--side", str(a.side)], check=True)
        pictures = names(Path(tmp), a.side)
        print(f"reading as a --size {a.size} start picture; peak resident memory, MB")
        print(f"{'picture':34s} {'imports':>8s} {'read':>8s} {'cost':>8s}  result")
        for name, path in pictures.items():
            out = subprocess.run([sys.executable, "-c", PROBE, str(path), str(a.size)], capture_output=True,
                                 text=True, check=True).stdout.split(maxsplit=2)
            before, after, result = float(out[0]), float(out[1]), out[2].strip()
            print(f"{name:34s} {before:8.0f} {after:8.0f} {after - before:8.0f}  {result}")


if __name__ == "__main__":
    main()
