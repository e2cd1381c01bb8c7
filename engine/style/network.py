"""A small feed-forward stylisation network trained on one clip's own frames.

Johnson et al. 2016 / Dumoulin et al. 2017: strided convolutions, residual blocks at a quarter
of the resolution, nearest upsampling + convolution, instance normalisation; the output is the
input plus what the network adds (the last convolution starts at zero, so training starts from
the content). Trained with the backbone's style and content losses (the same recipe as the
optimisation), closeness to a few optimised keyframes where there are some (few-shot, Texler et
al. 2020), and a temporal loss on consecutive frame pairs: output t against output t+1 warped by
the source flow, where the flow's forward-backward check holds (Ruder et al. 2016; Huang et al.
2017; ReCoNet, Gao et al. 2018). Tensors in, tensors out: saving is the caller's (``state()``).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..backbones import Backbone
from ..flow import warp
from .recipes import StyleParams, StyleRecipe, recipe_for
from .taps import check_taps
from .taps import padded_taps
from .transfer import RANGE_GAIN, ContentTargets, StyleTargets, content_targets, losses_of, style_targets

FORMAT = "dreamreel-stylenet"
VERSION = 1

# progress(done_iterations, total_iterations or None, info) -- info: {"loss": tensor, "seconds": float}
TrainProgress = Callable[[int, int | None, dict], None]


class StyleNetError(ValueError):
    """A network file or state that is not a dreamreel style network (one line)."""


# --------------------------------------------------------------------------- the network


@dataclass(frozen=True)
class NetArch:
    # full, half and quarter resolution; ~1 GMAC a 384x216 frame (11.3 frames/s in batches of 4 on 2 cores)
    channels: tuple[int, int, int] = (16, 24, 48)
    blocks: int = 3  # residual blocks at a quarter of the resolution
    norm: str = "instance"  # instance | none
    # the upsampling before each of the last two convolutions: nearest learns the style faster (what a CPU's time
    # budget needs), bilinear paints no grid of stripes in flat areas (what a GPU's longer training can afford)
    up: str = "nearest"  # nearest | bilinear

    def as_dict(self) -> dict:
        return {"channels": list(self.channels), "blocks": self.blocks, "norm": self.norm, "up": self.up}

    @staticmethod
    def from_dict(d: dict) -> "NetArch":
        ch = tuple(int(c) for c in d["channels"])
        norm, up = d.get("norm", "instance"), d.get("up", "nearest")  # files written before either was chosen
        if len(ch) != 3 or min(ch) < 1 or int(d["blocks"]) < 0 or norm not in NORMS or up not in UPSAMPLING:
            raise StyleNetError(f"bad network shape {d}")
        return NetArch(ch, int(d["blocks"]), norm, up)


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride, padding=k // 2, padding_mode="reflect")


NORMS = ("instance", "none")
UPSAMPLING = ("nearest", "bilinear")


def _upsample(mode: str) -> nn.Upsample:
    return nn.Upsample(scale_factor=2, mode=mode, **({"align_corners": False} if mode == "bilinear" else {}))


def _norm(c: int, kind: str) -> nn.Module:
    return nn.InstanceNorm2d(c, affine=True) if kind == "instance" else nn.Identity()


class _Residual(nn.Module):
    def __init__(self, c: int, norm: str):
        super().__init__()
        self.body = nn.Sequential(_conv(c, c), _norm(c, norm), nn.ReLU(inplace=True), _conv(c, c), _norm(c, norm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class StyleNet(nn.Module):
    """RGB [0, 1] (B, 3, H, W) -> stylised RGB (B, 3, H, W), any H and W (padded to a multiple of 4)."""

    def __init__(self, arch: NetArch = NetArch()):
        super().__init__()
        self.arch = arch
        c1, c2, c3 = arch.channels
        n = arch.norm
        self.down = nn.Sequential(
            _conv(3, c1), _norm(c1, n), nn.ReLU(inplace=True),
            _conv(c1, c2, stride=2), _norm(c2, n), nn.ReLU(inplace=True),
            _conv(c2, c3, stride=2), _norm(c3, n), nn.ReLU(inplace=True))
        self.res = nn.Sequential(*[_Residual(c3, n) for _ in range(arch.blocks)])
        self.up = nn.Sequential(
            _upsample(arch.up), _conv(c3, c2), _norm(c2, n), nn.ReLU(inplace=True),
            _upsample(arch.up), _conv(c2, c1), _norm(c1, n), nn.ReLU(inplace=True))
        self.out = _conv(c1, 3)
        nn.init.zeros_(self.out.weight)  # the untrained network returns its input
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % 4, (-w) % 4
        xp = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
        y = self.out(self.up(self.res(self.down(xp))))
        return x + y[..., :h, :w].to(x.dtype)

    @torch.inference_mode()
    def stylize(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames (B, 3, H, W) in [0, 1] -> stylised frames in [0, 1] (mixed precision on CUDA)."""
        dev = next(self.parameters()).device
        x = frames.to(dev, torch.float32)
        if dev.type == "cuda":
            with torch.autocast("cuda", dtype=torch.float16):
                return self(x).float().clamp_(0, 1)
        return self(x).clamp_(0, 1)

    # ---------------------------------------------------------------- the artefact

    def state(self, settings: dict | None = None) -> dict:
        """What a network file holds: the format, the shape, the weights (on the CPU) and the settings it was
        trained with (JSON text). ``torch.save`` it; :meth:`from_state` reads it back."""
        import json

        return {"format": FORMAT, "version": torch.tensor(VERSION), "arch": json.dumps(self.arch.as_dict()),
                "settings": json.dumps(settings or {}, sort_keys=True),
                "weights": {k: v.detach().cpu().clone() for k, v in self.state_dict().items()}}

    @staticmethod
    def from_state(state, where: str = "network file") -> tuple["StyleNet", dict]:
        """The network and its settings from :meth:`state`'s dict; anything else is one StyleNetError line."""
        import json

        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise StyleNetError(f"{where} is not a dreamreel style network (save one with --save-net)")
        version = state.get("version")
        if not isinstance(version, torch.Tensor) or int(version) != VERSION:
            raise StyleNetError(f"{where} is a style network of another version ({version}); this dreamreel "
                                f"reads version {VERSION}")
        try:
            arch = NetArch.from_dict(json.loads(state["arch"]))
            settings = json.loads(state.get("settings") or "{}")
            net = StyleNet(arch)
            net.load_state_dict(state["weights"])
        except StyleNetError:
            raise
        except Exception as e:  # a damaged or edited file: wrong keys, shapes, JSON
            raise StyleNetError(f"{where} is damaged: {' '.join(str(e).split())[:160]}") from None
        if not all(bool(torch.isfinite(v).all()) for v in net.state_dict().values() if v.is_floating_point()):
            raise StyleNetError(f"{where} is damaged: its weights hold NaN or infinite values")
        return net.eval(), settings


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class NetTrainParams:
    iters: int = 400  # the most iterations (each: ``batch`` frame pairs, a random crop of each)
    seconds: float | None = None  # a time budget (stops at whichever comes first)
    # crop side, px (at most the frame's). Whole frames train best: instance normalisation sees the
    # statistics it will see at inference (160 px crops of 384x216 frames: style loss 7.8 on whole frames
    # after 90 s, against 2.4 trained on the whole frames)
    crop: int = 512
    batch: int = 1  # frame pairs per iteration
    lr: float = 1e-3  # Adam; halved over the last third (5e-3 fell into a barely stylised state)
    content_weight: float = 1.0
    style_weight: float = 1.0
    tv_weight: float = 1.0
    temporal_weight: float = 200.0  # in units of the first iteration's loss, as the optimisation's
    keyframe_weight: float = 10.0  # L1 to the optimised keyframes, in units of the first loss
    seed: int = 0
    arch: NetArch = field(default_factory=NetArch)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["arch"] = self.arch.as_dict()
        return d

    def validate(self) -> None:
        if self.iters < 1:
            raise ValueError(f"training iterations must be >= 1 (got {self.iters})")
        if self.seconds is not None and not self.seconds > 0:
            raise ValueError(f"training time must be > 0 s (got {self.seconds})")
        if self.crop < 32 or self.batch < 1 or not self.lr > 0:
            raise ValueError("crop must be >= 32 px, batch >= 1 and the learning rate > 0")
        for f in ("content_weight", "style_weight", "tv_weight", "temporal_weight", "keyframe_weight"):
            v = getattr(self, f)
            if not (v >= 0 and math.isfinite(v)):
                raise ValueError(f"{f.replace('_', ' ')} must be >= 0 (got {v})")


