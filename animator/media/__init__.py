"""Media I/O: where pictures and videos enter and leave dreamreel.

Modules: ``atomic`` (temporary names, publishing, write checks), ``images`` (decode, read, write,
8-bit conversion, sizing), ``frames`` (PNG frame folders), ``ffmpeg`` (the one ffmpeg runner, video
probing), ``mp4`` (streamed H.264), ``gif`` (palette GIFs), ``clip`` (clips as a frame source), ``audio`` (a song decoded
as a stream, its cut for an MP4), ``music`` (the song's tempo, beats and bands: the schedules' music variables).

House rules:

* **Atomic outputs.** Every file is written under a temporary name in the *same* folder
  (``<name>.tmp-XXXXXXXX<suffix>``) and renamed into place only once complete, so a killed
  render never leaves a truncated file under the final name.
* **Streaming.** At most one frame (plus ffmpeg's own buffers) is held per output: MP4 frames are
  piped to ffmpeg as they come, GIFs are made in two streamed passes, clips are decoded frame by frame.
* **Resumable frames.** :class:`FrameDir` stores ``frame_000000.png`` ... and tells how many
  consecutive frames from 0 are complete.
"""
from .atomic import check_writable, publish
from .clip import ClipReader, open_clip, trimmed_audio
from .frames import FrameDir
from .gif import make_gif
from .images import fit_size, read_image, resize_to, to_uint8, write_image
from .mp4 import Mp4Writer

__all__ = [
    "check_writable", "publish", "ClipReader", "open_clip", "trimmed_audio", "FrameDir", "make_gif",
    "fit_size", "read_image", "resize_to", "to_uint8", "write_image", "Mp4Writer",
]
