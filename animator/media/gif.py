"""Animated GIFs: one palette for the whole clip (ffmpeg palettegen / paletteuse), streamed in two passes."""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import PathLike, publish, tmp_beside, unlink_quiet
from .ffmpeg import run_ffmpeg
from .frames import FrameDir
from .images import Frame, decode_image, to_uint8

#: Dithering modes accepted by :func:`make_gif` (names of ffmpeg's ``paletteuse`` filter).
GIF_DITHERS = ("none", "bayer", "floyd_steinberg", "sierra2", "sierra2_4a")


def gif_intermediates(path: PathLike) -> list[Path]:
    """The names whose temporaries :func:`make_gif` of ``path`` makes: the GIF, its palette, the
    lossless intermediate of a one-shot frame source."""
    path = Path(path)
    return [path, path.with_suffix(".palette.png"), path.with_suffix(".frames.mkv")]


def _rate_str(rate: Fraction) -> str:
    return f"{rate.numerator}/{rate.denominator}"


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
        a = decode_image(f) if isinstance(f, (str, os.PathLike)) else to_uint8(f)
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

    _, palette_name, inter_name = gif_intermediates(path)
    palette = tmp_beside(palette_name)
    inter: Path | None = None
    out_tmp = tmp_beside(path)
    try:
        first, it = _peek(_iter_uint8(source if source is not None else frames))
        if source is not None:
            # pass 1: palette from the frames; pass 2: read the frames again
            run_ffmpeg([*raw_input(first.shape), "-vf", palettegen, "-update", "1", "-frames:v", "1", str(palette)], it)
            second_input = raw_input(first.shape)
            second_frames: Iterable[np.ndarray] | None = _iter_uint8(source)
        else:
            # pass 1: palette + lossless intermediate in one streamed ffmpeg run
            inter = tmp_beside(inter_name)
            run_ffmpeg([
                *raw_input(first.shape),
                "-filter_complex", f"[0:v]split[a][b];[a]{palettegen}[p]",
                "-map", "[p]", "-update", "1", "-frames:v", "1", str(palette),
                "-map", "[b]", "-c:v", "ffv1", "-pix_fmt", "bgr0", "-r", rate, "-f", "matroska", str(inter),
            ], it)
            second_input = ["-r", rate, "-i", str(inter)]
            second_frames = None
        run_ffmpeg([
            *second_input, "-i", str(palette),
            "-lavfi", f"[0:v]{scale}[x];[x][1:v]{paletteuse}" if scale else f"[0:v][1:v]{paletteuse}",
            "-loop", str(int(loop)), "-f", "gif", str(out_tmp),
        ], second_frames)
        publish(out_tmp, path)
    except BaseException:
        unlink_quiet(out_tmp)
        raise
    finally:
        unlink_quiet(palette)
        unlink_quiet(inter)
    return path
