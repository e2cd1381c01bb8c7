"""Sinks: where frames leave the renderer (PNG frames, MP4, GIF).

Frames travel through dreamreel as RGB float tensors in [0, 1] of shape (1, 3, H, W),
possibly on a GPU. This module is the only place where they become uint8 (:func:`to_uint8`).

House rules implemented here:

* **Atomic outputs.** Every file is first written under a temporary name in the *same*
  directory (``<name>.tmp-XXXXXXXX<suffix>``) and moved into place with :func:`os.replace`
  only once complete, so a killed render never leaves a truncated output under the final name.
* **Streaming.** Nothing here holds more than one frame (plus ffmpeg's own small buffers) in
  memory: MP4 frames are piped to ffmpeg as they come, GIFs are made in two streamed passes.
* **Resumable frames.** :class:`FrameDir` stores ``frame_000000.png`` ... and can tell how many
  consecutive frames from 0 are complete.

All video work uses the ffmpeg binary bundled with ``imageio-ffmpeg``
(:func:`imageio_ffmpeg.get_ffmpeg_exe`), so no system ffmpeg is needed.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, Union

import cv2
import imageio_ffmpeg
import numpy as np
import torch

__all__ = [
    "to_uint8",
    "write_png_atomic",
    "read_png",
    "FrameDir",
    "Mp4Writer",
    "make_gif",
    "probe_video",
    "gif_info",
    "GIF_DITHERS",
]

PathLike = Union[str, os.PathLike]
Frame = Union[torch.Tensor, np.ndarray]

#: Dithering modes accepted by :func:`make_gif` (names of ffmpeg's ``paletteuse`` filter).
GIF_DITHERS = ("none", "bayer", "floyd_steinberg", "sierra2", "sierra2_4a")

_TMP_MARK = ".tmp-"


# --------------------------------------------------------------------------------------
# conversion
# --------------------------------------------------------------------------------------


def to_uint8(frame: Frame) -> np.ndarray:
    """Convert a frame to an ``H x W x 3`` uint8 RGB numpy array (C-contiguous).

    Accepts a torch tensor of shape (1, 3, H, W) or (3, H, W) with values in [0, 1]
    (any device, any float dtype), or a numpy array of shape (H, W, 3), either float in
    [0, 1] or already uint8 (returned as is, made contiguous). Float values are scaled by
    255, rounded to the nearest integer and clamped to [0, 255]; NaN becomes 0.

    For tensors the scaling and the uint8 cast happen on the tensor's device, so only a
    quarter of the bytes cross to the host.
    """
    if isinstance(frame, torch.Tensor):
        t = frame.detach()
        if t.dim() == 4:
            if t.shape[0] != 1:
                raise ValueError(f"expected a batch of one frame, got shape {tuple(t.shape)}")
            t = t[0]
        if t.dim() != 3 or t.shape[0] != 3:
            raise ValueError(f"expected a (1,3,H,W) or (3,H,W) tensor, got shape {tuple(frame.shape)}")
        if t.dtype == torch.uint8:
            u = t
        else:
            u = torch.nan_to_num(t.float(), nan=0.0).mul(255.0).round_().clamp_(0, 255).to(torch.uint8)
        return np.ascontiguousarray(u.permute(1, 2, 0).cpu().numpy())
    a = np.asarray(frame)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 array, got shape {a.shape}")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    a = np.nan_to_num(a.astype(np.float32, copy=False), nan=0.0)
    return np.ascontiguousarray(np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8))


def _tmp_name(path: Path) -> Path:
    """Create (empty) and return a unique temporary file next to ``path``.

    The name is ``<name>.tmp-XXXXXXXX<suffix>``: it keeps the real suffix at the end so that
    tools choosing a format by extension (ffmpeg, OpenCV) still do the right thing.
    """
    fd, name = tempfile.mkstemp(prefix=path.name + _TMP_MARK, suffix=path.suffix, dir=path.parent)
    os.close(fd)
    return Path(name)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def publish(tmp: PathLike, path: PathLike) -> None:
    """Give a finished temporary file the normal permissions (mkstemp makes it 0600) and rename it."""
    os.chmod(tmp, 0o666 & ~_UMASK)
    os.replace(tmp, path)


def _unlink(path: Path | None) -> None:
    if path is not None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


# --------------------------------------------------------------------------------------
# PNG
# --------------------------------------------------------------------------------------


def write_image_atomic(path: PathLike, frame: Frame) -> Path:
    """Write ``frame`` as an 8-bit RGB image at ``path`` (format by suffix; PNG if none), atomically.

    The image is encoded in memory, written to ``<path>.tmp-XXXXXXXX<suffix>`` in the same
    directory and renamed over ``path`` with :func:`os.replace`. Returns ``Path(path)``.
    """
    path = Path(path)
    ext = path.suffix.lower() or ".png"
    ok, buf = cv2.imencode(ext, cv2.cvtColor(to_uint8(frame), cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError(f"OpenCV could not encode {ext} for {path}")
    tmp = _tmp_name(path)
    try:
        with open(tmp, "wb") as f:
            f.write(buf.tobytes())
        publish(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise
    return path


write_png_atomic = write_image_atomic


def decode_image_file(path: PathLike) -> np.ndarray:
    """Read an image file as an HxWx3 uint8 RGB array (grey and alpha are handled)."""
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"could not decode image {path}")
    if img.dtype == np.uint16:
        img = np.clip(np.rint(img / 257.0), 0, 255).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise ValueError(f"unsupported image dtype {img.dtype} in {path}")
    if img.ndim == 2:
        return np.ascontiguousarray(np.repeat(img[:, :, None], 3, axis=2))
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_png(path: PathLike, device: torch.device | str | None = None) -> torch.Tensor:
    """Read a PNG (or any image OpenCV reads) as a (1, 3, H, W) float32 tensor in [0, 1].

    Grey images are expanded to RGB, an alpha channel is dropped, 16-bit images are
    reduced to 8 bits.
    """
    a = decode_image_file(path)
    t = torch.from_numpy(a).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)
    return t.to(device) if device is not None else t


# --------------------------------------------------------------------------------------
# Frame folders
# --------------------------------------------------------------------------------------


class FrameDir:
    """A folder of numbered PNG frames, ``frame_000000.png``, ``frame_000001.png``, ...

    Frames are written atomically (:func:`write_png_atomic`), so a file with a final name is
    always a complete PNG; interrupted writes leave only ``*.tmp-*`` files, which
    :meth:`count_complete` ignores and :meth:`clean_temp` removes. A render resumes at
    ``count_complete()``.

    The folder is created (with parents) if needed.
    """

    PATTERN = "frame_{:06d}.png"
    _RE = re.compile(r"^frame_(\d{6,})\.png$")

    def __init__(self, path: PathLike):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"FrameDir({str(self.path)!r})"

    def path_of(self, i: int) -> Path:
        """Path of frame ``i`` (whether or not it exists)."""
        if i < 0:
            raise ValueError(f"frame index must be >= 0, got {i}")
        return self.path / self.PATTERN.format(i)

    def write(self, i: int, frame: Frame) -> Path:
        """Write frame ``i`` atomically; returns its path."""
        return write_png_atomic(self.path_of(i), frame)

    def read(self, i: int, device: torch.device | str | None = None) -> torch.Tensor:
        """Read frame ``i`` as a (1, 3, H, W) float tensor in [0, 1]."""
        p = self.path_of(i)
        if not p.exists():
            raise FileNotFoundError(p)
        return read_png(p, device)

    def indices(self) -> set[int]:
        """Indices of all complete frames present (temporary files excluded)."""
        out = set()
        with os.scandir(self.path) as it:
            for entry in it:
                m = self._RE.match(entry.name)
                if m:
                    out.add(int(m.group(1)))
        return out

    def count_complete(self) -> int:
        """Number ``k`` such that frames ``0 .. k-1`` are all present (stops at the first gap)."""
        present = self.indices()
        k = 0
        while k in present:
            k += 1
        return k

    def paths(self, stop: int | None = None) -> list[Path]:
        """Paths of frames ``0 .. stop-1`` (default: the complete run, ``count_complete()``)."""
        n = self.count_complete() if stop is None else stop
        return [self.path_of(i) for i in range(n)]

    def clean_temp(self) -> int:
        """Delete leftover temporary files (``*.tmp-*``) from interrupted writes; returns how many."""
        n = 0
        with os.scandir(self.path) as it:
            for entry in it:
                if _TMP_MARK in entry.name and entry.is_file():
                    _unlink(Path(entry.path))
                    n += 1
        return n

    def __len__(self) -> int:
        return self.count_complete()


# --------------------------------------------------------------------------------------
# ffmpeg helpers
# --------------------------------------------------------------------------------------


def _ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def _run_ffmpeg(args: list[str], frames: Iterable[np.ndarray] | None = None) -> None:
    """Run the bundled ffmpeg with ``args``; optionally stream uint8 frames to its stdin.

    stderr goes to a temporary file (no pipe deadlock) and is included in the error raised
    when ffmpeg fails. If iterating ``frames`` raises, ffmpeg is killed and the exception
    propagates.
    """
    cmd = [_ffmpeg_exe(), "-hide_banner", "-y", "-v", "error", *([] if frames is not None else ["-nostdin"]), *args]
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE if frames is not None else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
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
        if rc != 0:
            err.seek(0)
            msg = err.read().decode(errors="replace").strip()[-3000:]
            raise RuntimeError(f"ffmpeg failed (exit {rc}): {' '.join(cmd)}\n{msg}")


def _rate_str(rate: Fraction) -> str:
    return f"{rate.numerator}/{rate.denominator}"


# --------------------------------------------------------------------------------------
# MP4
# --------------------------------------------------------------------------------------


_X264_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo",
)

#: RGB -> BT.709 limited-range YUV with accurate rounding, and the stream tagged as BT.709
#: (matrix, primaries, transfer) so players and decoders convert back the same way.
_MP4_COLOR_FILTER = (
    "scale=out_color_matrix=bt709:out_range=tv:flags=accurate_rnd+full_chroma_int,"
    "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv"
)


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
            of the two streams). If the file has no audio stream the result is just the video.
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
        self._tmp = _tmp_name(self.path if self.audio_path is None else self.path.with_suffix(".video.mp4"))
        self._gen = imageio_ffmpeg.write_frames(
            str(self._tmp),
            (ew, eh),
            pix_fmt_in="rgb24",
            pix_fmt_out="yuv420p",
            fps=self.fps,
            quality=None,
            codec="libx264",
            macro_block_size=1,
            ffmpeg_log_level="error",
            output_params=[
                "-vf", _MP4_COLOR_FILTER,
                "-crf", str(self.crf), "-preset", self.preset,
                "-movflags", "+faststart", "-f", "mp4",
            ],
        )
        self._gen.send(None)

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
            self._gen.send(self._even(a))
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
            self._gen.close()  # waits for ffmpeg to finish
            self._gen = None
            if tmp_video is None or not tmp_video.exists() or tmp_video.stat().st_size == 0:
                raise RuntimeError(f"ffmpeg produced no output for {self.path}")
            if self.audio_path is None:
                publish(tmp_video, self.path)
            else:
                final_tmp = _tmp_name(self.path)
                _run_ffmpeg([
                    "-i", str(tmp_video), "-i", str(self.audio_path),
                    "-map", "0:v", "-map", "1:a?", "-c:v", "copy", "-c:a", "aac",
                    "-shortest", "-movflags", "+faststart", "-f", "mp4", str(final_tmp),
                ])
                publish(final_tmp, self.path)
                _unlink(tmp_video)
        except BaseException:
            self._closed = True
            self._kill()
            _unlink(tmp_video)
            _unlink(final_tmp)
            raise
        self._closed = True
        return self.path

    def _kill(self) -> None:
        if self._gen is not None:
            gen, self._gen = self._gen, None
            try:
                # A BaseException (not Exception) makes imageio-ffmpeg kill ffmpeg at once
                # instead of waiting for it to flush the encoder.
                gen.throw(_Abort())
            except (_Abort, StopIteration):
                pass
            except Exception:
                pass

    def abort(self) -> None:
        """Stop ffmpeg and delete the temporary file; ``path`` is not created or touched."""
        self._kill()
        _unlink(self._tmp)
        self._closed = True


class _Abort(BaseException):
    """Thrown into imageio-ffmpeg's writer generator to make it kill ffmpeg immediately."""


