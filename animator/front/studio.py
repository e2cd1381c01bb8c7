"""dreamreel studio: the commands in the browser (Gradio; the ``studio`` extra).

The page is made from the commands' own option declarations (:mod:`.commands`: the typer signatures, their
panels and help), so an option is declared once for the command line, a batch jobs file and the studio. A
render is the command line itself, run as a child process (``python -m dreamreel.animator.cli ...``): the
same config, checks, settings.json and output files, and its mistakes are the CLI's one line. The page
shows each frame as it is written and the progress with an ETA; Stop is Ctrl-C (SIGINT: the MP4/GIF of the
frames so far), Resume runs the same command with ``--resume``. One render at a time (Gradio's queue shows
the others their place). Schedules are drawn as they are typed, or their mistake with its position.
"""
from __future__ import annotations

import contextlib
import functools
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import numpy as np
import typer
from PIL import Image

from .commands import app
from ..errors import UserError

#: the commands the studio has tabs for (their order)
TABS = ("zoom", "dream", "progression", "recursive", "stylize", "video")
#: options the studio sets itself: where the outputs go, and resuming (its Resume button)
OWN = {"output", "gif", "mp4", "frames_dir", "resume", "gif_width", "help"}
#: ... and the GIF's --every where it is the GIF's (progression and stylize have their own --every)
GIF_EVERY = ("zoom", "video", "recursive")
#: options that take a file: an upload (or a path on this machine)
FILES = {"style", "guide", "init_blend", "net", "weights", "audio"}
#: zoom schedules drawn over the frames
SCHEDULES = ("zoom", "angle", "translation_x", "translation_y", "center_x", "center_y", "strength", "steps", "octaves")
SAMPLES = Path(__file__).resolve().parents[2] / "samples"
PICTURE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def command_params(name: str) -> tuple[object, list[object]]:
    """A command's argument and its options, as the command line declares them."""
    cmd = typer.main.get_command(app).commands[name]
    args = [p for p in cmd.params if p.param_type_name == "argument"]
    own = OWN | ({"every"} if name in GIF_EVERY else set())
    return args[0], [p for p in cmd.params if p.param_type_name == "option" and p.name not in own]


def panel_of(p: object) -> str:
    return getattr(p, "rich_help_panel", None) or "Options"


def long_name(p: object) -> str:
    return next((o for o in p.opts if o.startswith("--")), p.opts[0])


def samples(kind: str) -> list[str]:
    """The sample pictures (or clips) that ship with dreamreel."""
    if not SAMPLES.is_dir():
        return []
    suffixes = (".mp4",) if kind == "clip" else PICTURE_SUFFIXES
    return sorted(p.name for p in SAMPLES.iterdir() if p.suffix.lower() in suffixes)


# --------------------------------------------------------------------------- a render


# the render's process: the CLI with Ctrl-C (SIGINT) raising KeyboardInterrupt even where the studio was started
# with SIGINT ignored (``nohup dreamreel studio &`` from a script: an ignored signal is inherited, and Python then
# installs no handler), since Stop is that SIGINT
CHILD = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
         "from dreamreel.animator.cli import main; sys.exit(main())")


