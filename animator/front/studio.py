"""dreamreel studio: the commands in the browser (Gradio; the ``studio`` extra).

The page is made from the commands' own option declarations (:mod:`.commands`: the typer signatures, their
panels and help), so an option is declared once for the command line, a batch jobs file and the studio. Its
fields (:mod:`.fields`) hold the defaults: a number field, a drop-down where the code takes one of a list,
a check box for a switch, an upload for a file; the zoom's preset, picked at the top, fills them with its values.

A render is the command line itself, run as a child process (``python -m dreamreel.animator.cli ...``): the same
config, checks, settings.json and output files. What was typed is checked first, as the command line checks it
(in this process, nothing renders): a mistake is the CLI's one line. The page shows each frame as it is written,
the progress with an ETA and, on the zoom's schedules (:mod:`.studio_plot`), the frame being rendered; then the
MP4 plays in the page and the GIF is shown. Stop is Ctrl-C (SIGINT: the MP4/GIF of the frames so far), Resume
runs the same command with ``--resume``. One render at a time (Gradio's queue shows the others their place).

Each render is a folder of the studio's ``--workdir`` (its inputs, outputs, log and a ``render.json``: the
command line and the fields): the renders list under each tab reads them (after a restart too), reopens one (its
result, its command line, its fields) or renders it again.
"""
from __future__ import annotations

import contextlib
import functools
import os
import shutil
import time
from pathlib import Path

import gradio as gr
import typer

from . import fields as F
from .commands import app
from .studio_plot import curves_svg
from .studio_renders import SAMPLES, Render, Studio, machine_lock
from ..errors import UserError

#: the commands the studio has tabs for (their order)
TABS = ("zoom", "dream", "progression", "recursive", "stylize", "video")
#: options the studio sets itself: where the outputs go, and resuming (its Resume button)
OWN = {"output", "gif", "mp4", "frames_dir", "resume", "gif_width", "help"}
#: ... and the GIF's --every where it is the GIF's (progression and stylize have their own --every)
GIF_EVERY = ("zoom", "video", "recursive")
FILES = F.FILES
#: zoom schedules drawn over the frames
SCHEDULES = ("zoom", "angle", "translation_x", "translation_y", "center_x", "center_y", "strength", "steps", "octaves")
PICTURE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
long_name = F.long_name


def command_params(name: str) -> tuple[object, list[object]]:
    """A command's argument and its options, as the command line declares them."""
    cmd = typer.main.get_command(app).commands[name]
    args = [p for p in cmd.params if p.param_type_name == "argument"]
    own = OWN | ({"every"} if name in GIF_EVERY else set())
    return args[0], [p for p in cmd.params if p.param_type_name == "option" and p.name not in own]


def panel_of(p: object) -> str:
    return getattr(p, "rich_help_panel", None) or "Options"


def samples(kind: str) -> list[str]:
    """The sample pictures (or clips) that ship with dreamreel."""
    if not SAMPLES.is_dir():
        return []
    suffixes = (".mp4",) if kind == "clip" else PICTURE_SUFFIXES
    return sorted(p.name for p in SAMPLES.iterdir() if p.suffix.lower() in suffixes)


def check_command_line(argv: list[str]) -> str | None:
    """What the command line would say about ``argv`` before rendering (its config checked, nothing rendered): the
    mistake as its one line, or None."""
    from . import commands

    try:
        commands.check_command_line(typer.main.get_command(app).commands[argv[0]], argv)
    except UserError as e:
        return f"error: {e}"
    return None


# --------------------------------------------------------------------------- the zoom's schedules


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


