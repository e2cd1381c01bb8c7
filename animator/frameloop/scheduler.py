"""The frame scheduler: the one loop over frames that every mode uses.

A *mode* says where each frame comes from (its ``source``) and what is done to it (its
``step``); the scheduler owns everything else: the frame index, cadence (which frames are
stepped, how the ones between are made), seeds, colour coherence, progress, resume and the
sinks. Nothing else in dreamreel loops over frames.

Frames are fed back quantised to 8 bits, exactly as they are stored in the PNG frames, so a
render resumed from its frames on disk continues bit for bit as if it had never stopped.

The PNG frames and the MP4 are written beside the render, by a thread (:mod:`.writer`): the loop
hands each finished frame over, 8-bit, and goes on with the next one; the thread's errors (a
full disk) are raised in the loop.

Stopping: Ctrl-C (KeyboardInterrupt) drops the frame in flight and the finished frames not yet
written, closes the MP4 and writes the GIF with the frames on disk, and raises :class:`.errors.RenderInterrupted`; a second
Ctrl-C skips what is left of that. A killed render (SIGKILL) leaves only whole frames (they are
published by rename) and temporaries that the next render of the same outputs deletes. A step
whose result holds NaN or inf (one check per stepped frame) is stepped again at half the step
size where the mode can (``step_smaller``), else the frame is its undreamed source; either way
with a warning, never a black frame.
"""
from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import torch

from .color import ColorMatcher
from .loop import Loop, ease, way_back
from ..errors import RenderInterrupted, SourceEnded, UserError
from ..media import FrameDir, Mp4Writer, make_gif
from ..media.images import to_uint8
from ..media.atomic import check_folder_writable
from .writer import BackgroundWriter, PngWriters


@dataclass(frozen=True)
class Source:
    """Where a stepped frame starts: its picture and, for clips, what the flow says about it."""

    image: torch.Tensor  # (1, 3, H, W) in [0, 1]: what the step starts from
    warped: torch.Tensor | None = None  # the previous output carried to this frame along the flow
    mask: torch.Tensor | None = None  # (1, 1, H, W): 1 where that flow holds, 0 where occluded


class Mode(Protocol):
    """What a mode gives the scheduler. ``t`` is the frame index, frames are (1, 3, H, W) in [0, 1]."""

    n_frames: int

    def first_source(self) -> Source:
        """The source of frame 0."""

    def source(self, t: int, prev: torch.Tensor, prev_t: int) -> Source:
        """The source of stepped frame ``t``, given the last stepped frame ``prev`` (at ``prev_t``)."""

    def step(self, t: int, source: Source, seed: int) -> torch.Tensor:
        """Frame ``t`` made from its source (the dream / stylisation)."""

    def tween(self, t: int, a: torch.Tensor, ta: int, b: torch.Tensor | None, tb: int | None) -> torch.Tensor:
        """An in-between frame ``ta < t < tb`` from the stepped frames around it (``b`` may be None at the end)."""

    # optional: def step_smaller(self, t, source, seed) -> torch.Tensor
    #     the step again at half the step size, after the step gave NaN or inf
    # optional: def eta(self, done, elapsed) -> float | None
    #     the seconds the render has left, where the frames' rate so far does not tell (the progress bar's ETA)


class CrossFade:
    """The usual in-between frame: the stepped frames around it, cross-faded by time."""

    def tween(self, t: int, a: torch.Tensor, ta: int, b: torch.Tensor | None, tb: int | None) -> torch.Tensor:
        return a if b is None else a + ((t - ta) / (tb - ta)) * (b - a)


class FromClip(CrossFade):
    """Modes whose every frame starts from the clip's own frame t (``self.clip``: a ClipReader): the keyframes
    and network methods, which keep their own state."""

    def first_source(self) -> Source:
        return Source(self.clip.frame(0))

    def source(self, t: int, prev: torch.Tensor, prev_t: int) -> Source:
        return Source(self.clip.frame(t))


class HalfStep:
    """Modes whose ``step`` takes ``lr_scale``: after NaN/inf the step is tried again at half the size."""

    def step_smaller(self, t: int, source: Source, seed: int) -> torch.Tensor:
        return self.step(t, source, seed, lr_scale=0.5)


class Feedback(CrossFade):
    """Modes whose every stepped frame starts from the last one (recursive stages, progressions)."""

    start: torch.Tensor

    def first_source(self) -> Source:
        return Source(self.start)

    def source(self, t: int, prev: torch.Tensor, prev_t: int) -> Source:
        return Source(prev)