@dataclass
class Render:
    """One render: its command line, its folder, its child process."""

    command: str
    argv: list[str]
    folder: Path
    outputs: dict[str, Path]
    frames: Path | None
    proc: subprocess.Popen | None = None
    started: float = 0.0
    stopping: bool = False  # Stop was pressed: the render is finishing its outputs and keeping its work
    log: Path = field(init=False)

    def __post_init__(self):
        self.log = self.folder / "log.txt"

    def command_line(self) -> str:
        return shlex.join(["dreamreel", *self.argv])

    def start(self, resume: bool = False) -> None:
        argv = [*self.argv, "--resume"] if resume and self.frames is not None else self.argv
        env = {**os.environ, "COLUMNS": "100"}
        self.stopping = False
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", CHILD, *argv], stdout=log,
                                         stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.started = time.monotonic()

    def stop(self) -> None:
        """Ctrl-C: the render stops within seconds in any phase, keeps its frames (and a keyframe being painted or
        a network being trained, in the cache) and writes the MP4/GIF of the frames."""
        if self.proc is not None and self.proc.poll() is None:
            self.stopping = True
            os.killpg(self.proc.pid, signal.SIGINT)

    def frame_count(self) -> int:
        if self.frames is None or not self.frames.is_dir():
            return 0
        k = 0
        while (self.frames / f"frame_{k:06d}.png").exists():
            k += 1
        return k

    def latest(self) -> np.ndarray | None:
        """The newest frame written (a still: the picture, once written)."""
        k = self.frame_count()
        path = self.frames / f"frame_{k - 1:06d}.png" if k else self.outputs.get("image")
        if path is None or not path.exists():
            return None
        try:
            with Image.open(path) as im:
                return np.asarray(im.convert("RGB"))
        except OSError:  # (being replaced)
            return None

    def total(self) -> int | None:
        """Frames the render will write, from the settings.json it wrote first."""
        import json

        settings = self.frames / "settings.json" if self.frames is not None else None
        if settings is None or not settings.exists():
            return None
        try:
            s = json.loads(settings.read_text())
        except ValueError:
            return None
        lead = (s.get("loop") or {}).get("lead", 0)
        if s.get("command") == "zoom":
            return s["frames"] + lead
        if s.get("command") == "progression":
            return s.get("feedback") or len(s.get("marks") or [])
        if s.get("command") == "recursive":
            return None
        return s.get("frames")

    def status(self) -> str:
        done, total = self.frame_count(), self.total()
        seconds = time.monotonic() - self.started
        running = self.proc is not None and self.proc.poll() is None
        if total and done:
            eta = seconds / done * (total - done) if running else 0
            bar = f"frame {done} of {total}  ({100 * done // total} %)  {seconds:.0f} s, ETA {eta:.0f} s"
        elif done:
            bar = f"{done} frames  {seconds:.0f} s"
        else:
            bar = f"starting  {seconds:.0f} s"
        if running and self.stopping:
            return f"stopping… ({done} frames kept so far)"
        return bar if running else self.finished()

    def finished(self) -> str:
        rc = self.proc.returncode if self.proc is not None else None
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "━" not in ln]
        if rc == 0:
            return "done: " + " ".join(lines[-2:])[-300:]
        errors = [ln for ln in lines if ln.startswith("error:")]
        if errors:
            return errors[-1]
        if rc in (130, 143):  # Stop (SIGINT), or a SIGTERM from elsewhere
            said = next((ln for ln in reversed(lines) if ln.startswith("interrupted")), "")[-300:]
            return f"stopped: {self.frame_count()} frames kept, Resume continues" + (f" ({said})" if said else "")
        return f"failed (exit code {rc}): " + (lines[-1] if lines else "")

    def downloads(self) -> list[str]:
        files = [str(p) for p in self.outputs.values() if p.exists() and p.is_file()]
        if self.frame_count():
            zipped = shutil.make_archive(str(self.folder / "frames"), "zip", self.frames)
            files.append(zipped)
        return files


class Studio:
    """The renders of one studio process (one at a time: Gradio's queue holds the others)."""

    def __init__(self, workdir: str | None = None):
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="dreamreel-studio-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.current: Render | None = None
        self.lock = threading.Lock()
        self.count = 0

    def plan(self, command: str, source: str, values: dict[str, object], options: list[object]) -> Render:
        """The command line for ``values`` (option name -> what was typed; empty: the default)."""
        self.count += 1
        folder = self.workdir / f"{self.count:03d}-{command}"
        folder.mkdir(parents=True)
        argv = [command, source]
        outputs: dict[str, Path] = {}
        frames: Path | None = folder / "out_frames"
        if command in ("zoom", "video"):
            outputs = {"mp4": folder / "out.mp4", "gif": folder / "out.gif"}
            argv += ["-o", str(outputs["mp4"]), "--gif", str(outputs["gif"])]
        elif command == "progression":
            outputs = {"mp4": folder / "out.mp4", "gif": folder / "out.gif"}
            argv += ["-o", str(outputs["mp4"]), "--gif", str(outputs["gif"])]
        elif command == "recursive":
            frames = folder / "stages"
            outputs = {"mp4": folder / "out.mp4", "gif": folder / "out.gif", "sheet": frames / "sheet.png"}
            argv += ["-o", str(frames), "--mp4", str(outputs["mp4"]), "--gif", str(outputs["gif"])]
        else:  # a still
            frames = None
            outputs = {"image": folder / "out.png"}
            argv += ["-o", str(outputs["image"])]
        for p in options:
            v = values.get(p.name)
            if p.is_flag:
                if v and p.opts:
                    argv.append(long_name(p))
                elif v and p.secondary_opts:
                    argv.append(p.secondary_opts[0])
                continue
            items = v if isinstance(v, list) else [v]
            for item in items:
                if item is None or str(item).strip() == "":
                    continue
                argv += [long_name(p), str(item).strip()]
        return Render(command, argv, folder, outputs, frames)


