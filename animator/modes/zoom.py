"""The zoom mode: each frame is the previous one zoomed/rotated/shifted, then dreamed a little more."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import torch

from ...engine.backbones import Backbone
from ...engine.deepdream import dream
from ...engine.objectives import Objective
from ...engine.params import DreamParams
from ...engine.warp import compose, invert, motion_matrix, warp_affine
from ..request.configs import ZoomConfig
from ..progress import console
from ..frameloop.render import check_outputs, fitting, run
from ..request.resolve import resolve, scheduled_objective
from ..request.schedule import Schedule
from ..frameloop.loop import Loop, fade_frames
from ..frameloop.scheduler import HalfStep, Source
from ..media.atomic import unlink_quiet


@dataclass
class Motion:
    """Keyframed motion: zoom (>1 = in), angle (degrees), translation (px), centre (fraction of w/h)."""

    zoom: Schedule
    angle: Schedule
    translation_x: Schedule
    translation_y: Schedule
    center_x: Schedule
    center_y: Schedule
    n_frames: int
    stride: int = 1  # a preview's frame t is the render's frame stride * t ...
    px: float = 1.0  # ... at this fraction of its size (translations in px scale with it)

    def frame_matrix(self, t: int, h: int, w: int) -> np.ndarray:
        """The motion that takes frame t-1 to frame t."""
        if self.stride == 1:
            return self._step(t, h, w)
        m = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        for u in range(self.stride * (t - 1) + 1, self.stride * t + 1):
            m = compose(m, self._step(u, h, w))
        return m

    def _step(self, u: int, h: int, w: int) -> np.ndarray:
        """The motion of the render's frame u - 1 to u."""
        n = self.n_frames
        return motion_matrix(h, w, self.zoom(u, n), self.angle(u, n), self.px * self.translation_x(u, n),
                             self.px * self.translation_y(u, n), cx=self.center_x(u, n) * (w - 1),
                             cy=self.center_y(u, n) * (h - 1))

    def between(self, t0: int, t1: int, h: int, w: int) -> np.ndarray:
        """The motion from frame t0 to frame t1 (t0 <= t1): frames t0+1 .. t1 composed."""
        m = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        for t in range(t0 + 1, t1 + 1):
            m = compose(m, self.frame_matrix(t, h, w))
        return m


class ZoomMode(HalfStep):
    """``objective``: one objective for every frame, or ``t -> objective`` (an objective schedule)."""

    def __init__(self, net: Backbone, objective: Objective | Callable[[int], Objective], start: torch.Tensor,
                 motion: Motion, base: DreamParams, strength: Schedule, steps: Schedule, octaves: Schedule,
                 border: str = "reflect", interp: str = "lanczos", lead: int = 0):
        """``lead``: frames rendered before the ``motion.n_frames`` the outputs play (a fade loop's, made past the
        end: the schedules hold their last values there)."""
        self.net = net
        self.objective_at = objective if not isinstance(objective, Objective) else (lambda t: objective)
        self.start = start.to(net.device)
        self.motion = motion
        self.base = base
        self.strength, self.steps, self.octaves = strength, steps, octaves
        self.border, self.interp = border, interp
        self.n_frames = math.ceil((motion.n_frames + lead) / motion.stride)
        self.h, self.w = start.shape[-2:]
        self.device = net.device

    def params(self, t: int, seed: int) -> DreamParams:
        n, t = self.motion.n_frames, t * self.motion.stride
        return DreamParams(
            octaves=max(1, round(self.octaves(t, n))), octave_scale=self.base.octave_scale,
            steps=max(0, round(self.steps(t, n))), lr=max(0.0, self.strength(t, n)),
            jitter=self.base.jitter, smooth=self.base.smooth, tile=self.base.tile, seed=seed)

    def first_source(self) -> Source:
        return Source(self.start)

    def warp(self, frame: torch.Tensor, m: np.ndarray, with_mask: bool = False):
        return warp_affine(frame, m, border=self.border, interp=self.interp, with_mask=with_mask)

    def source(self, t: int, prev: torch.Tensor, prev_t: int) -> Source:
        return Source(self.warp(prev, self.motion.between(prev_t, t, self.h, self.w)))

    def step(self, t: int, source: Source, seed: int, lr_scale: float = 1.0) -> torch.Tensor:
        p = self.params(t, seed)
        if p.steps == 0 or p.lr == 0:
            return source.image
        if lr_scale != 1.0:
            p = replace(p, lr=p.lr * lr_scale)
        objective = self.objective_at(t * self.motion.stride)
        out, tile = fitting(lambda tile: dream(self.net, source.image, objective, replace(p, tile=tile)), p.tile,
                            f"frame {t} ({self.w}x{self.h} on {self.device})", self.say)
        if tile != p.tile:  # the frames after it start from the tile that fit
            self.base = replace(self.base, tile=tile)
        return out

    @staticmethod
    def say(message: str) -> None:
        console.print(f"[yellow]note:[/] {message}", highlight=False, soft_wrap=True)

    def tween(self, t, a, ta, b, tb) -> torch.Tensor:
        """Warp the stepped frame before forward and the one after backward; cross-fade by time.

        Where the backward warp had to invent pixels (outside the later frame), the earlier
        frame is used alone.
        """
        wa = self.warp(a, self.motion.between(ta, t, self.h, self.w))
        if b is None:
            return wa
        wb, valid = self.warp(b, invert(self.motion.between(t, tb, self.h, self.w)), with_mask=True)
        weight = valid * ((t - ta) / (tb - ta))
        return wa + weight * (wb - wa)


PREVIEW_STRIDE = 4  # --preview: every 4th frame ...
PREVIEW_SCALE = 0.5  # ... at half size


LONG_SONG = 600.0  # s: a song longer than this is said to make a long render


