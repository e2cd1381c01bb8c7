"""The ``dreamreel`` command line: the entry point. User mistakes: one red line, exit code 2.

The commands and their options are declared in :mod:`.commands` (which a batch jobs file and the studio
read too); here are the two commands that drive others (``batch``, ``studio``), and ``main``: the
process settings, Ctrl-C, and mistakes as one line.
"""
from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
from typing import Optional

import typer
from rich.markup import escape

from .front.commands import app
from .errors import RenderInterrupted, UserError
from .front.options import arrange
from .progress import console

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@app.command()
def batch(
    jobs: str = typer.Argument(..., help="Jobs file (TOML): one [table] per job, command = \"zoom\" and its options."),
    address: Optional[str] = typer.Option(None, help="The Ray cluster to run on (default: Ray on this machine)."),
    retries: int = typer.Option(1, help="Times a crashed job is run again."),
) -> None:
    """Run a list of renders as Ray tasks; finished jobs are skipped. Exit code 1 if any job failed."""
    from .cluster.ray_tasks import require_ray

    require_ray()
    from .front.batch import run_batch

    raise typer.Exit(run_batch(jobs, address=address, retries=retries))


@app.command()
def studio(
    port: int = typer.Option(7860, help="The port to serve the studio on."),
    host: str = typer.Option("127.0.0.1", help="Address to bind (0.0.0.0: all, with a warning)."),
    workdir: Optional[str] = typer.Option(None, help="Folder for the renders (default: a temporary one)."),
) -> None:
    """Render in the browser: every command, its options, a live preview and the schedules drawn."""
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise UserError('the studio needs its extra: pip install "dreamreel[studio]"') from None
    if host not in LOCAL_HOSTS:
        console.print(f"[yellow]warning:[/] serving on {host}: anyone who can reach port {port} can render on this "
                      "machine and read what it renders", highlight=False, soft_wrap=True)
    if workdir:
        from .media.atomic import check_folder_writable

        check_folder_writable(workdir, "the studio's folder")
    from .front.studio import serve

    serve(host=host, port=port, workdir=workdir)


arrange(app)  # batch and studio in their --help panels too


def choose_omp_wait_policy() -> None:
    """OpenMP's waiting policy, set before torch loads; a value the user set wins.

    Measured on 2 cores (bench_dream, default 512 px still): idle machine: spinning (libgomp's
    default) 2.1 s, passive 3.0 s; one core busy with another process: spinning 6.3 s, passive
    2.6 s. No spin count is good at both, so: passive waiting only when the machine is already
    busy at start-up. This is the program's choice, made at its entry point, never at an import.
    """
    if "OMP_WAIT_POLICY" in os.environ:
        return
    try:
        busy = os.getloadavg()[0] >= 0.5
    except (OSError, AttributeError):  # no load average (Windows)
        busy = False
    if busy:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"


def keep_freed_memory() -> None:
    """glibc's malloc: keep freed blocks of up to 256 MB in the heap for the next tensor instead of
    handing them back to the kernel. By default a 512 px frame's large activations (25 MB in Lite0's
    first blocks) are fresh ``mmap`` pages at every forward/backward, each page faulted and zeroed
    again: measured 15 % of the CPU time of Lite0's forward+backward (tests/benchmarks/bench_zoom.py),
    for the same numbers. Process-wide, so it is the program's choice at its entry point, never an
    import's; elsewhere than glibc nothing is done.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # (musl has it too; a libc without it: leave malloc alone)
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 256 << 20)
    mallopt(m_trim_threshold, 512 << 20)


def resume_command(args: list[str]) -> str:
    """The user's own command line with ``--resume`` added (before a ``--``), quoted for a POSIX shell."""
    args = [a for a in args if a != "--no-resume"]
    if "--resume" not in args:
        end = args.index("--") if "--" in args else len(args)
        args = [*args[:end], "--resume", *args[end:]]
    return shlex.join(["dreamreel", *args])


#: the commands that render (an interrupted one is continued by the same command with --resume)
RENDERS = ("dream", "zoom", "recursive", "progression", "stylize", "video")
#: the signals that stopped the render, in order (the first makes the exit code); set by ``_on_signal``
_stopped_by: list[int] = []
#: set while ``main`` runs: a lost stop is raised again only then (never into whatever runs after ``main``)
_running = threading.Event()


