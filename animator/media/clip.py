"""Video clips as a frame source: streamed decoding (imageio-ffmpeg), trimming, resizing, audio.

Frames are decoded one at a time and held only while a mode needs them (the current and the
previous few), so memory does not grow with the clip's length.
"""
from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass

import imageio_ffmpeg
import numpy as np
import torch

from ..errors import SourceEnded, UserError, require_file
from .atomic import tmp_beside, unlink_quiet
from .ffmpeg import FfmpegError, fps_mode, probe_video, run_ffmpeg
from .mp4 import mp4_intermediates


@dataclass(frozen=True)
class ClipInfo:
    path: str
    fps: float
    width: int  # of the frames we deliver (after --width)
    height: int
    frames: int  # frames we deliver (after --start/--end/--max-frames)
    source_size: tuple[int, int]
    start: float
    has_audio: bool
    # frames decoded and dropped after seeking to ``start`` (a range of a clip split over workers
    # starts at a frame index: a time seek could land a frame off)
    skip: int = 0


def _even(n: float) -> int:
    return max(2, int(round(n / 2)) * 2)


def open_clip(path: str, width: int | None = None, start: float = 0.0, end: float | None = None,
              max_frames: int | None = None) -> ClipInfo:
    """Probe ``path`` and resolve the frames a render will use. Bad input -> one-line UserError."""
    require_file(path, kind="a video")
    if os.path.getsize(path) == 0:
        raise UserError(f"{path} is an empty file (0 bytes), not a video")
    try:
        info = probe_video(path)
    except FfmpegError as e:
        raise UserError(_why_not_a_video(path, e.stderr)) from None
    except Exception:
        raise UserError(f"not a video (or a corrupt one): {path}") from None
    if info["frames"] <= 0 or info["width"] <= 0:
        raise UserError(f"the clip has no frames: {path}")
    total = info["frames"]
    # frames per second: the stream's; a stream that gives none (a GIF with zero delays) is
    # timed by its length
    fps = info["fps"] or (total / info["duration"] if info["duration"] > 0 else 24.0)
    announced = int(round(info["duration"] * fps))
    if announced > total * 1.05 + 2:
        # a truncated file: its header promises more than can be decoded. Plan for the promised
        # frames; the reader stops where decoding stops (SourceEnded) and the outputs keep what was made.
        total = announced
    if start < 0 or (end is not None and end <= start):
        raise UserError(f"bad --start/--end: {start} .. {end}")
    first = int(round(start * fps))
    last = total if end is None else min(total, int(round(end * fps)))
    n = last - first
    if max_frames is not None:
        if max_frames < 1:
            raise UserError(f"--max-frames must be >= 1 (got {max_frames})")
        n = min(n, max_frames)
    if n <= 0:
        raise UserError(f"the clip has no frames between {start:g} s and {end if end is not None else 'its end'} "
                        f"({total} frames at {fps:g} fps): {path}")
    sw, sh = info["width"], info["height"]
    w = _even(width) if width else sw
    h = _even(sh * w / sw) if width else sh
    return ClipInfo(path, fps, w, h, n, (sw, sh), first / fps, info["has_audio"])


def _why_not_a_video(path: str, log: str) -> str:
    """In words, why ffmpeg could not count a file's video frames (from its log)."""
    streams = [ln for ln in log.splitlines() if ln.lstrip().startswith("Stream #") and "->" not in ln]
    if any("Video:" in ln for ln in streams):
        return f"the clip has no frames that decode: {path}"
    if any("Audio:" in ln for ln in streams):
        return f"{path} has no video stream (only audio)"
    if streams:
        return f"{path} has no video stream"
    if "moov atom not found" in log:
        with open(path, "rb") as f:
            if f.read(12)[4:8] == b"ftyp":  # an MP4/MOV whose index was never written: cut short
                return (f"{path} is truncated or was never finished: an MP4 without its index (the "
                        f"'moov atom'), so no frame can be found")
    if "Input #" in log:
        return f"{path} has no video stream"
    return f"not a video (or a corrupt one): {path}"


