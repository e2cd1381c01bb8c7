"""The studio's drawings of curves over frames: one strip per curve (each its own scale), its name in its colour
beside it (the legend), the frame being rendered as a vertical rule with each curve's value there. Plain SVG in
HTML: no plotting library, cheap enough to redraw at every frame of a render.
"""
from __future__ import annotations

import html
import math

#: a colour per curve (Tableau 10: distinct for the colour-blind too)
COLOURS = {
    "zoom": "#4e79a7", "angle": "#f28e2b", "translation-x": "#e15759", "translation-y": "#76b7b2",
    "center-x": "#59a14f", "center-y": "#edc948", "strength": "#b07aa1", "steps": "#ff9da7", "octaves": "#9c755f",
    "beat": "#e15759", "onset": "#f28e2b", "energy": "#7f7f7f", "bass": "#4e79a7", "mid": "#59a14f",
    "treble": "#b07aa1",
}
OTHER = "#555555"

WIDTH = 392
LABEL = 106  # the legend column: the swatch and the name
VALUE = 76  # the value column, right
STRIP = 20  # height of one strip
TOP = 20  # room for "frame N" over the rule
AXIS = 20


def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return str(v)
    if v == int(v) and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.4g}"


def curves_svg(curves: list[tuple[str, list[float]]], frame: int | None = None, title: str = "",
               elem_class: str = "curves") -> str:
    """``curves``: (name, value per frame) each; ``frame``: the frame being rendered (a rule there), or None."""
    if not curves:
        return ""
    n = max(len(v) for _, v in curves)
    x0, x1 = LABEL, WIDTH - VALUE
    height = TOP + STRIP * len(curves) + AXIS

    def x(t: float) -> float:
        return x0 + (x1 - x0) * (t / max(1, n - 1))

    out = [f'<div class="{elem_class}" data-frames="{n}">']
    if title:
        out.append(f'<div class="curves-title" style="font-size:13px;opacity:.75;margin:2px 0">{html.escape(title)}'
                   "</div>")
    out.append(f'<svg viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
               f'style="max-width:{WIDTH * 1.6:.0f}px;font-family:ui-sans-serif,system-ui,sans-serif;font-size:12px">')
    out.append('<g class="legend">')
    for row, (name, _) in enumerate(curves):
        y = TOP + row * STRIP + STRIP / 2
        colour = COLOURS.get(name, OTHER)
        out.append(f'<g class="legend-item" data-name="{html.escape(name)}"><rect x="4" y="{y - 5}" width="14" '
                   f'height="10" rx="2" fill="{colour}"/><text x="24" y="{y + 4}" fill="currentColor">'
                   f"{html.escape(name)}</text></g>")
    out.append("</g>")
    for row, (name, values) in enumerate(curves):
        top = TOP + row * STRIP + 3
        bottom = top + STRIP - 6
        colour = COLOURS.get(name, OTHER)
        finite = [v for v in values if math.isfinite(v)] or [0.0]
        lo, hi = min(finite), max(finite)
        span = hi - lo

        def y(v: float) -> float:
            if span <= 1e-12 or not math.isfinite(v):
                return (top + bottom) / 2
            return bottom - (bottom - top) * (v - lo) / span

        out.append(f'<rect x="{x0}" y="{top}" width="{x1 - x0}" height="{bottom - top}" fill="currentColor" '
                   'fill-opacity="0.04"/>')
        pts = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in enumerate(values))
        if len(values) == 1:
            pts = f"{x0},{y(values[0]):.1f} {x1},{y(values[0]):.1f}"
        out.append(f'<polyline class="curve" data-name="{html.escape(name)}" points="{pts}" fill="none" '
                   f'stroke="{colour}" stroke-width="1.8" stroke-linejoin="round"><title>{html.escape(name)}: '
                   f"{_fmt(lo)} to {_fmt(hi)}</title></polyline>")
        if frame is not None and values:
            shown = values[min(max(frame, 0), len(values) - 1)]
        else:
            shown = None
        text = _fmt(shown) if shown is not None else (_fmt(lo) if span <= 1e-12 else f"{_fmt(lo)}…{_fmt(hi)}")
        out.append(f'<text x="{WIDTH - 4}" y="{(top + bottom) / 2 + 4}" text-anchor="end" fill="currentColor" '
                   f'fill-opacity="0.8">{html.escape(text)}</text>')
    base = TOP + STRIP * len(curves)
    for k in range(5):  # the frame axis
        t = round(k * (n - 1) / 4)
        out.append(f'<text x="{x(t):.1f}" y="{base + 14}" text-anchor="middle" fill="currentColor" '
                   f'fill-opacity="0.6">{t}</text>')
    out.append(f'<text x="{x0 - 6}" y="{base + 14}" text-anchor="end" fill="currentColor" fill-opacity="0.6">'
               "frame</text>")
    if frame is not None:
        f = min(max(frame, 0), n - 1)
        out.append(f'<g class="now" data-frame="{f}"><line x1="{x(f):.1f}" x2="{x(f):.1f}" y1="{TOP - 4}" '
                   f'y2="{base}" stroke="currentColor" stroke-width="1.5" stroke-dasharray="3 2"/>'
                   f'<text x="{x(f):.1f}" y="{TOP - 7}" text-anchor="middle" fill="currentColor">frame {f}</text></g>')
    out.append("</svg></div>")
    return "".join(out)


__all__ = ["curves_svg", "COLOURS"]
