"""What every clip method is: ``ClipMethod``, the few steps a render takes with it, and ``Opened``, what opening a
clip gives. A method is chosen by name (:mod:`.registry`) and used alike by a render in one process
(:func:`.video.render_video`) and by each range of a split one (:mod:`..cluster.split`, where the method is the
mode factory)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from ...engine.flow import flow_pair, warp
from ..frameloop.scheduler import Mode
from ..media import ClipReader
from ..media.clip import ClipInfo
from ..request.configs import VideoConfig

#: frames each range of a recurrent method (frame t starts from frame t-1's output) renders before its own in a
#: split render, cross-faded with the previous range's
OVERLAP = 4


@dataclass
class Opened:
    """A clip (or a range of one) ready to render: its mode, the reader the mode decodes from, and what
    settings.json records of the plan."""

    mode: Mode
    reader: ClipReader
    settings: dict = field(default_factory=dict)


class ClipMethod:
    """One way to render a clip (``video --dream``, ``video --style --method NAME``). The steps, in the order a
    render takes them:

    - :meth:`prepare` — once per clip, before any frame (in a split render, the driver's): what the whole clip
      shares and is worth doing once. The network method reads, finds in the cache or trains its network here;
      the others share nothing (each range resolves its plan and paints its own keyframes).
    - :meth:`open` — the mode over a reader of ``clip`` (the whole clip, or one range of a split render, as a clip
      of its own) and what settings.json records of its plan: an :class:`Opened`. Its cache keys and settings are
      the method's own.
    - ``overlap``, ``seam``, ``align`` — how a split render cuts the clip for it (:mod:`..cluster.split`): frames a
      range renders before its own, cross-faded (``"crossfade"``: a recurrent method) or only priming the mode
      (``"discard"``); ranges start at multiples of ``align``.

    Calling the method opens a range (``method(clip)``): the split render's mode factory.
    """

    name: ClassVar[str]
    overlap: int = 0
    seam: str = "discard"
    align: int = 1

    def __init__(self, cfg: VideoConfig):
        self.cfg = cfg

    def prepare(self, info: ClipInfo) -> "ClipMethod":
        return self

    def open(self, clip: ClipInfo, announce: bool = True) -> Opened:
        raise NotImplementedError

    def __call__(self, clip: ClipInfo) -> Opened:
        return self.open(clip, announce=False)


def along_flow(clip: ClipReader, t: int, prev_t: int, image: torch.Tensor, method: str, mode: str = "bilinear"):
    """``image`` (which belongs to frame ``prev_t``) carried to frame ``t`` along the optical flow
    (``mode``: ``warp``'s interpolation), and the mask (1, 1, H, W) of where that flow holds (the
    forward-backward check)."""
    flow_t_to_prev, _, mask = flow_pair(clip.frame(t), clip.frame(prev_t), method=method)
    return warp(image, flow_t_to_prev, mode=mode), mask


def keyframes_at(n_frames: int, k: int) -> list[int]:
    """``k`` keyframes, each in the middle of an equal share of the clip."""
    return sorted({min(n_frames - 1, int((i + 0.5) * n_frames / k)) for i in range(k)}) if k else []
