"""The network method of ``video --style``: a small feed-forward network trained on the clip.

Keyframes are stylised by the optimisation (the quality reference), the network
(:mod:`dreamreel.engine.style.network`) is trained on the clip's own frame pairs and the keyframes,
then every frame is one pass through it, a batch at a time, streamed through the usual sinks. The
trained network is an artefact: cached by (clip, style, settings), so a re-render skips training,
and saved where ``--save-net`` says, for ``--net`` on other clips and stills.
"""
from __future__ import annotations

import hashlib
import json
import os

import torch

from ...engine.flow import flow_pair, warp
from ...engine.style import StyleParams, StyleTransfer, style_targets
from ...engine.style.network import (VERSION, NetArch, NetTrainer, NetTrainParams, StyleNet, StyleNetError,
                                    load_style_net, training_clip)
from ...engine.device import pick_device
from ..frameloop.scheduler import FromClip, Source
from ..media import ClipReader
from ..media.atomic import check_writable, unlink_quiet
from ..errors import RenderInterrupted
from ..media.clip import ClipInfo
from ..progress import console, progress_bar
from ..request.configs import NET_CPU_ITERS, NET_GPU_BATCH, NET_GPU_ITERS, NET_GPU_UPSAMPLING, VideoConfig
from ..request.resolve import Plan, engine_errors, read_net, resolve
from .base import ClipMethod, Opened, keyframes_at
from .cache import cache_root, file_key, save, sha256_of


def cache_dir() -> str:
    """Where trained networks are kept: ``nets`` in the cache (:func:`.cache.cache_root`)."""
    return os.path.join(cache_root(), "nets")


def save_net(net: StyleNet, settings: dict, path: str) -> None:
    """Write a network file atomically (a temporary name beside it, then a rename)."""
    save(net.state(settings), path)


def training_seconds(frames: int) -> float:
    """The default training budget: 2 s per frame of the clip, at least 120 s, at most 600 s. The style keeps
    improving with time (bigbuckbunny, 132 frames at 384 px: the judged style loss 3.9 after 100 iterations,
    2.5 after 200); 2 s a frame keeps the whole render under 1/8 of the optimisation's time."""
    return float(max(120.0, min(600.0, 2.0 * frames)))


def train_params(cfg: VideoConfig, frames: int, device: torch.device) -> NetTrainParams:
    """What the network trains with: on a CUDA GPU ``NET_GPU_ITERS`` iterations of ``NET_GPU_BATCH`` frame pairs, no
    time budget (the same network on any GPU), with ``NET_GPU_UPSAMPLING``; elsewhere one pair an iteration for
    ``training_seconds`` (at most ``NET_CPU_ITERS`` iterations). ``--train-seconds`` and ``--train-iters`` bound
    either."""
    gpu = device.type == "cuda"
    seconds = cfg.train_seconds if cfg.train_seconds is not None or gpu else training_seconds(frames)
    iters = cfg.train_iters if cfg.train_iters is not None else NET_GPU_ITERS if gpu else NET_CPU_ITERS
    return NetTrainParams(iters=iters, seconds=seconds, batch=NET_GPU_BATCH if gpu else 1, seed=cfg.backend.seed,
                          temporal_weight=cfg.net_temporal_weight,
                          arch=NetArch(up=NET_GPU_UPSAMPLING) if gpu else NetArch())


def _pairs_at(n_frames: int, most: int) -> list[int]:
    """First frames of the training pairs (t, t+1): all of them, or ``most`` spread evenly over the clip."""
    if n_frames < 2:
        return []
    if n_frames - 1 <= most:
        return list(range(n_frames - 1))
    return sorted({round(i * (n_frames - 2) / (most - 1)) for i in range(most)})