class ClipReader:
    """Frames of a clip in order, as (1, 3, H, W) tensors; keeps the last few for flow and warping.

    ``frame(t)`` accepts any t that is not older than what is kept (modes go forward in time;
    a resume skips ahead). A clip that ends early (truncated, corrupt) stops with one UserError
    naming the frame where decoding stopped -- the frames before it are already rendered.
    """

    def __init__(self, info: ClipInfo, device: torch.device | str = "cpu", keep: int = 4):
        self.info, self.device, self.keep = info, torch.device(device), keep
        self._gen = None
        self._next = 0  # index of the next frame the decoder yields
        self._cache: dict[int, torch.Tensor] = {}

    def _open(self):
        input_params = ["-ss", f"{self.info.start:.6f}"] if self.info.start > 0 else []
        # every decoded frame once, as the probe counted them: a variable frame rate (a phone clip,
        # a GIF's own delays) is neither padded with copies nor thinned to a constant rate
        output_params = fps_mode()
        filters = [f"select=gte(n\\,{self.info.skip})"] if self.info.skip else []
        if (self.info.width, self.info.height) != self.info.source_size:
            filters.append(f"scale={self.info.width}:{self.info.height}:flags=area")
        if filters:
            output_params += ["-vf", ",".join(filters)]
        self._gen = imageio_ffmpeg.read_frames(self.info.path, input_params=input_params,
                                               output_params=output_params)
        quiet = logging.getLogger("imageio_ffmpeg")  # it warns that we asked for a scaled size: we did
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            next(self._gen)  # metadata
        finally:
            quiet.setLevel(level)

    def frame(self, t: int) -> torch.Tensor:
        if not 0 <= t < self.info.frames:
            raise IndexError(t)
        if t in self._cache:
            return self._cache[t]
        if t < self._next:
            raise RuntimeError(f"frame {t} is no longer kept (next is {self._next})")
        if self._gen is None:
            self._open()
        w, h = self.info.width, self.info.height
        while self._next <= t:
            try:
                raw = next(self._gen)
            except (StopIteration, RuntimeError, OSError):
                raise SourceEnded(f"the clip ends early: decoding stopped at frame {self._next} of "
                                  f"{self.info.frames} ({self.info.path}); the {self._next} frames before it "
                                  f"were rendered and written") from None
            arr = np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3)
            x = torch.from_numpy(arr.copy()).permute(2, 0, 1)[None].float().div_(255.0).contiguous().to(self.device)
            self._cache[self._next] = x
            self._next += 1
            for old in [k for k in self._cache if k < self._next - self.keep]:
                del self._cache[old]
        return self._cache[t]

    def __iter__(self):
        for t in range(self.info.frames):
            yield self.frame(t)

    def close(self) -> None:
        if self._gen is not None:
            self._gen.close()
            self._gen = None


def trimmed_audio(info: ClipInfo, beside: str | None = None) -> str | None:
    """The clip's audio for the frames used, as a temporary .m4a (None when the clip has none).

    ``beside``: the MP4 it is for; the file is then made next to it (``OUT.audio.m4a.tmp-*.m4a``),
    so that a render killed before deleting it is cleaned up by the next one (:func:`.atomic.clean_temporaries`).
    """
    if not info.has_audio:
        return None
    if beside is None:
        fd, path = tempfile.mkstemp(prefix="dreamreel-audio-", suffix=".m4a")
        os.close(fd)
    else:
        path = str(tmp_beside(mp4_intermediates(beside)[2]))
    try:
        run_ffmpeg(["-ss", f"{info.start:.6f}", "-i", info.path, "-t", f"{info.frames / info.fps:.6f}",
                    "-vn", "-c:a", "aac", path])
    except FfmpegError:
        unlink_quiet(path)
        return None
    except BaseException:
        unlink_quiet(path)
        raise
    return path
