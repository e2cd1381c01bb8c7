"""The command-line reference as Markdown, made from the commands' own declaration (the documentation site's
"Command line" page; ``tools/mkdocs_hooks.py`` writes it at every build, so it cannot drift from ``--help``).

Every command and sub-command, its usage, its arguments and every option, grouped in the panels of ``--help``
(:data:`.options.PANELS`), with its type, its default and its help text.
"""
from __future__ import annotations

import enum
import typing
from typing import Any, Iterator

from . import fields as F

#: the command line's name
PROG = "dreamreel"


def walk(group: Any, path: tuple[str, ...] = (PROG,)) -> Iterator[tuple[tuple[str, ...], Any]]:
    """``(path, command)`` for every command under ``group`` (a group's own sub-commands after it)."""
    for name, command in group.commands.items():
        here = (*path, name)
        yield here, command
        if getattr(command, "commands", None):
            yield from walk(command, here)


def names(param: Any) -> str:
    """Every name of an option as typed: ``-o, --output``; a switch with its ``--no-`` form."""
    return ", ".join([*param.opts, *param.secondary_opts])


def type_name(param: Any) -> str:
    """What an option takes, in words: ``integer``, ``number``, ``text``, one of a list, or a switch."""
    if getattr(param, "is_flag", False):
        return "switch"
    annotation = param.type_descriptor.annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (list, tuple) or typing.get_origin(annotation) is typing.Union:
        annotation = args[0] if args else str
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(f"`{m.value}`" for m in annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in typing.get_args(annotation))
    listed = F.choices(param)
    if listed:
        return "one of " + ", ".join(f"`{c}`" for c in listed)
    kind = {int: "integer", float: "number", bool: "switch"}.get(annotation, "text")
    low, high = F.bounds(param)
    if low is not None or high is not None:
        kind += f" ({'' if low is None else low} … {'' if high is None else high})"
    if param.metavar and kind == "text":
        kind = f"`{param.metavar}`"
    return kind + (", repeatable" if param.multiple else "")


def default_of(param: Any, preset: dict | None = None) -> str:
    """The default as ``--help`` means it; the default preset's value where the command takes one (a zoom's
    ``--frames``); empty where there is none (the method's, the picture's, ...)."""
    value = param.default
    if getattr(param, "is_flag", False):
        return "on" if value else "off"
    if (value is None or value == []) and preset and preset.get(param.name) not in (None, "", [], {}):
        return cell(f"`{preset[param.name]}` (with preset `{preset['name']}`)")
    if value is None or value == [] or value == () or callable(value):
        return ""
    if isinstance(value, enum.Enum):
        value = value.value
    return f"`{value}`"


def cell(text: str | None) -> str:
    """Text for one cell of a Markdown table."""
    return " ".join((text or "").split()).replace("|", "\\|")


def panel_of(param: Any) -> str:
    return getattr(param, "rich_help_panel", None) or "Options"


def usage(path: tuple[str, ...], command: Any) -> str:
    if getattr(command, "commands", None):
        return " ".join(path) + " COMMAND [ARGS]..."
    arguments = [p.name.upper() + ("..." if p.nargs == -1 else "") for p in command.params
                 if p.param_type_name == "argument"]
    return " ".join([*path, "[OPTIONS]", *arguments])


def command_markdown(path: tuple[str, ...], command: Any) -> list[str]:
    """One command's section."""
    title = " ".join(path)
    lines = [f"## `{title}` {{ #{'-'.join(path[1:])} }}", ""]
    text = (command.help or "").strip()
    if text:
        lines += [text, ""]
    lines += ["```text", usage(path, command), "```", ""]
    if getattr(command, "commands", None):
        lines += ["| command | what it does |", "|---|---|"]
        lines += [f"| [`{title} {name}`](#{'-'.join((*path[1:], name))}) | {cell(sub.short_help or sub.help)} |"
                  for name, sub in command.commands.items()]
        return lines + [""]
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    if arguments:
        lines += ["| argument | what |", "|---|---|"]
        lines += [f"| `{p.name.upper()}` | {cell(p.help)} |" for p in arguments]
        lines.append("")
    preset = None
    if any(p.name == "preset" for p in command.params):  # (a zoom: what is not given comes from the preset)
        from ..request.configs import DEFAULT_PRESET

        preset = {**F.preset_values(DEFAULT_PRESET), "name": DEFAULT_PRESET}
    panels: dict[str, list[Any]] = {}
    for p in command.params:
        if p.param_type_name == "option":
            panels.setdefault(panel_of(p), []).append(p)
    for panel, params in panels.items():
        lines += [f"**{panel}**", "", "| option | takes | default | what |", "|---|---|---|---|"]
        lines += [f"| `{names(p)}` | {type_name(p)} | {default_of(p, preset)} | {cell(p.help)} |" for p in params]
        lines.append("")
    lines += ["`--help` shows the same, in the terminal.", ""]
    return lines


def cli_markdown(group: Any) -> str:
    """The whole reference: a table of the commands, then a section per command (``group``: the click group
    ``typer.main.get_command(app)``)."""
    lines = ["| command | what it does |", "|---|---|"]
    commands = list(walk(group))
    lines += [f"| [`{' '.join(path)}`](#{'-'.join(path[1:])}) | {cell(c.short_help or (c.help or '').split(chr(10))[0])} |"
              for path, c in commands]
    lines.append("")
    for path, command in commands:
        lines += command_markdown(path, command)
    return "\n".join(lines)


__all__ = ["cli_markdown", "walk"]
