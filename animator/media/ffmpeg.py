"""The one ffmpeg runner (the binary bundled with imageio-ffmpeg, so no system ffmpeg is needed) and video probing."""
from __future__ import annotations

import functools
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable

import imageio_ffmpeg
import numpy as np

from .atomic import PathLike


class FfmpegError(RuntimeError):
    """ffmpeg exited with an error. The message is one line; ``cmd`` and ``stderr`` keep the details."""

    def __init__(self, rc: int, cmd: list[str], stderr: str):
        lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
        detail = " | ".join(lines[-3:])[-500:] or "no message"
        super().__init__(f"ffmpeg failed (exit {rc}): {detail}")
        self.rc, self.cmd, self.stderr = rc, cmd, stderr


#: ffmpeg in its own process group (as imageio-ffmpeg starts its readers and writers): the terminal's
#: Ctrl-C reaches dreamreel only, which stops (or finishes) its ffmpeg itself.
_OWN_GROUP = {"process_group": 0} if os.name == "posix" else {}


def ffmpeg_exe() -> str:
    """Path of the bundled ffmpeg binary."""
    return imageio_ffmpeg.get_ffmpeg_exe()


@functools.lru_cache(maxsize=1)
def ffmpeg_version() -> tuple[int, int]:
    """(major, minor) of the ffmpeg in use ("4.2.2-static", "n9.0.2-17-g2a571b6068-..."); a build without a
    release number (a nightly "N-...") counts as new."""
    m = re.match(r"n?(\d+)\.(\d+)", imageio_ffmpeg.get_ffmpeg_version())
    return (int(m[1]), int(m[2])) if m else (99, 0)


def fps_mode(mode: str = "passthrough") -> list[str]:
    """ffmpeg's frame timing option: ``passthrough`` gives every decoded frame once, neither duplicated nor
    dropped. ``-fps_mode`` from ffmpeg 5.1, ``-vsync`` before it (imageio-ffmpeg 0.5 and older bundle 4.2)."""
    return ["-fps_mode" if ffmpeg_version() >= (5, 1) else "-vsync", mode]


def run_ffmpeg(args: list[str], frames: Iterable[np.ndarray] | None = None, *, log: str = "error") -> str:
    """Run the bundled ffmpeg with ``args``; optionally stream uint8 frames to its stdin. Returns its stderr.

    ``log`` is ffmpeg's ``-v`` level. stderr goes to a temporary file (no pipe deadlock); a failure
    raises :class:`FfmpegError`. If iterating ``frames`` raises (or Ctrl-C comes), ffmpeg is killed
    and the exception propagates.
    """
    cmd = [ffmpeg_exe(), "-hide_banner", "-y", "-v", log, *([] if frames is not None else ["-nostdin"]), *args]
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE if frames is not None else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            **_OWN_GROUP,
        )
        try:
            if frames is not None:
                assert p.stdin is not None
                try:
                    for a in frames:
                        p.stdin.write(memoryview(a).cast("B"))
                except BrokenPipeError:
                    pass  # ffmpeg died; its error is reported below
                finally:
                    try:
                        p.stdin.close()
                    except BrokenPipeError:
                        pass
            rc = p.wait()
        except BaseException:
            p.kill()
            p.wait()
            raise
        err.seek(0)
        text = err.read().decode(errors="replace")
    if rc != 0:
        raise FfmpegError(rc, cmd, text)
    return text


