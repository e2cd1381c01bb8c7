"""``dreamreel batch JOBS.toml``: a list of renders, each any dreamreel command, run as Ray tasks.

A jobs file has one TOML table per job::

    [jellyfish]
    command = "zoom"                 # any dreamreel command
    image = "pictures/sea.jpg"       # its argument, by name (image / clip) ...
    output = "out/sea.mp4"           # ... and its options by their command-line names
    frames = 120
    preset = ["classic-zoom", "deep-fractal"]   # a grid: images, preset and style lists give the product
    cpus = 2                         # what the job needs (default cpus = 1, gpus = 0)

Relative paths are relative to the jobs file's folder (the jobs run there). Every job is parsed
and its config checked (``validate()``: no torch) before any runs: a mistake is one line naming
the job. A job whose outputs and settings file are there, with the settings it asks for, is
finished and skipped, so a batch that stopped resumes where it was.

Each job runs ``dreamreel COMMAND ...`` in a process of its own (a crash, a leak or a stuck
thread pool of one job cannot take the others down, and the job's threads are set before torch
loads); its stderr goes to ``JOBS_logs/NAME.log``.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field

from ..errors import UserError
from ..frameloop.settings import settings_path_for

RESOURCES = ("cpus", "gpus")
GRID = ("preset", "style")  # besides the command's argument (image / clip)
PATH_OPTIONS = ("output", "gif", "mp4", "frames_dir")  # made distinct in a grid
NOT_IN_JOBS = ("workers", "address", "retries")
SUMMARY_OUTPUTS = ("mp4", "gif", "output")


@dataclass(frozen=True)
class Job:
    name: str
    command: str
    argv: tuple[str, ...]  # the command line after ``dreamreel``
    cpus: float = 1
    gpus: float = 0
    outputs: tuple[str, ...] = ()  # files (and folders) a finished job has written
    marker: str = ""  # its settings file, written last
    settings: dict = field(default_factory=dict, hash=False, compare=False)  # what the marker must record


# --------------------------------------------------------------------------- reading and checking


def load_jobs(path: str) -> list[Job]:
    """Every job of the jobs file, grids expanded, each parsed and checked; a mistake is one line."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise UserError(f"jobs file not found: {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path} is not valid TOML: {e}") from None
    if not data:
        raise UserError(f"{path} has no jobs (one [table] per job)")
    jobs: list[Job] = []
    with in_folder(os.path.dirname(os.path.abspath(path))):
        for name, table in data.items():
            if not isinstance(table, dict):
                raise UserError(f"{path}: '{name}' is not a job: give each job a [table] with a command")
            jobs.extend(expand(name, table))
    seen: dict[str, str] = {}
    for job in jobs:
        for out in job.outputs:
            other = seen.setdefault(os.path.abspath(out), job.name)
            if other != job.name:
                raise UserError(f"jobs {other} and {job.name} both write {out}")
    return jobs


@contextlib.contextmanager
def in_folder(folder: str):
    old = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


def expand(name: str, table: dict) -> list[Job]:
    """A job's table as jobs: one, or the product of its grid's lists (outputs made distinct)."""
    table = {k.replace("-", "_"): v for k, v in table.items()}
    command = table.pop("command", None)
    if not isinstance(command, str):
        raise UserError(f"job {name}: no command (command = \"zoom\", \"dream\", ...)")
    resources = {k: table.pop(k) for k in RESOURCES if k in table}
    for k, v in resources.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
            raise UserError(f"job {name}: {k} must be a number >= 0 (got {v!r})")
    for k in NOT_IN_JOBS:
        if k in table:
            raise UserError(f"job {name}: {k} is an option of the batch, not of a job")
    cmd = click_command(name, command)
    argument = next((p.name for p in cmd.params if p.param_type_name == "argument"), None)
    if argument and argument + "s" in table:  # images = [...] / clips = [...]
        table[argument] = table.pop(argument + "s")
    axes = [k for k in (argument, *GRID) if k in table and _is_grid(k, table[k])]
    choices = [[table[k]] if k not in axes else table[k] for k in axes]
    jobs = []
    for combo in itertools.product(*choices):
        values = dict(table, **dict(zip(axes, combo)))
        varying = [_stem(v) for k, v in zip(axes, combo) if len(table[k]) > 1]
        job_name = "_".join([name, *varying]) if varying else name
        if varying:
            for k in PATH_OPTIONS:
                if isinstance(values.get(k), str):
                    values[k] = _suffixed(values[k], "_" + "_".join(varying))
        jobs.append(check(job_name, command, cmd, argument, values,
                          float(resources.get("cpus", 1)), float(resources.get("gpus", 0))))
    return jobs


