"""The documentation site: its command-line reference lists every option of every command (it is written from the
commands' own declaration), every page is in the navigation, the Python API's examples run as written, and the
site builds with ``mkdocs build --strict`` (where the ``docs`` extra is installed)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image

from conftest import REPO

DOCS = REPO / "docs"
sys.path.insert(0, str(REPO / "tools"))


def cli_page() -> str:
    """docs/reference/cli.md as the site's build writes it (the hook)."""
    from mkdocs_hooks import on_page_markdown

    class Page:
        class file:
            src_uri = "reference/cli.md"

    return on_page_markdown((DOCS / "reference" / "cli.md").read_text(), Page, None, None)


def sections(markdown: str) -> dict[str, str]:
    """``{"dreamreel zoom": its section}`` of the reference."""
    parts = re.split(r"^## `([^`]+)`.*$", markdown, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def every_option() -> list[tuple[str, str]]:
    from dreamreel.animator.cli import app
    from dreamreel.animator.front.reference import walk

    return [(" ".join(path), name) for path, command in walk(typer.main.get_command(app))
            for p in command.params if p.param_type_name == "option" for name in (*p.opts, *p.secondary_opts)]


def test_the_cli_reference_lists_every_option_of_every_command():
    page = sections(cli_page())
    options = every_option()
    assert len(options) > 150 and {c for c, _ in options} >= {"dreamreel zoom", "dreamreel video", "dreamreel studio",
                                                             "dreamreel metrics warp-error"}
    missing = [(c, o) for c, o in options if c not in page or not re.search(rf"`[^`]*(?<![\w-]){re.escape(o)}(?![\w-])",
                                                                            page[c])]
    assert not missing, f"not on the reference page: {missing[:10]}"
    # the page says what --help says: the zoom's --loop is a switch, --frames comes from the default preset
    zoom = page["dreamreel zoom"]
    assert re.search(r"\| `--loop` \| switch \| off \|", zoom)
    assert re.search(r"\| `--frames` \| integer \| `\d+` \(with preset `journey`\) \|", zoom)
    assert "Motion" in zoom and "Model and device" in zoom  # (the panels of --help)


def test_a_new_command_reaches_the_reference_without_an_edit():
    """The reference is made from the declaration: a command added to the app is on the page with its options."""
    from dreamreel.animator.cli import app
    from dreamreel.animator.front.reference import cli_markdown

    group = typer.main.get_command(app)
    added = typer.Typer()

    @added.command()
    def made(made_up_for_the_test: int = typer.Option(3, help="An option no one declared.")) -> None:
        """A command made by the test."""

    before = cli_markdown(group)
    group.commands["made"] = typer.main.get_command(added)
    try:
        after = cli_markdown(group)
    finally:
        del group.commands["made"]
    assert "--made-up-for-the-test" not in before
    assert "## `dreamreel made`" in after
    assert re.search(r"\| `--made-up-for-the-test` \| integer \| `3` \| An option no one declared\. \|", after)


def nav_pages() -> list[str]:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("tag:yaml.org,2002:python/name:", lambda *a: None)
    Loader.add_multi_constructor("!", lambda *a: None)
    config = yaml.load((REPO / "mkdocs.yml").read_text(), Loader=Loader)

    def pages(items) -> list[str]:
        out = []
        for item in items:
            for value in (item.values() if isinstance(item, dict) else [item]):
                out += pages(value) if isinstance(value, list) else [value]
        return out

    return pages(config["nav"])


def test_every_page_is_in_the_navigation_and_every_entry_is_a_page():
    pytest.importorskip("yaml", reason="PyYAML comes with the docs extra: pip install '.[docs]'")
    nav = nav_pages()
    files = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if p.parent.name != "gallery")
    assert sorted(set(nav)) == sorted(nav), "a page twice in the navigation"
    assert sorted(nav) == files, f"pages not in the nav: {set(files) - set(nav)}; nav entries with no page: " \
                                 f"{set(nav) - set(files)}"