@dataclass(frozen=True)
class Sinks:
    frames_dir: str  # PNG frames (always kept: they are what a resume continues from)
    mp4: str | None = None
    gif: str | None = None
    fps: float = 24.0
    crf: int = 18
    gif_fps: float | None = None
    gif_dither: str = "sierra2_4a"
    gif_width: int | None = None
    audio: str | None = None  # a file whose audio track goes into the MP4
    gif_every: int = 1  # one GIF frame per this many frames
    # drawn on the MP4/GIF frames only (captions); the PNG frames stay raw: they are fed back
    overlay: Callable[[int, torch.Tensor], torch.Tensor] | None = None


def frame_seed(seed: int, t: int) -> int:
    """Each frame's own seed: independent of how the render got there (resume-safe)."""
    return (seed * 1_000_003 + t * 7919) % (2**31 - 1)


def quantize(frame: torch.Tensor) -> torch.Tensor:
    """What an 8-bit PNG holds: values on the 1/255 grid."""
    return frame.clamp(0, 1).mul(255).round_().div_(255)


def finite(frame: torch.Tensor) -> bool:
    """No NaN or inf in ``frame`` (one host sync)."""
    return bool(torch.isfinite(frame).all())


#: the progress status while the outputs of an interrupted render are finished
STOPPING = "stopping: MP4/GIF of the frames so far (Ctrl-C: skip)"


def keyframes(n: int, cadence: int) -> list[int]:
    """Frames that are stepped: 0, K, 2K, ... below n."""
    return list(range(0, n, max(1, cadence)))


def _comparable(settings: dict) -> dict:
    """The part of settings.json that defines the frames (not where they are written, nor versions, nor where an
    input was found this time: ``provenance``, e.g. a network trained then, read from the cache on resuming)."""
    return {k: v for k, v in settings.items() if k not in ("versions", "outputs", "provenance")}