class NetworkMethod(ClipMethod):
    """``--method network`` (or ``--net``): a feed-forward network trained on the clip (or read), every frame one
    pass through it (:class:`NetworkStyleMode`). :meth:`prepare` reads ``--net``, or finds the network in the cache
    or trains it, once per clip: in a split render the driver does, and the ranges get its weights as CPU tensors
    (``StyleNet.state``, in Ray's object store once) and build it on their device. Ranges start at multiples of
    ``--net-batch`` (``align``: the batches of a one-process run) and, with ``--net-blend``, render the batch before
    their own (``overlap``: it primes t-1's output), discarded: the frames equal a one-process run's bit for bit
    (at the same torch thread count)."""

    name = "network"
    seam = "discard"

    def __init__(self, cfg: VideoConfig):
        super().__init__(cfg)
        self._net: StyleNet | None = None  # the network as prepared, in this process (not pickled)
        self._device: torch.device | None = None
        self.used: dict = {}  # what settings.json records of the network

    @property
    def overlap(self) -> int:
        return self.cfg.net_batch if self.cfg.net_blend else 0

    @property
    def align(self) -> int:
        return self.cfg.net_batch

    def prepare(self, info: ClipInfo) -> "NetworkMethod":
        self._net, self.used, self._device = find_network(self.cfg, info)
        return self

    def __getstate__(self) -> dict:
        """What a range's worker gets: the weights as CPU tensors, built again on its own device."""
        return {"cfg": self.cfg, "used": self.used, "state": self._net.state(), "_net": None, "_device": None}

    def __setstate__(self, state: dict) -> None:
        net, _ = StyleNet.from_state(state.pop("state"))
        self.__dict__.update(state, _net=net)

    def open(self, clip: ClipInfo, announce: bool = True) -> Opened:
        cfg = self.cfg
        device = self._device or engine_errors(pick_device, cfg.backend.device)
        reader = ClipReader(clip, device=device, keep=cfg.net_batch + 2)
        mode = NetworkStyleMode(self._net.to(device), reader, batch=cfg.net_batch, blend=cfg.net_blend,
                                flow_method=cfg.flow)
        return Opened(mode, reader, {**self.used, "device": str(device)})


def find_network(cfg: VideoConfig, info) -> tuple[StyleNet, dict, torch.device]:
    """The network (on its device), what settings.json records of it, the device: ``--net`` is read before
    anything loads; otherwise the request is resolved and the network is found or trained."""
    if cfg.save_net:  # before minutes of training, not after
        check_writable(cfg.save_net, exts=(".pt", ".pth"))
    if cfg.net:
        device = engine_errors(pick_device, cfg.backend.device)
        net, trained_with = read_net(cfg.net, device)
        used = {"network": {"file": os.path.abspath(cfg.net), "sha256": sha256_of(cfg.net),
                            "trained_with": trained_with}, "device": str(device)}
        console.print(f"network: {cfg.net}", highlight=False)
    else:
        plan = resolve(cfg.backend, frame_size=(info.width, info.height), styles=cfg.style_spec, for_style=True,
                       hint="raise --width")
        plan.announce("; method: network")
        device = plan.device
        net, record, source = network_for(cfg, plan, info)
        # which network the frames come from, and (not compared by a resume) where it was found this time
        used = {**plan.settings(), "network": record, "provenance": {"network": source}}
    return net, used, device


def network_for(cfg: VideoConfig, plan: Plan, info) -> tuple[StyleNet, dict, dict]:
    """The network trained for this clip, style and settings: the cache's, or one trained now (then cached
    and, with ``--save-net``, saved there). Returns (network, what it was trained on and its cache key, where it
    was found: file and whether from the cache). A resume compares the second, not the third: a render whose
    network was trained when it started finds it in the cache when it is resumed."""
    params = train_params(cfg, info.frames, plan.device)
    key = {"version": VERSION, "clip": file_key(cfg.clip.path), "width": info.width, "height": info.height,
           "start": info.start, "frames": info.frames, "styles": [sha256_of(p) for p in cfg.style_spec.styles],
           "style_spec": [cfg.style_spec.style_weights, cfg.style_spec.style_scale, cfg.style_spec.max_style_size],
           "model": plan.net.name, "weights": plan.net.weights_sha256(), "train": params.as_dict(),
           "keyframes": cfg.keyframes or 0, "keyframe_frames": keyframes_at(info.frames, min(cfg.keyframes or 0, info.frames)),
           "keyframe_iters": cfg.iters_first, "train_pairs": cfg.train_pairs, "flow": cfg.flow}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    cached = os.path.join(cache_dir(), f"{digest}.pt")
    settings = {"trained_on": key, "cache_key": digest}
    if cfg.net_cache and os.path.exists(cached):
        try:
            net, _ = load_style_net(cached, plan.device)
            console.print(f"network: trained before, from the cache ({cached})", highlight=False)
            if cfg.save_net:
                save_net(net, settings, cfg.save_net)
            return net, settings, {"file": cached, "cached": True}
        except StyleNetError:  # a damaged cache entry is trained again
            pass
    partial = os.path.join(cache_dir(), f"{digest}.partial.pt") if cfg.net_cache else None
    net = train_network(cfg, plan, info, params, partial)
    if cfg.net_cache:
        try:
            save_net(net, settings, cached)
            unlink_quiet(partial)
        except OSError as e:
            console.print(f"[yellow]warning:[/] the trained network was not cached ({e.strerror or e})")
    if cfg.save_net:
        save_net(net, settings, cfg.save_net)
        console.print(f"network saved: {cfg.save_net}", highlight=False)
    return net, settings, {"file": os.path.abspath(cfg.save_net) if cfg.save_net else cached, "cached": False}


