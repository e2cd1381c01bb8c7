"""Video modes: dream (and stylise) every frame of a clip without flicker.

The dream carries over: frame t starts from source frame t plus the previous frame's
hallucination (dream - source), warped along the optical flow from t back to t-1 and kept
only where the flow is consistent (occlusions start fresh); a few dream steps refine it.
``persistence`` < 1 fades the carried hallucination by that factor per source frame, so the
refine steps added on every frame settle at a steady strength instead of piling up over a
long clip.
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
                 carry: str = "flow", blend: float = 0.5, flow_method: str = "dis", first_params: DreamParams | None = None,
                 persistence: float = 0.9):
        self.net, self.objective, self.clip, self.params = net, objective, clip, params
        self.first_params = first_params or params
        self.carry, self.blend, self.flow_method = carry, blend, flow_method
        self.persistence = persistence
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
        keep = self.persistence ** abs(t - prev_t)  # per source frame, whatever the cadence
        return (src + (keep * mask) * hallucination).clamp(0, 1)

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
                       persistence: float = 0.9, cadence: int = 1, frames_dir: str | None = None, seed: int = 0, device: str = "auto",
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
    if not 0 <= persistence <= 1:
        raise UserError(f"--persistence must be between 0 and 1 (got {persistence})")
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
    mode = VideoDreamMode(net, obj, reader, later, carry=carry, blend=blend, flow_method=flow, first_params=params,
                           persistence=persistence)
    audio = trimmed_audio(info)
    settings = {"command": "video-dream", "clip": os.path.abspath(clip_path), "width": info.width,
                "height": info.height, "fps": info.fps, "start": start, "end": end, "max_frames": max_frames,
                "frames": info.frames, "model": net.name, "weights": weights_info(net), "objective": obj.description,
                "first_frame": params.as_dict(), "refine_steps": refine_steps, "carry": carry, "blend": blend,
                "persistence": persistence, "flow": flow, "cadence": cadence, "seed": seed}
    sinks = Sinks(frames_dir=frames_dir or default_frames_dir(output), mp4=output, gif=gif, fps=info.fps,
                  audio=audio, gif_every=every, gif_width=gif_width)
    try:
        return run(mode, sinks, settings, f"video dream {info.width}x{info.height}", cadence=cadence,
                   seed=seed, resume=resume, settings_beside=output)
    finally:
        reader.close()
        if audio:
            os.remove(audio)


class VideoStyleMode:
    """Ruder et al. 2016: frame 0 stylised fully; frame t starts from the previous stylised frame
    warped by the flow (the content where it is occluded) and is pulled toward it by a temporal
    loss where the flow holds; fewer iterations after the first frame."""

    def __init__(self, net: Backbone, clip: ClipReader, styles, style_weights, params, iters_first: int,
                 iters: int, temporal_weight: float, flow_method: str = "dis", independent: bool = False):
        self.net, self.clip, self.styles, self.style_weights, self.params = net, clip, styles, style_weights, params
        self.iters_first, self.iters, self.temporal_weight = iters_first, iters, temporal_weight
        self.flow_method, self.independent = flow_method, independent
        self.n_frames = clip.info.frames
        self.device = net.device
        self._guide: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._style = None  # the clip's style targets (see step)

    def first_source(self) -> torch.Tensor:
        return self.clip.frame(0)

    def _warped(self, t: int, prev: torch.Tensor, prev_t: int):
        from ..engine.flow import flow_pair, warp

        flow_t_to_prev, _, mask = flow_pair(self.clip.frame(t), self.clip.frame(prev_t), method=self.flow_method)
        return warp(prev, flow_t_to_prev), mask

    def source(self, t: int, prev: torch.Tensor, prev_t: int) -> torch.Tensor:
        src = self.clip.frame(t)
        if self.independent:
            return src
        warped, mask = self._warped(t, prev, prev_t)
        self._guide[t] = (warped, mask)
        return mask * warped + (1 - mask) * src  # occluded pixels start from the content

    def step(self, t: int, source: torch.Tensor, seed: int) -> torch.Tensor:
        from dataclasses import replace

        from ..engine.style import StyleTransfer, Temporal, style_targets

        content = self.clip.frame(t)
        first = t == 0 or self.independent
        warped, mask = self._guide.pop(t, (None, None))
        # the clip's style targets, computed on the first step; with original colours the styles are
        # matched to each frame's luminance, so StyleTransfer computes them per frame (style=None)
        if self._style is None and not self.params.original_colors:
            self._style = style_targets(self.net, self.styles, self.style_weights)
        temporal = None if first or warped is None else Temporal(warped, mask, self.temporal_weight)
        st = StyleTransfer(self.net, content, self.styles, self.style_weights, replace(self.params, seed=seed),
                           init=None if first else source.contiguous(), style=self._style,
                           temporal=temporal)
        return st.run(self.iters_first if first else self.iters)

    def tween(self, t, a, ta, b, tb) -> torch.Tensor:
        """Cadence: the nearer stylised frame carried along the flow, occlusions from the content."""
        near, near_t = (b, tb) if b is not None and (tb - t) < (t - ta) else (a, ta)
        warped, mask = self._warped(t, near, near_t)
        return mask * warped + (1 - mask) * self.clip.frame(t)


def render_video_style(clip_path: str, output: str, *, styles: list[str], style_weights: list[float] | None,
                       gif: str | None = None, every: int = 1, gif_width: int | None = None,
                       width: int | None = None, start: float = 0.0, end: float | None = None,
                       max_frames: int | None = None, model: str | None = None, weights: str | None = None,
                       iters_first: int = 150, iters: int = 40, temporal_weight: float = 50.0,
                       original_colors: bool = False, content_weight: float = 1.0, style_weight: float = 1.0,
                       flow: str = "dis", cadence: int = 1, independent: bool = False,
                       frames_dir: str | None = None, seed: int = 0, device: str = "auto",
                       resume: bool = False) -> dict:
    """Stylise every frame of a clip with optical-flow warm starts and a temporal loss."""
    import os

    from ..engine import pick_device
    from ..engine.style import StyleParams
    from .clip import open_clip, trimmed_audio
    from .errors import UserError
    from .images import fit_size, read_image, resize_to
    from .progress import console
    from .render import check_outputs, run, weights_info
    from .scheduler import Sinks, default_frames_dir
    from .still import load_backbone
    from .stylize import choose_model

    if not output.lower().endswith(".mp4"):
        raise UserError(f"output {output} must end in .mp4")
    if style_weights is not None:
        if len(style_weights) != len(styles):
            raise UserError(f"{len(styles)} style images but {len(style_weights)} style weights")
        if any(w <= 0 for w in style_weights):
            raise UserError("style weights must be positive")
    if iters_first < 1 or iters < 0 or temporal_weight < 0:
        raise UserError("--iters-first must be >= 1, --iters and --temporal-weight >= 0")
    check_outputs(output, gif)
    info = open_clip(clip_path, width=width, start=start, end=end, max_frames=max_frames)
    try:
        dev = pick_device(device)
    except ValueError as e:
        raise UserError(str(e)) from None
    long_side = max(info.width, info.height)
    style_imgs = []
    for s in styles:  # bad style files fail before anything is loaded or announced
        img = read_image(s)
        style_imgs.append(resize_to(img, fit_size(img.shape[-2], img.shape[-1], long_side)).to(dev))
    name, why = choose_model(model, weights)
    net = load_backbone(name, weights, dev)
    console.print(f"model: {net.name} ({why})", soft_wrap=True)
    params = StyleParams(content_weight=content_weight, style_weight=style_weight, original_colors=original_colors,
                         seed=seed)
    reader = ClipReader(info, device=dev)
    mode = VideoStyleMode(net, reader, style_imgs, style_weights, params, iters_first, iters, temporal_weight,
                          flow_method=flow, independent=independent)
    audio = trimmed_audio(info)
    settings = {"command": "video-style", "clip": os.path.abspath(clip_path), "width": info.width,
                "height": info.height, "fps": info.fps, "start": start, "end": end, "max_frames": max_frames,
                "frames": info.frames, "model": net.name, "weights": weights_info(net),
                "styles": [os.path.abspath(s) for s in styles], "style_weights": style_weights,
                "style": params.as_dict(), "iters_first": iters_first, "iters": iters,
                "temporal_weight": temporal_weight, "flow": flow, "cadence": cadence, "independent": independent,
                "seed": seed}
    sinks = Sinks(frames_dir=frames_dir or default_frames_dir(output), mp4=output, gif=gif, fps=info.fps,
                  audio=audio, gif_every=every, gif_width=gif_width)
    try:
        return run(mode, sinks, settings, f"video style {info.width}x{info.height}", cadence=cadence, seed=seed,
                   resume=resume, settings_beside=output)
    finally:
        reader.close()
        if audio:
            os.remove(audio)