class FrameScheduler:
    def __init__(self, mode: Mode, sinks: Sinks, settings: dict, *, cadence: int = 1,
                 color_coherence: str = "none", seed: int = 0, resume: bool = False,
                 progress: Callable[[int, int, str], None] | None = None,
                 warn: Callable[[str], None] | None = None, loop: Loop | None = None,
                 png_threads: int | None = None):
        if cadence < 1:
            raise UserError(f"--cadence must be >= 1 (got {cadence})")
        self.loop = loop
        # PNG frames written by this many threads: one on the CPU (its cores dream; a 512 px PNG takes ~15 ms),
        # up to 8 when the frames come from a GPU (a 1080p PNG takes ~70 ms: one thread would cap it at ~15 fps)
        on = torch.device(getattr(mode, "device", "cpu"))
        self.png_threads = png_threads or (1 if on.type == "cpu" else min(8, os.cpu_count() or 1))
        self._pngs: PngWriters | None = None
        self.first_played = loop.first_played() if loop else 0  # frames before it only prime a fade loop
        self._head: dict[int, torch.Tensor] = {}  # a fade loop's first frames (8-bit), until the tail needs them
        self._back: int | None = None  # a return loop's frames back, once counted
        self.mode = mode
        self.sinks = sinks
        self.settings = settings
        self.cadence = cadence
        self.color_mode = color_coherence
        self.seed = seed
        self.resume = resume
        self.progress = progress
        self.warn = warn or (lambda message: warnings.warn(message, RuntimeWarning, stacklevel=2))
        check_folder_writable(sinks.frames_dir, "the frames folder")
        self.frames = FrameDir(sinks.frames_dir)
        self.stepped: list[int] = []  # frames that went through mode.step in this run
        self.not_finite: list[int] = []  # stepped frames whose step gave NaN/inf
        self.seconds = 0.0
        self._start: int | None = None
        self._lock = None

    # ------------------------------------------------------------------ setup / resume

    def prepare(self) -> int:
        """Create the frames folder, check or write settings.json; return the first frame to render.

        Called by :meth:`run`; call it earlier to refuse a bad resume before any progress is shown.
        """
        if self._start is not None:
            return self._start
        self._lock = self.frames.lock()
        try:
            self._start = self._check_folder()
        except BaseException:
            self.close()
            raise
        return self._start

    def close(self) -> None:
        """Release the frames folder (:meth:`run` does it when it ends)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _check_folder(self) -> int:
        from .settings import write_settings

        folder = Path(self.sinks.frames_dir)
        folder.mkdir(parents=True, exist_ok=True)
        self.frames.clean_temp()
        settings_file = folder / "settings.json"
        done = self.frames.count_complete()
        if self.resume:
            if not settings_file.exists():
                if done:
                    raise UserError(f"cannot resume: {settings_file} is missing")
                write_settings(str(settings_file), self.settings)
                return 0
            old = json.loads(settings_file.read_text())
            a, b = _comparable(old), _comparable(json.loads(json.dumps(self.settings)))
            if a != b:
                diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
                raise UserError(f"cannot resume: settings differ from {settings_file} in: {', '.join(diff)}")
            return min(done, self.mode.n_frames)
        # a new render: old frames in this folder would mix with the new ones
        for p in folder.glob("frame_*.png"):
            p.unlink()
        write_settings(str(settings_file), self.settings)
        return 0

    # ------------------------------------------------------------------ the loop

    def run(self) -> dict:
        n = self.mode.n_frames
        start = self.prepare()
        t0 = time.perf_counter()
        ended: SourceEnded | None = None
        stopped = False
        written: list[str] = []
        writer = None
        sink: BackgroundWriter | None = None
        try:
            try:
                writer = self._mp4_writer()
                for i in range(self.first_played, start):  # the MP4 is streamed: frames on disk go in first
                    if writer:
                        writer.write(self._decorated(i, self.frames.read(i)))
                if start < n:
                    self._pngs = PngWriters(self.frames.write, self.png_threads)
                    sink = BackgroundWriter(lambda t, png, video, mp4=writer: self._write(t, png, video, mp4))
                    try:
                        self._render(start, sink)
                    except SourceEnded as e:  # a truncated clip: finish the outputs with what was made
                        ended = e
                    sink.close()  # the frames still waiting are written; the writer's error, if any, is raised
                    self._pngs.finish()  # (the PNGs still compressing, too)
                    if ended is not None:
                        n = self.frames.count_complete()
            except KeyboardInterrupt:
                # Ctrl-C: the frames not yet on disk are dropped; the outputs get the frames finished so far
                if sink is not None:
                    sink.abort()
                if self._pngs is not None:
                    self._pngs.settle()  # the PNGs already handed over are whole frames: kept
                stopped, n = True, min(n, self.frames.count_complete())
                if self.progress:
                    self.progress(n, self.mode.n_frames, STOPPING)
            try:
                if writer and n > self.first_played:
                    self._finish_mp4(writer, n)
                    writer = None
                    written.append(self.sinks.mp4)
                self.seconds = time.perf_counter() - t0
                if self.sinks.gif and n > self.first_played:
                    self._make_gif(n)
                    written.append(self.sinks.gif)
            except KeyboardInterrupt:  # (again) while finishing the outputs: skip what is left
                stopped = True
        except BaseException as e:
            if sink is not None and not isinstance(e, KeyboardInterrupt):
                sink.drain()  # the loop failed (memory, say): every finished frame is kept
            raise
        finally:
            if sink is not None:
                sink.abort()  # (before the MP4 writer is aborted: the thread may be using it)
            if self._pngs is not None:
                self._pngs.settle()
            if writer:
                writer.abort()
            self.close()
        if stopped:
            raise RenderInterrupted(n, self.mode.n_frames, self.sinks.frames_dir, written)
        if ended is not None:
            raise ended
        return {"frames": n, "resumed_from": start, "stepped": len(self.stepped), "seconds": self.seconds,
                "not_finite": list(self.not_finite), "played": len(self._playlist(n))}

    def _mp4_writer(self) -> Mp4Writer | None:
        s = self.sinks
        return Mp4Writer(s.mp4, fps=s.fps, crf=s.crf, audio_path=s.audio) if s.mp4 else None

    def _playlist(self, n: int) -> list[tuple[int, int, float]]:
        """What the MP4 and GIF play of frames ``0 .. n-1``: a loop's order once the render is whole."""
        if self.loop is None:
            return [(t, t, 0.0) for t in range(n)]
        if n < self.mode.n_frames:  # a stopped loop render: its frames so far, in order
            return [(t, t, 0.0) for t in range(self.first_played, n)]
        if self.loop.kind == "return" and self._back is None:
            self._back = way_back(self.frames, n)
        return self.loop.playlist(n, self._back or 0)

    def _played(self, item: tuple[int, int, float]) -> torch.Tensor:
        t, u, a = item
        frame = self.frames.read(t)
        if a:
            frame = quantize(frame + a * (self.frames.read(u) - frame))
        return self._decorated(t if a < 0.5 else u, frame)

    def _finish_mp4(self, writer: Mp4Writer, n: int) -> None:
        """Close the MP4 with what it plays of frames ``0 .. n-1``: those on disk but not yet in it
        (a Ctrl-C between the PNG and the MP4) go in first, then a loop's way back; a writer stopped
        by Ctrl-C is replaced by a new one."""
        if writer.closed:
            writer = self._mp4_writer()
        try:
            for item in self._playlist(n)[writer.frames_written:]:
                writer.write(self._played(item))
            writer.close()
        except BaseException:
            writer.abort()
            raise

    def _make_gif(self, n: int) -> None:
        gif_fps = self.sinks.gif_fps or min(self.sinks.fps, 50.0)
        every = max(1, self.sinks.gif_every)
        items = self._playlist(n)[::every]
        if self.sinks.overlay is None and all(a == 0 for _, _, a in items):
            gif_frames = [self.frames.path_of(t) for t, _, _ in items]
        else:
            gif_frames = (self._played(item) for item in items)
        make_gif(gif_frames, self.sinks.gif, fps=gif_fps, dither=self.sinks.gif_dither, width=self.sinks.gif_width)

    def _decorated(self, t: int, frame: torch.Tensor) -> torch.Tensor:
        return frame if self.sinks.overlay is None else self.sinks.overlay(t, frame)

    def _emit(self, t: int, frame: torch.Tensor, sink: BackgroundWriter) -> None:
        """Frame ``t`` to the writer thread: made 8-bit here (once, for the PNG and the MP4), so the
        thread holds its own copy on the host whatever the loop does next with ``frame``."""
        png = to_uint8(frame)
        video = png if self.sinks.overlay is None else to_uint8(self.sinks.overlay(t, frame))
        if self.loop is not None and self.loop.kind == "fade" and 1 <= self.first_played - t <= self.loop.frames:
            self._head[t] = torch.from_numpy(png)  # (the writer thread only reads it)
        sink.put(t, png, video)
        if self.progress:
            self.progress(t + 1, self.mode.n_frames, "")

    def _write(self, t: int, png: np.ndarray, video: np.ndarray, writer: Mp4Writer | None) -> None:
        """(In the writer thread.) The PNG frame, then the MP4."""
        self._pngs.put(t, png)
        if writer and t >= self.first_played:
            writer.write(video)

    def _stepped_frame(self, t: int, source: Source) -> torch.Tensor:
        seed = frame_seed(self.seed, t)
        out = self.mode.step(t, source, seed)
        if not finite(out):  # one check per frame, after the step's loop (no syncs inside it)
            out = self._not_finite(t, source, seed)
        if self._matcher is not None:
            out = self._matcher(out)
        self.stepped.append(t)
        return self._faded(t, quantize(out))

    def _faded(self, t: int, frame: torch.Tensor) -> torch.Tensor:
        """A fade loop's tail: frame ``t`` cross-faded toward frame ``t - period`` (eased; all the way at the last)."""
        n = self.mode.n_frames
        if self.loop is None or self.loop.kind != "fade" or t < n - self.loop.frames:
            return frame
        k = t - (n - self.loop.frames)
        u = self.first_played - self.loop.frames + k
        head = self._head.pop(u, None)
        head = self.frames.read(u) if head is None else head.permute(2, 0, 1)[None].float().div(255).contiguous()
        return quantize(frame + ease((k + 1) / self.loop.frames) * (head.to(frame.device) - frame))

    def _not_finite(self, t: int, source: Source, seed: int) -> torch.Tensor:
        """Frame ``t``'s step gave NaN/inf: step it again smaller, else keep its source; warn."""
        self.not_finite.append(t)
        smaller = getattr(self.mode, "step_smaller", None)
        if smaller is not None:
            out = smaller(t, source, seed)
            if finite(out):
                self.warn(f"frame {t}: the step gave NaN/inf values; stepped again at half the step size")
                return out
        again = " (twice, the second time at half the step size)" if smaller is not None else ""
        self.warn(f"frame {t}: the step gave NaN/inf values{again}; frame {t} is kept as its start picture "
                  "(not dreamed or stylised)")
        return source.image

    def _render(self, start: int, sink: BackgroundWriter) -> None:
        n, k = self.mode.n_frames, self.cadence
        keys = keyframes(n, k)
        self._matcher = None
        if start == 0:
            frame0 = self._stepped_frame(0, self.mode.first_source())
            self._emit(0, frame0, sink)
            prev, prev_t = frame0, 0
        else:
            frame0 = self.frames.read(0).to(self._device())
            prev_t = max(key for key in keys if key < start)
            prev = self.frames.read(prev_t).to(frame0.device)
        if self.color_mode != "none":
            self._matcher = ColorMatcher(frame0, self.color_mode)
        for key in keys:
            if key <= prev_t:
                continue
            cur = self._stepped_frame(key, self.mode.source(key, prev, prev_t))
            for t in range(max(prev_t + 1, start), key):
                self._emit(t, self._faded(t, quantize(self.mode.tween(t, prev, prev_t, cur, key))), sink)
            if key >= start:
                self._emit(key, cur, sink)
            prev, prev_t = cur, key
        for t in range(max(prev_t + 1, start), n):  # after the last stepped frame
            self._emit(t, self._faded(t, quantize(self.mode.tween(t, prev, prev_t, None, None))), sink)

    def _device(self) -> torch.device:
        return getattr(self.mode, "device", torch.device("cpu"))

