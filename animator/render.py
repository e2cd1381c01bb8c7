"""What every animation render shares: device, start picture, backbone, outputs, the scheduler run.

Each command (zoom, recursive, progression, ...) builds its mode and settings, then calls
:func:`run` -- the one place that starts the frame scheduler with a progress bar.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from ..engine import BackboneError, pick_device
from ..engine.backbones import Backbone
from .errors import UserError
from .images import start_image
from .media import check_writable
from .progress import console, progress_bar
from .scheduler import FrameScheduler, Sinks
from .settings import settings_path_for, write_settings
from .still import load_backbone


@dataclass
class Setup:
    device: torch.device
    start: torch.Tensor
    start_desc: dict
    net: Backbone

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.start.shape[-2:]
        return w, h


def setup(image: str, size: int, seed: int, model: str, weights: str | None, device: str) -> Setup:
    """Device, start picture, backbone -- each failure as one UserError line."""
    if size < 1:
        raise UserError(f"--size must be positive (got {size})")
    try:
        dev = pick_device(device)
    except ValueError as e:
        raise UserError(str(e)) from None
    start, desc = start_image(image, size, seed=seed)
    net = load_backbone(model, weights, dev)
    h, w = start.shape[-2:]
    if min(h, w) < net.spec.min_size:
        raise UserError(f"image too small for {net.name}: {w}x{h} px, the short side needs at least "
                        f"{net.spec.min_size} px (raise --size)")
    return Setup(dev, start, desc, net)


def check_params(params) -> None:
    """DreamParams.validate() as a one-line UserError."""
    try:
        params.validate()
    except ValueError as e:
        raise UserError(str(e)) from None


def objective_or_exit(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except BackboneError as e:
        raise UserError(str(e)) from None


def check_outputs(mp4: str | None, gif: str | None) -> None:
    if mp4:
        check_writable(mp4, exts=(".mp4",))
    if gif:
        check_writable(gif, exts=(".gif",))


def weights_info(net: Backbone) -> dict:
    return {"path": os.path.abspath(net.weights_path), "sha256": net.weights_sha256()}


def run(mode, sinks: Sinks, settings: dict, label: str, *, cadence: int = 1, color_coherence: str = "none",
        seed: int = 0, resume: bool = False, settings_beside: str | None = None) -> dict:
    """Drive ``mode`` through the frame scheduler with a progress bar; write settings; report."""
    settings = {**settings, "outputs": {"frames": os.path.abspath(sinks.frames_dir),
                                        "mp4": sinks.mp4 and os.path.abspath(sinks.mp4),
                                        "gif": sinks.gif and os.path.abspath(sinks.gif)}}
    bar: list = []
    sched = FrameScheduler(mode, sinks, settings, cadence=cadence, color_coherence=color_coherence, seed=seed,
                           resume=resume, progress=lambda d, _n, s: bar[0](d, s))
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