def song_frames(cfg: ZoomConfig, song, say: Callable[[str], None]) -> int:
    """How many frames a zoom to ``song`` renders: ``--frames``, else as many as the song lasts; a loop (``--loop``)
    of whole beats, so that the beat goes on across the seam (or a line says why not)."""
    fps = cfg.outputs.fps
    if not cfg.song_length:
        n = cfg.frames
        if cfg.outputs.loop and song.bpm > 0:
            beats = n / fps * song.bpm / 60
            if abs(beats - round(beats)) * 60 / song.bpm * fps > 0.5:
                say(f"--loop: --frames {n} is {beats:.2f} beats at {song.bpm:.1f} bpm: the loop does not land on a "
                    f"beat (leave --frames out for whole beats)")
        return n
    n = song.frames(fps)
    if song.seconds > LONG_SONG:
        say(f"{cfg.song.audio} lasts {int(song.seconds // 60)}:{int(song.seconds % 60):02d}: the render is {n} frames "
            f"(--frames, --start/--end cut it)")
    if cfg.outputs.loop:
        whole = song.whole_beats(fps)
        if whole is None:
            say(f"--loop: no steady beat in {cfg.song.audio}: the loop is the song's length ({n} frames), not whole "
                f"beats")
        else:
            n, beats = whole
            say(f"--loop: {n} frames, {beats} whole beats at {song.bpm:.1f} bpm (the song's first {n / fps:.2f} s "
                f"of {song.seconds:.2f} s)")
    return n


def read_song(cfg: ZoomConfig, say: Callable[[str], None]):
    """The --audio song analysed (one line for a file that cannot drive a render), what the analysis said."""
    from ..media.music import analyse

    song = analyse(cfg.song.audio, cfg.song.start, cfg.song.end)
    for note in song.notes:
        say(note)
    return song


def render_zoom(cfg: ZoomConfig) -> dict:
    """Render the zoom animation ``cfg`` describes (a validated config from :func:`.configs.zoom_config`).

    With ``cfg.preview``: only a quick look first, every 4th frame at half size to ``OUT_preview.mp4``
    (played at the render's frame rate, so 4x faster), then stop.

    With ``--audio``: the song is analysed first; the render lasts as long as it (``--frames`` cuts it), the
    schedules read its curves (``beat``, ``bass``, ...) and the MP4 carries it from frame 0.
    """
    preview = cfg.preview
    stride, px = (PREVIEW_STRIDE, PREVIEW_SCALE) if preview else (1, 1.0)
    outputs = cfg.outputs
    if preview:
        stem = os.path.splitext(outputs.main)[0] + "_preview"
        outputs = replace(outputs, mp4=stem + ".mp4", gif=None, frames_dir=stem + "_frames", resume=False)
    check_outputs(outputs)
    song = curves = None
    if cfg.song.audio is not None:
        song = read_song(cfg, ZoomMode.say)
        cfg = replace(cfg, frames=song_frames(cfg, song, ZoomMode.say))
    # --loop: the loop plays from frame 2L, once the start picture has dissolved, and its last L frames fade
    # into frames L .. 2L-1 (the preview shows the motion, not the loop)
    loop = None
    if outputs.loop and not preview:
        fade = fade_frames(cfg.frames, outputs.fps)
        loop = Loop("fade", fade, lead=2 * fade)
    if song is not None:
        # frame t of the render plays as frame t - lead of the loop; the frames before it (a fade loop's lead) come,
        # when it loops, after its last: they read the song's end
        curves = song.curves(outputs.fps, cfg.frames, cfg.song.beat_decay)
        if loop is not None:
            curves = curves.shifted(loop.first_played(), wrap=True)
    schedule = cfg.objective_schedule()
    picture = replace(cfg.picture, size=max(1, round(cfg.picture.size * px)))
    plan = resolve(cfg.backend, picture=picture, target=cfg.target, objective=schedule is None)
    objective = plan.objective if schedule is None else scheduled_objective(plan.net, schedule, cfg.backend.seed,
                                                                            song=curves)
    motion = Motion(*(cfg.schedule(k, curves) for k in ("zoom", "angle", "translation_x", "translation_y",
                                                         "center_x", "center_y")),
                    n_frames=cfg.frames, stride=stride, px=px)
    mode = ZoomMode(plan.net, objective, plan.start, motion, cfg.base_dream(), cfg.schedule("strength", curves),
                    cfg.schedule("steps", curves), cfg.schedule("octaves", curves), border=cfg.border,
                    lead=loop.first_played() if loop else 0)
    w, h = plan.size
    settings = {**cfg.as_settings(), **plan.settings(), "preview": preview}
    audio = None
    if song is not None:
        settings["song"] = song.summary()
        if outputs.mp4 and not preview:  # (a preview plays 4x faster: no sound)
            from ..media.audio import song_cut

            audio = song_cut(cfg.song.audio, cfg.song.start, cfg.frames / outputs.fps, beside=outputs.mp4)
    try:
        result = run(mode, outputs, settings, f"zoom {'preview ' if preview else ''}{w}x{h}", w,
                     cadence=1 if preview else cfg.cadence, color_coherence=cfg.color_coherence, seed=cfg.backend.seed,
                     crf=cfg.crf, gif_dither=cfg.dither, settings_beside=outputs.main, loop=loop, audio=audio)
    finally:
        unlink_quiet(audio)
    if preview:
        console.print(f"preview: every {stride}th frame at half size in {outputs.mp4}"
                      f"{' (it does not loop)' if outputs.loop else ''}; run the same command without "
                      f"--preview for the full render", highlight=False, soft_wrap=True)
    return result


__all__ = ["Motion", "ZoomMode", "read_song", "render_zoom", "song_frames"]
