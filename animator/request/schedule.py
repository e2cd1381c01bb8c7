"""Deforum-style keyframe schedules: ``0:(1.04), 60:(1.1)``.

A schedule maps a frame index ``t`` to a float. Its text is either a bare number (a constant)
or comma-separated keyframes ``frame:(expression)``:

    >>> s = parse_schedule("0:(1.0), 10:(2.0)", name="zoom")
    >>> s(5)
    1.5
    >>> parse_schedule("0:(2*sin(t/20))")(10) == 2 * math.sin(0.5)
    True

* Frame numbers are non-negative integers, strictly increasing.
* Before the first keyframe the first value is held, between keyframes values are
  interpolated linearly, after the last keyframe the last value is held. As in Deforum, each
  keyframe's expression is evaluated at the *current* frame ``t``.
* An expression may use ``t`` (frame index), ``max_f`` (frame count), numbers, ``+ - * / % **``,
  unary minus, parentheses, the functions ``sin cos tan abs min max floor ceil sqrt exp`` and
  the constants ``pi`` and ``e``; and the music variables (:data:`MUSIC`: ``beat``, ``bass``, ...), which a
  render with ``--audio`` gives: a schedule that uses one is :meth:`Schedule.bind`-ed to the song's curves
  (anything with ``value(name, t)``) before it is evaluated, and says it needs ``--audio`` until then.

Expressions are parsed with :mod:`ast` against an explicit allow-list and compiled to a small
tree of Python closures; nothing is ever passed to ``eval``/``exec``/``compile``. Every user
mistake raises :class:`ScheduleError` (a ``ValueError``) with a one-line message giving the
schedule's name, the 0-based character position in the schedule text, and the text.
"""

from __future__ import annotations

import ast
import bisect
import math
import numbers
import re
import warnings
from typing import Callable

__all__ = ["MUSIC", "Schedule", "ScheduleError", "parse_expression", "parse_schedule"]

# A compiled expression: f(t, max_f, music) -> number (music: the curves a render with --audio binds, or None).
_Fn = Callable[[float, int, object], float]

#: the music variables a schedule may read where the render has --audio (media.music makes them, per frame)
MUSIC = ("beat", "beat_n", "bpm", "onset", "energy", "bass", "mid", "treble")


class NeedsAudio(ArithmeticError):
    """A music variable evaluated by a schedule that no song was bound to."""

_NUMBER = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*")

_FUNCS_1: dict[str, Callable[[float], float]] = {
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "abs": abs,
    "floor": math.floor,
    "ceil": math.ceil,
    "sqrt": math.sqrt,
    "exp": math.exp,
}
MAX_DEPTH = 100  # nesting levels of one expression

_FUNCS_N: dict[str, Callable[..., float]] = {"min": min, "max": max}
_CONSTS = {"pi": math.pi, "e": math.e}
_ALLOWED = "t, max_f, pi, e, the music's " + ", ".join(MUSIC) + " (with --audio), numbers, + - * / % **, and " + \
    ", ".join([*_FUNCS_1, *_FUNCS_N])

# Friendly names for rejected syntax (anything not listed: its AST class name).
_REJECTED = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscripts",
    ast.Lambda: "lambda",
    ast.List: "lists",
    ast.Tuple: "tuples",
    ast.Set: "sets",
    ast.Dict: "dicts",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.JoinedStr: "f-strings",
    ast.Compare: "comparisons",
    ast.BoolOp: "'and'/'or'",
    ast.IfExp: "'if'/'else'",
    ast.NamedExpr: "':='",
    ast.Starred: "'*' unpacking",
    ast.Await: "'await'",
}


class ScheduleError(ValueError):
    """A malformed schedule or a failed evaluation. One-line message; ``.position`` is the
    0-based character offset in the schedule text (``.name`` and ``.text`` are kept too)."""

    def __init__(self, name: str, message: str, position: int, text: str, frame: float | None = None):
        shown = _one_line(text)
        at_frame = f" at frame {frame:g}" if frame is not None else ""
        super().__init__(f'{name}: {message}{at_frame} at position {position} in "{shown}"')
        self.name = name
        self.position = position
        self.text = text
        self.frame = frame


def _one_line(text: str) -> str:
    """``text`` as it can be shown inside one line: backslashes doubled, line breaks and other
    control or separator characters escaped (``\\n``, ``\\x0c``, ``\\u2028``)."""
    return "".join(c if c == " " or (c.isprintable() and c != "\\") else c.encode("unicode_escape").decode("ascii")
                   for c in text)


