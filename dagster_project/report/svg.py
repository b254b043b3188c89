"""Small inline-SVG charts, drawn in Python: no JavaScript, no network, no fonts to fetch.

Every chart is an `<svg>` with a viewBox (it scales to its container), a
`<title>` for screen readers, and text in the page's own font. Values may be
None (no value for that month): the bar or point is left out and the gap shows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

WIDTH = 640
FONT = 12
AXIS = "#57606a"
GRID = "#d0d7de"


def nice_max(v: float) -> float:
    """A round upper bound for an axis (1, 2, 2.5, 5 x 10^k)."""
    if v <= 0 or math.isnan(v):
        return 1.0
    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * exp:
            return m * exp
    return 10 * exp


def fmt(v: float | None, digits: int = 1) -> str:
    if v is None:
        return "–"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if float(v).is_integer():
        return f"{v:.0f}"
    return f"{v:.{digits}f}"


def _svg(height: int, title: str, body: list[str], width: int = WIDTH) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="{escape(title)}" font-size="{FONT}" '
        f'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def _text(
    x: float,
    y: float,
    s: str,
    anchor: str = "start",
    fill: str = AXIS,
    size: int | None = None,
    weight: str | None = None,
) -> str:
    extra = f' font-size="{size}"' if size else ""
    extra += f' font-weight="{weight}"' if weight else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}"{extra}>{escape(s)}</text>'


def legend(items: Sequence[tuple[str, str]], x: float, y: float) -> list[str]:
    out, cx = [], x
    for label, colour in items:
        out.append(
            f'<rect x="{cx:.1f}" y="{y - 10:.1f}" width="12" height="12" rx="2" fill="{colour}"/>'
        )
        out.append(_text(cx + 16, y, label))
        cx += 16 + 7 * len(label) + 18
    return out


def grouped_bars(
    categories: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    *,
    title: str,
    unit: str,
    height: int = 260,
) -> str:
    """Vertical bars, one group per category, one bar per series (name, colour, values)."""
    left, right, top, bottom = 52, 12, 34, 40
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    values = [v for _, _, vs in series for v in vs if v is not None]
    vmax = nice_max(max(values, default=0.0))
    body = legend([(name, colour) for name, colour, _ in series], left, 16)
    body.append(_text(WIDTH - right, 16, unit, "end"))
    for i in range(5):
        v = vmax * i / 4
        y = top + plot_h - plot_h * i / 4
        body.append(
            f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
        )
        body.append(_text(left - 6, y + 4, fmt(v), "end"))
    n = max(len(categories), 1)
    group_w = plot_w / n
    bar_w = min(28.0, group_w * 0.8 / max(len(series), 1))
    for ci, cat in enumerate(categories):
        gx = left + ci * group_w + (group_w - bar_w * len(series)) / 2
        for si, (name, colour, vs) in enumerate(series):
            v = vs[ci]
            if v is None:
                continue
            h = plot_h * max(v, 0.0) / vmax
            x = gx + si * bar_w
            body.append(
                f'<rect class="bar" x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{escape(f"{cat} {name}: {fmt(v, 2)} {unit}")}</title></rect>'
            )
        every = max(1, math.ceil(n / 12))
        if ci % every == 0:
            body.append(
                _text(left + ci * group_w + group_w / 2, height - bottom + 16, cat, "middle")
            )
    body.append(
        f'<line x1="{left}" x2="{WIDTH - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="{AXIS}"/>'
    )
    return _svg(height, title, body)


def stacked_hbars(
    rows: Sequence[tuple[str, Sequence[float]]],
    segments: Sequence[tuple[str, str]],
    *,
    title: str,
    percent: bool = True,
) -> str:
    """Horizontal bars split into segments (label, colour); as shares of each row's total when `percent`."""
    left, right, top, row_h = 110, 16, 34, 34
    height = top + row_h * len(rows) + 24
    plot_w = WIDTH - left - right
    vmax = max((sum(vs) for _, vs in rows), default=0.0) or 1.0
    body = legend(segments, left, 16)
    for ri, (label, vs) in enumerate(rows):
        y = top + ri * row_h
        total = sum(vs)
        body.append(_text(left - 8, y + row_h / 2 + 2, label, "end"))
        scale = (plot_w / total if total else 0.0) if percent else plot_w / vmax
        x = float(left)
        for (seg, colour), v in zip(segments, vs):
            if not v:
                continue
            w = v * scale
            share = 100 * v / total if total else 0.0
            body.append(
                f'<rect class="bar" x="{x:.1f}" y="{y + 4:.1f}" width="{w:.1f}" height="{row_h - 10:.1f}" fill="{colour}">'
                f"<title>{escape(f'{label} {seg}: {fmt(v)} ({share:.1f} %)')}</title></rect>"
            )
            if w > 34:
                body.append(
                    _text(
                        x + w / 2,
                        y + row_h / 2 + 2,
                        f"{share:.0f}%" if percent else fmt(v),
                        "middle",
                        "#fff",
                    )
                )
            x += w
        if not total:
            body.append(_text(left + 4, y + row_h / 2 + 2, "no declarations"))
    return _svg(height, title, body)


