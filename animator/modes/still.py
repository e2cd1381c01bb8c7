"""Dream a still: resolve the request, run the engine, write the picture and its settings."""
from __future__ import annotations

import os
import time
from dataclasses import replace

import torch

from ...engine.deepdream import dream, octave_sizes
from ..request.configs import DreamConfig, check_dream
from ..media import check_writable, write_image
from ..errors import UserError
from ..progress import console, progress_bar
from ..frameloop.render import fitting, out_of_memory
from ..request.resolve import resolve
from ..frameloop.scheduler import finite
from ..frameloop.settings import settings_path_for, write_settings

AUTO_TILE_ABOVE = 1024  # longest side above which gradients are tiled by default
AUTO_TILE = 512


def render_dream(cfg: DreamConfig) -> dict:
    """Dream ``cfg.picture`` into ``cfg.output``; returns the settings written beside it."""
    cfg.validate()
    check_writable(cfg.output)
    plan = resolve(cfg.backend, picture=cfg.picture, blend=cfg.blend, alpha=cfg.alpha, target=cfg.target)
    w, h = plan.size
    tile = cfg.tile if cfg.tile is not None else (AUTO_TILE if max(h, w) > AUTO_TILE_ABOVE else 0)
    params = replace(cfg.dream, tile=tile, seed=cfg.backend.seed)
    check_dream(params)
    torch.manual_seed(cfg.backend.seed)
    t0 = time.perf_counter()
    net = plan.net
    total = len(octave_sizes(h, w, params.octaves, params.octave_scale, net.spec.min_size)) * params.steps
    try:
        with progress_bar(f"dream {w}x{h}", total=total, unit="step") as update:
            out, tile = fitting(
                lambda tile: dream(net, plan.start, plan.objective, replace(params, tile=tile),
                                   progress=lambda done, _total, info: update(done, f"octave {info['octave']}/"
                                                                                    f"{info['octaves']}")),
                params.tile, f"{w}x{h} on {plan.device}",
                lambda m: console.print(f"[yellow]note:[/] {m}", highlight=False, soft_wrap=True))
            params = replace(params, tile=tile)
        if not finite(out):  # one check, after the loop
            console.print("[yellow]warning:[/] the dream gave NaN/inf values; dreaming again at half the step size")
            out = dream(net, plan.start, plan.objective, replace(params, lr=params.lr / 2))
    except Exception as e:
        if out_of_memory(e):
            raise UserError(f"out of memory on {plan.device} dreaming {w}x{h}, even in 128 px gradient tiles: "
                            "try a smaller --size") from None
        raise
    if not finite(out):
        raise UserError(f"the dream gave NaN/inf values, also at half the step size; {cfg.output} not written")
    seconds = time.perf_counter() - t0
    write_image(cfg.output, out)
    settings = {**cfg.as_settings(), **plan.settings(), "dream": params.as_dict()}
    settings["outputs"] = {"image": os.path.abspath(cfg.output)}
    write_settings(settings_path_for(cfg.output), settings)
    console.print(f"[green]wrote[/] {cfg.output}  ({w}x{h}, {net.name}, {plan.objective.description}, {seconds:.1f} s)")
    return settings
