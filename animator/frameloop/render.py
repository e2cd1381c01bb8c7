"""The render runner: the one place where an animation's frame scheduler, progress bar, resume,
sinks and settings are wired. Each command resolves its plan, builds its mode and calls :func:`run`.

Resources run out here as one line (a :class:`UserError`) and keep every finished frame: a full
disk, or memory on the device (with the options that make a frame smaller). Ctrl-C reaches the
command line as :class:`.errors.RenderInterrupted` (frames kept, MP4/GIF of them written).
"""
from __future__ import annotations

import errno
import os
from typing import Callable

import torch

from ..request.configs import Outputs
from ..errors import UserError
from ..media import FrameDir, check_writable
from ..media.atomic import TMP_MARK, check_folder_writable, clean_temporaries
from ..media.gif import gif_intermediates
from ..media.mp4 import mp4_intermediates
from ..progress import console, progress_bar
from .loop import Loop
from .scheduler import FrameScheduler, Sinks
from .settings import settings_path_for, write_settings

#: per command, what makes a frame need less memory
SMALLER = {"zoom": "a smaller --size (it did not fit even in 128 px gradient tiles)", "video-dream": "a smaller --width",
           "video-style": "a smaller --width"}


def check_outputs(outputs: Outputs, frames_dir: str | None = None) -> None:
    """Fail before any rendering when an output, or the frames folder (``frames_dir`` where :func:`run`
    is given one), cannot be written."""
    if outputs.mp4:
        check_writable(outputs.mp4, exts=(".mp4",))
    if outputs.gif:
        check_writable(outputs.gif, exts=(".gif",))
    if frames_dir or outputs.frames_dir or outputs.main:
        check_folder_writable(frames_dir or outputs.frames_folder(), "the frames folder")


def disk_full(e: BaseException) -> bool:
    """A write failed for want of space (ours: ENOSPC/EDQUOT; ffmpeg's: its message)."""
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(e, (OSError, RuntimeError)) and "No space left on device" in str(e)


def out_of_memory(e: BaseException) -> bool:
    """The device (CUDA, MPS) or the host ran out of memory for a tensor."""
    if isinstance(e, torch.cuda.OutOfMemoryError):
        return True
    text = str(e)
    return isinstance(e, RuntimeError) and ("out of memory" in text or "DefaultCPUAllocator: can't allocate" in text)


TILES = (512, 256, 128)  # gradient tiles tried, in turn, when a dream runs out of memory


def smaller_tile(tile: int) -> int | None:
    """The gradient tile to try after running out of memory with ``tile`` (0: none), or None: none left."""
    return next((t for t in TILES if tile == 0 or t < tile), None)


def fitting(step: Callable[[int], object], tile: int, what: str, say: Callable[[str], None]):
    """``step(tile)``, again with smaller gradient tiles (a line says so) while it runs out of memory; returns
    ``(its result, the tile that fit)``. What does not fit even in the smallest tiles raises as it did."""
    while True:
        try:
            return step(tile), tile
        except Exception as e:
            smaller = smaller_tile(tile) if out_of_memory(e) else None
            if smaller is None:
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            say(f"{what} did not fit in memory: dreaming in {smaller} px gradient tiles from here on "
                f"(--tile {smaller})")
            tile = smaller


def _frames(n: int) -> str:
    return f"{n} frame{'s' * (n != 1)}"


def _written(e: OSError, fallback: str) -> str:
    """The file a failed write was for (its final name, not the temporary one)."""
    filename = getattr(e, "filename", None)
    cmd = getattr(e, "cmd", None)  # an ffmpeg run names its output last
    if filename is None and cmd:
        filename = cmd[-1]
    name = os.fspath(filename) if isinstance(filename, (str, os.PathLike)) else fallback
    folder, base = os.path.split(name)
    return os.path.join(folder, base.split(TMP_MARK)[0])


def run(mode, outputs: Outputs, settings: dict, label: str, frame_width: int, *, cadence: int = 1,
        color_coherence: str = "none",
        seed: int = 0, frames_dir: str | None = None, audio: str | None = None, crf: int = 18,
        gif_dither: str = "sierra2_4a", overlay: Callable | None = None, settings_beside: str | None = None,
        loop: Loop | None = None) -> dict:
    """Drive ``mode`` through the frame scheduler with a progress bar; write settings; report.

    ``loop``: how the MP4 and GIF loop (recorded in the settings: a fade loop's frames differ)."""
    gif_width, gif_every, gif_fps = outputs.gif_plan(frame_width, outputs.fps)
    sinks = Sinks(frames_dir=frames_dir or outputs.frames_folder(), mp4=outputs.mp4, gif=outputs.gif, fps=outputs.fps,
                  crf=crf, gif_dither=gif_dither, gif_width=gif_width, gif_every=gif_every, gif_fps=gif_fps,
                  audio=audio, overlay=overlay)
    if loop is not None:
        settings = {**settings, "loop": {"kind": loop.kind, "frames": loop.frames, "lead": loop.first_played()}}
    settings = {**settings, "outputs": {"frames": os.path.abspath(sinks.frames_dir),
                                        "mp4": sinks.mp4 and os.path.abspath(sinks.mp4),
                                        "gif": sinks.gif and os.path.abspath(sinks.gif)}}
    bar: list = []
    sched = FrameScheduler(mode, sinks, settings, cadence=cadence, color_coherence=color_coherence, seed=seed,
                           resume=outputs.resume, progress=lambda d, _n, s: bar[0](d, s), loop=loop,
                           warn=lambda m: console.print(f"[yellow]warning:[/] {m}", highlight=False, soft_wrap=True))
    first = sched.prepare()  # takes the frames folder: from here on no other render writes these outputs
    try:
        # what a killed render of these outputs left behind (its own frame temporaries: prepare())
        clean_temporaries([*(mp4_intermediates(sinks.mp4) if sinks.mp4 else ()),
                           *(gif_intermediates(sinks.gif) if sinks.gif else ()),
                           *([settings_path_for(settings_beside)] if settings_beside else ())], keep=[audio])
        with progress_bar(label, total=mode.n_frames, unit="frame", first=first, eta=getattr(mode, "eta", None)) \
                as update:
            bar.append(update)
            result = sched.run()
    except Exception as e:
        if not (disk_full(e) or out_of_memory(e)):
            raise
        kept = FrameDir(sinks.frames_dir).count_complete()
        if disk_full(e):
            raise UserError(f"disk full while writing {_written(e, sinks.frames_dir)}; {_frames(kept)} kept in "
                            f"{sinks.frames_dir}; free space and run again with --resume") from None
        device = getattr(mode, "device", None)
        where = f" on {device}" if device is not None else ""
        smaller = SMALLER.get(settings.get("command"), "a smaller --size")
        raise UserError(f"out of memory{where} at frame {kept} of {label} ({_frames(kept)} kept in "
                        f"{sinks.frames_dir}): try {smaller}") from None
    finally:
        sched.close()
    if settings_beside:
        write_settings(settings_path_for(settings_beside), settings)
    n = mode.n_frames
    per = result["seconds"] / max(1, n - result["resumed_from"])
    outs = ", ".join(filter(None, (sinks.mp4, sinks.gif))) or sinks.frames_dir
    looped = f"; plays {result['played']} frames in a loop" if loop is not None else ""
    console.print(f"[green]wrote[/] {outs}  ({n} frames, {result['stepped']} dreamed, {per:.2f} s/frame; "
                  f"frames in {sinks.frames_dir}{looped})")
    return result
