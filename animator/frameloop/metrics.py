"""Metrics on rendered clips (the measuring lives in engine.flow; this reads the files)."""
from __future__ import annotations

from typing import Callable

from ..media import ClipReader, open_clip
from ..errors import UserError
from ..progress import console


def warp_error_report(source: str, output: str, flow: str = "dis", max_frames: int | None = None) -> dict:
    """Warping error of ``output`` against ``source``'s flow, and of ``source`` itself (the floor)."""
    from ...engine.flow import warping_error

    out_info = open_clip(output, max_frames=max_frames)
    src_info = open_clip(source, width=out_info.width, max_frames=max_frames)
    if (src_info.width, src_info.height) != (out_info.width, out_info.height):
        src_info = open_clip(source, max_frames=max_frames)
        raise UserError(f"sizes differ: source {src_info.width}x{src_info.height} vs output "
                        f"{out_info.width}x{out_info.height} (aspect ratios must match)")
    n = min(src_info.frames, out_info.frames)
    if src_info.frames != out_info.frames:
        console.print(f"[yellow]note:[/] frame counts differ ({src_info.frames} vs {out_info.frames}); "
                      f"using the first {n}")
    src_info = open_clip(source, width=out_info.width, max_frames=n)
    out_info = open_clip(output, max_frames=n)
    try:
        out = warping_error(ClipReader(out_info), ClipReader(src_info), method=flow)
        floor = warping_error(ClipReader(src_info), ClipReader(src_info), method=flow)
    except ValueError as e:
        raise UserError(str(e)) from None
    console.print(f"warp error  output {out['warp_error']:.6f}   source (floor) {floor['warp_error']:.6f}   "
                  f"over {out['pairs']} frame pairs at {out_info.width}x{out_info.height}")
    return {"output": out["warp_error"], "source": floor["warp_error"], "pairs": out["pairs"]}


def loop_steps(played: list, carry: Callable | None = None) -> dict:
    """How much a loop changes from each played frame to the next, the last to the first included.

    ``played``: the frames as the loop plays them, (1, 3, H, W) tensors. ``carry(frame)``: the frame
    carried where the next one is by the known motion (a zoom's warp) and the mask where that holds,
    or None (no motion). Returns ``steps`` (mean absolute difference over the valid pixels, one per
    step, the seam last), ``seam``, ``median`` (of the other steps) and ``ratio`` (seam / median).
    """
    steps = []
    for i, frame in enumerate(played):
        nxt = played[(i + 1) % len(played)]
        moved, mask = carry(frame) if carry is not None else (frame, None)
        diff = (moved - nxt).abs().mean(dim=1, keepdim=True)
        steps.append(float(diff.mean() if mask is None else (diff * mask).sum() / mask.sum().clamp(min=1)))
    inner = sorted(steps[:-1])
    median = inner[len(inner) // 2]
    return {"steps": steps, "seam": steps[-1], "median": median, "ratio": steps[-1] / max(median, 1e-12)}
