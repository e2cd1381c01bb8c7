"""The render runner: the one place where an animation's frame scheduler, progress bar, resume,
sinks and settings are wired. Each command resolves its plan, builds its mode and calls :func:`run`.
"""
from __future__ import annotations

import os
from typing import Callable

from .configs import Outputs
from .media import check_writable
from .progress import console, progress_bar
from .scheduler import FrameScheduler, Sinks
from .settings import settings_path_for, write_settings


def check_outputs(outputs: Outputs) -> None:
    """Fail before any rendering when an output cannot be written."""
    if outputs.mp4:
        check_writable(outputs.mp4, exts=(".mp4",))
    if outputs.gif:
        check_writable(outputs.gif, exts=(".gif",))


def run(mode, outputs: Outputs, settings: dict, label: str, frame_width: int, *, cadence: int = 1,
        color_coherence: str = "none",
        seed: int = 0, frames_dir: str | None = None, audio: str | None = None, crf: int = 18,
        gif_dither: str = "sierra2_4a", overlay: Callable | None = None, settings_beside: str | None = None) -> dict:
    """Drive ``mode`` through the frame scheduler with a progress bar; write settings; report."""
    gif_width, gif_every, gif_fps = outputs.gif_plan(frame_width, outputs.fps)
    sinks = Sinks(frames_dir=frames_dir or outputs.frames_folder(), mp4=outputs.mp4, gif=outputs.gif, fps=outputs.fps,
                  crf=crf, gif_dither=gif_dither, gif_width=gif_width, gif_every=gif_every, gif_fps=gif_fps,
                  audio=audio, overlay=overlay)
    settings = {**settings, "outputs": {"frames": os.path.abspath(sinks.frames_dir),
                                        "mp4": sinks.mp4 and os.path.abspath(sinks.mp4),
                                        "gif": sinks.gif and os.path.abspath(sinks.gif)}}
    bar: list = []
    sched = FrameScheduler(mode, sinks, settings, cadence=cadence, color_coherence=color_coherence, seed=seed,
                           resume=outputs.resume, progress=lambda d, _n, s: bar[0](d, s))
    first = sched.prepare()
    with progress_bar(label, total=mode.n_frames, unit="frame", first=first) as update:
        bar.append(update)
        result = sched.run()
    if settings_beside:
        write_settings(settings_path_for(settings_beside), settings)
    n = mode.n_frames
    per = result["seconds"] / max(1, n - result["resumed_from"])
    outs = ", ".join(filter(None, (sinks.mp4, sinks.gif))) or sinks.frames_dir
    console.print(f"[green]wrote[/] {outs}  ({n} frames, {result['stepped']} dreamed, {per:.2f} s/frame; "
                  f"frames in {sinks.frames_dir})")
    return result
