"""Style transfer renders: a still, a progression (the picture every N iterations), a sweep of
the content : style ratio, and the combinations (stylise then dream, a blend as the start).

Every animation goes through the frame scheduler (:func:`.render.run`) with a mode object;
the still is one optimisation with a progress bar.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import replace

import torch

from ...engine import start as start_pictures
from ...engine.deepdream import dream
from ...engine.style import StyleParams, StyleTransfer, recipe_for
from ..request.configs import StyleConfig, Target
from ..media import check_writable, read_image, resize_to, write_image
from ..progress import console, progress_bar
from ..errors import UserError
from ..frameloop.render import check_outputs, out_of_memory, run
from ..request.resolve import Plan, engine_errors, resolve
from ...engine.device import pick_device
from ..frameloop.scheduler import CrossFade, Source, finite
from ..frameloop.settings import settings_path_for, write_settings
from ..media import FrameDir
from .stages import step_marks


def sweep_ratios(a: float, b: float, n: int) -> list[float]:
    """``n`` content:style ratios from ``a`` to ``b``, log-spaced."""
    if n == 1:
        return [a]
    la, lb = math.log(a), math.log(b)
    return [math.exp(la + (lb - la) * i / (n - 1)) for i in range(n)]


def start_of(cfg: StyleConfig, plan: Plan) -> tuple[torch.Tensor | None, dict, str]:
    """The picture the optimisation starts from: (tensor or None for the engine's own, description, engine init)."""
    h, w = plan.start.shape[-2:]
    init, desc, mode = None, {"kind": cfg.init}, cfg.init
    if cfg.init not in ("content", "noise"):
        init = resize_to(read_image(cfg.init, longest=max(h, w)), (h, w)).to(plan.device)
        desc, mode = {"kind": "file", "path": os.path.abspath(cfg.init)}, "image"
    if cfg.init_blend:
        if init is None:
            init = plan.start if cfg.init == "content" else \
                start_pictures.noise(h, w, seed=cfg.backend.seed, std=0.25).to(plan.device)
        other = read_image(cfg.init_blend, longest=max(init.shape[-2:])).to(plan.device)
        init = start_pictures.blend(init, other, cfg.alpha)
        desc, mode = {**desc, "blend": os.path.abspath(cfg.init_blend), "alpha": cfg.alpha}, "image"
    return init, desc, mode


def transfer_for(cfg: StyleConfig) -> tuple[Plan, StyleTransfer, dict]:
    """Resolve the request and set the optimisation up; returns (plan, transfer, settings)."""
    plan = resolve(cfg.backend, picture=cfg.picture, styles=cfg.style_spec, for_style=True,
                   target=Target(layers=cfg.layer) if cfg.then_dream else None)
    init, init_desc, init_mode = start_of(cfg, plan)
    params = StyleParams(content_weight=cfg.content_weight, style_weight=cfg.style_weight, tv_weight=cfg.tv_weight,
                         tv_beta=cfg.tv_beta, optimizer=cfg.optimizer, iters=cfg.iters, lr=cfg.lr, init=init_mode,
                         original_colors=cfg.original_colors, color_space=cfg.color_space, seed=cfg.backend.seed)
    recipe = recipe_for(plan.net)
    plan.announce(f"; style recipe {recipe.name}")
    st = engine_errors(StyleTransfer, plan.net, plan.start, list(plan.styles), cfg.style_spec.blend, params, init=init)
    settings = {**cfg.as_settings(), **plan.settings(), "recipe": recipe.as_dict(), "init_picture": init_desc,
                "style": params.as_dict()}
    return plan, st, settings


# --------------------------------------------------------------------------- modes


class StyleProgressionMode(CrossFade):
    """Frame t is the picture after ``marks[t]`` iterations of one stylisation.

    The optimiser lives here, so its L-BFGS memory carries from frame to frame. A resumed
    render restarts the optimisation from the last frame on disk (a fresh memory).
    """

    def __init__(self, transfer: StyleTransfer, marks: list[int]):
        self.transfer = transfer
        self.marks = marks
        self.n_frames = len(marks)
        self.device = transfer.x.device
        self._at = 0  # frame index the transfer's state belongs to

    def first_source(self) -> Source:
        return Source(self.transfer.image())

    def source(self, t, prev, prev_t) -> Source:
        if prev_t != self._at:  # resumed from frames on disk
            self.transfer.restart_from(prev)
            self.transfer.iterations = self.marks[prev_t]
            self._at = prev_t
        return Source(prev)

    def step(self, t: int, source: Source, seed: int) -> torch.Tensor:
        if t == 0:
            return source.image
        self._from = self._at
        out = self.transfer.run(self.marks[t] - self.marks[self._at])
        self._at = t
        return out

    def step_smaller(self, t: int, source: Source, seed: int) -> torch.Tensor:
        """After NaN/inf: from the last frame, a fresh optimiser at half the step size (kept from then on)."""
        self.transfer.set_step_size(self.transfer.params.step_size() / 2)
        self.transfer.restart_from(source.image)
        self.transfer.iterations = self.marks[self._from]
        out = self.transfer.run(self.marks[t] - self.marks[self._from])
        self._at = t if finite(out) else None  # else the next frame restarts from this one's source
        return out


class StyleSweepMode(CrossFade):
    """One full stylisation per content:style ratio; each starts from the previous frame."""

    def __init__(self, transfer: StyleTransfer, ratios: list[float], iters: int):
        self.transfer = transfer
        self.ratios = ratios
        self.iters = iters
        self.n_frames = len(ratios)
        self.device = transfer.x.device
        self.style_weight = transfer.params.style_weight
        self._at: int | None = None

    def first_source(self) -> Source:
        return Source(self.transfer.image())

    def source(self, t, prev, prev_t) -> Source:
        if prev_t != self._at:  # resumed: warm-start from the frame on disk
            self.transfer.restart_from(prev)
            self._at = prev_t
        return Source(prev)

    def step(self, t: int, source: Source, seed: int) -> torch.Tensor:
        self.transfer.set_weights(content_weight=self.ratios[t] * self.style_weight, style_weight=self.style_weight)
        out = self.transfer.run(self.iters)
        self._at = t
        return out

    def step_smaller(self, t: int, source: Source, seed: int) -> torch.Tensor:
        """After NaN/inf: from the previous frame at half the step size (kept from then on)."""
        self.transfer.set_step_size(self.transfer.params.step_size() / 2)
        self.transfer.restart_from(source.image)
        out = self.step(t, source, seed)
        if not finite(out):
            self._at = None  # the next frame restarts from this one's source
        return out


# --------------------------------------------------------------------------- renders


def render_still(cfg: StyleConfig) -> dict:
    """Stylise ``cfg.picture`` into ``cfg.output`` (then dream it with ``--then-dream``)."""
    check_writable(cfg.output)
    plan, st, settings = transfer_for(cfg)
    dream_obj = plan.objective  # --then-dream's
    w, h = plan.size
    t0 = time.perf_counter()
    try:
        with progress_bar(f"stylize {w}x{h}", total=cfg.iters, unit="iter") as update:
            def progress(done, _total, info):
                update(done, f"loss {float(info['loss']):.4g}" if done % 10 == 0 or done == _total else "")

            out = st.run(cfg.iters, progress=progress)
    except Exception as e:
        if out_of_memory(e):
            raise UserError(f"out of memory on {plan.device} stylising {w}x{h}: try a smaller --size (or "
                            "--max-style-size)") from None
        raise
    if not finite(out):  # one check, after the optimisation
        raise UserError(f"the optimisation gave NaN/inf values; {cfg.output} not written: try --lr "
                        f"{st.params.step_size() / 2:g} (half the step size) or --optimizer adam")
    seconds = time.perf_counter() - t0
    settings.update(seconds=round(seconds, 2), losses=st.current_losses() if cfg.iters else {})
    settings["outputs"] = {"image": os.path.abspath(cfg.output)}
    if dream_obj is not None:
        styled_path = os.path.splitext(cfg.output)[0] + "_styled.png"
        write_image(styled_path, out)
        params = replace(cfg.dream, seed=cfg.backend.seed)
        with progress_bar(f"dream {dream_obj.description}", total=params.octaves * params.steps, unit="step") as update:
            out = dream(plan.net, out, dream_obj, params,
                        progress=lambda done, _t, info: update(done, f"octave {info['octave']}/{info['octaves']}"))
        settings.update(then_dream={"objective": dream_obj.description, "dream": params.as_dict(),
                                    "styled": os.path.abspath(styled_path)})
    write_image(cfg.output, out)
    write_settings(settings_path_for(cfg.output), settings)
    console.print(f"[green]wrote[/] {cfg.output}  ({w}x{h}, {plan.net.name}, {cfg.iters} {cfg.optimizer} iterations, "
                  f"{seconds:.1f} s)", highlight=False, soft_wrap=True)
    return {"settings": settings, "image": out, "transfer": st}


def render_animation(cfg: StyleConfig) -> dict:
    """A progression (``--every``) or a ratio sweep (``--sweep-ratio``), through the frame scheduler."""
    check_outputs(cfg.outputs)
    still = cfg.output if cfg.output and not cfg.outputs.mp4 else None
    if still:
        check_writable(still)
    plan, st, settings = transfer_for(cfg)
    w, h = plan.size
    if cfg.sweep_ratio:
        ratios = sweep_ratios(*cfg.ratio_range(), cfg.sweep_frames)
        mode = StyleSweepMode(st, ratios, cfg.iters)
        settings.update(kind="sweep", ratios=ratios)
        label = f"stylize sweep {w}x{h}"
    else:
        marks = step_marks(cfg.iters, cfg.every, ease=False)
        mode = StyleProgressionMode(st, marks)
        settings.update(kind="progression", marks=marks)
        label = f"stylize progression {w}x{h}"
    frames_dir = cfg.outputs.frames_folder()
    outputs = replace(cfg.outputs, gif_every=cfg.outputs.gif_every or 1)  # each frame is a record: all in the GIF
    result = run(mode, outputs, settings, label, w, seed=cfg.backend.seed, settings_beside=cfg.outputs.main)
    if still:
        write_image(still, FrameDir(frames_dir).read(mode.n_frames - 1))
        write_settings(settings_path_for(still), {**settings, "outputs": {"image": os.path.abspath(still)}})
    return {**result, "mode": mode, "settings": settings}


def render_net_still(cfg: StyleConfig) -> dict:
    """``--net``: the picture through a trained network (one pass, no optimisation)."""
    from ..request.resolve import read_net, start_image

    check_writable(cfg.output)
    device = engine_errors(pick_device, cfg.backend.device)
    net, trained_with = read_net(cfg.net, device)
    start, start_desc = start_image(cfg.picture.image, cfg.picture.size, seed=cfg.backend.seed)
    t0 = time.perf_counter()
    out = net.stylize(start.to(device))
    seconds = time.perf_counter() - t0
    h, w = out.shape[-2:]
    settings = {"command": "stylize", "method": "network", "net": {"file": os.path.abspath(cfg.net),
                                                                   "trained_with": trained_with},
                "start": start_desc, "frame_size": [w, h], "device": str(device), "seconds": round(seconds, 3),
                "outputs": {"image": os.path.abspath(cfg.output)}}
    write_image(cfg.output, out)
    write_settings(settings_path_for(cfg.output), settings)
    console.print(f"[green]wrote[/] {cfg.output}  ({w}x{h}, network {cfg.net}, {seconds:.2f} s)", highlight=False,
                  soft_wrap=True)
    return {"settings": settings, "image": out}


def render_stylize(cfg: StyleConfig) -> dict:
    cfg.validate()
    if cfg.net:
        return render_net_still(cfg)
    return render_animation(cfg) if cfg.animated else render_still(cfg)
