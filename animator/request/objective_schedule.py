"""Objective schedules: what a zoom dreams changes along the way, as its motion does.

    0: block6, 120: block9:12, 240: 0.5*class:jellyfish + block4

Keyframes ``FRAME: OBJECTIVE`` with strictly increasing frames. An objective is a sum of
weighted terms, ``[NUMBER*]ATOM + ...``, and an atom is one of

* ``LAYER`` — the layer's activations (DeepDream's L2);
* ``LAYER:CH`` or ``LAYER:CH|CH|...`` — some channels of the layer;
* ``class:NAME`` — an ImageNet class, by name or index;
* ``guide:PATH`` — a guide picture's features at the model's default layer;
* ``random:LAYER`` or ``random:LAYER:FRACTION`` — a seeded random subset of the layer's channels
  (a quarter by default), drawn anew every ``reseed`` frames.

A term's weight may be an expression of the music variables where the render has ``--audio`` (``2*bass*class:jellyfish``,
``(0.5 + energy)*block6``): the schedules' expressions (:func:`.schedule.parse_expression`), evaluated at each frame.

The first objective holds before the first keyframe and the last after the last one; over the
``fade`` frames before a keyframe the previous objective cross-fades into the next. This module
only parses (no torch: mistakes are found before anything loads, with the position in the
text); :func:`.resolve.scheduled_objective` makes the engine objectives for a network.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import UserError
from .schedule import Schedule, ScheduleError, parse_expression

KINDS = ("layer", "channels", "class", "guide", "random")
_KEY = re.compile(r"\s*(\d+)\s*:")
_NEXT_KEY = re.compile(r",\s*(?=\d+\s*:)")
_NUMBER = re.compile(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*")
_NAME = re.compile(r"[A-Za-z_][\w.]*$")


class ObjectiveScheduleError(UserError):
    pass


@dataclass(frozen=True)
class Term:
    weight: float
    kind: str  # one of KINDS
    arg: str  # the layer, class name or guide path
    channels: tuple[int, ...] = ()
    fraction: float = 0.25
    position: int = 0  # in the schedule's text
    expr: Schedule | None = field(default=None, compare=False)  # a weight that changes (music), else ``weight``

    def weight_at(self, t: float, song=None) -> float:
        """The weight at frame ``t`` (``song``: the music curves a weight expression reads)."""
        return self.weight if self.expr is None else self.expr.bind(song)(t)

    def describe(self) -> str:
        body = {"layer": self.arg, "channels": f"{self.arg}:{'|'.join(map(str, self.channels))}",
                "class": f"class:{self.arg}", "guide": f"guide:{self.arg}",
                "random": f"random:{self.arg}:{self.fraction:g}"}[self.kind]
        if self.expr is not None:
            w = self.expr.text.strip()
            return f"{w if w.startswith('(') and w.endswith(')') else f'({w})'}*{body}"
        return body if self.weight == 1 else f"{self.weight:g}*{body}"


@dataclass(frozen=True)
class Keyframe:
    frame: int
    terms: tuple[Term, ...]

    def describe(self) -> str:
        return " + ".join(t.describe() for t in self.terms)


@dataclass(frozen=True)
class ObjectiveSchedule:
    text: str
    keyframes: tuple[Keyframe, ...]
    fade: int = 24
    reseed: int = 30

    def blend(self, t: int) -> list[tuple[int, float]]:
        """(keyframe index, weight) of the objectives dreamed at frame ``t`` (one, or two fading)."""
        frames = [k.frame for k in self.keyframes]
        nxt = next((i for i, f in enumerate(frames) if f > t), None)
        if nxt is None or nxt == 0:
            return [(len(frames) - 1 if nxt is None else 0, 1.0)]
        start = frames[nxt] - self.fade
        if t < start or self.fade <= 0:
            return [(nxt - 1, 1.0)]
        w = (t - start) / self.fade
        return [(nxt - 1, 1.0 - w), (nxt, w)]

    def epoch(self, t: int) -> int:
        """Which draw of the random channel subsets frame ``t`` uses."""
        return t // max(1, self.reseed)

    @property
    def music(self) -> dict[str, int]:
        """The music variables its weights read -> the first position of each."""
        out: dict[str, int] = {}
        for k in self.keyframes:
            for term in k.terms:
                for name, pos in (term.expr.music.items() if term.expr is not None else ()):
                    out.setdefault(name, pos)
        return out

    def needs_audio(self) -> str | None:
        """One line where a weight reads a music variable (a render without --audio), else None."""
        if not self.music:
            return None
        name, pos = min(self.music.items(), key=lambda kv: kv[1])
        return f"--objective: '{name}' is a music variable: give --audio SONG at position {pos} in \"{self.text}\""


def _error(text: str, message: str, position: int) -> ObjectiveScheduleError:
    return ObjectiveScheduleError(f"--objective: {message} at position {position} in \"{text}\"")


def _atom(text: str, body: str, pos: int, weight: float, expr: Schedule | None = None) -> Term:
    body_s = body.strip()
    at = pos + len(body) - len(body.lstrip())
    if not body_s:
        raise _error(text, "expected an objective (a layer, layer:channel, class:NAME, guide:PATH or random:LAYER)", at)
    head, _, rest = body_s.partition(":")
    if head in ("class", "guide"):
        if not rest.strip():
            raise _error(text, f"{head}: needs a {'class name or index' if head == 'class' else 'picture path'}", at)
        return Term(weight, head, rest.strip(), position=at, expr=expr)
    if head == "random":
        layer, _, frac = rest.partition(":")
        if not _NAME.match(layer.strip()):
            raise _error(text, f"random: needs a layer name (got {layer.strip()!r})", at)
        try:
            fraction = float(frac) if frac.strip() else 0.25
        except ValueError:
            raise _error(text, f"bad channel fraction {frac.strip()!r} (a number in (0, 1])", at) from None
        if not 0 < fraction <= 1:
            raise _error(text, f"channel fraction must be in (0, 1] (got {fraction:g})", at)
        return Term(weight, "random", layer.strip(), fraction=fraction, position=at, expr=expr)
    if not _NAME.match(head.strip()):
        raise _error(text, f"expected a layer name, class:, guide: or random: (got {head.strip()!r})", at)
    if not rest:
        return Term(weight, "layer", head.strip(), position=at, expr=expr)
    try:
        channels = tuple(int(c) for c in rest.split("|"))
    except ValueError:
        raise _error(text, f"bad channels {rest.strip()!r} after {head.strip()}: (write block9:12 or block9:12|40)",
                     at) from None
    return Term(weight, "channels", head.strip(), channels=channels, position=at, expr=expr)


def _top_level(body: str, char: str) -> list[int]:
    """Where ``char`` stands in ``body`` outside parentheses."""
    depth, out = 0, []
    for i, c in enumerate(body):
        depth += (c == "(") - (c == ")")
        if c == char and depth == 0:
            out.append(i)
    return out


def _objective(text: str, body: str, pos: int) -> tuple[Term, ...]:
    commas = _top_level(body, ",")
    if commas:
        raise _error(text, "a comma separates keyframes: expected FRAME: after it", pos + commas[0] + 1)
    terms, last = [], 0
    for cut in [*_top_level(body, "+"), len(body)]:
        part, here = body[last:cut], pos + last
        last = cut + 1
        # WEIGHT*ATOM: the weight is before the last '*' ahead of the atom's first ':' (a guide path may hold '*')
        colon = part.find(":")
        stars = [i for i in _top_level(part, "*") if colon < 0 or i < colon]
        weight, expr = 1.0, None
        if stars:
            w_text = part[:stars[-1]]
            m = _NUMBER.fullmatch(w_text)
            if m:
                weight = float(m.group(1))
            else:
                lead = len(w_text) - len(w_text.lstrip())
                try:
                    expr = parse_expression(w_text.strip(), "--objective", text, here + lead)
                except ScheduleError as e:
                    raise ObjectiveScheduleError(str(e)) from None
                if expr.is_constant:
                    weight, expr = expr(0), None
            part, here = part[stars[-1] + 1:], here + stars[-1] + 1
        terms.append(_atom(text, part, here, weight, expr))
    return tuple(terms)


def parse_objective_schedule(text: str, fade: int = 24, reseed: int = 30) -> ObjectiveSchedule:
    """Parse ``text`` (see the module doc); mistakes raise one line with their position."""
    if fade < 0:
        raise ObjectiveScheduleError(f"--objective-fade must be >= 0 (got {fade})")
    if reseed < 1:
        raise ObjectiveScheduleError(f"--reseed-every must be >= 1 (got {reseed})")
    if not _KEY.match(text):  # one objective for every frame
        text = text.strip()
        if not text:
            raise _error(text, "empty objective", 0)
        return ObjectiveSchedule(text, (Keyframe(0, _objective(text, text, 0)),), fade, reseed)
    pieces, starts, last = [], [0], 0
    for m in _NEXT_KEY.finditer(text):
        pieces.append(text[last:m.start()])
        last = m.end()
        starts.append(last)
    pieces.append(text[last:])
    keyframes: list[Keyframe] = []
    for piece, start in zip(pieces, starts):
        m = _KEY.match(piece)
        if not m:
            raise _error(text, "expected FRAME: before the objective", start)
        frame = int(m.group(1))
        if keyframes and frame <= keyframes[-1].frame:
            raise _error(text, f"keyframe {frame} must come after {keyframes[-1].frame}", start + m.start(1))
        keyframes.append(Keyframe(frame, _objective(text, piece[m.end():], start + m.end())))
    return ObjectiveSchedule(text, tuple(keyframes), fade, reseed)
