"""README's music sample: a generated drum track (128 bpm, the bass drops at 5 s) and the ``pulse`` preset's zoom to
it, then a strip of the frames over two beats, the curves the render read, and each frame's change from the one
before, on the beat and between beats.

    python tests/helpers/pulse_sample.py OUT_FOLDER [--size 256] [--seconds 10]

Writes OUT_FOLDER/drums.wav, pulse.mp4 (with the song), pulse_frames/, pulse_strip.png and pulse_curves.png.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))
from drums import drum_wav  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--bpm", type=float, default=128.0)
    ap.add_argument("--strip-only", action="store_true", help="the strip of a render already in OUT_FOLDER")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    song = out / "drums.wav"
    if not a.strip_only:
        render(a, out, song)
    strip(out, song)


def render(a, out: Path, song: Path) -> None:
    drum_wav(song, a.seconds, a.bpm, drop=a.seconds / 2)
    cmd = [sys.executable, "-m", "dreamreel.animator.cli", "zoom", str(REPO / "samples" / "figures.jpg"), "--preset",
           "pulse", "--audio", str(song), "--size", str(a.size), "-o", str(out / "pulse.mp4")]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    print(f"render: {time.perf_counter() - t0:.0f} s")
    subprocess.run([sys.executable, "-m", "dreamreel.animator.cli", "audio", str(song), "--plot",
                    str(out / "pulse_curves.png")], check=True)


def strip(out: Path, song: Path) -> None:
    from dreamreel.animator.media import FrameDir
    from dreamreel.animator.media.music import analyse

    frames = FrameDir(out / "pulse_frames")
    n = frames.count_complete()
    s = analyse(str(song))
    beat_frames = np.unique(np.round(s.beats * 24).astype(int))
    steps = np.array([float((frames.read(t) - frames.read(t - 1)).abs().mean()) for t in range(1, n)])
    on = [steps[f - 1] for f in beat_frames if 24 <= f < n]
    mid = [steps[(f + g) // 2 - 1] for f, g in zip(beat_frames[:-1], beat_frames[1:]) if f >= 24]
    print(f"{n} frames; beats at frames {beat_frames.tolist()}")
    print(f"mean change of a frame from the one before: on a beat {np.mean(on):.4f}, half way between beats "
          f"{np.mean(mid):.4f} ({np.mean(on) / np.mean(mid):.1f}x)")
    # the strip: the frames from just before a beat after the drop to half way to the next (top), how much each
    # changed from the one before (middle: |difference| x 3), and that change over four beats (bottom, beats in red)
    b = int(beat_frames[np.searchsorted(beat_frames, n // 2)])
    picks = list(range(b - 2, min(n, b + 6)))
    tw = 192
    tiles = [Image.open(out / "pulse_frames" / f"frame_{t:06d}.png").convert("RGB") for t in picks]
    w, h = tiles[0].size
    th = int(round(h * tw / w))
    chart_h = 90
    strip = Image.new("RGB", (tw * len(picks), 18 + 2 * th + chart_h + 14), (18, 18, 22))
    d = ImageDraw.Draw(strip)
    for i, (t, tile) in enumerate(zip(picks, tiles)):
        strip.paste(tile.resize((tw, th), Image.LANCZOS), (i * tw, 18))
        diff = (frames.read(t) - frames.read(t - 1)).abs().mul(3).clamp(0, 1)[0].mean(0).mul(255).byte().numpy()
        strip.paste(Image.fromarray(diff).convert("RGB").resize((tw, th), Image.LANCZOS), (i * tw, 18 + th))
        beat = t in beat_frames
        d.text((i * tw + 4, 3), f"frame {t}{'  BEAT' if beat else ''}", fill=(255, 90, 90) if beat else (200, 200, 200))
    y0, span = 18 + 2 * th + 4, range(b - 12, min(n, b + 36))
    x_of = lambda t: 10 + (t - span[0]) * (tw * len(picks) - 20) / (len(span) - 1)  # noqa: E731
    top = max(steps[t - 1] for t in span)
    for t in span:
        x = x_of(t)
        hh = steps[t - 1] / top * (chart_h - 8)
        d.rectangle([x - 3, y0 + chart_h - hh, x + 3, y0 + chart_h], fill=(255, 90, 90) if t in beat_frames
                    else (150, 150, 170))
    d.text((10, y0 + chart_h + 1), f"change from the frame before, frames {span[0]}..{span[-1]} (beats in red)",
           fill=(200, 200, 200))
    strip.save(out / "pulse_strip.png")
    print(f"strip: frames {picks} -> {out / 'pulse_strip.png'}")


if __name__ == "__main__":
    main()