class _Keyframe:
    __slots__ = ("frame", "fn", "const", "position")

    def __init__(self, frame: int, fn: _Fn, const: float | None, position: int):
        self.frame = frame  # keyframe's frame number
        self.fn = fn  # compiled expression
        self.const = const  # its value when it depends on neither t nor max_f
        self.position = position  # where the expression starts in the text


class Schedule:
    """A parsed schedule; call it with a frame index. Build with :func:`parse_schedule`."""

    def __init__(self, text: str, name: str, keyframes: list[_Keyframe], music: dict[str, int] | None = None,
                 song=None):
        self.text = text
        self.name = name
        self._keys = keyframes
        self._frames = [k.frame for k in keyframes]
        self.keyframes: tuple[int, ...] = tuple(self._frames)
        consts = [k.const for k in keyframes]
        self.is_constant: bool = None not in consts and len(set(consts)) == 1
        #: the music variables it reads -> where the first of each is in the text
        self.music: dict[str, int] = dict(music or {})
        self._song = song

    def bind(self, song) -> "Schedule":
        """This schedule reading the music variables from ``song`` (``song.value(name, t)``)."""
        return Schedule(self.text, self.name, self._keys, self.music, song)

    def needs_audio(self) -> str | None:
        """One line where the schedule reads a music variable and no song is bound, else None."""
        if not self.music or self._song is not None:
            return None
        name, pos = min(self.music.items(), key=lambda kv: kv[1])
        return (f"{self.name}: '{name}' is a music variable: give --audio SONG at position {pos} in "
                f'"{_one_line(self.text)}"')

    def _eval(self, k: _Keyframe, t: float, max_f: int) -> float:
        if k.const is not None:
            return k.const
        try:
            v = float(k.fn(t, max_f, self._song))
        except NeedsAudio:
            raise ScheduleError(self.name, "a music variable needs --audio SONG", k.position, self.text, t) from None
        except (ArithmeticError, ValueError, RecursionError) as exc:  # ZeroDivision, Overflow, math domain
            raise ScheduleError(self.name, _describe(exc), k.position, self.text, t) from None
        if not math.isfinite(v):
            raise ScheduleError(self.name, f"value is {v}", k.position, self.text, t)
        return v

    def __call__(self, t: float, max_f: int = 0) -> float:
        """Value at frame ``t`` (may be fractional); ``max_f`` is the frame count."""
        keys = self._keys
        i = bisect.bisect_right(self._frames, t) - 1
        if i < 0:
            return self._eval(keys[0], t, max_f)
        if i == len(keys) - 1:
            return self._eval(keys[i], t, max_f)
        a, b = keys[i], keys[i + 1]
        va = self._eval(a, t, max_f)
        if t == a.frame:
            return va
        vb = self._eval(b, t, max_f)
        return va + (vb - va) * (t - a.frame) / (b.frame - a.frame)

    def values(self, n: int) -> list[float]:
        """Values at frames ``0 .. n-1``, with ``max_f = n``."""
        return [self(i, n) for i in range(n)]

    def __repr__(self) -> str:
        return f"Schedule({self.name}={self.text!r})"


def _describe(exc: Exception) -> str:
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, OverflowError):
        return "numeric overflow"
    if isinstance(exc, RecursionError):
        return "expression too deeply nested"
    return f"math error ({exc})"


def parse_schedule(text: str | float | int, name: str = "schedule") -> Schedule:
    """Parse ``text`` (``"0:(1.0), 60:(1.04)"``, ``"1.04"`` or a number) into a :class:`Schedule`.

    Raises :class:`ScheduleError` for malformed text, naming ``name`` and the position.
    """
    if isinstance(text, bool) or not isinstance(text, (str, numbers.Real)):
        raise ScheduleError(name, f"expected a number or a schedule string, got {type(text).__name__}", 0, repr(text))
    if not isinstance(text, str):
        value = float(text)
        if not math.isfinite(value):
            raise ScheduleError(name, f"value is {value}", 0, str(text))
        return Schedule(str(text), name, [_Keyframe(0, lambda t, m, mu: value, value, 0)])
    if _NUMBER.fullmatch(text):
        value = float(text)
        if not math.isfinite(value):
            raise ScheduleError(name, f"value is {value}", 0, text)
        return Schedule(text, name, [_Keyframe(0, lambda t, m, mu: value, value, 0)])
    parser = _Parser(text, name)
    return Schedule(text, name, parser.keyframes(), parser.music)


def parse_expression(expr: str, name: str, text: str, position: int) -> Schedule:
    """One expression (no keyframes) as a schedule that holds it at every frame: ``expr`` lies at ``position`` in
    ``text``, the whole that error messages show (an objective term's weight, ``2*bass``, in its schedule)."""
    parser = _Parser(text, name)
    fn, const = _Compiler(parser, position).compile_text(expr)
    return Schedule(expr, name, [_Keyframe(0, fn, const, position)], parser.music)