# --------------------------------------------------------------------------------------
# GIF
# --------------------------------------------------------------------------------------


def _gif_delay_cs(fps: float | None, delay_ms: float | None) -> int:
    if fps is not None and delay_ms is not None:
        raise ValueError("give either fps or delay_ms, not both")
    if delay_ms is None and fps is None:
        delay_ms = 100.0
    if delay_ms is None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        delay_ms = 1000.0 / fps
    if delay_ms <= 0:
        raise ValueError(f"delay_ms must be positive, got {delay_ms}")
    return max(1, int(round(delay_ms / 10.0)))


def _iter_uint8(frames: Iterable[Any]) -> Iterator[np.ndarray]:
    """Yield HxWx3 uint8 arrays from frames or image paths; all must share one size."""
    size = None
    for f in frames:
        a = decode_image_file(f) if isinstance(f, (str, os.PathLike)) else to_uint8(f)
        if size is None:
            size = a.shape
        elif a.shape != size:
            raise ValueError(f"all GIF frames must have the same size: got {a.shape[1]}x{a.shape[0]} after {size[1]}x{size[0]}")
        yield a


def _peek(it: Iterator[np.ndarray]) -> tuple[np.ndarray, Iterator[np.ndarray]]:
    try:
        first = next(it)
    except StopIteration:
        raise ValueError("no frames given to make_gif") from None

    def chain() -> Iterator[np.ndarray]:
        yield first
        yield from it

    return first, chain()