@dataclass
class TrainingClip:
    """What the network trains on: frame pairs (t, t+1) with the flow that warps frame t+1 onto frame t
    and its reliability mask, and optional keyframes (source, optimised result)."""

    first: torch.Tensor  # (P, 3, H, W) frames t
    second: torch.Tensor  # (P, 3, H, W) frames t+1
    flow: torch.Tensor  # (P, 2, H, W): warp(second, flow) ~ first
    mask: torch.Tensor  # (P, 1, H, W)
    key_sources: torch.Tensor | None = None  # (K, 3, H, W)
    key_targets: torch.Tensor | None = None  # (K, 3, H, W)


def _crop_box(gen: torch.Generator, h: int, w: int, size: int) -> tuple[int, int, int, int]:
    ch, cw = min(size, h), min(size, w)
    y = int(torch.randint(0, h - ch + 1, (1,), generator=gen))
    x = int(torch.randint(0, w - cw + 1, (1,), generator=gen))
    return y, x, ch, cw


def _on_device(clip: TrainingClip, device: torch.device) -> TrainingClip:
    """The training clip on a CUDA device when it takes under a quarter of the memory free there (64 pairs of
    1080p frames: 4.8 GB): no copy per iteration, no wait for one. Elsewhere, and when it would not fit, the clip
    stays on the CPU and each iteration's crops are copied."""
    if device.type != "cuda":
        return clip
    tensors = [getattr(clip, f.name) for f in fields(clip)]
    size = sum(t.numel() * t.element_size() for t in tensors if t is not None)
    if size > torch.cuda.mem_get_info(device)[0] / 4:
        return clip
    return TrainingClip(*(None if t is None else t.to(device) for t in tensors))