class _Parser:
    """Scans ``frame:(expr), ...``; expressions are handed to :class:`_Compiler`."""

    def __init__(self, text: str, name: str):
        self.text, self.name, self.i = text, name, 0
        self.music: dict[str, int] = {}  # music variables read -> first position

    def error(self, message: str, position: int) -> ScheduleError:
        return ScheduleError(self.name, message, position, self.text)

    def skip_ws(self) -> None:
        while self.i < len(self.text) and self.text[self.i].isspace():
            self.i += 1

    def peek(self) -> str:
        return self.text[self.i] if self.i < len(self.text) else ""

    def keyframes(self) -> list[_Keyframe]:
        text, out = self.text, []
        self.skip_ws()
        if self.i == len(text):
            raise self.error("empty schedule", 0)
        while self.i < len(text):
            # frame number
            start = self.i
            while self.peek().isascii() and self.peek().isdigit():  # ("²".isdigit(), but int("²") fails)
                self.i += 1
            if self.i == start:
                c = self.peek()
                what = "a negative frame number" if c == "-" else repr(c)
                raise self.error(f"expected a frame number, found {what}", start)
            if self.i - start > 9:  # (and int() refuses thousands of digits)
                raise self.error("frame number too large", start)
            frame = int(text[start : self.i])
            if out and frame <= out[-1].frame:
                raise self.error(f"frame numbers must increase: {frame} after {out[-1].frame}", start)
            # ':'
            self.skip_ws()
            if self.peek() != ":":
                raise self.error("expected ':' after frame number", self.i)
            self.i += 1
            self.skip_ws()
            # '(' expression ')'
            if self.peek() != "(":
                raise self.error("expected '(' before the value", self.i)
            close = self.matching_paren(self.i)
            expr_start = self.i + 1
            fn, const = _Compiler(self, expr_start).compile_text(text[expr_start:close])
            out.append(_Keyframe(frame, fn, const, expr_start))
            self.i = close + 1
            # ',' or end (a trailing comma is tolerated)
            self.skip_ws()
            c = self.peek()
            if c == ",":
                self.i += 1
                self.skip_ws()
            elif c == ")":
                raise self.error("unbalanced ')'", self.i)
            elif c:
                raise self.error("expected ',' between keyframes", self.i)
        return out

    def matching_paren(self, open_pos: int) -> int:
        stack = []
        for j in range(open_pos, len(self.text)):
            c = self.text[j]
            if c == "(":
                stack.append(j)
            elif c == ")":
                stack.pop()
                if not stack:
                    return j
        raise self.error("unbalanced '(': never closed", stack[-1])


