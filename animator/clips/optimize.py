"""``video --style --method optimize``: every frame of a clip stylised by the optimisation, each starting from the
previous one carried along the flow and held to it by a temporal loss (Ruder et al. 2016)."""
from __future__ import annotations

from dataclasses import replace

import torch

from ...engine.backbones import Backbone
from ...engine.style import StyleParams, StyleTransfer, Temporal, style_targets
from ..frameloop.scheduler import HalfStep, Source
from ..media import ClipReader
from ..media.clip import ClipInfo
from ..request.resolve import resolve
from .base import OVERLAP, ClipMethod, Opened, along_flow


class VideoStyleMode(HalfStep):
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
        self._style = None  # the clip's style targets (see step)

    def first_source(self) -> Source:
        return Source(self.clip.frame(0))

    def _warped(self, t: int, prev: torch.Tensor, prev_t: int) -> Source:
        """``prev`` carried to frame t along the flow; occluded pixels from the content.

        Bicubic: each frame starts from (and is held to) the one before carried along the flow, so the
        interpolation's blur compounds. Carried alone over frames 1-23 of bigbuckbunny (flows of 0.1-0.5 px),
        a stylised frame keeps 1.5% of its finest detail (squared Laplacian) bilinearly and 34% bicubically;
        rendered with the optimisation, frame 23 keeps 90% against 97%. The detail the optimisation puts
        back for the blur shows as a grid-like grain in flat areas (the sky), which bicubic carrying
        reduces without removing it."""
        src = self.clip.frame(t)
        warped, mask = along_flow(self.clip, t, prev_t, prev, self.flow_method, mode="bicubic")
        warped = warped.clamp(0, 1)
        return Source(mask * warped + (1 - mask) * src, warped, mask)

    def source(self, t: int, prev: torch.Tensor, prev_t: int) -> Source:
        return Source(self.clip.frame(t)) if self.independent else self._warped(t, prev, prev_t)

    def step(self, t: int, source: Source, seed: int, lr_scale: float = 1.0) -> torch.Tensor:
        first = t == 0 or self.independent
        # the clip's style targets, computed once; with original colours the styles are matched to
        # each frame's luminance, so StyleTransfer computes them per frame (style=None)
        if self._style is None and not self.params.original_colors:
            self._style = style_targets(self.net, self.styles, self.style_weights)
        temporal = None if first or source.warped is None else Temporal(source.warped, source.mask, self.temporal_weight)
        params = replace(self.params, seed=seed)
        if lr_scale != 1.0:
            params = replace(params, lr=params.step_size() * lr_scale)
        st = StyleTransfer(self.net, self.clip.frame(t), self.styles, self.style_weights, params,
                           init=None if first else source.image.contiguous(), style=self._style, temporal=temporal)
        return st.run(self.iters_first if first else self.iters)

    def tween(self, t, a, ta, b, tb) -> torch.Tensor:
        """Cadence: the nearer stylised frame carried along the flow, occlusions from the content."""
        near, near_t = (b, tb) if b is not None and (tb - t) < (t - ta) else (a, ta)
        return self._warped(t, near, near_t).image



class OptimizeMethod(ClipMethod):
    """The optimisation for every frame (:class:`VideoStyleMode`): ``--original-colors``, ``--independent`` and
    ``--cadence`` are its options. Recurrent: a split render's ranges overlap, cross-faded; with ``--independent``
    they do not."""

    name = "optimize"

    @property
    def overlap(self) -> int:
        return 0 if self.cfg.independent else OVERLAP

    @property
    def seam(self) -> str:
        return "discard" if self.cfg.independent else "crossfade"

    def open(self, clip: ClipInfo, announce: bool = True) -> Opened:
        cfg = self.cfg
        plan = resolve(cfg.backend, frame_size=(clip.width, clip.height), target=None, styles=cfg.style_spec,
                       for_style=True, hint="raise --width")
        reader = ClipReader(clip, device=plan.device)
        if announce:
            plan.announce()
        params = StyleParams(original_colors=cfg.original_colors, seed=cfg.backend.seed)
        mode = VideoStyleMode(plan.net, reader, list(plan.styles), cfg.style_spec.blend, params, cfg.iters_first,
                              cfg.iters, cfg.temporal_weight, flow_method=cfg.flow, independent=cfg.independent)
        return Opened(mode, reader, {**plan.settings(), "style": params.as_dict()})