def _is_grid(key: str, value) -> bool:
    if key == "style":  # style = "a.jpg" (one), ["a.jpg", "b.jpg"] (two jobs), [["a.jpg", "b.jpg"]] (a blend)
        return isinstance(value, list) and len(value) > 0
    return isinstance(value, list)


def _stem(value) -> str:
    if isinstance(value, list):
        return "+".join(_stem(v) for v in value)
    return os.path.splitext(os.path.basename(str(value).rstrip("/")))[0] or str(value)


def _suffixed(path: str, suffix: str) -> str:
    if path.endswith("/"):
        return path.rstrip("/") + suffix + "/"
    stem, ext = os.path.splitext(path)
    return stem + suffix + ext


def click_command(job: str, command: str):
    from .commands import app
    import typer

    group = typer.main.get_command(app)
    cmd = group.commands.get(command)
    if cmd is None:
        names = ", ".join(sorted(c for c in group.commands if c != "batch"))
        raise UserError(f"job {job}: unknown command {command!r}; use one of {names}")
    return cmd


def to_argv(job: str, command: str, cmd, argument: str | None, values: dict) -> list[str]:
    """A job's values as the command line they stand for (options by their CLI names)."""
    by_name = {}
    for p in cmd.params:
        if p.param_type_name == "argument":
            continue
        for opt in (*p.opts, *p.secondary_opts):
            if opt.startswith("--"):
                by_name.setdefault(opt[2:].replace("-", "_"), p)
        by_name.setdefault(p.name, p)
    positional, args = [], []
    for key, value in values.items():
        if key == argument:
            positional = [str(value)]
            continue
        p = by_name.get(key)
        if p is None or p.name == "help":
            raise UserError(f"job {job}: {command} has no option --{key.replace('_', '-')}")
        long = next(o for o in p.opts if o.startswith("--")) if any(o.startswith("--") for o in p.opts) else p.opts[0]
        if p.is_flag:
            if not isinstance(value, bool):
                raise UserError(f"job {job}: --{key.replace('_', '-')} is a switch: true or false (got {value!r})")
            if value:
                args.append(long)
            elif p.secondary_opts:
                args.append(p.secondary_opts[0])
            continue
        items = value if isinstance(value, list) else [value]
        if len(items) != 1 and not p.multiple:
            raise UserError(f"job {job}: {long} takes one value (got {value!r})")
        for item in items:
            if isinstance(item, (dict, list)):
                raise UserError(f"job {job}: {long} takes a value, not {item!r}")
            args += [long, str(item).lower() if isinstance(item, bool) else str(item)]
    if argument and not positional:
        raise UserError(f"job {job}: no {argument} (the {command} command's {argument.upper()})")
    return [command, *positional, *args]


def check(name: str, command: str, cmd, argument: str | None, values: dict, cpus: float, gpus: float) -> Job:
    """Parse the job's command line and check its config as the command would; nothing renders."""
    from . import commands

    argv = to_argv(name, command, cmd, argument, values)
    try:
        cfg = commands.check_command_line(cmd, argv)
    except UserError as e:
        raise UserError(f"job {name}: {e}") from None
    if cfg is None:  # (a command that never calls commands.checked)
        raise UserError(f"job {name}: {command} cannot run in a batch")
    return Job(name, command, tuple(argv), cpus, gpus, *finish_line(cfg))


def finish_line(cfg) -> tuple[tuple[str, ...], str, dict]:
    """What a finished render of ``cfg`` leaves: its outputs, its settings file, the settings it records."""
    settings = json.loads(json.dumps(cfg.as_settings()))
    outs = settings.pop("outputs")
    files = [outs.get(k) for k in ("output", "mp4", "gif") if outs.get(k)]
    files = list(dict.fromkeys(os.path.abspath(f) for f in files))
    main = outs.get("mp4") or outs.get("gif") or outs.get("output")
    if cfg.command == "recursive" and not (outs.get("mp4") or outs.get("gif")):
        files.append(os.path.abspath(os.path.join(main, "sheet.png")))  # written last, after the frames
        marker = os.path.join(main, "settings.json")
    else:
        marker = settings_path_for(main)
    return tuple(files), os.path.abspath(marker), settings