def _on_signal(signum, frame) -> None:
    """SIGINT (Ctrl-C, the studio's Stop) and SIGTERM (``kill``, ``timeout``, a container's or a cluster's stop)
    mean one thing: the render stops, keeping its work. The handler raises KeyboardInterrupt where the main
    thread is, as Python's own SIGINT handler does, and records which signal it was (the exit code)."""
    _stopped_by.append(signum)
    raise KeyboardInterrupt


def _raise_again(signum: int) -> None:
    if _running.is_set():
        signal.raise_signal(signum)


def _reraise_lost_stop(hook):
    """A KeyboardInterrupt raised where Python ignores exceptions — an at-fork hook (the main thread starting
    ffmpeg), a ``__del__`` — is lost, and with it the user's Ctrl-C: seen there, the signal is raised again 50 ms
    later (from a timer thread: by then the main thread is out of the hook), and its handler raises it in code
    that stops. (Lost again, it is raised again.)"""

    def unraisable(info) -> None:
        if info.exc_type is not None and issubclass(info.exc_type, KeyboardInterrupt):
            again = threading.Timer(0.05, _raise_again, (_stopped_by[-1] if _stopped_by else signal.SIGINT,))
            again.daemon = True
            again.start()
            return
        hook(info)

    return unraisable


def interrupted(e: BaseException | None, argv: list[str] | None) -> None:
    """Ctrl-C or SIGTERM: what was kept and the command that continues it; exit code 130 (128 + SIGINT) or 143
    (128 + SIGTERM)."""
    args = argv if argv is not None else sys.argv[1:]
    console.print(f"[red]{e.summary() if isinstance(e, RenderInterrupted) else 'interrupted'}[/]", highlight=False,
                  soft_wrap=True)
    if isinstance(e, RenderInterrupted) or (args and args[0] in RENDERS):
        console.print(f"continue with: {resume_command(args)}", highlight=False, soft_wrap=True, markup=False)
    sys.exit(128 + (_stopped_by[0] if _stopped_by else signal.SIGINT))


def main(argv: list[str] | None = None) -> int:
    """Console entry point: runs the typer app and turns user mistakes into one line + exit 2."""
    choose_omp_wait_policy()
    keep_freed_memory()
    command = typer.main.get_command(app)
    _stopped_by.clear()
    main_thread = threading.current_thread() is threading.main_thread()  # (signal handlers are the main thread's)
    before, hook = {}, sys.unraisablehook
    if main_thread:
        before[signal.SIGTERM] = signal.signal(signal.SIGTERM, _on_signal)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # (ignored stays ignored: nohup)
            before[signal.SIGINT] = signal.signal(signal.SIGINT, _on_signal)
        sys.unraisablehook = _reraise_lost_stop(hook)
    _running.set()
    try:
        _main(command, argv)
    finally:
        _running.clear()
        for signum, handler in before.items():  # (a test's process, or a notebook's, gets its own back)
            signal.signal(signum, handler)
        sys.unraisablehook = hook


def _main(command, argv: list[str] | None) -> None:
    try:
        rc = command.main(args=argv if argv is not None else sys.argv[1:], prog_name="dreamreel",
                          standalone_mode=False)
    except UserError as e:
        console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except RenderInterrupted as e:
        interrupted(e, argv)
    except (KeyboardInterrupt, typer.Abort):  # (typer returns 130 for a Ctrl-C itself)
        interrupted(None, argv)
    except Exception as e:
        # click/typer usage errors (unknown option, bad value): one line, exit 2
        if hasattr(e, "format_message") and hasattr(e, "exit_code"):
            hint = ""
            ctx = getattr(e, "ctx", None)
            if ctx is not None:
                hint = f" (see '{ctx.command_path} --help')"
            console.print(f"[bold red]error:[/] {e.format_message()}{hint}", highlight=False, soft_wrap=True)
            sys.exit(2 if e.exit_code not in (0, 1) else e.exit_code or 2)
        raise
    if rc == 130:  # Ctrl-C outside a render's frame loop (typer's own answer to a KeyboardInterrupt)
        interrupted(None, argv)
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":
    main()