@contextlib.contextmanager
def machine_lock():
    """One studio render at a time on this machine (a lock file in the temporary folder). Yields an
    iterator that waits (one item per second of waiting) until the lock is this render's."""
    import fcntl

    path = Path(tempfile.gettempdir()) / "dreamreel-studio.lock"
    with open(path, "w") as f:
        def waiting():
            while True:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except OSError:
                    yield
                    time.sleep(1.0)

        try:
            yield waiting()
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- the page


#: the music options the zoom's drawings read (besides the schedules, the preset and --frames)
MUSIC_KEYS = ("audio", "start", "end", "beat_decay", "fps")


@functools.lru_cache(maxsize=4)
def _song(path: str, mtime: float, start: float, end: float | None):
    from ..media.music import analyse

    return analyse(path, start, end)


def song_curves(cfg):
    """The --audio song's curves at the zoom's frames (its length where --frames is not given), or None."""
    if cfg.song.audio is None:
        return None
    song = _song(cfg.song.audio, os.path.getmtime(cfg.song.audio), cfg.song.start, cfg.song.end)
    n = cfg.frames or song.frames(cfg.outputs.fps)
    return song.curves(cfg.outputs.fps, n, cfg.song.beat_decay)


def schedule_plot(values: dict[str, str], preset: str | None, frames: str | None):
    """The zoom's schedules over its frames (the preset's where a box is empty), or the first mistake; and the
    --audio song's curves under them (``None`` without a song)."""
    import pandas as pd

    from ..media.music import PLOTTED
    from ..request.configs import zoom_config

    cli = {k: (v.strip() or None) if isinstance(v, str) else v for k, v in values.items()}
    try:
        n = int(frames) if frames and str(frames).strip() else None
        numbers = {k: float(cli[k]) for k in ("start", "end", "beat_decay", "fps") if cli.get(k) is not None}
    except ValueError:
        return gr.update(), "error: --frames must be a whole number, --start, --end, --beat-decay, --fps numbers", None
    try:
        cfg = zoom_config({**cli, **numbers, "frames": n, "mp4": "out.mp4", "image": "noise"},
                          (preset or "").strip() or None)
        curves = song_curves(cfg)
    except UserError as e:
        return gr.update(), f"error: {e}", None
    frames_n = curves.n if curves is not None else cfg.frames
    rows = []
    try:
        for name in SCHEDULES:
            s = cfg.schedule(name, curves)
            for t, v in enumerate(s.values(frames_n)):
                rows.append({"frame": t, "value": float(v), "schedule": name.replace("_", "-")})
    except UserError as e:
        return gr.update(), f"error: {e}", None
    music = None
    if curves is not None:
        music = pd.DataFrame([{"frame": t, "value": float(curves.values[k][t]), "music": k}
                              for k in PLOTTED for t in range(frames_n)])
    beats = len(curves.beat_frames) if curves is not None else 0
    said = f"; the song: {curves.bpm:.1f} bpm, {beats} beat{'s' * (beats != 1)}" if curves is not None else ""
    return pd.DataFrame(rows), f"schedules of {frames_n} frames (preset {cfg.preset}){said}", music


def _widget(p: object, command: str):
    label = long_name(p)
    info = (p.help or "")[:160]
    if p.is_flag:
        return gr.Checkbox(label=label, info=info, value=False)
    if p.name in FILES:
        return gr.File(label=label, file_count="multiple" if p.multiple else "single", type="filepath",
                       elem_id=f"{command}-{p.name}")
    if p.name == "preset":  # the shipped looks (or a .toml file's path, typed)
        from ... import presets

        return gr.Dropdown(["", *presets.names()], value="", label=label, allow_custom_value=True, info=info)
    default = p.default if p.default not in (None, (), []) and not callable(p.default) else ""
    return gr.Textbox(label=label, info=info, placeholder=str(default), max_lines=1)


def _file_values(v):
    if v is None:
        return None
    if isinstance(v, list):
        return [str(getattr(x, "name", x)) for x in v]
    return str(getattr(v, "name", v))


def build(studio: Studio) -> gr.Blocks:
    with gr.Blocks(title="dreamreel studio") as page:
        gr.Markdown("# dreamreel studio\nEach render is the command line shown under it, run on this machine.")
        loads = []
        with gr.Tabs():
            for command in TABS:
                with gr.Tab(command):
                    loads += _tab(studio, command)
        for fn, inputs, outputs in loads:  # (the zoom's schedules, drawn once the page is there)
            page.load(fn, inputs, outputs, queue=False)
    return page