def finished(job: Job) -> bool:
    """The job's outputs are there and its settings file records the settings it asks for."""
    if not all(os.path.exists(p) for p in job.outputs):
        return False
    try:
        with open(job.marker) as f:
            old = json.load(f)
    except (OSError, ValueError):
        return False
    return all(_same(v, old.get(k)) for k, v in job.settings.items())


def _same(asked, recorded) -> bool:
    """What the job asks for is what the render recorded. What it leaves to dreamreel (``None``,
    ``"auto"``: the model, its weights, the device) is whatever was chosen; a weights file is
    recorded with its hash."""
    if asked is None or asked == "auto":
        return True
    if isinstance(recorded, dict) and "path" in recorded and isinstance(asked, str):
        return os.path.abspath(asked) == os.path.abspath(recorded["path"])
    return asked == recorded


# --------------------------------------------------------------------------- running


def run_job(argv: list[str], cwd: str, cpus: float, log: str) -> dict:
    """One job in a process of its own (a Ray task calls this); its stderr in ``log``."""
    from ..cluster.ray_tasks import JobCrashed, JobRejected

    env = dict(os.environ, OMP_NUM_THREADS=str(max(1, int(cpus))), PYTHONUNBUFFERED="1")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    t0 = time.perf_counter()
    with open(log, "w") as err:
        rc = subprocess.call([sys.executable, "-c", "from dreamreel.animator.cli import main; main()", *argv],
                             cwd=cwd, env=env, stdout=err, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - t0
    if rc == 0:
        return {"seconds": seconds}
    why = _last_words(log) or f"exit code {rc}"
    if rc == 2:
        raise JobRejected(why.removeprefix("error: "))
    raise JobCrashed(f"{why} (exit code {rc})")


def _last_words(log: str) -> str:
    try:
        with open(log, errors="replace") as f:
            lines = [ln.strip() for ln in f.read().splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def run_batch(path: str, address: str | None = None, retries: int = 1) -> int:
    """Check every job, skip the finished ones, run the rest on Ray; a summary table. Exit code:
    0 when every job is finished, 1 when any failed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from ..cluster.ray_tasks import check_fits, last_line, map_jobs, start
    from ..progress import console

    if retries < 0:
        raise UserError(f"--retries must be >= 0 (got {retries})")
    jobs = load_jobs(path)
    folder = os.path.dirname(os.path.abspath(path))
    logs = os.path.join(folder, os.path.splitext(os.path.basename(path))[0] + "_logs")
    rows: dict[str, tuple[str, float | None]] = {}
    with in_folder(folder):
        todo = [j for j in jobs if not finished(j)]
    for j in jobs:
        if j not in todo:
            rows[j.name] = ("skipped (finished)", None)
    if todo:
        ray = start(address)
        check_fits(ray, todo)
        with Progress(TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(), TextColumn("jobs"),
                      TimeElapsedColumn(), TextColumn("{task.fields[status]}"), console=console) as bar:
            task = bar.add_task("batch", total=len(jobs), completed=len(jobs) - len(todo), status="")

            def done(job, res, _wall):
                if isinstance(res, Exception):
                    rows[job.name] = (f"failed: {last_line(res)}", None)
                else:
                    rows[job.name] = ("done", res["seconds"])
                bar.update(task, advance=1, status=f"{job.name}: {rows[job.name][0]}")

            map_jobs(ray, todo, run_job, folder, logs, retries, done)
    table = Table(title=f"batch {path}")
    for col in ("job", "status", "seconds", "outputs"):
        table.add_column(col)
    for j in jobs:
        status, secs = rows[j.name]
        style = "green" if status == "done" else ("red" if status.startswith("failed") else "dim")
        table.add_row(j.name, f"[{style}]{status}[/]", "" if secs is None else f"{secs:.1f}",
                      ", ".join(os.path.relpath(o, folder) for o in j.outputs))
    console.print(table)
    failed = [n for n, (s, _) in rows.items() if s.startswith("failed")]
    if failed:
        console.print(f"[red]{len(failed)} of {len(jobs)} jobs failed[/] ({', '.join(failed)}); logs in {logs}",
                      highlight=False, soft_wrap=True)
        return 1
    return 0
