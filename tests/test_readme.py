"""README is the front page: at most 200 lines, and every ``dreamreel`` command its shell blocks show runs as written
in a fresh clone (here: a folder holding a copy of samples/, the commands in README's order, each at a small size —
the options of :data:`SMALL` that the command takes are appended, and the last of a repeated option wins), and
writes the files it names. ``dreamreel studio`` serves a page until stopped: tests/test_studio.py drives it."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest
import typer

from conftest import REPO

README = REPO / "README.md"
#: small sizes, appended where a command takes the option
SMALL = {"--size": "64", "--width": "64", "--frames": "6", "--max-frames": "6", "--steps": "1", "--octaves": "1",
         "--iters": "4", "--iters-first": "4", "--key-iters": "4", "--dream-steps": "1", "--train-iters": "4"}
#: commands that do not end by themselves
SERVERS = ("studio",)
#: the options that name a file the command writes
WRITES = ("-o", "--output", "--gif", "--mp4", "--plot", "--save-net")


def shell_lines(text: str) -> list[str]:
    """The lines of README's shell code blocks (```bash, ```sh, ```shell)."""
    blocks = re.findall(r"^```(?:bash|sh|shell|console)\n(.*?)^```", text, flags=re.S | re.M)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def commands() -> list[str]:
    """Every ``dreamreel ...`` command in README's shell blocks (those joined to others by ``&&`` included)."""
    out = []
    for line in shell_lines(README.read_text()):
        line = re.sub(r"\s+#.*$", "", line)  # (a comment after the command)
        out += [part.strip() for part in line.split("&&") if part.strip().startswith("dreamreel ")]
    return out


def options_of(argv: list[str]) -> set[str]:
    from dreamreel.animator.cli import app

    command = typer.main.get_command(app)
    for word in argv:
        if not getattr(command, "commands", None) or word not in command.commands:
            break
        command = command.commands[word]
    return {o for p in command.params for o in p.opts}


def test_readme_is_a_front_page_of_at_most_200_lines():
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    assert "docs/" in text and "mkdocs" in text  # it sends readers to the pages
    shown = {shlex.split(c)[1] for c in commands()}
    # one example per command that renders or tells
    assert shown >= {"dream", "zoom", "recursive", "progression", "stylize", "video", "audio", "studio", "presets",
                     "models"}, shown


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A folder as a fresh clone has it for README's commands: samples/."""
    folder = tmp_path_factory.mktemp("readme")
    shutil.copytree(REPO / "samples", folder / "samples")
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("line", commands())
def test_every_readme_command_runs_as_written(line, clone):
    argv = shlex.split(line)[1:]
    if argv[0] in SERVERS:
        pytest.skip(f"'dreamreel {argv[0]}' serves until stopped (tests/test_studio.py drives it)")
    takes = options_of(argv)
    small = [w for option, value in SMALL.items() if option in takes for w in (option, value)]
    writes = [argv[i + 1] for i, w in enumerate(argv[:-1]) if w in WRITES]
    for path in writes:
        assert not (clone / path).exists() or (clone / path).is_dir(), f"{path} written before its command ran"
    run = subprocess.run([sys.executable, "-m", "dreamreel.animator.cli", *argv, *small], cwd=clone,
                         capture_output=True, text=True, timeout=600,
                         env={**os.environ, "COLUMNS": "120", "DREAMREEL_CACHE": str(clone / ".cache")})
    assert run.returncode == 0, f"{line} {' '.join(small)}\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}"
    for path in writes:
        made = clone / path
        assert made.exists() and (made.is_dir() or made.stat().st_size > 0), f"{line}: {path} not written"
