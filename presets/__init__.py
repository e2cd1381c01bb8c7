"""Named looks as TOML files (one per look, beside this file), and a tiny loader. Data, not code.

Each file holds a ``description`` and default values for a render's options; options given on
the command line override them. Which keys are valid is for the caller to check.
"""
from __future__ import annotations

import os
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))


class PresetError(ValueError):
    pass


def names() -> list[str]:
    return sorted(f[:-5] for f in os.listdir(HERE) if f.endswith(".toml"))


def path_of(name: str) -> str:
    """A preset name, or a path to the user's own TOML file."""
    if name.endswith(".toml") or os.sep in name:
        if not os.path.isfile(name):
            raise PresetError(f"preset file not found: {name}")
        return name
    p = os.path.join(HERE, name + ".toml")
    if not os.path.isfile(p):
        raise PresetError(f"unknown preset {name!r}; presets: {', '.join(names())}")
    return p


def load(name: str) -> dict:
    p = path_of(name)
    try:
        with open(p, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise PresetError(f"preset {p}: {e}") from None
    return data


def describe() -> dict[str, str]:
    """name -> one-line description."""
    return {n: str(load(n).get("description", "")).strip() for n in names()}
