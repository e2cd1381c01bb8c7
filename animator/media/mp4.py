"""MP4 output: frames streamed into H.264 by the bundled ffmpeg, with optional audio muxed in."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from .atomic import PathLike, publish, tmp_beside, unlink_quiet
from .ffmpeg import FfmpegPipe, count_video_packets, run_ffmpeg
from .images import Frame, to_uint8

_X264_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo",
)

#: RGB -> BT.709 limited-range YUV with accurate rounding, and the stream tagged as BT.709
#: (matrix, primaries, transfer) so players and decoders convert back the same way.
_MP4_COLOR_FILTER = (
    "scale=out_color_matrix=bt709:out_range=tv:flags=accurate_rnd+full_chroma_int,"
    "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv"
)


def mp4_intermediates(path: PathLike) -> list[Path]:
    """The names whose temporaries (``<name>.tmp-XXXXXXXX<suffix>``) are made for the MP4 ``path``:
    the MP4 itself, with audio the video-only stream (:class:`Mp4Writer`), and the audio track cut
    from a clip for it (:func:`.clip.trimmed_audio`)."""
    path = Path(path)
    return [path, path.with_suffix(".video.mp4"), path.with_suffix(".audio.m4a")]


class Mp4Writer:
    """Stream frames into an H.264 MP4 (yuv420p, ``+faststart``) with the bundled ffmpeg.

    Usage::

        with Mp4Writer("out.mp4", fps=24) as w:
            for frame in frames:
                w.write(frame)

    Args:
        path: output file. Written as ``<name>.tmp-XXXXXXXX.mp4`` next to it and renamed on a
            clean :meth:`close` / ``__exit__``; on an exception inside the ``with`` block (or
            :meth:`abort`) the temporary file is deleted and ``path`` is left untouched.
        fps: frames per second (int, float or :class:`fractions.Fraction`; passed to ffmpeg
            as an exact rational).
        crf: x264 constant rate factor (0 = lossless, 18 ≈ visually lossless, 23 default).
        preset: x264 preset (``ultrafast`` ... ``veryslow``).
        audio_path: optional media file whose first audio track is muxed in (AAC). The video is
            encoded first, then a second ffmpeg call copies the video stream and adds the audio
            with ``-map 0:v -map 1:a? -c:a aac -shortest`` (so the result ends with the shorter
            of the two streams). Where the audio ends a little before the last frame (a clip's
            audio cut to ``frames / fps`` at 29.97 or 23.976 fps does) that would drop the last
            frame: the video's packets are counted, and if any is missing the audio is padded with
            silence (``apad``) instead, so every frame is kept. If the file has no audio stream the
            result is just the video.
        odd: yuv420p needs even width and height. ``"pad"`` (default) adds one row/column by
            replicating the last one; ``"crop"`` drops the last row/column instead.

    The frame size is fixed by the first frame; later frames must have the same size.
    Colour: RGB is converted with the BT.709 matrix (limited range) and tagged as BT.709.
    """

    def __init__(
        self,
        path: PathLike,
        fps: float | Fraction,
        crf: int = 18,
        preset: str = "medium",
        audio_path: PathLike | None = None,
        odd: str = "pad",
    ):
        if odd not in ("pad", "crop"):
            raise ValueError(f"odd must be 'pad' or 'crop', got {odd!r}")
        if not (isinstance(fps, (int, float, Fraction)) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps!r}")
        if preset not in _X264_PRESETS:
            raise ValueError(f"preset must be one of {', '.join(_X264_PRESETS)}; got {preset!r}")
        if not 0 <= int(crf) <= 51:
            raise ValueError(f"crf must be in 0..51, got {crf}")
        if audio_path is not None and not Path(audio_path).is_file():
            raise FileNotFoundError(f"audio source not found: {audio_path}")
        self.path = Path(path)
        self.fps = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1_000_000)
        self.crf = int(crf)
        self.preset = preset
        self.audio_path = Path(audio_path) if audio_path is not None else None
        self.odd = odd
        self.frames_written = 0
        self.size: tuple[int, int] | None = None  # (width, height) as encoded
        self._in_size: tuple[int, int] | None = None  # (width, height) as given
        self._gen = None
        self._tmp: Path | None = None
        self._closed = False

    # -- context manager ------------------------------------------------------------
    def __enter__(self) -> "Mp4Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    @property
    def closed(self) -> bool:
        """True once closed or aborted (an exception inside :meth:`write` aborts the writer)."""
        return self._closed

    # -- writing --------------------------------------------------------------------
    def _even(self, a: np.ndarray) -> np.ndarray:
        h, w = a.shape[:2]
        if h % 2 == 0 and w % 2 == 0:
            return a
        if self.odd == "crop":
            return np.ascontiguousarray(a[: h - h % 2, : w - w % 2])
        return np.pad(a, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")

    def _start(self, w: int, h: int) -> None:
        if self.odd == "crop":
            ew, eh = w - w % 2, h - h % 2
            if ew == 0 or eh == 0:
                raise ValueError(f"frame {w}x{h} is too small to crop to an even size")
        else:
            ew, eh = w + w % 2, h + h % 2
        self._in_size, self.size = (w, h), (ew, eh)
        self._tmp = tmp_beside(mp4_intermediates(self.path)[0 if self.audio_path is None else 1])
        # (the command imageio-ffmpeg's write_frames made, whose exit status it did not check)
        self._gen = FfmpegPipe([
            "-y", "-f", "rawvideo", "-vcodec", "rawvideo", "-s", f"{ew}x{eh}", "-pix_fmt", "rgb24",
            "-r", str(self.fps), "-i", "-", "-an", "-vcodec", "libx264", "-pix_fmt", "yuv420p", "-v", "error",
            "-vf", _MP4_COLOR_FILTER, "-crf", str(self.crf), "-preset", self.preset,
            "-movflags", "+faststart", "-f", "mp4", str(self._tmp),
        ])

    def write(self, frame: Frame) -> None:
        """Append one frame ((1,3,H,W) tensor in [0,1], or an HxWx3 array)."""
        if self._closed:
            raise RuntimeError("Mp4Writer is closed")
        a = to_uint8(frame)
        h, w = a.shape[:2]
        if self._gen is not None and (w, h) != self._in_size:
            raise ValueError(f"frame size {w}x{h} differs from the first frame's {self._in_size[0]}x{self._in_size[1]}")
        try:
            if self._gen is None:
                self._start(w, h)
            self._gen.write(self._even(a))
        except BaseException:
            self.abort()
            raise
        self.frames_written += 1

    # -- finishing ------------------------------------------------------------------
    def close(self) -> Path:
        """Finish encoding, mux audio if requested, and move the file into place.

        Raises ``ValueError`` if no frame was written (nothing is created then).
        """
        if self._closed:
            return self.path
        if self._gen is None:
            self._closed = True
            raise ValueError(f"no frames were written; {self.path} not created")
        tmp_video = self._tmp
        final_tmp: Path | None = None
        try:
            gen, self._gen = self._gen, None
            gen.close()  # waits for ffmpeg to finish; FfmpegError if it failed
            if tmp_video is None or not tmp_video.exists() or tmp_video.stat().st_size == 0:
                raise RuntimeError(f"ffmpeg produced no output for {self.path}")
            if self.audio_path is None:
                publish(tmp_video, self.path)
            else:
                final_tmp = tmp_beside(self.path)
                self._mux(tmp_video, final_tmp)
                if count_video_packets(final_tmp) < self.frames_written:  # the audio is the shorter
                    self._mux(tmp_video, final_tmp, pad=True)
                publish(final_tmp, self.path)
                unlink_quiet(tmp_video)
        except BaseException:
            self._closed = True
            self._kill()
            unlink_quiet(tmp_video)
            unlink_quiet(final_tmp)
            raise
        self._closed = True
        return self.path

    def _mux(self, video: Path, out: Path, pad: bool = False) -> None:
        """``video`` (copied) with the audio (AAC) as ``out``; ``pad``: silence after the audio's end."""
        run_ffmpeg([
            "-i", str(video), "-i", str(self.audio_path),
            "-map", "0:v", "-map", "1:a?", "-c:v", "copy", "-c:a", "aac", *(["-af", "apad"] if pad else []),
            "-shortest", "-movflags", "+faststart", "-f", "mp4", str(out),
        ])

    def _kill(self) -> None:
        if self._gen is not None:
            gen, self._gen = self._gen, None
            gen.kill()

    def abort(self) -> None:
        """Stop ffmpeg and delete the temporary file; ``path`` is not created or touched."""
        self._kill()
        unlink_quiet(self._tmp)
        self._closed = True
