"""A synthetic drum track for the music tests, the benchmark and README's sample: kicks on the beat at a known tempo,
hi-hats on the off-beats, a quiet chord throughout, and from ``drop`` seconds on a sustained sub-bass with the kicks.
Written as a 16-bit WAV (stdlib ``wave``); the true kick times come back with it."""
from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

RATE = 44100
REPO = Path(__file__).resolve().parents[2]


def drum_track(seconds: float, bpm: float, drop: float | None = None, first: float = 0.25, seed: int = 0,
               hats: float = 0.25, chord: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """(mono float32 samples at RATE, kick times in s)."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * RATE))
    out = np.zeros(n, np.float64)
    beat = 60.0 / bpm
    kicks = np.arange(first, seconds - 0.05, beat)
    t = np.arange(int(0.25 * RATE)) / RATE
    # kick: a sine swept 150 -> 50 Hz, falling fast
    phase = 2 * np.pi * (50 * t + 100 * 0.03 * (1 - np.exp(-t / 0.03)))
    kick = 0.9 * np.sin(phase) * np.exp(-t / 0.12)
    th = np.arange(int(0.06 * RATE)) / RATE
    for k in kicks:
        i = int(round(k * RATE))
        m = min(len(kick), n - i)
        out[i:i + m] += kick[:m]
        h = k + beat / 2  # the off-beat hat: high-passed noise, 15 ms decay
        j = int(round(h * RATE))
        if j < n and hats > 0:
            noise = np.diff(rng.standard_normal(len(th) + 1)) * np.exp(-th / 0.015)
            m = min(len(noise), n - j)
            out[j:j + m] += hats * noise[:m]
    tt = np.arange(n) / RATE
    out += chord * sum(np.sin(2 * np.pi * f * tt) for f in (220.0, 277.2, 329.6)) / 3
    if drop is not None:
        d = int(round(drop * RATE))
        ramp = np.clip((tt[d:] - drop) / 0.02, 0, 1)
        out[d:] += 0.45 * ramp * np.sin(2 * np.pi * 55.0 * tt[d:])
    out /= max(1.0, np.abs(out).max() / 0.95)
    return out.astype(np.float32), kicks


def write_wav(path, samples: np.ndarray, rate: int = RATE) -> Path:
    path = Path(path)
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def drum_wav(path, seconds: float, bpm: float, drop: float | None = None, **kw) -> np.ndarray:
    """Write the track to ``path``; returns the kick times (s)."""
    samples, kicks = drum_track(seconds, bpm, drop, **kw)
    write_wav(path, samples)
    return kicks


def hostile_song(folder, kind: str) -> Path:
    """A file that cannot drive a render, in ``folder`` (or the project's): ``text`` (an .mp3 that is text),
    ``empty``, ``silent`` (3 s of zeros), ``short`` (0.6 s of drums), ``no_sound`` (a clip without an audio stream),
    ``picture`` (a JPEG); any other kind: a path that is not there."""
    p = Path(folder) / f"{kind}.wav"
    if kind == "text":
        p = p.with_suffix(".mp3")
        p.write_text("this is not a song\n" * 50)
    elif kind == "empty":
        p.write_bytes(b"")
    elif kind == "silent":
        write_wav(p, np.zeros(3 * RATE, np.float32))
    elif kind == "short":
        write_wav(p, drum_track(0.6, 120)[0])
    elif kind == "no_sound":
        p = REPO / "tests" / "data" / "one_second_clip.mp4"
    elif kind == "picture":
        p = REPO / "samples" / "figures.jpg"
    return p