def schedule_curves(values: dict[str, object], preset: str | None, frames) -> tuple[list | None, str, list | None]:
    """The zoom's schedules over its frames (the preset's where a field is empty), or the first mistake; and the
    --audio song's curves (``None`` without a song): ([(name, values)], note, [(name, values)] or None)."""
    from ..media.music import PLOTTED
    from ..request.configs import zoom_config

    cli = {k: (v.strip() or None) if isinstance(v, str) else v for k, v in values.items()}
    try:
        n = int(float(frames)) if frames is not None and str(frames).strip() else None
        numbers = {k: float(cli[k]) for k in ("start", "end", "beat_decay", "fps") if cli.get(k) is not None}
    except ValueError:
        return None, "error: --frames must be a whole number, --start, --end, --beat-decay, --fps numbers", None
    try:
        cfg = zoom_config({**cli, **numbers, "frames": n, "mp4": "out.mp4", "image": "noise"},
                          (preset or "").strip() or None)
        curves = song_curves(cfg)
    except UserError as e:
        return None, f"error: {e}", None
    frames_n = curves.n if curves is not None else cfg.frames
    drawn = []
    try:
        for name in SCHEDULES:
            s = cfg.schedule(name, curves)
            drawn.append((name.replace("_", "-"), [float(v) for v in s.values(frames_n)]))
    except UserError as e:
        return None, f"error: {e}", None
    music = None
    if curves is not None:
        music = [(k, [float(curves.values[k][t]) for t in range(frames_n)]) for k in PLOTTED]
    beats = len(curves.beat_frames) if curves is not None else 0
    said = f"; the song: {curves.bpm:.1f} bpm, {beats} beat{'s' * (beats != 1)}" if curves is not None else ""
    return drawn, f"schedules of {frames_n} frames (preset {cfg.preset}){said}", music


def _plots(drawn, note, music, frame: int | None = None) -> tuple[object, str, object]:
    """The schedules' drawing (the frame being rendered marked), the note, the song's drawing (hidden without)."""
    if drawn is None:
        return gr.update(), note, gr.update()
    schedules = curves_svg(drawn, frame, elem_class="curves schedules")
    if music is None:
        return schedules, note, gr.update(value="", visible=False)
    return schedules, note, gr.update(value=curves_svg(music, frame, title="the --audio song",
                                                       elem_class="curves music"), visible=True)


# --------------------------------------------------------------------------- the page


CSS = """
.status-error { color: #d32f2f; font-weight: 600; }
.curves svg text { font-size: 12px; }
#zoom-preset-row { margin-bottom: 4px; }
"""


def _status(text: str) -> str:
    """The status line (a mistake: red)."""
    import html

    text = text or ""
    if text.startswith(("error", "failed")):
        return f'<span class="status-error">{html.escape(text)}</span>'
    return html.escape(text)


def _widget(p: object, command: str, value, from_preset: bool = False):
    """The field of option ``p`` holding ``value`` (its default; a zoom's: its preset's, ``from_preset``)."""
    label = long_name(p)
    info = (p.help or "")[:160]
    elem_id = f"{command}-{label.lstrip('-')}"
    said = F.said_default(p)
    placeholder = f"default: {said}" if said else ("from the preset" if from_preset else "")
    if p.is_flag:
        return gr.Checkbox(label=label, info=info, value=bool(value), elem_id=elem_id)
    if p.name in FILES:
        return gr.File(label=label, file_count="multiple" if p.multiple else "single", type="filepath",
                       elem_id=elem_id)
    listed = F.choices(p)
    if listed:
        options = [(v, v) for v in listed]
        if value is None:  # the command decides: say what it will take
            options.insert(0, (f"default: {said}" if said else "default", ""))
            value = ""
        return gr.Dropdown(options, value=value, label=label, info=info, elem_id=elem_id)
    kind = F.number_kind(p)
    if kind is not None:
        lo, hi = F.bounds(p)
        if lo is not None and hi is not None:
            return gr.Slider(lo, hi, value=value if value is not None else lo, step=1 if kind is int else None,
                             label=label, info=info, elem_id=elem_id)
        return gr.Number(value=value, label=label, info=info, placeholder=placeholder,
                         precision=0 if kind is int else None, elem_id=elem_id)
    return gr.Textbox(value="" if value is None else str(value), label=label, info=info, placeholder=placeholder,
                      max_lines=1, elem_id=elem_id)


def _small(p: object) -> str | None:
    """The kind of a field that takes half a row: a switch, or a number or a list; None for the others."""
    if p.name in FILES:
        return None
    if p.is_flag:
        return "switch"
    return "value" if F.number_kind(p) is not None or F.choices(p) is not None else None


def _rows(ps: list) -> list[list]:
    """The fields of a panel in rows: a schedule, text or an upload alone; numbers and lists two by two, switches
    too."""
    rows: list[list] = []
    for p in ps:
        if _small(p) and rows and len(rows[-1]) == 1 and _small(rows[-1][0]) == _small(p):
            rows[-1].append(p)
        else:
            rows.append([p])
    return rows


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
        for fn, inputs, outputs in loads:  # (the zoom's schedules and the renders lists, once the page is there)
            page.load(fn, inputs, outputs, queue=False)
    return page


