"""Video modes: dream (and stylise) every frame of a clip without flicker.

The dream carries over: frame t starts from source frame t plus the previous frame's
hallucination (dream - source), warped along the optical flow from t back to t-1 and kept
only where the flow is consistent (occlusions start fresh); a few dream steps refine it.
``blend`` mode is the simple alternative without flow: the previous dream cross-faded into
the new source frame.
"""
from __future__ import annotations

import torch

from ..engine import DreamParams, dream
from ..engine.backbones import Backbone
from ..engine.objectives import Objective
from .clip import ClipReader


class VideoDreamMode:
    def __init__(self, net: Backbone, objective: Objective, clip: ClipReader, params: DreamParams,
                 carry: str = "flow", blend: float = 0.5, flow_method: str = "dis", first_params: DreamParams | None = None):
        self.net, self.objective, self.clip, self.params = net, objective, clip, params
        self.first_params = first_params or params
        self.carry, self.blend, self.flow_method = carry, blend, flow_method
        self.n_frames = clip.info.frames
        self.device = net.device

    def first_source(self) -> torch.Tensor:
        return self.clip.frame(0)

    def _carried(self, t: int, prev: torch.Tensor, prev_t: int) -> torch.Tensor:
        """Source frame t plus what was dreamed into frame prev_t, moved to where it is at t."""
        from ..engine.flow import flow_pair, warp

        src, prev_src = self.clip.frame(t), self.clip.frame(prev_t)
        if self.carry == "none":
            return src
        if self.carry == "blend":
            return ((1 - self.blend) * src + self.blend * prev).clamp(0, 1)
        flow_t_to_prev, _, mask = flow_pair(src, prev_src, method=self.flow_method)
        hallucination = warp(prev - prev_src, flow_t_to_prev)
        return (src + mask * hallucination).clamp(0, 1)

    def source(self, t: int, prev: torch.Tensor, prev_t: int) -> torch.Tensor:
        return self._carried(t, prev, prev_t)

    def step(self, t: int, source: torch.Tensor, seed: int) -> torch.Tensor:
        base = self.first_params if t == 0 else self.params
        return dream(self.net, source, self.objective, DreamParams(**{**base.as_dict(), "seed": seed}))

    def tween(self, t, a, ta, b, tb) -> torch.Tensor:
        """Between dreamed frames: the nearer dreamed frame's hallucination carried to t."""
        if b is not None and (tb - t) < (t - ta):
            return self._carried(t, b, tb)
        return self._carried(t, a, ta)


def render_video_dream(clip_path: str, output: str, *, gif: str | None = None, every: int = 1,
                       gif_width: int | None = None,
                       width: int | None = None, start: float = 0.0, end: float | None = None,
                       max_frames: int | None = None, layers: str | None = None, channels: str | None = None,
                       klass: str | None = None, guide: str | None = None, similarity: str = "dot",
                       model: str = "efficientnet_lite0", weights: str | None = None,
                       params: DreamParams = DreamParams(octaves=2, steps=6, lr=0.012),
                       refine_steps: int = 2, carry: str = "flow", blend: float = 0.5, flow: str = "dis",
                       cadence: int = 1, frames_dir: str | None = None, seed: int = 0, device: str = "auto",
                       resume: bool = False) -> dict:
    """Dream every frame of a clip; MP4 at the clip's fps with its audio, GIF on request."""
    import os

    from ..engine import pick_device
    from .clip import open_clip, trimmed_audio
    from .errors import UserError
    from .render import check_outputs, check_params, objective_or_exit, run, weights_info
    from .scheduler import Sinks, default_frames_dir
    from .still import build_objective, load_backbone

    if not output.lower().endswith(".mp4"):
        raise UserError(f"output {output} must end in .mp4")
    if carry not in ("flow", "blend", "none"):
        raise UserError(f"unknown --carry {carry!r}; use flow, blend or none")
    if flow not in ("dis", "farneback", "raft"):
        raise UserError(f"unknown --flow {flow!r}; use dis, farneback or raft")
    check_outputs(output, gif)
    check_params(params)
    info = open_clip(clip_path, width=width, start=start, end=end, max_frames=max_frames)
    try:
        dev = pick_device(device)
    except ValueError as e:
        raise UserError(str(e)) from None
    net = load_backbone(model, weights, dev)
    if min(info.width, info.height) < net.spec.min_size:
        raise UserError(f"frames {info.width}x{info.height} are too small for {net.name} (raise --width)")
    reader = ClipReader(info, device=dev)
    obj = objective_or_exit(build_objective, net, layers, channels, klass, guide=guide, similarity=similarity,
                            original=None)
    # carried frames only need a few refining steps; without carry each frame is a full, independent dream
    later = params if carry == "none" else DreamParams(**{**params.as_dict(), "steps": refine_steps, "octaves": 1})
    mode = VideoDreamMode(net, obj, reader, later, carry=carry, blend=blend, flow_method=flow, first_params=params)
    audio = trimmed_audio(info)
    settings = {"command": "video-dream", "clip": os.path.abspath(clip_path), "width": info.width,
                "height": info.height, "fps": info.fps, "start": start, "end": end, "max_frames": max_frames,
                "frames": info.frames, "model": net.name, "weights": weights_info(net), "objective": obj.description,
                "first_frame": params.as_dict(), "refine_steps": refine_steps, "carry": carry, "blend": blend,
                "flow": flow, "cadence": cadence, "seed": seed}
    sinks = Sinks(frames_dir=frames_dir or default_frames_dir(output), mp4=output, gif=gif, fps=info.fps,
                  audio=audio, gif_every=every, gif_width=gif_width)
    try:
        return run(mode, sinks, settings, f"video dream {info.width}x{info.height}", cadence=cadence,
                   seed=seed, resume=resume, settings_beside=output)
    finally:
        reader.close()
        if audio:
            os.remove(audio)
