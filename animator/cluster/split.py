"""A clip split into frame ranges, rendered apart and joined: the machinery of ``video --workers``.

Each range is a Ray task (:func:`map_ranges`, over :mod:`.ray_tasks`, the one module that imports Ray); the
rest runs in one process. A range is decoded from its first frame (``ClipInfo.skip``), rendered by the one
frame scheduler into its own PNG folder, and encoded as an H.264 segment; the driver joins the
segments without re-encoding (ffmpeg's concat demuxer) and muxes the clip's audio.

A **mode factory** says how a range is rendered: ``factory(clip) -> Opened`` (the mode over a
reader of that range, and the plan's settings), and two attributes. The clip's method
(:mod:`..clips.registry`), prepared by the driver, is the factory of ``video --workers``:

- ``overlap``: frames each range after the first renders before its own;
- (optional) ``align``: the ranges start (and the overlap is rounded up) to multiples of it: a
  network that runs its frames in batches of ``align`` sees the batches a one-process run sees;
- ``seam``: ``"crossfade"`` — a recurrent mode (frame t starts from frame t-1's output: the video
  dream, the optimisation method): those frames are also the previous range's last ones and are
  cross-faded from its frames to this range's; ``"discard"`` — they only prime the mode (a
  network whose frame t depends on frames t-overlap..t only) and the frames equal a one-process
  run's bit for bit.

Seeds are the one-process run's (global frame numbers, :class:`Offset`).
"""
from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from dataclasses import dataclass, replace
from typing import Protocol

import torch

from ..clips.base import Opened
from ..clips.registry import method_for
from ..errors import UserError
from ..frameloop.render import check_outputs
from ..frameloop.scheduler import FrameScheduler, Mode, Sinks, frame_seed, quantize
from ..frameloop.settings import settings_path_for, write_settings
from ..media import FrameDir, Mp4Writer, make_gif, trimmed_audio
from ..media.atomic import publish, tmp_beside, unlink_quiet
from ..media.clip import ClipInfo, open_clip
from ..media.ffmpeg import count_video_packets, run_ffmpeg
from ..progress import console, progress_bar
from ..request.configs import VideoConfig
from .ray_tasks import last_line, require_ray, start, wait_all

SEAMS = ("crossfade", "discard")


class ModeFactory(Protocol):
    """How a range is rendered: a clip method (:class:`..clips.base.ClipMethod`, prepared) is one."""

    overlap: int
    seam: str
    # (optional) ``align``: ranges start at multiples of it (a network's batches); default 1

    def __call__(self, clip: ClipInfo) -> Opened:
        """The mode for ``clip`` (one range of the clip: its frames 0 .. clip.frames-1)."""


@dataclass(frozen=True)
class Range:
    """Frames ``start .. stop-1`` of the clip are this range's; it renders ``head`` frames before them."""

    index: int
    start: int
    stop: int
    head: int = 0

    @property
    def first(self) -> int:
        """The first frame it renders (its local frame 0)."""
        return self.start - self.head

    @property
    def rendered(self) -> int:
        return self.stop - self.first


