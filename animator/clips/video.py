"""A clip rendered in one process: ``dreamreel video``'s road. The method is chosen by name (:mod:`.registry`),
prepared (its network found or trained), opened over the clip (its mode and reader), and the frame loop
(:func:`..frameloop.render.run`) renders it to the PNG frames, the MP4 with the clip's audio and the GIF."""
from __future__ import annotations

import os
from dataclasses import replace

from ..errors import UserError
from ..frameloop.loop import Loop, fade_frames
from ..frameloop.render import check_outputs, run
from ..media import open_clip, trimmed_audio
from ..request.configs import VideoConfig
from .registry import method_for


def render_video(cfg: VideoConfig) -> dict:
    """Dream or stylise every frame of a clip; MP4 at the clip's fps with its audio, GIF on request."""
    cfg.validate()
    check_outputs(cfg.outputs)
    c = cfg.clip
    info = open_clip(c.path, width=c.width, start=c.start, end=c.end, max_frames=c.max_frames)
    opened = method_for(cfg).prepare(info).open(info)
    mode, reader, plan_settings = opened.mode, opened.reader, opened.settings
    loop = None
    if cfg.outputs.loop:  # the last frames fade into the first ones; the MP4 plays the rest, without the audio
        loop = Loop("fade", fade_frames(info.frames, info.fps))
        if info.frames < 2 * loop.frames + 1:
            reader.close()
            raise UserError(f"--loop needs a clip of at least 3 frames (this one has {info.frames})")
    audio = None if loop else trimmed_audio(info, beside=cfg.outputs.mp4)
    settings = {**cfg.as_settings(), **plan_settings, "clip": os.path.abspath(c.path), "fps": info.fps,
                "frame_size": [info.width, info.height], "frames": info.frames}
    outputs = replace(cfg.outputs, fps=info.fps)
    try:
        return run(mode, outputs, settings, f"{cfg.mode.replace('-', ' ')} {info.width}x{info.height}", info.width,
                   cadence=cfg.cadence, seed=cfg.backend.seed, audio=audio, settings_beside=outputs.mp4, loop=loop)
    finally:
        reader.close()
        if audio:
            os.remove(audio)
