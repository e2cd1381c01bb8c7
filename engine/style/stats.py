"""Style statistics of an activation: Gram matrices (plain or centred), one-pixel-shifted
cross-Grams and channel means, from one hand-written autograd node; and total variation."""
from __future__ import annotations

from typing import Sequence

import torch


def _flat(act: torch.Tensor) -> torch.Tensor:
    """(1, C, H, W) -> (H*W, C); a view when the activation is channels-last (as our backbones give)."""
    return act[0].permute(1, 2, 0).reshape(-1, act.shape[1])


def gram(act: torch.Tensor, centered: bool = False) -> torch.Tensor:
    """Gram matrix of a (1, C, H, W) activation, divided by C*H*W (neural-style's normalisation).

    ``centered``: the covariance (channel means removed) -- the means are then matched apart.
    """
    return style_stats(act, centered, ())[0][""]


class _GramStats(torch.autograd.Function):
    """All the raw products one style layer needs, from an (N, C) matrix ``f``, in one graph node.

    Returns ``f.T @ f``, ``f.sum(0)`` and, for each row offset k in ``offsets``,
    ``(f[:-k].T @ f[k:], f[:-k].sum(0), f[k:].sum(0))``. The backward writes the gradient of
    all of them into one buffer (one full-size product plus two per offset): autograd's own
    backward of the slices filled and copied a zero gradient per slice and per use and then
    added the pieces up, which on the CPU was over a third of a Lite0 style iteration.
    """

    @staticmethod
    def forward(ctx, f: torch.Tensor, offsets: tuple[int, ...]):
        ctx.save_for_backward(f)
        ctx.offsets = offsets
        out = [f.t() @ f, f.sum(0)]
        for k in offsets:
            a, b = f[:-k], f[k:]
            out += [a.t() @ b, a.sum(0), b.sum(0)]
        return tuple(out)

    @staticmethod
    def backward(ctx, dg: torch.Tensor, dtotal: torch.Tensor, *dshift: torch.Tensor):
        (f,), offsets = ctx.saved_tensors, ctx.offsets
        n = f.shape[0]
        parts = [(k, *dshift[3 * i : 3 * i + 3]) for i, k in enumerate(offsets)]
        # the row-constant terms: dtotal everywhere, dsa on rows [:n-k], dsb on rows [k:]
        base = dtotal + sum((dsa + dsb for _, _, dsa, dsb in parts), torch.zeros_like(dtotal))
        grad = torch.addmm(base.unsqueeze(0).expand(n, -1), f, dg + dg.t())
        for k, dgs, dsa, dsb in parts:
            grad[: n - k].addmm_(f[k:], dgs.t())  # rows of A = f[:n-k] get B dG^T
            grad[k:].addmm_(f[: n - k], dgs)  # rows of B = f[k:] get A dG
            grad[:k] -= dsb
            grad[n - k :] -= dsa
        return grad, None


def style_stats(act: torch.Tensor, centered: bool,
                shifts: Sequence[int]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Gram (key ""), shifted cross-Grams (keys ">x1", ">y1" ...) and the channel means of an activation.

    Works on the (H*W, C) view of a channels-last activation. Centring is done on the small
    C x C products (G - n mu mu^T), not on the big activation. A horizontal shift by d pairs
    position p with p + d in row-major order (the d pairs per row that wrap to the next row
    are kept: d/W of the pairs); a vertical one pairs p with p + d*W (exact).
    """
    h, w = act.shape[-2:]
    f = _flat(act)
    n, c = f.shape
    tags, offsets = [], []
    for d in shifts:
        for tag, k in ((f">x{d}", d), (f">y{d}", d * w)):
            if k >= n or (tag.startswith(">x") and d >= w) or (tag.startswith(">y") and d >= h):
                continue
            tags.append(tag)
            offsets.append(k)
    g, total, *rest = _GramStats.apply(f.contiguous(), tuple(offsets))
    mean = total / n
    if centered:
        g = g - torch.outer(total, mean)
    out = {"": g / float(c * n)}
    for i, (tag, k) in enumerate(zip(tags, offsets)):
        gs, sa, sb = rest[3 * i : 3 * i + 3]
        m = n - k
        if centered:
            gs = gs - torch.outer(sa, sb) / m
        out[tag] = gs / float(c * m)
    return out, mean


def tv_loss(x: torch.Tensor, beta: float | None = None) -> torch.Tensor:
    """Total variation: mean |neighbour differences| (``beta`` None), else mean (dx^2 + dy^2)^(beta/2)."""
    dx = x[..., :, 1:] - x[..., :, :-1]
    dy = x[..., 1:, :] - x[..., :-1, :]
    if beta is None:
        return dx.abs().mean() + dy.abs().mean()
    d2 = dx[..., :-1, :] ** 2 + dy[..., :, :-1] ** 2
    return (d2 + 1e-8).pow(beta / 2).mean()
