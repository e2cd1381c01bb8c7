"""Parse ``dreamreel CMD --help`` as rich prints it: panel titles and, per option, the lines of its row."""
from __future__ import annotations

import re

_TITLE = re.compile(r"^╭─ (.+?) ─")
_ROW = re.compile(r"^│ [ *]{0,4}(--?[a-z][\w-]*)")  # a name at the left edge (help text starts far right)


def help_rows(text: str) -> dict[str, tuple[str, int]]:
    """``{option: (panel, lines)}`` for every option of a help screen (its first name, as --long)."""
    rows: dict[str, tuple[str, int]] = {}
    panel, current = None, None
    for line in text.splitlines():
        title = _TITLE.match(line)
        if title:
            panel, current = title.group(1), None
            continue
        if line.startswith("╰"):
            current = None
            continue
        m = _ROW.match(line)
        if m and panel is not None:
            current = m.group(1).split(",")[0]
            rows[current] = (panel, 1)
        elif current is not None and line.startswith("│") and line[1:].strip(" │"):
            rows[current] = (rows[current][0], rows[current][1] + 1)
    return rows