def plan_ranges(n: int, parts: int, overlap: int, cadence: int = 1) -> list[Range]:
    """``n`` frames in (at most) ``parts`` near-equal ranges, each longer than twice the overlap;
    starts (and the overlap) on the cadence's stepped frames, so every range steps the frames a
    one-process run steps."""
    k = max(1, cadence)
    overlap = -(-overlap // k) * k if overlap else 0
    parts = max(1, min(parts, n // max(1, 2 * overlap + 1) if overlap else n))
    bounds = sorted({min(n, round(i * n / parts / k) * k) for i in range(parts)} | {n})
    bounds = [b for b in bounds if b < n] + [n]
    return [Range(i, a, b, head=min(overlap, a)) for i, (a, b) in enumerate(zip(bounds, bounds[1:]))]


def sub_clip(info: ClipInfo, first: int, stop: int) -> ClipInfo:
    """Frames ``first .. stop-1`` of ``info``'s frames, as a clip of their own."""
    return replace(info, frames=stop - first, skip=info.skip + first)


class Offset:
    """A range's mode in its own time (frame 0 = the range's first) with the one-process run's seeds."""

    def __init__(self, mode: Mode, offset: int, seed: int):
        self.mode, self.offset, self.seed = mode, offset, seed
        self.n_frames = mode.n_frames
        if hasattr(mode, "step_smaller"):
            self.step_smaller = lambda t, source, _seed: mode.step_smaller(t, source, self._seed(t))

    def _seed(self, t: int) -> int:
        return frame_seed(self.seed, t + self.offset)

    def __getattr__(self, name):  # device, first_source, source, tween: the mode's own
        return getattr(self.mode, name)

    def step(self, t, source, _seed):
        return self.mode.step(t, source, self._seed(t))


def segment_frames(rng: Range, last: bool, overlap: int, seam: str) -> range:
    """The global frames of range ``rng``'s own segment (cross-faded seams are the driver's)."""
    tail = overlap if seam == "crossfade" and not last else 0
    return range(rng.start, rng.stop - tail)


def range_folder(work: str, rng: Range) -> str:
    return os.path.join(work, f"range_{rng.index:04d}")


def render_range(factory: ModeFactory, clip: ClipInfo, rng: Range, last: bool, work: str, *, seed: int = 0,
                 cadence: int = 1, crf: int = 18, settings: dict | None = None) -> dict:
    """Render one range into ``work/range_NNNN/`` (PNG frames, local numbers) and its MP4 segment.

    Resumes from the frames already there (a range redone after its worker died)."""
    opened = factory(sub_clip(clip, rng.first, rng.stop))
    folder = range_folder(work, rng)
    part_settings = {**(settings or {}), **opened.settings, "range": [rng.first, rng.start, rng.stop]}
    try:
        sched = FrameScheduler(Offset(opened.mode, rng.first, seed), Sinks(frames_dir=folder), part_settings,
                               cadence=cadence, seed=seed, resume=True)
        result = sched.run()
    finally:
        opened.reader.close()
    frames = FrameDir(folder)
    own = segment_frames(rng, last, factory.overlap, factory.seam)
    segment = os.path.join(work, f"segment_{rng.index:04d}.mp4")
    encode(segment, (frames.read(g - rng.first) for g in own), clip.fps, crf)
    return {"index": rng.index, "frames": len(own), "stepped": result["stepped"], "seconds": result["seconds"],
            "segment": segment, "settings": opened.settings}


def encode(path: str, frames, fps: float, crf: int) -> str:
    with Mp4Writer(path, fps=fps, crf=crf) as w:
        for f in frames:
            w.write(f)
    return path


def fade_weight(j: int, overlap: int) -> float:
    """The later range's share in seam frame ``j`` (0-based) of ``overlap``: from ~0 to ~1."""
    return (j + 1) / (overlap + 1)


def assemble(ranges: list[Range], work: str, frames_dir: str, overlap: int, seam: str, fps: float,
             crf: int = 18) -> list[str]:
    """Move each range's own frames into ``frames_dir`` (global numbers), cross-fade the seams
    (written as frames and as their own segments); returns the segments in play order."""
    out = FrameDir(frames_dir)
    for p in out.path.glob("frame_*.png"):  # a new render: old frames would mix with these
        p.unlink()
    segments = []
    for i, rng in enumerate(ranges):
        folder = FrameDir(range_folder(work, rng))
        if i and seam == "crossfade" and overlap:
            prev = ranges[i - 1]
            before = FrameDir(range_folder(work, prev))
            seam_frames = []
            for j, g in enumerate(range(rng.start - overlap, rng.start)):
                w = fade_weight(j, overlap)
                a, b = before.read(g - prev.first), folder.read(g - rng.first)
                f = quantize((1 - w) * a + w * b)
                out.write(g, f)
                seam_frames.append(f)
            segments.append(encode(os.path.join(work, f"seam_{rng.index:04d}.mp4"), seam_frames, fps, crf))
        last = i == len(ranges) - 1
        for g in segment_frames(rng, last, overlap, seam):
            os.replace(folder.path_of(g - rng.first), out.path_of(g))
        segments.append(os.path.join(work, f"segment_{rng.index:04d}.mp4"))
    return segments


def join(segments: list[str], out: str, audio: str | None = None) -> str:
    """The segments played one after another as ``out`` (no re-encoding), with ``audio`` muxed in."""
    listing = os.path.join(os.path.dirname(segments[0]), "segments.txt")
    with open(listing, "w") as f:
        for s in segments:
            f.write("file '" + os.path.abspath(s).replace("'", "'\\''") + "'\n")
    joined = tmp_beside(Path(out)) if audio is None else tmp_beside(Path(listing).with_name("joined.mp4"))
    try:
        run_ffmpeg(["-f", "concat", "-safe", "0", "-i", listing, "-map", "0:v", "-c", "copy",
                    "-movflags", "+faststart", "-f", "mp4", str(joined)])
        if audio is None:
            publish(joined, out)
            return out
        frames = count_video_packets(joined)
        final = tmp_beside(Path(out))
        for pad in (False, True):  # as Mp4Writer: audio that ends a little early is padded with silence
            run_ffmpeg(["-i", str(joined), "-i", audio, "-map", "0:v", "-map", "1:a?", "-c:v", "copy", "-c:a", "aac",
                        *(["-af", "apad"] if pad else []), "-shortest", "-movflags", "+faststart", "-f", "mp4",
                        str(final)])
            if count_video_packets(final) >= frames:
                break
        publish(final, out)
        return out
    finally:
        unlink_quiet(joined)


def gif_from_frames(frames_dir: str, gif: str, plan: tuple, dither: str = "sierra2_4a") -> None:
    width, every, gif_fps = plan
    make_gif(FrameDir(frames_dir).paths()[::every], gif, fps=gif_fps, dither=dither, width=width)


def clear(work: str) -> None:
    shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------- the ranges as Ray tasks


def one_thread() -> None:
    """A worker that shares the machine with others: one thread for torch and OpenMP."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)


def _range_task(factory, clip, rng, last, work, kw):
    one_thread()
    return render_range(factory, clip, rng, last, work, **kw)


def map_ranges(ray, factory, clip, ranges, work: str, *, retries: int, gpus: float = 0, progress=None, **kw) -> list:
    """Each range as a Ray task (1 CPU, ``gpus`` GPUs); results in range order. A worker that dies
    is replaced and its range redone from the frames it had finished (``retries`` times)."""
    task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=retries)(_range_task)
    # the factory (and what it holds: a trained network) goes into the object store once; each task
    # gets it as an argument, which Ray hands over as the object itself
    shared = ray.put(factory)
    refs = {r.index: task.remote(shared, clip, r, r is ranges[-1], work, kw) for r in ranges}
    results: dict = {}
    failed: list = []

    def done(i, res):
        (failed.append((i, res)) if isinstance(res, Exception) else results.__setitem__(i, res))

    def poll():
        if progress:
            progress(sum(min(r.rendered, _count(range_folder(work, r))) for r in ranges))

    wait_all(ray, refs, done, poll)
    if failed:
        i, e = failed[0]
        raise UserError(f"range {i} of the clip failed after {retries} retries: {last_line(e)}")
    return [results[r.index] for r in ranges]


def _count(path: str) -> int:
    return FrameDir(path).count_complete() if os.path.isdir(path) else 0


# --------------------------------------------------------------------------- the driver

def render_video_split(cfg: VideoConfig, workers: int | None = None, address: str | None = None, retries: int = 2,
                       factory: ModeFactory | None = None) -> dict:
    """``video --workers N`` / ``--address ADDR``: the clip's frame ranges rendered as Ray tasks,
    joined into one MP4 (source audio) and frames folder; the GIF from the joined frames."""
    require_ray()
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be >= 1 (got {workers})")
    cfg.validate()
    check_outputs(cfg.outputs)
    c = cfg.clip
    info = open_clip(c.path, width=c.width, start=c.start, end=c.end, max_frames=c.max_frames)
    ray = start(address, num_cpus=workers)
    outputs = replace(cfg.outputs, fps=info.fps)
    frames_dir = outputs.frames_folder()
    work = os.path.splitext(outputs.mp4)[0] + ".ranges"
    lock = FrameDir(frames_dir).lock()
    try:
        if factory is None:  # the clip's method (the network method trains here, once)
            factory = method_for(cfg).prepare(info)
        if factory.seam not in SEAMS or factory.overlap < 0:
            raise ValueError(f"a mode factory needs seam in {SEAMS} and overlap >= 0")
        have = ray.cluster_resources()
        gpus = 1 if have.get("GPU", 0) >= 1 and cfg.backend.device != "cpu" else 0
        parts = workers or int(have.get("GPU", 0) if gpus else have.get("CPU", 1))
        ranges = plan_ranges(info.frames, parts, factory.overlap, math.lcm(cfg.cadence, getattr(factory, "align", 1)))
        if not outputs.resume:  # (with --resume the ranges continue from their frames)
            clear(work)
        # made here, before the ranges start: a range's writability probe makes the folders it misses and
        # removes them again, and two of them making and removing a shared parent at once raced (a worker's
        # makedirs lost the parent between its two mkdirs: "range 1 ... No such file or directory")
        os.makedirs(work, exist_ok=True)
        split = {"ranges": [[r.start, r.stop] for r in ranges], "overlap": factory.overlap, "seam": factory.seam}
        settings = {**cfg.as_settings(), "clip": os.path.abspath(c.path), "fps": info.fps,
                    "frame_size": [info.width, info.height], "frames": info.frames, "split": split}
        label = f"{cfg.mode.replace('-', ' ')} {info.width}x{info.height}, {len(ranges)} ranges"
        total = sum(r.rendered for r in ranges)
        with progress_bar(label, total=total, unit="frame") as update:
            results = map_ranges(ray, factory, info, ranges, work, retries=retries, gpus=gpus, progress=update,
                                 seed=cfg.backend.seed, cadence=cfg.cadence, settings=settings)
            update(total)
        settings.update(results[0]["settings"])
        segments = assemble(ranges, work, frames_dir, factory.overlap, factory.seam, info.fps)
        audio = trimmed_audio(info, beside=outputs.mp4)
        try:
            join(segments, outputs.mp4, audio)
        finally:
            unlink_quiet(audio)
        if outputs.gif:
            gif_from_frames(frames_dir, outputs.gif, outputs.gif_plan(info.width, info.fps))
        settings["outputs"] = {"frames": os.path.abspath(frames_dir), "mp4": os.path.abspath(outputs.mp4),
                               "gif": outputs.gif and os.path.abspath(outputs.gif)}
        write_settings(os.path.join(frames_dir, "settings.json"), settings)
        write_settings(settings_path_for(outputs.mp4), settings)
        clear(work)
    finally:
        lock.release()
    seconds = max(r["seconds"] for r in results)
    console.print(f"[green]wrote[/] {', '.join(filter(None, (outputs.mp4, outputs.gif)))}  ({info.frames} frames in "
                  f"{len(ranges)} ranges, {seconds:.1f} s the longest; frames in {frames_dir})",
                  highlight=False, soft_wrap=True)
    return {"frames": info.frames, "ranges": ranges, "results": results, "settings": settings}