def make_gif(
    frames: Iterable[Frame] | FrameDir | Iterable[PathLike],
    path: PathLike,
    fps: float | None = None,
    delay_ms: float | None = None,
    dither: str = "sierra2_4a",
    max_colors: int = 256,
    width: int | None = None,
    loop: int = 0,
) -> Path:
    """Encode frames into an animated GIF with one optimised palette for the whole clip.

    Uses ffmpeg's ``palettegen=stats_mode=diff`` (pass 1) and ``paletteuse=dither=...``
    (pass 2), both streamed:

    * a :class:`FrameDir`, or a list/tuple of image paths or frames, is read twice and piped
      to ffmpeg as raw RGB each time;
    * any other iterable (e.g. a generator) is consumed once: pass 1 builds the palette and
      at the same time stores the frames in a lossless FFV1 intermediate next to the output,
      which pass 2 reads back. Memory never holds more than one frame.

    Timing: GIF delays are whole centiseconds, so ``delay_ms`` is rounded to the nearest
    10 ms (minimum 10 ms); ``fps`` is turned into the uniform delay ``round(100 / fps)`` cs
    (e.g. 30 fps -> 30 ms, i.e. 33.3 fps). Give ``fps`` or ``delay_ms``, not both; the default
    is 100 ms. Frames are fed to ffmpeg at exactly ``100 / delay_cs`` fps, so every frame gets
    exactly that delay. (Browsers slow down delays under 20 ms.)

    Args:
        frames: frames ((1,3,H,W) tensors / HxWx3 arrays), image paths, or a :class:`FrameDir`
            (its complete run ``0 .. count_complete()-1``). All the same size.
        path: output ``.gif`` (written to a temporary name, then renamed).
        dither: one of :data:`GIF_DITHERS`.
        max_colors: palette size, 2..256.
        width: optional output width (height keeps the aspect ratio; Lanczos).
        loop: ffmpeg semantics: 0 = loop forever (default), N > 0 = repeat N times,
            -1 = play once (no NETSCAPE2.0 block).
    Returns:
        ``Path(path)``.
    """
    if dither not in GIF_DITHERS:
        raise ValueError(f"dither must be one of {', '.join(GIF_DITHERS)}; got {dither!r}")
    if not 2 <= int(max_colors) <= 256:
        raise ValueError(f"max_colors must be in 2..256, got {max_colors}")
    if width is not None and int(width) < 1:
        raise ValueError(f"width must be positive, got {width}")
    if int(loop) < -1:
        raise ValueError(f"loop must be -1 (once), 0 (forever) or a repeat count, got {loop}")
    path = Path(path)
    cs = _gif_delay_cs(fps, delay_ms)
    rate = _rate_str(Fraction(100, cs))
    scale = f"scale={int(width)}:-1:flags=lanczos" if width else ""
    palettegen = f"{scale + ',' if scale else ''}palettegen=max_colors={int(max_colors)}:stats_mode=diff"
    paletteuse = f"paletteuse=dither={dither}:diff_mode=rectangle"

    if isinstance(frames, FrameDir):
        source: Iterable[Any] | None = frames.paths()
        if not source:
            raise ValueError(f"{frames} has no complete frames")
    elif isinstance(frames, (list, tuple)):
        source = frames
    else:
        source = None  # one-shot iterable

    def raw_input(shape: tuple[int, ...]) -> list[str]:
        h, w = shape[:2]
        return ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-framerate", rate, "-i", "-"]

    palette = _tmp_name(path.with_suffix(".palette.png"))
    inter: Path | None = None
    out_tmp = _tmp_name(path)
    try:
        first, it = _peek(_iter_uint8(source if source is not None else frames))
        if source is not None:
            # pass 1: palette from the frames; pass 2: read the frames again
            _run_ffmpeg([*raw_input(first.shape), "-vf", palettegen, "-update", "1", "-frames:v", "1", str(palette)], it)
            second_input = raw_input(first.shape)
            second_frames: Iterable[np.ndarray] | None = _iter_uint8(source)
        else:
            # pass 1: palette + lossless intermediate in one streamed ffmpeg run
            inter = _tmp_name(path.with_suffix(".frames.mkv"))
            _run_ffmpeg([
                *raw_input(first.shape),
                "-filter_complex", f"[0:v]split[a][b];[a]{palettegen}[p]",
                "-map", "[p]", "-update", "1", "-frames:v", "1", str(palette),
                "-map", "[b]", "-c:v", "ffv1", "-pix_fmt", "bgr0", "-r", rate, "-f", "matroska", str(inter),
            ], it)
            second_input = ["-r", rate, "-i", str(inter)]
            second_frames = None
        _run_ffmpeg([
            *second_input, "-i", str(palette),
            "-lavfi", f"[0:v]{scale}[x];[x][1:v]{paletteuse}" if scale else f"[0:v][1:v]{paletteuse}",
            "-loop", str(int(loop)), "-f", "gif", str(out_tmp),
        ], second_frames)
        publish(out_tmp, path)
    except BaseException:
        _unlink(out_tmp)
        raise
    finally:
        _unlink(palette)
        _unlink(inter)
    return path


