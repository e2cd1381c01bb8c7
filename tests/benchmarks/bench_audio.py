"""What `--audio` costs: the analysis of a 3-minute song (issue 34: at most 5 s on 2 cores), and how well it finds
the kicks of generated drum tracks.

    python tests/benchmarks/bench_audio.py [--minutes 3] [--repeat 3]

A generated song (kicks at 128 bpm, off-beat hi-hats, a chord, a bass drop half way) is written as a WAV and as an
MP3-like compressed file (AAC in .m4a: the decoder's share), then analysed as `zoom --audio` does
(`media.music.analyse`: decoding by the bundled ffmpeg, the streamed spectra, tempo, beats) and turned into the
per-frame curves at 24 fps. Prints the best and median of ``--repeat`` runs, the CPU's flags that matter
(avx512*, amx*: from lscpu) and OMP_WAIT_POLICY, and the share of kicks found within one frame at 24 fps for
90, 120 and 174 bpm. Where librosa happens to be installed (it is no dependency), its beat_track on the same
tracks is timed and scored too, for comparison.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "helpers"))
from drums import drum_track, drum_wav, write_wav  # noqa: E402


def cpu_flags() -> str:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return "lscpu: not available"
    model = re.search(r"Model name:\s*(.+)", text)
    flags = re.search(r"Flags:\s*(.+)", text)
    wanted = sorted(f for f in (flags[1].split() if flags else []) if f.startswith(("avx512", "amx")))
    return f"{model[1].strip() if model else '?'}; {os.cpu_count()} CPUs; avx512/amx flags: {' '.join(wanted) or 'none'}"


def found(beats: np.ndarray, kicks: np.ndarray, fps: float = 24) -> float:
    if not len(beats):
        return 0.0
    bf, kf = np.round(beats * fps).astype(int), np.round(kicks * fps).astype(int)
    return float(np.mean([np.abs(bf - k).min() <= 1 for k in kf]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    from dreamreel.animator.media.ffmpeg import run_ffmpeg
    from dreamreel.animator.media.music import analyse

    print(f"CPU: {cpu_flags()}")
    print(f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}")
    with tempfile.TemporaryDirectory() as tmp:
        seconds = a.minutes * 60
        samples, kicks = drum_track(seconds, 128, drop=seconds / 2)
        rng = np.random.default_rng(1)
        samples = samples + 0.01 * rng.standard_normal(len(samples)).astype(np.float32)  # a little hiss
        wav = write_wav(Path(tmp) / "song.wav", samples)
        m4a = Path(tmp) / "song.m4a"
        run_ffmpeg(["-i", str(wav), "-c:a", "aac", "-b:a", "160k", str(m4a)])
        for path in (wav, m4a):
            times = []
            for _ in range(a.repeat):
                t0 = time.perf_counter()
                song = analyse(str(path))
                song.curves(24, song.frames(24))
                times.append(time.perf_counter() - t0)
            print(f"analysis of a {a.minutes:g}-minute song ({path.suffix[1:]}, {path.stat().st_size / 1e6:.1f} MB): "
                  f"best {min(times):.2f} s, median {statistics.median(times):.2f} s over {a.repeat} "
                  f"(tempo {song.bpm:.2f} bpm, {len(song.beats)} beats, kicks found {found(song.beats, kicks):.3f})")
        try:
            import librosa  # noqa: F401  (comparison only; not a dependency)
        except ImportError:
            librosa = None
        for bpm in (90, 120, 174):
            path = Path(tmp) / f"d{bpm}.wav"
            k = drum_wav(path, 12.0, bpm, drop=6.0)
            s = analyse(str(path))
            line = f"{bpm} bpm: tempo {s.bpm:.2f}, kicks found within 1 frame at 24 fps: {found(s.beats, k):.3f}"
            if librosa is not None:
                y, sr = librosa.load(str(path), sr=22050)
                tempo, beats = librosa.beat.beat_track(y=y, sr=sr, units="time")
                line += (f"; librosa {librosa.__version__}: tempo {float(np.atleast_1d(tempo)[0]):.2f}, "
                         f"kicks found {found(beats, k):.3f}")
            print(line)
        if librosa is not None:
            t0 = time.perf_counter()
            y, sr = librosa.load(str(wav), sr=22050)
            librosa.beat.beat_track(y=y, sr=sr)
            print(f"librosa load + beat_track of the {a.minutes:g}-minute WAV: {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