def train_network(cfg: VideoConfig, plan: Plan, info, params: NetTrainParams,
                  partial: str | None = None) -> StyleNet:
    """Keyframes by the optimisation, flows of the training pairs, then the network's training. Ctrl-C (SIGTERM,
    the studio's Stop) stops the render: the keyframes painted and the training as far as it went are kept in
    ``partial`` (the cache's; None: nothing is kept), from where the next render of the same clip, style and settings
    (``--resume``) goes on, its iterations those of a training that never stopped."""
    kept = _read_partial(partial)
    starts = _pairs_at(info.frames, cfg.train_pairs)
    keys = keyframes_at(info.frames, min(cfg.keyframes or 0, info.frames))
    wanted = set(starts) | {t + 1 for t in starts} | set(keys)
    frames: dict[int, torch.Tensor] = {}
    reader = ClipReader(info, device="cpu", keep=2)
    try:
        for t in range(max(wanted) + 1):
            f = reader.frame(t)
            if t in wanted:
                frames[t] = f
    finally:
        reader.close()
    pairs = []
    with progress_bar("flow of the training frames", len(starts), unit="pair") as update:
        for i, t in enumerate(starts):
            fw, _, mask = flow_pair(frames[t], frames[t + 1], method=cfg.flow)
            pairs.append((frames[t], frames[t + 1], fw, mask))
            update(i + 1)
    style_params = StyleParams(seed=cfg.backend.seed)
    painted: dict[int, torch.Tensor] = kept["keyframes"]
    todo = [t for t in keys if t not in painted]
    if todo:
        targets = style_targets(plan.net, list(plan.styles), cfg.style_spec.blend)
        total = len(todo) * cfg.iters_first
        try:
            with progress_bar(f"keyframes {', '.join(map(str, todo))} (optimisation)", total, unit="iter") as update:
                for i, t in enumerate(todo):
                    st = StyleTransfer(plan.net, frames[t].to(plan.device), list(plan.styles), cfg.style_spec.blend,
                                       style_params, style=targets)
                    done = i * cfg.iters_first
                    st.run(cfg.iters_first, progress=lambda k, n, _: update(done + k))
                    painted[t] = st.image().cpu()
        except KeyboardInterrupt:
            where = _keep(partial, painted, None)
            raise RenderInterrupted.before_frames(
                f"the network's keyframes: {len(painted)} of {len(keys)} painted{where}") from None
    keyframes = [(frames[t], painted[t].to(plan.device)) for t in keys]
    clip = training_clip(pairs, keyframes)
    trainer = NetTrainer(plan.net, list(plan.styles), cfg.style_spec.blend, clip, params, style_params)
    before = trainer.restore(kept["trainer"]) if kept["trainer"] else 0
    if before:
        console.print(f"network: trained for {before} iterations ({trainer.seconds:.0f} s) before (from the cache), "
                      f"training on", highlight=False)
    budget = params.seconds
    last = {"t": trainer.seconds}
    with progress_bar("training the network", round(budget) if budget else params.iters,
                      unit="second" if budget else "iter",
                      first=min(round(trainer.seconds), round(budget)) if budget else before) as update:
        def report(i, n, info):
            now = info["seconds"]
            if i == before + 1 or now - last["t"] >= 1.0 or (n and i == n):  # the loss crosses to the host once a second
                last["t"] = now
                update(min(round(now), round(budget)) if budget else i, f"iter {i}  loss {float(info['loss']):.3g}")
        net = trainer.train(report)
    if trainer.interrupted:
        where = _keep(partial, painted, trainer.checkpoint())
        raise RenderInterrupted.before_frames(f"the network trained for {len(trainer.history)} of {params.iters} "
                                              f"iterations ({trainer.seconds:.0f} s){where}")
    first, final = float(trainer.history[0]), float(torch.stack(trainer.history[-10:]).mean())
    console.print(f"network trained: {len(trainer.history)} iterations, loss {first:.3g} -> {final:.3g}",
                  highlight=False)
    return net


