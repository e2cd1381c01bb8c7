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
