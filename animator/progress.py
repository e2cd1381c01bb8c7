"""Rich progress for long jobs: a bar, i/N, seconds per item, ETA."""
from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text

console = Console(stderr=True)


class RateColumn(ProgressColumn):
    """Seconds per item (frames or steps)."""

    def __init__(self, unit: str):
        super().__init__()
        self.unit = unit

    def render(self, task) -> Text:
        done = task.completed - task.fields.get("first", 0)
        if done <= 0 or not task.elapsed:
            return Text(f"-- s/{self.unit}")
        return Text(f"{task.elapsed / done:.2f} s/{self.unit}")


@contextmanager
def progress_bar(description: str, total: int, unit: str = "step", first: int = 0):
    """Yields ``update(done, status="")``. ``first``: items already done before this run (a resume).

    When the job stops with an exception the bar is taken away: what the user reads is the one
    line that says what happened (and how many items were kept)."""
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn(unit + "s"), RateColumn(unit), TimeElapsedColumn(), TextColumn("ETA"),
               TimeRemainingColumn(), TextColumn("{task.fields[status]}")]
    with Progress(*columns, console=console, transient=False) as p:
        task = p.add_task(description, total=total, completed=first, status="", first=first)

        def update(done: int, status: str = "") -> None:
            p.update(task, completed=done, status=status)

        try:
            yield update
        except BaseException:
            p.live.transient = True
            raise
