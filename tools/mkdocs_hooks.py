"""MkDocs hooks (``mkdocs.yml``: ``hooks``): the "Command line" page's reference is written at every build from
the commands' own declaration (``dreamreel.animator.front.reference``), so the site cannot drift from ``--help``."""
from __future__ import annotations

#: where docs/reference/cli.md takes the generated reference
MARK = "<!-- the commands: written by tools/mkdocs_hooks.py -->"


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri != "reference/cli.md":
        return markdown
    if MARK not in markdown:
        raise ValueError(f"docs/reference/cli.md lost its mark {MARK!r}: the reference has nowhere to go")
    import typer

    from dreamreel.animator.cli import app
    from dreamreel.animator.front.reference import cli_markdown

    return markdown.replace(MARK, cli_markdown(typer.main.get_command(app)))