def read_ffmpeg(args: list[str], chunk: int = 1 << 16, *, log: str = "error"):
    """Run the bundled ffmpeg with ``args`` (its output ``-`` is its stdout) and yield what it writes, ``chunk``
    bytes at a time (the last piece may be shorter): a pull of any length in bounded memory. stderr goes to a
    temporary file; a failure raises :class:`FfmpegError` after the last piece. Closing the generator early (or an
    exception, Ctrl-C) kills ffmpeg."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", log, *args]
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, **_OWN_GROUP)
        try:
            while True:
                data = p.stdout.read(chunk)
                if not data:
                    break
                yield data
            rc = p.wait()
        except BaseException:  # (GeneratorExit too: the reader stopped early)
            p.kill()
            p.wait()
            raise
        finally:
            p.stdout.close()
        err.seek(0)
        text = err.read().decode(errors="replace")
    if rc != 0:
        raise FfmpegError(rc, cmd, text)


class FfmpegPipe:
    """ffmpeg fed frame by frame through its stdin (push, where :func:`run_ffmpeg` pulls from an iterable).

    ``args`` follow the executable. stderr goes to a temporary file; :meth:`close` waits for ffmpeg and
    raises :class:`FfmpegError` if it failed (a full disk when it writes its trailer, say), so a
    broken file is never taken for a finished one. :meth:`kill` stops it at once.
    """

    def __init__(self, args: list[str]):
        self.cmd = [ffmpeg_exe(), *args]
        self._err = tempfile.TemporaryFile()
        try:
            self._p = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._err,
                                       **_OWN_GROUP)
        except BaseException:
            self._err.close()
            raise

    def write(self, data) -> None:
        try:
            self._p.stdin.write(memoryview(data).cast("B"))
        except BrokenPipeError:  # ffmpeg is gone: say why
            self.close()
            raise FfmpegError(self._p.returncode or -1, self.cmd, self._stderr()) from None

    def _stderr(self) -> str:
        self._err.seek(0)
        return self._err.read().decode(errors="replace")

    def close(self) -> None:
        """Wait for ffmpeg to finish; FfmpegError if it failed."""
        try:
            try:
                self._p.stdin.close()
            except BrokenPipeError:
                pass
            rc = self._p.wait()
        except BaseException:
            self.kill()
            raise
        if rc != 0:
            text = self._stderr()
            self._err.close()
            raise FfmpegError(rc, self.cmd, text)
        self._err.close()

    def kill(self) -> None:
        if self._p.poll() is None:
            self._p.kill()
        self._p.wait()
        try:
            self._p.stdin.close()
        except OSError:
            pass
        self._err.close()


def _secs(stamp: str) -> float:
    """``HH:MM:SS.ss`` (or ``MM:SS.ss``, ``SS.ss``) -> seconds."""
    secs = 0.0
    for part in stamp.split(":"):
        secs = 60 * secs + float(part)
    return secs


def _frames_and_secs(log: str) -> tuple[int, float]:
    """Frame count and time from the last ``frame=`` progress line of an ffmpeg run."""
    for line in reversed(log.splitlines()):
        if line.startswith("frame="):
            nframes, secs = None, None
            i = line.find("frame=")
            nframes = int(line[i:].split("=", 1)[-1].lstrip().split(" ", 1)[0].strip())
            i = line.find("time=")
            if i >= 0:
                secs = _secs(line[i:].split("=", 1)[-1].lstrip().split(" ", 1)[0].strip())
            return nframes, secs
    raise RuntimeError("could not get the number of frames")


def count_video_packets(path: PathLike) -> int:
    """Frames of the first video stream, counted from its packets (no decoding: fast)."""
    log = run_ffmpeg(["-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"], log="info")
    return _frames_and_secs(log)[0]


def probe_video(path: PathLike) -> dict:
    """Read back a video's properties.

    Returns ``dict(frames, fps, width, height, has_audio, duration)``: ``frames`` is counted by
    decoding the first video stream, ``has_audio`` comes from the same run's stream listing,
    ``fps``/size/duration from the stream metadata (:func:`imageio_ffmpeg.read_frames`).
    """
    path = str(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(path)
    log = run_ffmpeg(["-i", path, "-map", "0:v:0", "-vf", "null", "-f", "null", "-"], log="info")
    nframes, secs = _frames_and_secs(log)
    gen = imageio_ffmpeg.read_frames(path)
    quiet = logging.getLogger("imageio_ffmpeg")  # it warns when a rotated clip's frames are turned: we want that
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        meta = next(gen)
    finally:
        quiet.setLevel(level)
        gen.close()
    has_audio = any(ln.lstrip().startswith("Stream #") and "Audio:" in ln for ln in log.splitlines())
    w, h = meta["size"]
    return dict(
        frames=int(nframes),
        fps=float(meta["fps"]),
        width=int(w),
        height=int(h),
        has_audio=has_audio,
        duration=float(meta.get("duration") or secs or 0.0),
    )
