"""``--help`` in panels (issue 23): at 80 columns every option fits on at most 2 lines, every option sits in
a named panel, and an option of the same name is in the same panel in every command."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dreamreel.animator.front.options import PANELS

from helpers.help_rows import help_rows

COMMANDS = ["dream", "zoom", "recursive", "progression", "stylize", "video", "batch", "studio", "presets", "models",
            "metrics", "audio"]


@pytest.fixture(scope="module")
def screens() -> dict[str, str]:
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    out = {}
    for command in COMMANDS:
        run = subprocess.run([sys.executable, "-m", "dreamreel.animator.cli", command, "--help"], env=env,
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        out[command] = run.stdout
    return out


def test_every_option_fits_in_two_lines_at_80_columns(screens):
    long = {c: {o: n for o, (_, n) in help_rows(text).items() if n > 2} for c, text in screens.items()}
    assert not any(long.values()), long
    assert max(len(line) for text in screens.values() for line in text.splitlines()) <= 80
    assert len(help_rows(screens["video"])) > 40  # the parser sees the options (not a screen it cannot read)


def test_options_are_grouped_in_the_same_panels_in_every_command(screens):
    seen: dict[str, str] = {}
    for command, text in screens.items():
        for option, (panel, _) in help_rows(text).items():
            if option == "--help":
                continue
            assert panel in PANELS, (command, option, panel)  # no option left in typer's "Options"
            assert seen.setdefault(option, panel) == panel, (command, option, panel, seen[option])
    video = [p for p in (line[3:].split(" ─")[0] for line in screens["video"].splitlines() if line.startswith("╭─ "))]
    assert video == ["Arguments", "Options", "Input and output", "Motion", "Dream", "Style", "Network", "Cluster",
                     "Model and device"]


def test_the_studio_without_its_extra_is_one_line():
    code = "import sys; sys.modules['gradio'] = None\nfrom dreamreel.animator.cli import main; main(sys.argv[1:])"
    run = subprocess.run([sys.executable, "-c", code, "studio", "--port", "7999"], capture_output=True, text=True)
    lines = [ln for ln in (run.stdout + run.stderr).splitlines() if ln.strip()]
    assert run.returncode == 2 and len(lines) == 1 and 'pip install "dreamreel[studio]"' in lines[0], lines


def test_the_commands_module_does_not_import_batch_or_the_cli():
    """One description of the options (commands.py), read by the CLI, batch and the studio: no import circle."""
    code = ("import sys; import dreamreel.animator.front.commands, dreamreel.animator.front.batch\n"
            "print(sorted(m for m in sys.modules if m in ('dreamreel.animator.cli', 'gradio')))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip() == "[]", run.stdout + run.stderr