def _inside(flow: torch.Tensor) -> torch.Tensor:
    """1 where ``pixel + flow`` lands inside the (cropped) picture: warping reads real pixels there."""
    _, _, h, w = flow.shape
    ys = torch.arange(h, device=flow.device, dtype=flow.dtype).view(1, h, 1)
    xs = torch.arange(w, device=flow.device, dtype=flow.dtype).view(1, 1, w)
    x, y = xs + flow[:, 0], ys + flow[:, 1]
    return ((x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)).unsqueeze(1).to(flow.dtype)


class NetTrainer:
    """Trains a :class:`StyleNet` on a :class:`TrainingClip` with ``backbone``'s style recipe."""

    def __init__(self, backbone: Backbone, styles: Sequence[torch.Tensor], style_weights: Sequence[float] | None,
                 clip: TrainingClip, params: NetTrainParams = NetTrainParams(), style_params: StyleParams = StyleParams(),
                 recipe: StyleRecipe | None = None, net: StyleNet | None = None):
        params.validate()
        self.backbone, self.params, self.style_params = backbone, params, style_params
        self.recipe = recipe or recipe_for(backbone)
        check_taps(backbone, self.recipe.taps)
        dev = backbone.device
        self.device = dev
        self.clip = _on_device(clip, dev)
        self.style: StyleTargets = style_targets(backbone, styles, style_weights, self.recipe)
        torch.manual_seed(params.seed)
        self.net = (net or StyleNet(params.arch)).to(dev).train()
        # on CUDA the fused Adam: one kernel for the whole update, and it takes the GradScaler's inf check on the
        # device (with the plain Adam, GradScaler.step reads it on the host: a wait every iteration)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=params.lr, fused=True if dev.type == "cuda" else None)
        self.gen = torch.Generator().manual_seed(params.seed)
        self.scale: torch.Tensor | None = None  # the first iteration's loss: units of the extra terms
        self.history: list[torch.Tensor] = []
        self.amp = dev.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if self.amp else None
        self.seconds = 0.0  # training time so far (a restored checkpoint's included)

    def _style_content(self, out: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
        """The optimisation's weighted style + content + TV loss, averaged over the batch (one backbone pass for
        the batch; the statistics per picture)."""
        p, r = self.style_params, self.recipe
        targets = content_targets(self.backbone, src, r)
        # the backbone in float16 on CUDA as the optimisation's (its statistics and losses in float32); the
        # GradScaler's scale covers its backward
        acts = padded_taps(self.backbone, out, [*r.content_layers, *r.style_layers], r.pad,
                           torch.float16 if self.amp else None)
        total = out.new_zeros(())
        for i in range(out.shape[0]):
            one = ContentTargets({n: f[i : i + 1] for n, f in targets.features.items()},
                                 {n: targets.features[n][i : i + 1].pow(2).mean().clamp(min=1e-12)
                                  for n in targets.norm})
            parts = losses_of({n: a[i : i + 1] for n, a in acts.items()}, out[i : i + 1], one, self.style, r,
                              p.tv_beta)
            total = total + (p.content_weight * self.params.content_weight * r.content_gain * parts["content"]
                             + p.style_weight * self.params.style_weight * r.style_gain * parts["style"]
                             + self.params.tv_weight * r.tv_gain * parts["tv"])
        return total / out.shape[0]

    def _batch(self):
        c, p = self.clip, self.params
        n = c.first.shape[0]
        idx = torch.randint(0, n, (p.batch,), generator=self.gen).tolist()  # host: a CPU generator's draw
        h, w = c.first.shape[-2:]
        a, b, fl, m = [], [], [], []
        for i in idx:
            y, x, ch, cw = _crop_box(self.gen, h, w, p.crop)
            sl = (slice(i, i + 1), slice(None), slice(y, y + ch), slice(x, x + cw))
            a.append(c.first[sl])
            b.append(c.second[sl])
            f = c.flow[sl]
            fl.append(f)
            m.append(c.mask[sl] * _inside(f))
        # crops of one size per batch (the frame may be smaller than the crop on one side)
        return torch.cat(a), torch.cat(b), torch.cat(fl), torch.cat(m)

    def _keyframe_batch(self):
        c, p = self.clip, self.params
        h, w = c.key_sources.shape[-2:]
        srcs, tgts = [], []
        for _ in range(p.batch):
            k = int(torch.randint(0, c.key_sources.shape[0], (1,), generator=self.gen))
            y, x, ch, cw = _crop_box(self.gen, h, w, p.crop)
            srcs.append(c.key_sources[k : k + 1, :, y : y + ch, x : x + cw])
            tgts.append(c.key_targets[k : k + 1, :, y : y + ch, x : x + cw])
        return torch.cat(srcs), torch.cat(tgts)

    def loss(self) -> tuple[torch.Tensor, dict]:
        p = self.params
        a, b, fl, m = (t.to(self.device, non_blocking=True) for t in self._batch())
        with torch.autocast("cuda", dtype=torch.float16, enabled=self.amp):
            out = self.net(torch.cat([a, b])).float()
        # both outputs of the pair keep their graph, so the temporal term pulls both together (holding frame
        # t+1's output fixed, as the optimisation holds the previous frame, ran 30% more iterations in the same
        # time but reached a style loss of 5.5 instead of 2.3 on bigbuckbunny at 384 px)
        oa, ob = out[: a.shape[0]], out[a.shape[0]:]
        parts = {}
        total = out.new_zeros(())
        if p.style_weight or p.content_weight:
            # the backbone's losses (the costly part) on the first frame of each pair; the second serves the
            # temporal term only
            main = self._style_content(oa, a)
            if self.scale is None:
                self.scale = main.detach().clamp(min=1e-12)
            total = total + main
            parts["style_content"] = main.detach()
        elif self.scale is None:
            self.scale = out.new_ones(())
        excess = out - out.clamp(0, 1)
        total = total + self.scale * RANGE_GAIN * excess.pow(2).mean()
        if p.temporal_weight:
            back = warp(ob, fl)
            t = (m * (oa - back).pow(2)).sum() / (m.sum() * 3 + 1e-8)
            total = total + p.temporal_weight * self.scale * t
            parts["temporal"] = t.detach()
        if p.keyframe_weight and self.clip.key_sources is not None:
            ks, kt = (t.to(self.device, non_blocking=True) for t in self._keyframe_batch())
            with torch.autocast("cuda", dtype=torch.float16, enabled=self.amp):
                ko = self.net(ks).float()
            k = (ko - kt).abs().mean()
            total = total + p.keyframe_weight * self.scale * k
            parts["keyframe"] = k.detach()
        return total, parts

    def checkpoint(self) -> dict:
        """What continues this training where it stopped (:meth:`restore`): the network's state, Adam's (and the
        GradScaler's), the iterations' losses, the time spent, the sampling generator and the loss's scale. The iterations after a
        restore are those of a training that never stopped (on the CPU bit for bit); ``torch.save`` it."""
        return {"net": self.net.state(), "opt": self.opt.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler is not None else {},
                "history": torch.stack([h.detach().float().cpu() for h in self.history]) if self.history
                else torch.zeros(0), "seconds": torch.tensor(self.seconds, dtype=torch.float64),
                "gen": self.gen.get_state(), "scale": self.scale.detach().cpu() if self.scale is not None else None}

    def restore(self, checkpoint: dict) -> int:
        """Continue from :meth:`checkpoint`'s dict; returns the iterations it had done."""
        net, _ = StyleNet.from_state(checkpoint["net"], where="training checkpoint")
        self.net.load_state_dict(net.state_dict())
        self.opt.load_state_dict(checkpoint["opt"])
        if self.scaler is not None and checkpoint.get("scaler"):
            self.scaler.load_state_dict(checkpoint["scaler"])
        self.history = [h.to(self.device) for h in checkpoint["history"]]
        self.seconds = float(checkpoint["seconds"])
        self.gen.set_state(checkpoint["gen"])
        scale = checkpoint.get("scale")
        self.scale = scale.to(self.device) if scale is not None else None
        return len(self.history)

    def train(self, progress: TrainProgress | None = None, should_stop: Callable[[], bool] | None = None) -> StyleNet:
        """Train up to ``iters`` iterations or ``seconds`` (counting those of a restored checkpoint); returns the
        network (in eval mode). Ctrl-C stops the training early: the network as trained so far is returned and
        ``interrupted`` is set (:meth:`checkpoint` then keeps it)."""
        p = self.params
        start = time.perf_counter() - self.seconds
        decay_at = int(p.iters * 2 / 3)
        total_known = None if p.seconds else p.iters
        decayed = False
        elapsed = self.seconds
        self.interrupted = False
        for it in range(len(self.history), p.iters):
            # the last third of the iterations or of the time budget, whichever comes first
            if not decayed and (it >= decay_at or (p.seconds is not None and elapsed >= p.seconds * 2 / 3)):
                decayed = True
                for g in self.opt.param_groups:
                    g["lr"] = p.lr / 2
            drawn = self.gen.get_state()  # (an iteration cut short draws its crops again when restored)
            try:
                self.opt.zero_grad(set_to_none=True)
                loss, parts = self.loss()
                if self.scaler is not None:
                    self.scaler.scale(loss).backward()
                    self.scaler.step(self.opt)
                    self.scaler.update()
                else:
                    loss.backward()
                    self.opt.step()
                self.history.append(loss.detach())
                elapsed = self.seconds = time.perf_counter() - start
                if progress is not None:
                    progress(it + 1, total_known, {"loss": loss.detach(), "seconds": elapsed, **parts})
            except KeyboardInterrupt:
                # Ctrl-C: the training stops and keeps what it learned (an iteration cut short changes nothing:
                # the optimiser steps last, and a step is not cut in the middle)
                if len(self.history) == it:
                    self.gen.set_state(drawn)
                self.interrupted = True
                break
            if (p.seconds is not None and elapsed >= p.seconds) or (should_stop is not None and should_stop()):
                break
        return self.net.eval()


def training_clip(pairs: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]],
                  keyframes: Sequence[tuple[torch.Tensor, torch.Tensor]] = ()) -> TrainingClip:
    """Stack frame pairs ``(frame t, frame t+1, flow, mask)`` (``warp(frame t+1, flow) ~ frame t`` where
    ``mask``) and keyframes ``(source, optimised)``, on the CPU."""
    if not pairs:
        raise ValueError("training needs at least one pair of consecutive frames")
    cpu = lambda t: t.detach().to("cpu", torch.float32)  # noqa: E731
    first, second, flow, mask = (torch.cat([cpu(p[i]) for p in pairs]) for i in range(4))
    ks = torch.cat([cpu(s) for s, _ in keyframes]) if keyframes else None
    kt = torch.cat([cpu(t) for _, t in keyframes]) if keyframes else None
    return TrainingClip(first, second, flow, mask, ks, kt)


def load_style_net(path: str, device: torch.device | str = "cpu") -> tuple[StyleNet, dict]:
    """A network file (``torch.save(net.state(settings))``) read back, never unpickled with code
    (``weights_only``); anything else is one :class:`StyleNetError` line."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as e:
        raise StyleNetError(f"cannot read network file {path}: {e.strerror or e}") from None
    except Exception:  # not torch.save's format, truncated, or pickled objects that would run code
        raise StyleNetError(f"{path} is not a dreamreel style network (a damaged file, or not one --save-net "
                            f"wrote)") from None
    net, settings = StyleNet.from_state(state, where=path)
    return net.to(device), settings