def test_the_api_examples_run_as_written(tmp_path, monkeypatch):
    """docs/reference/api.md's Python blocks, run one after the other from a folder holding samples/."""
    blocks = re.findall(r"```python\n(.*?)```", (DOCS / "reference" / "api.md").read_text(), re.S)
    assert len(blocks) == 2
    shutil.copytree(REPO / "samples", tmp_path / "samples")
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"api.md block {i}", "exec"), scope)
    figures = scope["picture"]("samples/figures.jpg")
    dreamed = np.asarray(Image.open(tmp_path / "dream.png"), np.float32) / 255
    assert dreamed.shape[:2] == tuple(figures.shape[2:])
    assert np.abs(dreamed - figures[0].permute(1, 2, 0).numpy()).mean() > 0.05  # a dream, not the picture
    cat = scope["picture"]("samples/chelsea.png")
    assert scope["out"].shape == cat.shape and (scope["out"] - cat).abs().mean() > 0.03  # painted


def test_the_site_builds_strict_and_its_reference_page_has_every_option(tmp_path):
    if shutil.which("mkdocs") is None and not (Path(sys.executable).parent / "mkdocs").exists():
        pytest.skip("mkdocs is not installed: pip install '.[docs]'")
    mkdocs = shutil.which("mkdocs") or str(Path(sys.executable).parent / "mkdocs")
    site = tmp_path / "site"
    run = subprocess.run([mkdocs, "build", "--strict", "-d", str(site)], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    html = (site / "reference" / "cli" / "index.html").read_text()
    missing = {o for _, o in every_option() if f"{o}<" not in html and f"{o}," not in html}
    assert not missing, f"options not on the built page: {sorted(missing)[:10]}"
    api = (site / "reference" / "api" / "index.html").read_text()
    assert "get_backbone" in api and "Dream <code>image</code>" in api  # (the docstrings themselves)
    assert ":func:" not in api and ":class:" not in api  # (Sphinx's roles shown as code: tools/griffe_roles.py)
    assert "Gradient steps per octave." in api  # (DreamParams' fields, with their own docstrings)
    for page in nav_pages():
        assert (site / page.replace(".md", "") / "index.html").exists() or page == "index.md", page
    assert (site / "index.html").exists()


def guide_commands() -> list[tuple[str, str]]:
    """``(page, command)`` for every ``dreamreel ...`` line of the pages' shell blocks (not ``--help``)."""
    out = []
    for md in sorted(DOCS.rglob("*.md")):
        for block in re.findall(r"^```(?:bash|sh|shell|console)\n(.*?)^```", md.read_text(), flags=re.S | re.M):
            for line in block.splitlines():
                line = re.sub(r"\s+#.*$", "", line.strip())
                out += [(str(md.relative_to(DOCS)), part.strip()) for part in line.split("&&")
                        if part.strip().startswith("dreamreel ") and "--help" not in part]
    return out


def test_every_command_the_pages_show_parses_with_the_options_dreamreel_has():
    """A page's command with an option that was renamed or removed, or a value of the wrong kind, fails here (the
    pages' commands are parsed, not rendered; README's are run by test_readme.py)."""
    import shlex

    from dreamreel.animator.cli import app

    group = typer.main.get_command(app)
    shown = guide_commands()
    assert len(shown) >= 30 and {p for p, _ in shown} >= {"guides/clips.md", "guides/zooms.md", "getting-started.md"}
    wrong = []
    for page, line in shown:
        args, command, name = shlex.split(line)[1:], group, "dreamreel"
        while getattr(command, "commands", None) and args and args[0] in command.commands:
            name = args.pop(0)
            command = command.commands[name]
        try:
            command.make_context(name, args)
        except Exception as e:  # (click's usage errors: an unknown option, a number that is not one)
            wrong.append(f"{page}: {line} -> {getattr(e, 'format_message', lambda: str(e))()}")
    assert not wrong, "\n".join(wrong)
