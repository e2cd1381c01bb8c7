"""What a song does over time, read with numpy alone: its tempo and beats, its onsets, its loudness and the loudness
of three bands, as curves with one value per frame of a render (:class:`Curves`): the music variables of the
schedules (``beat``, ``beat_n``, ``bpm``, ``onset``, ``energy``, ``bass``, ``mid``, ``treble``).

The song is decoded as a stream (:func:`.audio.blocks`) and cut into 1024-sample windows every 256 samples (11.6 ms
at 22.05 kHz); of each window only a few numbers are kept (the onset strength, the power of each band), so memory
does not grow with the song beyond ~40 bytes per 11.6 ms (an hour: ~12 MB).

* onset strength: the spectral flux of the log-compressed spectrum pooled into bands a third of an octave wide (a
  kick's few low bins weigh as much as a hi-hat's hundreds; a band's rise under 0.1 counts for nothing), less its
  local mean;
* tempo: the autocorrelation of the onset strength in 4.5 s Hann windows, averaged over the song, weighted by a
  wide log-normal prior around 120 bpm (one octave), between 50 and 220 bpm; the windows' taper makes a period
  score above its double (174 bpm over 87);
* beats: Ellis' dynamic programme (2007): the beats that best sit on onsets while keeping that period;
* bands: bass 20-250 Hz, mid 250-4000 Hz, treble 4-11 kHz; energy all of them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..progress import progress_bar
from .atomic import publish, tmp_beside, unlink_quiet
from .audio import MIN_SECONDS, RATE, AudioError, blocks, probe_song

N_FFT = 1024
HOP = 256
HOP_RATE = RATE / HOP  # onset-strength samples per second (86.1)
BANDS = {"bass": (20.0, 250.0), "mid": (250.0, 4000.0), "treble": (4000.0, 11025.0)}
NAMES = ("beat", "beat_n", "bpm", "onset", "energy", "bass", "mid", "treble")
#: what each variable holds, for help texts and README
MEANINGS = {
    "beat": "1 on a beat, falling to 0 before the next (--beat-decay)",
    "beat_n": "beats so far (0 before the first, 1 from it)",
    "bpm": "the song's tempo (0 where none was found)",
    "onset": "onset strength, 0..1",
    "energy": "loudness, 0..1 over the song",
    "bass": "20-250 Hz, 0..1 over the song",
    "mid": "250-4000 Hz, 0..1 over the song",
    "treble": "4-11 kHz, 0..1 over the song",
}
MIN_BPM, MAX_BPM, PRIOR_BPM = 50.0, 220.0, 120.0
TEMPO_WINDOW = 384  # onset samples (4.5 s) per autocorrelation window ...
TEMPO_STEP = 86  # ... one a second
TIGHTNESS = 100.0  # how strongly the beat tracker keeps the period (Ellis' alpha)
MIN_PULSE = 0.1  # the averaged autocorrelation's peak (of 1) below which a song has no steady beat
PROGRESS_ABOVE = 20.0  # s of song above which the analysis shows a progress bar
FLUX_FLOOR = 0.1  # a band's rise (log units) that is no onset: a held tone's leakage wobbles by ~0.05
QUIET_ONSETS = 1e-3  # mean onset strength of a tempo window below which it has no onsets to speak of
SILENT = 1e-4  # peak amplitude (of 1) at or below which a song is silence


def _onset_bands() -> np.ndarray:
    """(N_FFT/2+1, bands) pooling matrix: the spectrum's bins summed into bands a third of an octave wide (at
    least one bin each) from 30 Hz to 11 kHz."""
    freqs = np.arange(N_FFT // 2 + 1) * RATE / N_FFT
    edges = np.unique(np.round(np.geomspace(30.0, RATE / 2, 30) / (RATE / N_FFT)).astype(int))
    m = np.zeros((len(freqs), len(edges) - 1), np.float32)
    for j, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        m[a:b, j] = 1.0 / (b - a)
    return m


@dataclass
class Features:
    """Per analysis hop (11.6 ms): onset strength and band powers; and how much sound was decoded."""

    flux: np.ndarray
    power: dict[str, np.ndarray]
    seconds: float
    peak: float


def features(path: str, start: float = 0.0, end: float | None = None,
             progress: Callable[[float], None] | None = None) -> Features:
    """Stream the song through the analysis windows; ``progress(seconds decoded)``."""
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    scale = 2.0 / window.sum()  # a full-scale sine's bin -> ~1
    pool = _onset_bands()
    freqs = np.arange(N_FFT // 2 + 1) * RATE / N_FFT
    band_bins = {k: (freqs >= lo) & (freqs < hi) for k, (lo, hi) in BANDS.items()}
    flux, power = [], {k: [] for k in (*BANDS, "energy")}
    carry = np.zeros(N_FFT // 2, np.float32)  # centred windows: the first is centred on sample 0
    prev = None
    total, peak = 0, 0.0

    def windows(buf: np.ndarray):
        nonlocal prev
        n = (len(buf) - N_FFT) // HOP + 1
        if n <= 0:
            return 0
        frames = np.lib.stride_tricks.sliding_window_view(buf, N_FFT)[::HOP][:n]
        spec = np.abs(np.fft.rfft(frames * window, axis=1)).astype(np.float32) * scale
        p = spec * spec
        for k, sel in band_bins.items():
            power[k].append(p[:, sel].sum(axis=1))
        power["energy"].append(p[:, freqs >= 20.0].sum(axis=1))
        logs = np.log1p(1000.0 * np.sqrt(p @ pool))
        first = logs[:1] if prev is None else prev
        diff = np.diff(np.concatenate([first, logs]), axis=0)
        flux.append(np.maximum(diff - FLUX_FLOOR, 0.0).sum(axis=1))
        prev = logs[-1:]
        return n

    for block in blocks(path, start, end):
        total += len(block)
        peak = max(peak, float(np.abs(block).max(initial=0.0)))
        buf = np.concatenate([carry, block])
        n = windows(buf)
        carry = buf[n * HOP:]
        if progress is not None:
            progress(total / RATE)
    windows(np.concatenate([carry, np.zeros(N_FFT // 2, np.float32)]))
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0, np.float32)  # noqa: E731
    return Features(cat(flux), {k: cat(v) for k, v in power.items()}, total / RATE, peak)


def onset_envelope(flux: np.ndarray) -> np.ndarray:
    """The flux less its local mean (a third of a second), never below 0."""
    k = max(1, int(round(HOP_RATE / 3)))
    local = np.convolve(flux, np.ones(k) / k, mode="same")
    return np.maximum(flux - local, 0.0)


def tempo(onset: np.ndarray) -> tuple[float, float]:
    """(bpm, pulse): the tempo of the onset strength and how clearly it beats (the averaged autocorrelation's
    weighted peak, of 1); (0, pulse) where there is no period in range."""
    n = len(onset)
    size = min(TEMPO_WINDOW, n)
    lo, hi = int(math.floor(60 * HOP_RATE / MAX_BPM)), int(math.ceil(60 * HOP_RATE / MIN_BPM))
    if size < hi + 8:  # (a song under ~1.3 s: no room for a slow beat)
        return 0.0, 0.0
    hann = np.hanning(size)
    starts = range(0, n - size + 1, TEMPO_STEP)
    # windows with next to no onsets (a held tone's rounding noise, silence) say nothing of a tempo
    level = np.array([onset[s:s + size].mean() for s in starts])
    floor = max(QUIET_ONSETS, 0.01 * level.max(initial=0.0))
    acc = np.zeros(size)
    count = 0
    for s, lv in zip(starts, level):
        if lv < floor:
            continue
        w = onset[s:s + size] * hann
        w = w - w.mean()
        f = np.fft.rfft(w, 2 * size)
        ac = np.fft.irfft(f * np.conj(f))[:size]
        if ac[0] > 1e-12:
            acc += ac / ac[0]
            count += 1
    if not count:
        return 0.0, 0.0
    acc /= count
    lags = np.arange(size, dtype=float)
    bpm = np.where(lags > 0, 60 * HOP_RATE / np.maximum(lags, 1e-9), 0.0)
    prior = np.exp(-0.5 * np.log2(np.maximum(bpm, 1e-9) / PRIOR_BPM) ** 2)
    score = np.where((lags >= lo) & (lags <= min(hi, size - 2)), np.maximum(acc, 0.0) * prior, -1.0)
    best = int(np.argmax(score))
    if score[best] <= 0:
        return 0.0, 0.0
    a, b, c = acc[best - 1], acc[best], acc[best + 1]  # the peak between lags
    denom = a - 2 * b + c
    shift = 0.5 * (a - c) / denom if denom < 0 else 0.0
    lag = best + max(-0.5, min(0.5, shift))
    return 60 * HOP_RATE / lag, float(acc[best])


def track_beats(onset: np.ndarray, bpm: float) -> np.ndarray:
    """The onset-strength indices of the beats (Ellis' dynamic programme at period ``bpm``)."""
    if bpm <= 0 or not len(onset):
        return np.zeros(0, int)
    period = 60 * HOP_RATE / bpm
    sd = onset.std()
    if sd <= 0:
        return np.zeros(0, int)
    o = onset / sd
    g = np.arange(-int(period), int(period) + 1)
    local = np.convolve(o, np.exp(-0.5 * (g * 32.0 / period) ** 2), mode="same")
    back = np.arange(-int(round(2 * period)), -int(round(period / 2)) + 1)
    cost = -TIGHTNESS * np.log(-back / period) ** 2
    n = len(o)
    cum = np.zeros(n)
    link = np.full(n, -1)
    for i in range(n):
        z = i + back
        ok = z >= 0
        if not ok.any():
            cum[i] = local[i]
            continue
        cand = cum[z[ok]] + cost[ok]
        j = int(np.argmax(cand))
        cum[i] = local[i] + max(cand[j], 0.0)
        link[i] = z[ok][j] if cand[j] > 0 else -1
    # the last beat: the last local peak of the cumulative score on an onset (the tail after the last onset carries
    # the score on without one) that reaches half their median
    floor = 0.5 * np.sqrt(np.mean(local ** 2))
    peaks = np.flatnonzero((cum[1:-1] > cum[:-2]) & (cum[1:-1] >= cum[2:])) + 1
    peaks = peaks[local[peaks] >= floor]
    if not len(peaks):
        return np.zeros(0, int)
    peaks = peaks[cum[peaks] >= 0.5 * np.median(cum[peaks])]
    tail = peaks[peaks > peaks[-1] - period]  # of the peaks in the last period, the best (a kick, not the hat after it)
    last = int(tail[np.argmax(cum[tail])])
    beats = [last]
    while link[beats[-1]] >= 0:
        beats.append(int(link[beats[-1]]))
    beats = np.array(beats[::-1])
    # no beats in the silence before the first onsets and after the last ones
    strong = local[beats] >= floor
    if strong.any():
        first, end = np.flatnonzero(strong)[[0, -1]]
        beats = beats[first:end + 1]
    return beats


@dataclass
class Song:
    """A song analysed: its tempo, beats (s from ``start``) and per-hop curves."""

    path: str
    start: float
    seconds: float  # decoded from ``start``
    header_seconds: float  # what the file says it lasts (0: says nothing)
    bpm: float
    pulse: float
    beats: np.ndarray
    onset: np.ndarray  # per hop
    power: dict[str, np.ndarray]  # per hop
    notes: list[str] = field(default_factory=list)  # what the analysis had to do (a truncated file)

    def frames(self, fps: float) -> int:
        """How many frames at ``fps`` the song lasts."""
        return max(1, int(round(self.seconds * fps)))

    def whole_beats(self, fps: float) -> tuple[int, float] | None:
        """(frames, beats): the longest whole number of beats from frame 0 that the song holds, in frames
        (a loop that lands on the beat); None where the song has no tempo."""
        if self.bpm <= 0:
            return None
        beats = math.floor(self.seconds * self.bpm / 60 + 1e-6)
        if beats < 1:
            return None
        return max(1, int(round(beats * 60 / self.bpm * fps))), beats

    def summary(self) -> dict:
        """What settings.json records (a changed song changes it)."""
        return {"path": self.path, "start": self.start, "seconds": round(self.seconds, 4),
                "bpm": round(self.bpm, 3), "beats": len(self.beats)}

    def curves(self, fps: float, n: int, decay: float = 0.5) -> "Curves":
        """The music variables at frames 0 .. n-1 at ``fps`` (frame t at time t/fps)."""
        times = np.arange(n) / fps
        values: dict[str, np.ndarray] = {}
        beat_frames = np.unique(np.round(self.beats * fps).astype(int))
        beat_frames = beat_frames[(beat_frames >= 0) & (beat_frames < n)]
        idx = np.arange(n)
        k = np.searchsorted(beat_frames, idx, side="right")  # beats at or before each frame
        values["beat_n"] = k.astype(float)
        beat = np.zeros(n)
        if len(beat_frames):
            period = fps * 60 / self.bpm if self.bpm > 0 else fps
            last = np.where(k > 0, beat_frames[np.maximum(k - 1, 0)], 0)
            nxt = np.where(k < len(beat_frames), beat_frames[np.minimum(k, len(beat_frames) - 1)], last + period)
            x = (idx - last) / np.maximum(decay * (nxt - last), 1e-9)
            beat = np.where(k > 0, np.clip(1 - x, 0, 1) ** 2, 0.0)
        values["beat"] = beat
        values["bpm"] = np.full(n, self.bpm)
        # per frame: the hops within half a frame of its time
        hop_t = np.arange(len(self.onset)) / HOP_RATE
        lo = np.searchsorted(hop_t, times - 0.5 / fps)
        hi = np.maximum(np.searchsorted(hop_t, times + 0.5 / fps), lo + 1)
        inside = lo < len(hop_t)

        def per_frame(a: np.ndarray, how) -> np.ndarray:
            """Each frame's hops' max or mean (the frames' windows follow one another: ``reduceat`` over their
            starts, a cumulative sum's differences)."""
            out = np.zeros(n)
            ii = np.flatnonzero(inside)
            if not len(a) or not len(ii):
                return out
            a = a.astype(np.float64)
            l, h = lo[ii], np.maximum(np.minimum(hi[ii], len(a)), lo[ii] + 1)
            if how is np.max:
                out[ii] = np.maximum.reduceat(a[:h[-1]], l)
            else:
                cs = np.concatenate([[0.0], np.cumsum(a)])
                out[ii] = (cs[h] - cs[l]) / (h - l)
            if (~inside).any():  # past the song's end: the onsets stop, the bands hold
                out[~inside] = 0.0 if how is np.max else out[ii[-1]]
            return out

        onset = per_frame(self.onset, np.max)
        top = np.percentile(self.onset, 99.5) if len(self.onset) else 0.0
        values["onset"] = np.clip(onset / top, 0, 1) if top > 0 else np.zeros(n)
        sigma = 1.0  # frames: lightly smoothed
        g = np.exp(-0.5 * (np.arange(-3, 4) / sigma) ** 2)
        g /= g.sum()
        for name in ("energy", *BANDS):
            amp = np.sqrt(self.power[name])
            a = per_frame(amp, np.mean)
            a = np.convolve(np.pad(a, 3, mode="edge"), g, mode="valid")
            lo_v, hi_v = np.percentile(a[inside] if inside.any() else a, [1, 99])
            values[name] = np.clip((a - lo_v) / (hi_v - lo_v), 0, 1) if hi_v > lo_v else np.zeros(n)
        return Curves(values, fps, self.bpm, beat_frames)


class Curves:
    """The music variables, one value per frame. ``value(name, t)`` is what a schedule reads at render frame t:
    the frame ``t - offset`` of the song (the frames a fade loop renders before the ones it plays read the song's
    end, which is what comes before frame 0 when it loops: ``wrap``), linear between frames, held past the ends."""

    def __init__(self, values: dict[str, np.ndarray], fps: float, bpm: float, beat_frames: np.ndarray,
                 offset: int = 0, wrap: bool = False):
        self.values, self.fps, self.bpm, self.beat_frames = values, fps, bpm, beat_frames
        self.offset, self.wrap = offset, wrap
        self.n = len(values["beat"])
        self._lists = {k: v.tolist() for k, v in values.items()}

    def shifted(self, offset: int, wrap: bool) -> "Curves":
        return Curves(self.values, self.fps, self.bpm, self.beat_frames, offset, wrap)

    def value(self, name: str, t: float) -> float:
        a = self._lists[name]
        u = t - self.offset
        if self.wrap:
            u %= self.n
        u = min(max(u, 0.0), self.n - 1)
        i = int(u)
        f = u - i
        if f == 0 or i + 1 >= self.n or name == "beat_n":
            return a[i]
        return a[i] + (a[i + 1] - a[i]) * f

    __call__ = value


def analyse(path: str, start: float = 0.0, end: float | None = None) -> Song:
    """The song at ``path`` from ``start`` to ``end`` (s) analysed; :class:`.audio.AudioError` (one line) for a file
    that cannot drive a render: not audio, no sound, silent, under a second. A file that ends before its header
    says (truncated) is analysed as far as it goes, and ``notes`` says so."""
    info = probe_song(path)
    if info.duration and start >= info.duration:
        raise AudioError(f"--start {start:g} s is past the end of {path} ({info.duration:.1f} s)")
    expect = max(0.0, (min(end, info.duration) if end is not None and info.duration else
                       end if end is not None else info.duration) - start)
    if expect > PROGRESS_ABOVE:
        with progress_bar(f"song analysis ({info.codec})", total=int(math.ceil(expect)), unit="second") as update:
            feats = features(path, start, end, progress=lambda s: update(min(int(s), int(math.ceil(expect)))))
            update(int(math.ceil(expect)))
    else:
        feats = features(path, start, end)
    if feats.seconds < MIN_SECONDS:
        raise AudioError(f"{path} holds {feats.seconds:.2f} s of sound{' from --start' if start else ''}: "
                         f"--audio needs at least {MIN_SECONDS:g} s")
    if feats.peak <= SILENT:
        raise AudioError(f"{path} is silent (its loudest sample is {feats.peak:.1e} of full scale): "
                         f"nothing to follow")
    notes = []
    if expect and feats.seconds < expect - 0.5:
        notes.append(f"{path} ends at {start + feats.seconds:.1f} s, not at the {start + expect:.1f} s its header "
                     f"says (a damaged or truncated file): the song is taken as {feats.seconds:.1f} s long")
    onset = onset_envelope(feats.flux)
    bpm, pulse = tempo(onset)
    if pulse < MIN_PULSE:
        bpm = 0.0
    beats = track_beats(onset, bpm) / HOP_RATE if bpm > 0 else np.zeros(0)
    if bpm <= 0:
        notes.append(f"{path}: no steady beat found: beat and beat_n stay 0, bpm is 0")
    return Song(path, start, feats.seconds, info.duration, bpm, pulse, beats, onset, feats.power, notes)




PLOTTED = ("beat", "onset", "energy", "bass", "mid", "treble")
_COLOURS = {"beat": (230, 60, 60), "onset": (240, 160, 40), "energy": (220, 220, 220), "bass": (80, 140, 255),
            "mid": (90, 200, 120), "treble": (200, 120, 230)}


def plot_curves(curves: Curves, path: str, title: str = "", width: int = 1200) -> str:
    """The curves a render reads, one strip each over the song's frames (the beats as ticks), as a PNG (Pillow)."""
    from PIL import Image, ImageDraw

    strip, left, top = 56, 70, 28
    n = curves.n
    img = Image.new("RGB", (width, top + strip * len(PLOTTED) + 24), (18, 18, 22))
    d = ImageDraw.Draw(img)
    d.text((8, 6), title, fill=(235, 235, 235))
    span = width - left - 10
    xs = left + np.arange(n) * span / max(1, n - 1)
    for row, name in enumerate(PLOTTED):
        y0 = top + row * strip
        d.rectangle([left, y0 + 2, left + span, y0 + strip - 4], outline=(60, 60, 70))
        d.text((8, y0 + strip // 2 - 6), name, fill=_COLOURS[name])
        v = curves.values[name]
        if name == "beat":
            for f in curves.beat_frames:
                x = left + f * span / max(1, n - 1)
                d.line([(x, y0 + 2), (x, y0 + strip - 4)], fill=(90, 40, 40))
        ys = y0 + strip - 5 - np.clip(v, 0, 1) * (strip - 9)
        if n > 2 * span:  # one column per pixel: its highest and lowest value
            cols = (np.arange(n) * span / n).astype(int)
            hi = np.full(span + 1, np.inf)
            lo = np.full(span + 1, -np.inf)
            np.minimum.at(hi, cols, ys)
            np.maximum.at(lo, cols, ys)
            for c in np.flatnonzero(np.isfinite(hi)):
                d.line([(left + c, hi[c]), (left + c, lo[c])], fill=_COLOURS[name])
        else:
            d.line(list(zip(xs.tolist(), ys.tolist())), fill=_COLOURS[name], width=2)
    seconds = n / curves.fps
    step = next(s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800) if seconds / s <= 20)
    ybase = top + strip * len(PLOTTED)
    for s in np.arange(0, seconds + 1e-9, step):
        x = left + s * curves.fps * span / max(1, n - 1)
        d.line([(x, ybase), (x, ybase + 4)], fill=(150, 150, 150))
        d.text((x - 6, ybase + 6), f"{s:g}s", fill=(150, 150, 150))
    tmp = tmp_beside(Path(path))  # published whole, as every output
    try:
        img.save(tmp, format="PNG")
    except BaseException:
        unlink_quiet(tmp)
        raise
    publish(tmp, path)
    return path


__all__ = ["BANDS", "Curves", "HOP_RATE", "MEANINGS", "NAMES", "PLOTTED", "Song", "analyse", "features",
           "onset_envelope", "plot_curves", "tempo", "track_beats"]
