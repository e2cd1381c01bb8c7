"""What each option takes, read from the commands' one declaration: its list of values, its kind of number, its
range, its default (a zoom's: its preset's). The CLI reference (:mod:`.reference`) says it; the studio's fields,
made from the commands' one option declaration (:mod:`.commands`): a number field (a
slider where the option declares a range) holding the default, a drop-down where the code takes one of a fixed
list (the list where the code checks it: :data:`CHOICES`), a check box for a switch, an upload for a file, text
for the rest (schedules: their curves are drawn beside them). And the other way: the fields' values as the
command line's options, the values equal to the defaults (a zoom's: its preset's) left out.
"""
from __future__ import annotations

import re
from typing import Callable

#: options that take a file: an upload (or a path on this machine)
FILES = {"style", "guide", "init_blend", "net", "weights", "audio"}


def _models():
    from ...engine.backbones import MODELS

    return tuple(MODELS)


def _similarities():
    from ...engine.objectives import SIMILARITIES

    return SIMILARITIES


def _dithers():
    from ..media.gif import GIF_DITHERS

    return GIF_DITHERS


def _configs(name: str) -> Callable[[], tuple[str, ...]]:
    def values():
        from ..request import config_parts, configs

        return tuple(getattr(configs, name, None) or getattr(config_parts, name))

    return values


#: options that take one of a fixed list, declared as text: the list, from where the code checks it
CHOICES: dict[str, Callable[[], tuple[str, ...]]] = {
    "model": _models,
    "similarity": _similarities,
    "dither": _dithers,
    "border": _configs("BORDERS"),
    "color_coherence": _configs("COLOR_MODES"),
    "carry": _configs("CARRIES"),
    "flow": _configs("FLOW_METHODS"),
    "optimizer": _configs("OPTIMIZERS"),
    "color_space": _configs("COLOR_SPACES"),
    "method": _configs("METHODS"),
}


def long_name(p: object) -> str:
    return next((o for o in p.opts if o.startswith("--")), p.opts[0])


def choices(p: object) -> tuple[str, ...] | None:
    """The values an option takes, where it takes one of a fixed list (a click Choice, or :data:`CHOICES`)."""
    declared = getattr(getattr(p, "type", None), "choices", None)
    if declared:
        return tuple(str(c) for c in declared)
    make = CHOICES.get(p.name)
    return make() if make is not None else None


def number_kind(p: object) -> type | None:
    """int or float for a number option (click INT/FLOAT/IntRange/FloatRange, or the declared annotation)."""
    t = getattr(p, "type", None)
    name = getattr(t, "name", "") or ""
    if name.startswith("integer"):
        return int
    if name.startswith("float"):
        return float
    bare = getattr(p, "bare_type", None)
    bare = bare() if callable(bare) else None
    if bare in ("int", "float"):
        return int if bare == "int" else float
    return None


def bounds(p: object) -> tuple[float | None, float | None]:
    """The range an option declares (click IntRange/FloatRange, or typer's min/max); (None, None) where none."""
    t = getattr(p, "type", None)
    lo = getattr(p, "min", None)
    hi = getattr(p, "max", None)
    return (lo if lo is not None else getattr(t, "min", None)), (hi if hi is not None else getattr(t, "max", None))


def default_of(p: object):
    """The declared default, or None (an Optional option: the command decides)."""
    d = p.default
    if d in ((), []) or callable(d):
        return None
    return d


def said_default(p: object) -> str:
    """What the help says the default is ("Default: efficientnet_lite0.", "(default: 320 px at most)"), or ''."""
    m = re.search(r"[Dd]efault:?\s*([^;)]*?)\.?(?:[;)]|$)", p.help or "")
    return m.group(1).strip() if m else ""


def out_of_range(p: object, v) -> str | None:
    """The mistake, where ``v`` is outside the option's declared range."""
    lo, hi = bounds(p)
    if v is None or (lo is None and hi is None):
        return None
    if lo is not None and v < lo or hi is not None and v > hi:
        if lo is not None and hi is not None:
            return f"{long_name(p)} must be in [{lo:g}, {hi:g}] (got {v:g})"
        return (f"{long_name(p)} must be >= {lo:g} (got {v:g})" if lo is not None
                else f"{long_name(p)} must be <= {hi:g} (got {v:g})")
    return None


def as_text(v) -> str | None:
    """A field's value as the command line writes it; None where empty."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, float):
        return repr(v)
    s = str(v).strip()
    return s or None


def same(a, b) -> bool:
    """Two values of a field mean the same (1 and 1.0, ' 0:(1) ' and '0:(1)')."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (int, float)) or isinstance(b, (int, float)):
        try:
            return float(a) == float(b)
        except (TypeError, ValueError):
            return False
    return str(a).strip() == str(b).strip()


# --------------------------------------------------------------------------- a zoom's preset


def preset_values(preset: str | None) -> dict[str, object]:
    """What a zoom with ``preset`` and nothing else given renders with: option name -> value (the preset's, else the
    zoom's defaults), as its settings.json records it. Raises UserError for a preset that is not there."""
    from ..request.configs import zoom_config

    cfg = zoom_config({"mp4": "out.mp4", "image": "noise"}, (preset or "").strip() or None)
    s = cfg.as_settings()
    s.pop("outputs", None)
    s.pop("image", None)
    s.pop("command", None)
    return {("klass" if k == "class" else k): v for k, v in s.items()}


def describe(preset: str | None) -> str:
    from ... import presets

    try:
        return str(presets.load(preset).get("description", "")).strip() if preset else ""
    except presets.PresetError as e:
        return str(e)


__all__ = ["FILES", "CHOICES", "choices", "number_kind", "bounds", "default_of", "said_default", "out_of_range",
           "as_text", "same", "preset_values", "describe", "long_name"]
