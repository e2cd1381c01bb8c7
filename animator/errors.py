"""The one kind of error a user sees: one line, exit code 2; and the check every reader of a
user's file starts with."""
from __future__ import annotations

import os


class UserError(Exception):
    """A mistake in what the user asked for (a path, a name, a value). Printed as one line."""

    exit_code = 2


class SourceEnded(UserError):
    """A source (a truncated clip) ran out before the frames it announced; what was made is kept."""


def require_file(path, what: str = "file", kind: str = "a file") -> None:
    """``path`` is there and is not a folder, else one UserError line."""
    if not os.path.exists(path):
        raise UserError(f"{what} not found: {path}")
    if os.path.isdir(path):
        raise UserError(f"{path} is a folder, not {kind}")


class RenderInterrupted(Exception):
    """Ctrl-C (or SIGTERM, the studio's Stop) stopped a render: the finished frames are kept (what ``--resume``
    continues from) and the MP4/GIF named in ``outputs`` were written with them; or, before the first frame
    (``before_frames``), what was kept of the work that precedes them (a keyframe or a network in the cache).

    Raised after the KeyboardInterrupt was handled, as a report of it (so an ``Exception``: the
    command line's framework turns a KeyboardInterrupt into a bare exit code)."""

    def __init__(self, done: int, total: int, frames_dir: str | None, outputs: list[str], kept: str | None = None):
        self.done, self.total, self.frames_dir, self.outputs = done, total, frames_dir, list(outputs)
        self.kept = kept
        super().__init__(self.summary())

    @classmethod
    def before_frames(cls, kept: str) -> "RenderInterrupted":
        """Stopped before the frame loop; ``kept``: what of the work so far is kept, in words."""
        return cls(0, 0, None, [], kept=kept)

    def summary(self) -> str:
        if self.kept is not None:
            return f"interrupted before the first frame: {self.kept}"
        kept = f"interrupted: {self.done} of {self.total} frames done, kept in {self.frames_dir}"
        if not self.outputs:
            return kept
        plays = " and ".join(self.outputs)
        return f"{kept}; {plays} play{'s' * (len(self.outputs) == 1)} them"