def _tab(studio: Studio, command: str) -> list:
    """One command's tab; returns what to run when the page loads."""
    argument, options = command_params(command)
    kind = "clip" if argument.name == "clip" else "picture"
    with gr.Row():
        with gr.Column(scale=2):
            upload = gr.File(label=f"{kind} (upload)", type="filepath", elem_id=f"{command}-upload")
            sample = gr.Dropdown(["", *samples(kind)], value="", label=f"or a sample {kind}")
            widgets: dict[str, object] = {}
            panels: dict[str, list[object]] = {}
            for p in options:
                panels.setdefault(panel_of(p), []).append(p)
            for panel, ps in panels.items():
                with gr.Accordion(panel, open=panel in ("Input and output", "Motion", "Style")):
                    for p in ps:
                        widgets[p.name] = _widget(p, command)
        with gr.Column(scale=3):
            with gr.Row():
                go = gr.Button("Render", variant="primary", elem_id=f"{command}-render")
                stop = gr.Button("Stop", elem_id=f"{command}-stop")
                again = gr.Button("Resume", elem_id=f"{command}-resume")
            status = gr.Markdown("", elem_id=f"{command}-status")
            with gr.Row():
                preview = gr.Image(label="frame", type="numpy", interactive=False, elem_id=f"{command}-preview",
                                   height=300)
                if command == "zoom":  # the frames as they render, beside the schedules that made them
                    with gr.Column():
                        plot = gr.LinePlot(x="frame", y="value", color="schedule", label="schedules", height=260)
                        music_plot = gr.LinePlot(x="frame", y="value", color="music", height=200,
                                                 label="the --audio song: beat, onset, energy, bass, mid, treble")
                        plot_note = gr.Markdown("", elem_id="zoom-schedule-note")
            line = gr.Code(label="command line", language="shell", interactive=False, max_lines=4)
            files = gr.File(label="downloads", file_count="multiple", interactive=False, elem_id=f"{command}-files")

    names = list(widgets)

    def values_of(args) -> dict:
        return {n: (_file_values(v) if n in FILES else v) for n, v in zip(names, args)}

    def run(upload_path, sample_name, *args, resume: bool = False):
        source = upload_path or (str(SAMPLES / sample_name) if sample_name else None)
        if resume:
            render = studio.current
            if render is None or render.command != command:
                yield f"error: no {command} render to resume", None, "", None
                return
        else:
            if not source:
                yield f"error: upload a {kind} or pick a sample", None, "", None
                return
            render = studio.plan(command, str(source), values_of(args), options)
        with studio.lock:  # one render at a time in this studio (Gradio's queue shows the others their place) ...
            with machine_lock() as waiting:  # ... and on this machine, whatever studio started it
                for _ in waiting:
                    yield "waiting: another studio's render is running on this machine", None, "", None
                studio.current = render
                render.start(resume=resume)
                yield from follow(render)

    def follow(render: Render):
        yield "starting", None, render.command_line(), None
        while render.proc.poll() is None:
            time.sleep(0.4)
            yield render.status(), render.latest(), render.command_line(), None
        status = render.status()
        if render.proc.returncode == 2 and not render.frame_count():  # a mistake: one line, nothing kept
            shutil.rmtree(render.folder, ignore_errors=True)
            studio.current = None
            yield status, None, render.command_line(), None
            return
        yield status, render.latest(), render.command_line(), render.downloads() or None

    outs = [status, preview, line, files]
    inputs = [upload, sample, *widgets.values()]
    go.click(run, inputs, outs, concurrency_limit=1, concurrency_id="render")
    again.click(lambda *a: (yield from run(*a, resume=True)), inputs, outs, concurrency_limit=1,
                concurrency_id="render")
    stop.click(lambda: studio.current.stop() if studio.current else None, None, None, queue=False)

    if command == "zoom":
        keys = [n for n in names if n in (*SCHEDULES, "preset", "frames", "objective", *MUSIC_KEYS)]

        def draw(*args):
            vals = {k: (_file_values(v) if k in FILES else v) for k, v in zip(keys, args)}
            preset, frames = vals.pop("preset", None), vals.pop("frames", None)
            schedules, note, music = schedule_plot(vals, preset, frames)
            return schedules, note, music if music is not None else gr.update(value=None)

        for n in keys:
            widgets[n].change(draw, [widgets[k] for k in keys], [plot, plot_note, music_plot], queue=False)
        return [(draw, [widgets[k] for k in keys], [plot, plot_note, music_plot])]
    return []


def serve(host: str = "127.0.0.1", port: int = 7860, workdir: str | None = None) -> None:
    """Start the studio (blocks until Ctrl-C)."""
    studio = Studio(workdir)
    page = build(studio)
    page.queue(default_concurrency_limit=1)
    page.launch(server_name=host, server_port=port, allowed_paths=[str(studio.workdir)], show_error=True,
                inbrowser=False)


__all__ = ["Studio", "build", "serve", "schedule_plot"]
