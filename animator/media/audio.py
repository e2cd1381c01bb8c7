"""Songs in: a sound file (or a video's sound) probed, and decoded as a stream by the bundled ffmpeg; the cut of it an
MP4 carries.

Whatever ffmpeg reads (WAV, MP3, FLAC, OGG, M4A, an MP4's sound) is decoded to mono float32 at ``RATE`` Hz and
handed on a block at a time (:func:`blocks`), so an hour-long song costs no more memory than a short one. What is
wrong with a file is one :class:`AudioError` line: not there, not audio, no sound track, silent, under a second.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..errors import UserError, require_file
from .atomic import tmp_beside, unlink_quiet
from .ffmpeg import FfmpegError, read_ffmpeg, run_ffmpeg
from .mp4 import mp4_intermediates

RATE = 22050  # Hz: what the analysis hears (up to 11 kHz: the treble band's top)
BLOCK = 2 * RATE  # samples handed on at a time (2 s)
MIN_SECONDS = 1.0


class AudioError(UserError):
    """A song that cannot drive a render, in one line."""


@dataclass(frozen=True)
class SongInfo:
    path: str
    duration: float  # s, as the file's header says (0 when it says nothing)
    codec: str
    rate: int  # the file's own sample rate
    channels: str


def _why_not(path: str, stderr: str) -> str:
    if "matches no streams" in stderr:
        return f"{path} has no sound (no audio stream): give a song, or a video with sound, to --audio"
    if "Invalid data found" in stderr or "could not find codec" in stderr.lower() or "Invalid argument" in stderr:
        return f"{path} is not audio ffmpeg can read (WAV, MP3, FLAC, OGG, M4A, a video with sound)"
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    return f"{path}: ffmpeg cannot read its sound ({lines[-1][:200] if lines else 'no message'})"


def probe_song(path: str) -> SongInfo:
    """What the file's header says of its first audio stream; :class:`AudioError` when it has none or is not media."""
    require_file(path, kind="a song")
    if os.path.getsize(path) == 0:
        raise AudioError(f"{path} is an empty file (0 bytes), not audio")
    try:
        log = run_ffmpeg(["-i", path, "-map", "0:a:0", "-t", "0.01", "-f", "null", "-"], log="info")
    except FfmpegError as e:
        raise AudioError(_why_not(path, e.stderr)) from None
    m = re.search(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)", log)
    duration = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3]) if m else 0.0
    a = re.search(r"Stream #\S+.*?Audio:\s*([^,\s]+)[^,]*,\s*(\d+)\s*Hz,\s*([^,]+)", log)
    return SongInfo(path, duration, a[1] if a else "?", int(a[2]) if a else 0, a[3].strip() if a else "?")


def blocks(path: str, start: float = 0.0, end: float | None = None) -> Iterator[np.ndarray]:
    """The song from ``start`` to ``end`` (s; None: its end), mono float32 at :data:`RATE` Hz, :data:`BLOCK` samples
    at a time (the last block shorter). A file ffmpeg stops reading part way (truncated) gives what it decoded."""
    args = [*(["-ss", f"{start:.6f}"] if start else []), "-i", path,
            *(["-t", f"{end - start:.6f}"] if end is not None else []),
            "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(RATE), "-f", "f32le", "-"]
    rest, got = b"", 0
    try:
        for data in read_ffmpeg(args, chunk=BLOCK * 4):
            data = rest + data
            whole = len(data) // 4 * 4
            rest = data[whole:]
            if whole:
                got += whole
                yield np.frombuffer(data[:whole], dtype="<f4").astype(np.float32)
    except FfmpegError as e:
        if not got:
            raise AudioError(_why_not(path, e.stderr)) from None
        # a damaged file: ffmpeg gave up part way; what it decoded is kept (the caller says how much)


def song_cut(path: str, start: float, seconds: float, beside: str) -> str:
    """The song from ``start`` for ``seconds`` as a temporary .m4a beside the MP4 ``beside`` (the name the MP4's
    temporaries use, so a killed render's is cleaned up by the next): what the MP4 carries from its frame 0."""
    out = str(tmp_beside(mp4_intermediates(beside)[2]))
    try:
        run_ffmpeg([*(["-ss", f"{start:.6f}"] if start else []), "-i", path, "-t", f"{seconds:.6f}",
                    "-map", "0:a:0", "-vn", "-c:a", "aac", "-b:a", "192k", out])
    except FfmpegError as e:
        unlink_quiet(out)
        raise AudioError(_why_not(path, e.stderr)) from None
    except BaseException:
        unlink_quiet(out)
        raise
    return out


__all__ = ["AudioError", "BLOCK", "MIN_SECONDS", "RATE", "SongInfo", "blocks", "probe_song", "song_cut"]