def hbars(
    items: Sequence[tuple[str, float | None]],
    *,
    title: str,
    unit: str,
    colour: str = "#0969da",
) -> str:
    """One horizontal bar per item, value printed at its end."""
    left, right, top, row_h = 150, 70, 12, 30
    height = top + row_h * len(items) + 12
    plot_w = WIDTH - left - right
    vmax = nice_max(max((v for _, v in items if v is not None), default=0.0))
    body = []
    for i, (label, v) in enumerate(items):
        y = top + i * row_h
        body.append(_text(left - 8, y + row_h / 2 + 2, label, "end"))
        if v is None:
            body.append(_text(left + 4, y + row_h / 2 + 2, "no value"))
            continue
        w = plot_w * max(v, 0.0) / vmax
        body.append(
            f'<rect class="bar" x="{left}" y="{y + 5:.1f}" width="{max(w, 1.0):.1f}" height="{row_h - 10:.1f}" '
            f'fill="{colour}"><title>{escape(f"{label}: {fmt(v, 2)} {unit}")}</title></rect>'
        )
        body.append(_text(left + w + 6, y + row_h / 2 + 2, f"{fmt(v)} {unit}"))
    body.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{height - 12}" stroke="{AXIS}"/>')
    return _svg(height, title, body)


def level_lines(
    months: Sequence[str],
    values: Sequence[float | None],
    levels: Sequence[tuple[str, float, str]],
    *,
    title: str,
    unit: str,
    highlight: int | None = None,
    height: int = 200,
) -> str:
    """A value over months against horizontal level lines (name, value, colour), e.g. SLA goal/basic/minimum."""
    left, right, top, bottom = 52, 96, 14, 34
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    known = [v for v in values if v is not None] + [lv for _, lv, _ in levels]
    lo, hi = min(known, default=0.0), max(known, default=1.0)
    pad = (hi - lo) * 0.15 or max(abs(hi) * 0.1, 1.0)
    lo, hi = lo - pad, hi + pad
    if min(known, default=0.0) >= 0 and lo < 0:
        lo = 0.0

    def ys(v: float) -> float:
        return top + plot_h - plot_h * (v - lo) / (hi - lo)

    n = len(months)

    def xs(i: int) -> float:
        return left + (plot_w * (i + 0.5) / n if n else 0)

    body = [f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#f6f8fa"/>']
    for name, lv, colour in levels:
        y = ys(lv)
        body.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}" '
            f'stroke-width="1.5" stroke-dasharray="6 4"/>'
        )
        body.append(_text(left + plot_w + 6, y + 4, f"{name} {fmt(lv)}", fill=colour))
    for v in (lo, hi):
        body.append(_text(left - 6, ys(v) + 4, fmt(v), "end"))
    path, pen = [], "M"
    for i, v in enumerate(values):
        if v is None:
            pen = "M"
            continue
        path.append(f"{pen}{xs(i):.1f},{ys(v):.1f}")
        pen = "L"
    if path:
        body.append(
            f'<path class="series" d="{" ".join(path)}" fill="none" stroke="#24292f" stroke-width="2"/>'
        )
    for i, v in enumerate(values):
        if v is None:
            continue
        r = 5 if i == highlight else 3.5
        body.append(
            f'<circle class="point" cx="{xs(i):.1f}" cy="{ys(v):.1f}" r="{r}" fill="{"#0969da" if i == highlight else "#24292f"}">'
            f"<title>{escape(f'{months[i]}: {fmt(v, 2)} {unit}')}</title></circle>"
        )
        if i == highlight:
            body.append(_text(xs(i), ys(v) - 9, fmt(v, 2), "middle", "#0969da", weight="600"))
    every = max(1, math.ceil(n / 8))
    for i, m in enumerate(months):
        # every `every`-th month, and the last one when it does not crowd the one before
        if i % every == 0 or (i == n - 1 and (n - 1) % every > every // 2):
            body.append(_text(xs(i), height - bottom + 16, m, "middle"))
    body.append(_text(left, height - 4, unit))
    return _svg(height, title, body)