class _Compiler:
    """Turns one expression into a closure ``f(t, max_f)``, rejecting anything not allowed."""

    def __init__(self, parser: _Parser, offset: int):
        self.parser, self.offset = parser, offset
        self.src = ""

    def error(self, message: str, position: int) -> ScheduleError:
        return self.parser.error(message, self.offset + position)

    def node_pos(self, node: ast.AST) -> int:
        # col_offset counts UTF-8 bytes; convert to characters.
        col = getattr(node, "col_offset", 0)
        return len(self.src.encode("utf-8")[:col].decode("utf-8", "ignore"))

    def compile_text(self, src: str) -> tuple[_Fn, float | None]:
        stripped = src.lstrip()
        self.offset += len(src) - len(stripped)
        # one line, same character positions: newlines inside the parentheses are just spaces
        self.src = re.sub(r"\s", " ", stripped)
        if not self.src.strip():
            raise self.error("empty expression", 0)
        try:
            with warnings.catch_warnings():  # "invalid decimal literal" and the like: the error below says it
                warnings.simplefilter("ignore")
                tree = ast.parse(self.src, mode="eval")
        except SyntaxError as exc:
            pos = (exc.offset or 0) - 1
            if exc.lineno != 1 or not 0 <= pos < len(self.src):
                pos = len(self.src.rstrip())
            raise self.error(f"invalid expression ({exc.msg})", pos) from None
        except (RecursionError, MemoryError, ValueError):
            raise self.error("expression too complex", 0) from None
        self.dynamic, self.depth = False, 0
        try:
            fn = self.build(tree.body)
        except RecursionError:
            raise self.error("expression too deeply nested", 0) from None
        if self.dynamic:
            return fn, None
        try:  # depends on neither t nor max_f: evaluate once, now
            value = float(fn(0.0, 0, None))
        except (ArithmeticError, ValueError, RecursionError) as exc:
            raise self.error(_describe(exc), 0) from None
        if not math.isfinite(value):
            raise self.error(f"value is {value}", 0)
        return (lambda t, m, mu: value), value

    def build(self, node: ast.AST) -> _Fn:
        # each level is one closure call when the schedule is evaluated: a bounded depth keeps
        # evaluation far from Python's recursion limit wherever in a render it happens
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise self.error(f"expression too deeply nested (more than {MAX_DEPTH} levels)", self.node_pos(node))
            return self.build_node(node)
        finally:
            self.depth -= 1

    def build_node(self, node: ast.AST) -> _Fn:
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                what = "strings" if isinstance(v, (str, bytes)) else f"{type(v).__name__} literals"
                raise self.error(f"{what} are not allowed", self.node_pos(node))
            v = float(v)  # float arithmetic only: no giant integers from 9**9**9
            return lambda t, m, mu: v
        if isinstance(node, ast.Name):
            if node.id == "t":
                self.dynamic = True
                return lambda t, m, mu: t
            if node.id == "max_f":
                self.dynamic = True
                return lambda t, m, mu: m
            if node.id in MUSIC:
                self.dynamic = True
                self.parser.music.setdefault(node.id, self.offset + self.node_pos(node))
                key = node.id

                def music(t, m, mu):
                    if mu is None:
                        raise NeedsAudio(key)
                    return mu.value(key, t)

                return music
            if node.id in _CONSTS:
                v = _CONSTS[node.id]
                return lambda t, m, mu: v
            if node.id in _FUNCS_1 or node.id in _FUNCS_N:
                raise self.error(f"function '{node.id}' must be called", self.node_pos(node))
            raise self.error(f"unknown name '{node.id}' (allowed: {_ALLOWED})", self.node_pos(node))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            f = self.build(node.operand)
            if isinstance(node.op, ast.UAdd):
                return f
            return lambda t, m, mu: -f(t, m, mu)
        if isinstance(node, ast.BinOp):
            a, b = self.build(node.left), self.build(node.right)
            op = type(node.op)
            if op is ast.Add:
                return lambda t, m, mu: a(t, m, mu) + b(t, m, mu)
            if op is ast.Sub:
                return lambda t, m, mu: a(t, m, mu) - b(t, m, mu)
            if op is ast.Mult:
                return lambda t, m, mu: a(t, m, mu) * b(t, m, mu)
            if op is ast.Div:
                return lambda t, m, mu: a(t, m, mu) / b(t, m, mu)
            if op is ast.Mod:
                return lambda t, m, mu: a(t, m, mu) % b(t, m, mu)
            if op is ast.Pow:  # math.pow: real results only, raises instead of going complex
                return lambda t, m, mu: math.pow(a(t, m, mu), b(t, m, mu))
            raise self.error(f"operator {op.__name__} is not allowed", self.node_pos(node))
        if isinstance(node, ast.Call):
            return self.build_call(node)
        what = _REJECTED.get(type(node), type(node).__name__)
        pos = self.node_pos(node)
        if isinstance(node, ast.Attribute):  # point at the '.'
            dot = self.src.find(".", pos + len(ast.get_source_segment(self.src, node.value) or ""))
            pos = dot if dot >= 0 else pos
        raise self.error(f"{what} not allowed (allowed: {_ALLOWED})", pos)

    def build_call(self, node: ast.Call) -> _Fn:
        func = node.func
        if not isinstance(func, ast.Name):
            return self.build(func)  # raises: attribute access, subscript, ...
        name = func.id
        if name not in _FUNCS_1 and name not in _FUNCS_N:
            raise self.error(f"unknown function '{name}' (allowed: {_ALLOWED})", self.node_pos(func))
        if node.keywords:
            raise self.error("keyword arguments are not allowed", self.node_pos(node.keywords[0]))
        args = [self.build(a) for a in node.args]  # rejects *args too
        if name in _FUNCS_1:
            if len(args) != 1:
                raise self.error(f"{name}() takes 1 argument, got {len(args)}", self.node_pos(node))
            f, (x,) = _FUNCS_1[name], args
            return lambda t, m, mu: f(x(t, m, mu))
        if len(args) < 2:
            raise self.error(f"{name}() takes at least 2 arguments", self.node_pos(node))
        f = _FUNCS_N[name]
        if len(args) == 2:
            x, y = args
            return lambda t, m, mu: f(x(t, m, mu), y(t, m, mu))
        return lambda t, m, mu: f(*[g(t, m, mu) for g in args])