PARTIAL = "dreamreel-training"


def _read_partial(path: str | None) -> dict:
    """What a stopped render kept of this network's training: ``keyframes`` (frame -> painted) and ``trainer``
    (:meth:`NetTrainer.checkpoint`, or None). Nothing, where there is no such file or it cannot be read."""
    empty = {"keyframes": {}, "trainer": None}
    if not path or not os.path.exists(path):
        return empty
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("format") != PARTIAL:
            return empty
        return {"keyframes": {int(t): k for t, k in zip(state["keyframe_frames"].tolist(), state["keyframes"])},
                "trainer": state.get("trainer")}
    except Exception:  # a damaged entry: trained again from the start
        return empty


def _keep(path: str | None, painted: dict[int, torch.Tensor], checkpoint: dict | None) -> str:
    """The training so far into ``path`` (atomically); the words that say where it went."""
    if not path:
        return "; not kept (--no-net-cache)"
    frames = sorted(painted)
    state = {"format": PARTIAL, "keyframe_frames": torch.tensor(frames, dtype=torch.int64),
             "keyframes": torch.stack([painted[t].cpu() for t in frames]) if frames else torch.zeros(0),
             "trainer": checkpoint}
    try:
        save(state, path)
    except OSError as e:
        return f"; not kept ({e.strerror or e})"
    return "; kept in the cache, --resume goes on from there"


class NetworkStyleMode(FromClip):
    """Every frame one pass through the trained network, ``batch`` frames at a time (batches start at
    multiples of ``batch``, so a resumed or split render computes the same batches). ``blend`` > 0:
    where the flow from frame t back to t-1 holds, the network's output for t-1 carried along it is
    mixed in by that share (the raw outputs are mixed, never a mixed one: no ghost builds up)."""

    def __init__(self, net: StyleNet, clip: ClipReader, batch: int = 4, blend: float = 0.0, flow_method: str = "dis"):
        self.net, self.clip, self.batch, self.blend, self.flow_method = net, clip, batch, blend, flow_method
        self.n_frames = clip.info.frames
        self._raw: dict[int, torch.Tensor] = {}

    def raw(self, t: int) -> torch.Tensor:
        if t not in self._raw:
            b0 = (t // self.batch) * self.batch
            idx = range(b0, min(b0 + self.batch, self.n_frames))
            out = self.net.stylize(torch.cat([self.clip.frame(i) for i in idx]))
            for k in [k for k in self._raw if k < t - 1]:
                del self._raw[k]
            for i, o in zip(idx, out):
                self._raw[i] = o[None]
        return self._raw[t]

    def step(self, t: int, source: Source, seed: int) -> torch.Tensor:
        # t-1's batch first: a render resumed (or a range started) at a batch's first frame still has its frames
        prev = self.raw(t - 1) if self.blend and t > 0 else None
        out = self.raw(t)
        if prev is not None:
            flow, _, mask = flow_pair(self.clip.frame(t), self.clip.frame(t - 1), method=self.flow_method)
            a = self.blend * mask.to(out.device)
            out = (1 - a) * out + a * warp(prev, flow.to(out.device))
        return out

    def tween(self, t, a, ta, b, tb) -> torch.Tensor:
        return self.step(t, Source(self.clip.frame(t)), 0)
