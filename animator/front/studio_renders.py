"""The studio's renders (no Gradio here): one render — its command line, its numbered folder in the studio's
``--workdir`` (copied inputs, outputs, log, thumbnail, ``render.json``), its child process (the CLI itself; Stop is
SIGINT, Resume adds ``--resume``), its progress read from the frames folder —, the studio's list of them (read
back from the folders, so it survives a restart), and the lock that keeps one render at a time on this machine.
The page (:mod:`.studio`) shows them.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
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

import numpy as np
from PIL import Image

from . import fields as F

FILES = F.FILES
SAMPLES = Path(__file__).resolve().parents[2] / "samples"



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
    values: dict = field(default_factory=dict)  # the fields it was rendered with (to fill them again)
    log: Path = field(init=False)

    def __post_init__(self):
        self.log = self.folder / "log.txt"

    def command_line(self) -> str:
        return shlex.join(["dreamreel", *self.argv])

    # ---- its folder: render.json, read back by the renders list (after a restart too)

    def save(self) -> None:
        record = {"command": self.command, "argv": self.argv, "values": self.values,
                  "outputs": {k: str(v) for k, v in self.outputs.items()},
                  "frames": str(self.frames) if self.frames is not None else None, "time": time.time()}
        (self.folder / "render.json").write_text(json.dumps(record, indent=1))

    @classmethod
    def load(cls, folder: Path) -> "Render | None":
        try:
            r = json.loads((folder / "render.json").read_text())
            return cls(r["command"], list(r["argv"]), folder, {k: Path(v) for k, v in r["outputs"].items()},
                       Path(r["frames"]) if r.get("frames") else None, values=r.get("values") or {})
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def number(self) -> str:
        return self.folder.name.split("-")[0]

    def thumbnail(self) -> str | None:
        """A small picture of the render (its last frame, or the still), written once the render is done."""
        thumb = self.folder / "thumb.jpg"
        if thumb.exists():
            return str(thumb)
        if self.proc is not None and self.proc.poll() is None:  # (running: not yet)
            return None
        pixels = self.latest()
        if pixels is None:
            return None
        im = Image.fromarray(pixels)
        im.thumbnail((160, 160))
        try:
            im.save(thumb, quality=85)
        except OSError:
            return None
        return str(thumb)

    def short(self) -> str:
        """The command line without the studio's own outputs, paths as their names (the list's column)."""
        out, skip = [self.command], False
        for a in self.argv[1:]:
            if skip:
                skip = False
                continue
            if a in ("-o", "--output", "--gif", "--mp4", "--frames-dir"):
                skip = True
                continue
            out.append(os.path.basename(a) if os.sep in a else a)
        return shlex.join(out)

    def summary(self) -> str:
        made = [p.name for k, p in self.outputs.items() if k != "sheet" and p.exists() and p.is_file()]
        k = self.frame_count()
        said = (f"{k} frames" if k else "") if self.command != "dream" else ""
        stopped = self.frames is not None and (self.frames / "settings.json").exists() and not made
        return " · ".join(x for x in [*made, said, "stopped" if stopped else ""] if x) or "no output"

    # ---- its process

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

    def latest_path(self) -> Path | None:
        """The newest frame written (a still: the picture, once written), or None."""
        k = self.frame_count()
        path = self.frames / f"frame_{k - 1:06d}.png" if k else self.outputs.get("image")
        return path if path is not None and path.exists() else None

    def latest(self) -> np.ndarray | None:
        """The newest frame written, as pixels."""
        path = self.latest_path()
        if path is None:
            return None
        try:
            with Image.open(path) as im:
                return np.asarray(im.convert("RGB"))
        except OSError:  # (being replaced)
            return None

    def total(self) -> int | None:
        """Frames the render will write, from the settings.json it wrote first."""
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
            bar = f"starting  {seconds:.0f} s" + self.phase()
        if running and self.stopping:
            return f"stopping… ({done} frames kept so far)"
        return bar if running else self.finished()

    def phase(self) -> str:
        """What the render's log says it is doing before its first frame (loading, painting a keyframe...)."""
        if not self.log.exists():
            return ""
        text = self.log.read_text(errors="replace")
        lines = [ln.strip() for ln in re.split(r"[\r\n]", text) if ln.strip()]
        return f": {lines[-1][:120]}" if lines else ""

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
    """The renders of one studio process (one at a time: Gradio's queue holds the others), each a folder of its
    workdir."""

    def __init__(self, workdir: str | None = None):
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="dreamreel-studio-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.current: Render | None = None
        self.lock = threading.Lock()
        self.count = max((int(p.name.split("-")[0]) for p in self.workdir.iterdir()
                          if p.is_dir() and p.name.split("-")[0].isdigit()), default=0)

    def renders(self, command: str) -> list[Render]:
        """This workdir's renders of ``command``, newest first (those of an earlier studio on it too)."""
        found = []
        for folder in sorted(self.workdir.glob(f"*-{command}"), reverse=True):
            r = self.current if self.current is not None and self.current.folder == folder else Render.load(folder)
            if r is not None:
                found.append(r)
        return found

    def plan(self, command: str, source: str, values: dict[str, object], options: list[object],
             base: dict[str, object] | None = None) -> Render:
        """The command line for ``values`` (option name -> the field's value; empty or equal to ``base``, the
        defaults, the preset's for a zoom: not given). Uploads are copied into the render's folder."""
        base = base or {}
        self.count += 1
        folder = self.workdir / f"{self.count:03d}-{command}"
        folder.mkdir(parents=True)
        inputs = folder / "input"

        def kept(path: str) -> str:
            p = Path(path)
            if p.parent == SAMPLES or p.parent == inputs or not p.is_file():
                return str(path)
            inputs.mkdir(exist_ok=True)
            shutil.copy2(p, inputs / p.name)
            return str(inputs / p.name)

        values = dict(values)
        for name in FILES:
            v = values.get(name)
            if isinstance(v, list):
                values[name] = [kept(x) for x in v if x] or None
            elif v:
                values[name] = kept(v)
        source = kept(source) if source else source
        argv = [command, source]
        outputs: dict[str, Path] = {}
        frames: Path | None = folder / "out_frames"
        if command in ("zoom", "video", "progression"):
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
        for p in sorted(options, key=lambda p: p.name != "preset"):  # (the look first, as on the page)
            v = values.get(p.name)
            b = base.get(p.name, F.default_of(p))
            if p.is_flag:
                if bool(v) != bool(b):
                    if v:
                        argv.append(F.long_name(p))
                    elif p.secondary_opts:
                        argv.append(p.secondary_opts[0])
                continue
            if p.name in FILES:
                for item in (v if isinstance(v, list) else [v]):
                    if item:
                        argv += [F.long_name(p), str(item)]
                continue
            text = F.as_text(v)
            always = command == "zoom" and p.name in ("preset", "frames")  # (the look and the length: said)
            if text is None or (F.same(v, b) and not always):
                continue
            argv += [F.long_name(p), text]
        values["source"] = source
        return Render(command, argv, folder, outputs, frames, values=values)


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


__all__ = ["CHILD", "Render", "Studio", "machine_lock", "SAMPLES"]
