"""The one kind of error a user sees: one line, exit code 2."""


class UserError(Exception):
    """A mistake in what the user asked for (a path, a name, a value). Printed as one line."""

    exit_code = 2


class SourceEnded(UserError):
    """A source (a truncated clip) ran out before the frames it announced; what was made is kept."""