def _tab(studio: Studio, command: str) -> list:
    """One command's tab; returns what to run when the page loads."""
    from ..request.configs import DEFAULT_PRESET

    argument, options = command_params(command)
    kind = "clip" if argument.name == "clip" else "picture"
    by_name = {p.name: p for p in options}
    base0 = F.preset_values(DEFAULT_PRESET) if command == "zoom" else {}
    widgets: dict[str, object] = {}
    with gr.Row():
        with gr.Column(scale=2):
            if command == "zoom":  # the look first: it fills the fields below
                with gr.Group(elem_id="zoom-preset-row"):
                    from ... import presets

                    widgets["preset"] = gr.Dropdown(presets.names(), value=DEFAULT_PRESET, label="--preset",
                                                    allow_custom_value=True, elem_id="zoom-preset",
                                                    info=F.describe(DEFAULT_PRESET))
            upload = gr.File(label=f"{kind} (upload)", type="filepath", elem_id=f"{command}-upload", height=120)
            sample = gr.Dropdown(["", *samples(kind)], value="", label=f"or a sample {kind}",
                                 elem_id=f"{command}-sample")
            panels: dict[str, list[object]] = {}
            for p in options:
                if p.name not in widgets:
                    panels.setdefault(panel_of(p), []).append(p)
            for panel, ps in panels.items():
                with gr.Accordion(panel, open=panel in ("Input and output", "Motion", "Style")):
                    for row in _rows(ps):
                        with gr.Row(equal_height=False) if len(row) > 1 else contextlib.nullcontext():
                            for p in row:
                                widgets[p.name] = _widget(p, command, base0.get(p.name, F.default_of(p)), p.name in base0)
        with gr.Column(scale=3):
            with gr.Row():
                go = gr.Button("Render", variant="primary", elem_id=f"{command}-render")
                stop = gr.Button("Stop", elem_id=f"{command}-stop")
                again = gr.Button("Resume", elem_id=f"{command}-resume")
            status = gr.Markdown("", elem_id=f"{command}-status")
            with gr.Row():
                preview = gr.Image(label="frame", type="numpy", interactive=False, elem_id=f"{command}-frame",
                                   height=300)
                if command == "zoom":  # the frames as they render, beside the schedules that made them
                    with gr.Column():
                        plot = gr.HTML("", label="schedules", elem_id="zoom-schedules")
                        plot_note = gr.Markdown("", elem_id="zoom-schedule-note")
            if command == "zoom":
                music_plot = gr.HTML("", elem_id="zoom-music", visible=False)
            with gr.Row(visible=False) as played:
                video = gr.Video(label="MP4", interactive=False, elem_id=f"{command}-video", height=300,
                                 loop=False, autoplay=False)
                gif = gr.Image(label="GIF", type="filepath", interactive=False, elem_id=f"{command}-gif",
                               height=300)
            line = gr.Code(label="command line", language="shell", interactive=False, lines=2, max_lines=4,
                           elem_id=f"{command}-line", wrap_lines=True, show_line_numbers=False,
                           visible=False)
            files = gr.File(label="downloads", file_count="multiple", interactive=False, elem_id=f"{command}-files",
                            visible=False)
            with gr.Accordion(f"{command} renders", open=True, elem_id=f"{command}-renders"):
                renders = gr.Dataset(components=["image", "html", "textbox"],
                                     headers=["", "command", "outputs"], samples=[], type="index",
                                     samples_per_page=8, elem_id=f"{command}-renders-list", layout="table",
                                     label="click one to reopen it")
                render_again = gr.Button("Render the one reopened again", elem_id=f"{command}-again", size="sm")
                chosen = gr.State(None)  # the folder of the render reopened
                listed = gr.State([])  # the folders the list shows, in its order

    names = list(widgets)

    def values_of(args) -> dict:
        return {n: (_file_values(v) if n in FILES else v) for n, v in zip(names, args)}

    def listing():
        rs = studio.renders(command)
        rows = [[r.thumbnail(), f"#{r.number()}  {r.short()}", r.summary()] for r in rs]
        return gr.Dataset(samples=rows), [str(r.folder) for r in rs]

    # what each step shows: status, preview, command line, downloads, the MP4/GIF (and their row), [the
    # schedules, their note, the song], the renders list and its folders
    zoom_outs = [plot, plot_note, music_plot] if command == "zoom" else []
    outs = [status, preview, line, files, played, video, gif, *zoom_outs, renders, listed]
    keep = gr.update()

    def show(text, picture=keep, line_=keep, downloads=keep, result=None, plots=None, listing_=None):
        """One step of ``outs``; ``result``: (mp4, gif) paths to play, () to hide them, None: as they are."""
        played_ = video_ = gif_ = keep
        if result is not None:
            mp4, gif_path = (result + (None, None))[:2]
            played_ = gr.update(visible=bool(mp4 or gif_path))
            video_, gif_ = mp4, gif_path
        if line_ is not keep:
            line_ = gr.update(value=line_, visible=bool(line_))
        if downloads is not keep:
            downloads = gr.update(value=downloads, visible=bool(downloads))
        step = [_status(text), picture, line_, downloads, played_, video_, gif_]
        if command == "zoom":
            step += list(plots) if plots is not None else [keep, keep, keep]
        step += list(listing_) if listing_ is not None else [keep, keep]
        return tuple(step)

    def result_of(render: Render) -> tuple:
        mp4, gif_path = render.outputs.get("mp4"), render.outputs.get("gif")
        return (str(mp4) if mp4 is not None and mp4.exists() else None,
                str(gif_path) if gif_path is not None and gif_path.exists() else None)

    def zoom_plot_values(values: dict) -> tuple:
        keys = [*SCHEDULES, "objective", *MUSIC_KEYS]
        return schedule_curves({k: values.get(k) for k in keys if k in values}, values.get("preset"),
                               values.get("frames"))

    def run(upload_path, sample_name, *args, resume: bool = False):
        source = upload_path or (str(SAMPLES / sample_name) if sample_name else None)
        yield from start(source, values_of(args), resume)

    def start(source, values: dict, resume: bool = False):
        """Check what was asked (the ranges declared, then as the command line checks it), then render it."""
        drawn = music = None
        if resume:
            render = studio.current
            if render is None or render.command != command:
                yield show(f"error: no {command} render to resume")
                return
            if command == "zoom":
                drawn, _, music = zoom_plot_values(render.values)
        else:
            if not source:
                yield show(f"error: upload a {kind} or pick a sample")
                return
            for p in options:  # a range the option declares
                mistake = F.out_of_range(p, values.get(p.name)) if F.number_kind(p) else None
                if mistake:
                    yield show(f"error: {mistake}")
                    return
            try:
                base = F.preset_values(values.get("preset")) if command == "zoom" else {}
            except UserError as e:
                yield show(f"error: {e}")
                return
            render = studio.plan(command, str(source), values, options, base)
            mistake = check_command_line(render.argv)  # as the command line checks it: nothing renders
            if mistake:
                shutil.rmtree(render.folder, ignore_errors=True)
                studio.count -= 1  # (its number is the next render's)
                yield show(mistake, None, render.command_line(), None, ())
                return
            render.save()
            if command == "zoom":
                drawn, _, music = zoom_plot_values(values)
        with studio.lock:  # one render at a time in this studio (Gradio's queue shows the others their place) ...
            with machine_lock() as waiting:  # ... and on this machine, whatever studio started it
                for _ in waiting:
                    yield show("waiting: another studio's render is running on this machine")
                studio.current = render
                render.start(resume=resume)
                yield from follow(render, drawn, music)

    def follow(render: Render, drawn=None, music=None):
        def plots(frame):
            if drawn is None:
                return None
            svg, _, song = _plots(drawn, keep, music, frame)
            return svg, keep, song

        yield show("starting", None, render.command_line(), None, (), plots(0))
        while render.proc.poll() is None:
            time.sleep(0.4)
            done = render.frame_count()
            yield show(render.status(), render.latest(), render.command_line(), plots=plots(max(0, done - 1)))
        text = render.status()
        if render.proc.returncode == 2 and not render.frame_count():  # a mistake: one line, nothing kept
            shutil.rmtree(render.folder, ignore_errors=True)
            studio.current = None
            yield show(text, None, render.command_line(), None, (), listing_=listing())
            return
        render.thumbnail()
        yield show(text, render.latest(), render.command_line(), render.downloads() or None, result_of(render),
                   plots(render.frame_count() - 1 if render.proc.returncode else None), listing())

    inputs = [upload, sample, *widgets.values()]
    go.click(run, inputs, outs, concurrency_limit=1, concurrency_id="render")
    again.click(lambda *a: (yield from run(*a, resume=True)), inputs, outs, concurrency_limit=1,
                concurrency_id="render")
    stop.click(lambda: studio.current.stop() if studio.current else None, None, None, queue=False)

    # ---- the renders list: reopen one (its result, command line and fields), or render it again

    def reopen(index, folders):
        """Fill the tab with a render of the list: ``outs`` then the picture, the sample and the fields."""
        nothing = (*show(""), keep, keep, *[keep] * len(names), None)
        if index is None or not (0 <= index < len(folders)):
            return nothing
        render = Render.load(Path(folders[index]))
        if render is None:
            return (*show(f"error: render {Path(folders[index]).name} is gone"), *nothing[len(outs):])
        if studio.current is None or studio.current.proc is None or studio.current.proc.poll() is not None:
            studio.current = render  # (its Resume continues it)
        v = render.values
        src = v.get("source") or ""
        from_samples = Path(src).parent == SAMPLES
        fields = []
        for n in names:
            value = v.get(n)
            if n in FILES:
                items = [x for x in (value if isinstance(value, list) else [value]) if x and os.path.exists(x)]
                value = (items or None) if by_name[n].multiple else (items[0] if items else None)
            fields.append(value)
        plots = None
        if command == "zoom":
            plots = _plots(*zoom_plot_values(v))
        said = f"reopened render #{render.number()}: {render.summary()}"
        step = show(said, render.latest(), render.command_line(), render.downloads() or None, result_of(render),
                    plots)
        return (*step, None if from_samples or not os.path.exists(src) else src,
                Path(src).name if from_samples else "", *fields, str(render.folder))

    reopen_outs = [*outs, upload, sample, *widgets.values(), chosen]
    renders.click(reopen, [renders, listed], reopen_outs, queue=False)

    def render_again_(folder):
        """The render reopened, again (a new folder), with the values it was rendered with."""
        render = Render.load(Path(folder)) if folder else None
        if render is None:
            yield show("error: pick a render in the list first")
            return
        yield from start(render.values.get("source"), render.values)

    render_again.click(render_again_, [chosen], outs, concurrency_limit=1, concurrency_id="render")

    loads = [(listing, [], [renders, listed])]
    unset = [widgets[p.name] for p in options if p.name in widgets and F.number_kind(p) is not None
             and base0.get(p.name, F.default_of(p)) is None and F.bounds(p) == (None, None)]
    if unset:  # (a number field starts at 0 in the browser: an option the command decides is empty)
        loads.append((lambda: tuple([None] * len(unset)) if len(unset) > 1 else None, [], unset))
    if command == "zoom":
        keys = [n for n in names if n in (*SCHEDULES, "preset", "frames", "objective", *MUSIC_KEYS)]
        fills = [n for n in names if n in base0]

        def draw(*args):
            vals = {k: (_file_values(v) if k in FILES else v) for k, v in zip(keys, args)}
            preset, frames = vals.pop("preset", None), vals.pop("frames", None)
            return _plots(*schedule_curves(vals, preset, frames))

        def fill(preset):
            """The preset's values in its fields (and its description under it)."""
            try:
                base = F.preset_values(preset)
            except UserError as e:
                return gr.update(info=f"error: {e}"), *[keep] * len(fills)
            return gr.update(info=F.describe(preset)), *[base.get(n) for n in fills]

        widgets["preset"].input(fill, [widgets["preset"]], [widgets["preset"], *[widgets[n] for n in fills]],
                                queue=False)
        gr.on([widgets[n].change for n in keys], draw, [widgets[k] for k in keys], [plot, plot_note, music_plot],
              queue=False, trigger_mode="always_last")
        loads.append((draw, [widgets[k] for k in keys], [plot, plot_note, music_plot]))
    return loads


def serve(host: str = "127.0.0.1", port: int = 7860, workdir: str | None = None) -> None:
    """Start the studio (blocks until Ctrl-C)."""
    studio = Studio(workdir)
    page = build(studio)
    page.queue(default_concurrency_limit=1)
    page.launch(server_name=host, server_port=port, allowed_paths=[str(studio.workdir), str(SAMPLES)],
                show_error=True, inbrowser=False, css=CSS)


__all__ = ["Studio", "Render", "build", "serve", "schedule_curves", "check_command_line"]