# --------------------------------------------------------------------------------------
# Reading outputs back
# --------------------------------------------------------------------------------------


def probe_video(path: PathLike) -> dict:
    """Read back a video's properties.

    Returns ``dict(frames, fps, width, height, has_audio, duration)``: ``frames`` is counted by
    decoding (:func:`imageio_ffmpeg.count_frames_and_secs`), ``fps``/size come from the
    stream metadata (:func:`imageio_ffmpeg.read_frames`), ``has_audio`` from ffmpeg's
    stream listing.
    """
    path = str(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(path)
    nframes, secs = imageio_ffmpeg.count_frames_and_secs(path)
    gen = imageio_ffmpeg.read_frames(path)
    try:
        meta = next(gen)
    finally:
        gen.close()
    info = subprocess.run(
        [_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", path],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    ).stderr.decode(errors="replace")
    has_audio = any(ln.lstrip().startswith("Stream #") and "Audio:" in ln for ln in info.splitlines())
    w, h = meta["size"]
    return dict(
        frames=int(nframes),
        fps=float(meta["fps"]),
        width=int(w),
        height=int(h),
        has_audio=has_audio,
        duration=float(meta.get("duration") or secs or 0.0),
    )


def gif_info(path: PathLike) -> dict:
    """Parse a GIF's structure: ``dict(frames, delays_ms, loop, width, height)``.

    ``frames`` counts image descriptors; ``delays_ms[i]`` is the delay of frame ``i`` from its
    Graphic Control Extension (centiseconds x 10; 0 when absent); ``loop`` is the
    NETSCAPE2.0 loop count (0 = forever) or ``None`` when the block is absent (play once).
    Written from the GIF89a specification; raises ``ValueError`` on malformed data.
    """
    data = Path(path).read_bytes()
    if data[:6] not in (b"GIF87a", b"GIF89a"):
        raise ValueError(f"{path} is not a GIF")
    width, height = int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    flags = data[10]
    pos = 13
    if flags & 0x80:
        pos += 3 * (2 << (flags & 0x07))

    def skip_sub_blocks(p: int) -> int:
        while True:
            if p >= len(data):
                raise ValueError("truncated GIF")
            n = data[p]
            p += 1
            if n == 0:
                return p
            p += n

    delays: list[int] = []
    pending_delay = 0
    loop = None
    while True:
        if pos >= len(data):
            raise ValueError("truncated GIF (no trailer)")
        b = data[pos]
        if b == 0x3B:  # trailer
            break
        if b == 0x21:  # extension
            label = data[pos + 1]
            p = pos + 2
            if label == 0xF9 and data[p] >= 4:  # graphic control extension
                pending_delay = int.from_bytes(data[p + 2 : p + 4], "little") * 10
            elif label == 0xFF and data[p] == 11 and data[p + 1 : p + 12] in (b"NETSCAPE2.0", b"ANIMEXTS1.0"):
                q = p + 12
                if data[q] >= 3 and data[q + 1] == 1:
                    loop = int.from_bytes(data[q + 2 : q + 4], "little")
            pos = skip_sub_blocks(p)
        elif b == 0x2C:  # image descriptor
            lflags = data[pos + 9]
            pos += 10
            if lflags & 0x80:
                pos += 3 * (2 << (lflags & 0x07))
            pos += 1  # LZW minimum code size
            pos = skip_sub_blocks(pos)
            delays.append(pending_delay)
            pending_delay = 0
        else:
            raise ValueError(f"unexpected block 0x{b:02x} at byte {pos}")
    return dict(frames=len(delays), delays_ms=delays, loop=loop, width=width, height=height)
