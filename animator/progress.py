"""Rich progress for long jobs: a bar, i/N, seconds per item, ETA; where the output is not a terminal (a log file, a
pipe, the studio's log), a plain line every ``LOG_EVERY`` seconds with the same figures."""
from __future__ import annotations

import time
from collections.abc import Callable
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


#: seconds between two progress lines in a log (output that is not a terminal, where rich draws no live bar)
LOG_EVERY = 5.0


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


#: a job's own estimate of the seconds it has left: ``eta(done, elapsed)``, None while it cannot tell (a clip whose
#: cost is in its keyframes, not its frames: :meth:`..clips.keyframes.KeyframeStyleMode.eta`)
Eta = Callable[[int, float], "float | None"]


def _estimate(eta: Eta | None, done: int, elapsed: float) -> float | None:
    try:
        return None if eta is None else eta(done, elapsed)
    except Exception:  # (read from rich's refresh thread while the job changes what it reads: a miss, not an error)
        return None


def log_line(description: str, done: int, total: int, unit: str, first: int, elapsed: float, status: str = "",
             eta: Eta | None = None) -> str:
    """One progress line for a log: ``keyframe 12 (optimisation): 40/100 iters, 4.40 s/iter, 0:02:56, ETA 0:04:24``.
    The ETA is the job's own (``eta``) where it gives one, else the rate so far times the items left."""
    rate = elapsed / (done - first) if done > first and elapsed > 0 else None
    left = _estimate(eta, done, elapsed)
    if left is not None:
        eta = _clock(left)
    else:
        eta = _clock(rate * (total - done)) if rate is not None and total else "--"
    per = f"{rate:.2f} s/{unit}" if rate is not None else f"-- s/{unit}"
    return f"{description}: {done}/{total} {unit}s, {per}, {_clock(elapsed)}, ETA {eta}" + (f"  {status}" if status else "")


def log_lines(description: str, total: int, unit: str = "step", first: int = 0, eta: Eta | None = None):
    """``update(done, status="")`` that writes :func:`log_line` at the start and every ``LOG_EVERY`` seconds where
    the output is not a terminal (a log), and nothing in a terminal: a phase inside another's live bar (a keyframe
    painted while the frame loop's bar stands) and :func:`progress_bar`'s lines."""
    logging = not console.is_terminal
    t0 = time.monotonic()
    last = {"at": None}

    def update(done: int, status: str = "") -> None:
        now = time.monotonic()
        if logging and (last["at"] is None or now - last["at"] >= LOG_EVERY) and done < total:
            last["at"] = now
            console.print(log_line(description, done, total, unit, first, now - t0, status, eta), highlight=False,
                          soft_wrap=True, markup=False)

    return update


class EtaColumn(ProgressColumn):
    """The job's own estimate of the time it has left (:data:`Eta`), asked at every refresh: it moves while the bar
    stands (a keyframe being painted inside a clip's bar)."""

    def __init__(self, eta: Eta):
        super().__init__()
        self.eta = eta

    def render(self, task) -> Text:
        left = _estimate(self.eta, int(task.completed), task.elapsed or 0.0)
        return Text("-:--:--" if left is None else _clock(left), style="progress.remaining")


@contextmanager
def progress_bar(description: str, total: int, unit: str = "step", first: int = 0, eta: Eta | None = None):
    """Yields ``update(done, status="")``. ``first``: items already done before this run (a resume). ``eta``: the
    job's own estimate of the seconds left (:data:`Eta`), where the items' rate so far does not tell.

    In a terminal, a live bar; elsewhere (a log) a line at the start and every ``LOG_EVERY`` seconds
    (:func:`log_line`). When the job stops with an exception the bar is taken away: what the user reads is the one
    line that says what happened (and how many items were kept)."""
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn(unit + "s"), RateColumn(unit), TimeElapsedColumn(), TextColumn("ETA"),
               TimeRemainingColumn() if eta is None else EtaColumn(eta), TextColumn("{task.fields[status]}")]
    with Progress(*columns, console=console, transient=False) as p:
        task = p.add_task(description, total=total, completed=first, status="", first=first)
        log = log_lines(description, total, unit, first, eta)

        def update(done: int, status: str = "") -> None:
            p.update(task, completed=done, status=status)
            log(done, status)

        try:
            yield update
        except BaseException:
            p.live.transient = True
            raise
