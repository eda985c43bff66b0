"""Charts drawn as inline SVG in plain Python: grouped bars, a forest of intervals, a heatmap, lines.

No plotting library: the report must open offline and the library must not need matplotlib for it. Every
chart scales with the page (``viewBox``, width 100%, a maximum width) and labels its values, so it reads
without hovering.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

__all__ = ["PALETTE", "bar_chart", "heatmap", "interval_chart", "line_chart"]

#: Series colours (colour-blind safe: Okabe & Ito).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
_LABEL_WIDTH = 190
_WIDTH = 860


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
            f'style="max-width:{width}px" role="img" aria-label="{html.escape(title)}">'
            f"<title>{html.escape(title)}</title>{''.join(body)}</svg>")


def _text(x: float, y: float, value: str, *, anchor: str = "start", size: int = 13, weight: str = "normal",
          fill: str = "#1f2933") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" font-weight="{weight}" '
            f'fill="{fill}">{html.escape(value)}</text>')


def _clipped(label: str, limit: int = 26) -> str:
    return label if len(label) <= limit else label[:limit - 1] + "…"


def _legend(series: Sequence[str], y: float) -> list[str]:
    parts, x = [], _LABEL_WIDTH
    for index, name in enumerate(series):
        parts.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{PALETTE[index % len(PALETTE)]}"/>')
        parts.append(_text(x + 18, y, name, size=12))
        x += 30 + 7 * len(name)
    return parts


def bar_chart(rows: Sequence[tuple[str, Sequence[float | None]]], series: Sequence[str], *, title: str,
              maximum: float = 1.0) -> str:
    """Horizontal bars, one group per row and one bar per series, each labelled with its value (0 to ``maximum``).

    Args:
        rows: ``(label, values)``, one value per series (``None``: no bar).
        series: the series' names, for the legend.
        title: the chart's accessible title.
        maximum: the value a full-width bar stands for.
    """
    bar, gap = 16, 10
    group = bar * len(series) + gap
    plot = _WIDTH - _LABEL_WIDTH - 70
    height = 40 + group * len(rows) + 24
    body = _legend(series, 18)
    for step in range(6):
        x = _LABEL_WIDTH + plot * step / 5
        body.append(f'<line x1="{x:.1f}" y1="30" x2="{x:.1f}" y2="{height - 22}" stroke="#e4e7eb"/>')
        body.append(_text(x, height - 6, f"{maximum * step / 5:.1f}", anchor="middle", size=11, fill="#616e7c"))
    for row, (label, values) in enumerate(rows):
        top = 34 + row * group
        body.append(_text(_LABEL_WIDTH - 8, top + group / 2, _clipped(label), anchor="end"))
        for index, value in enumerate(values):
            if value is None:
                continue
            y = top + index * bar
            width = max(0.0, min(1.0, value / maximum)) * plot if maximum else 0.0
            body.append(f'<rect x="{_LABEL_WIDTH}" y="{y}" width="{width:.1f}" height="{bar - 3}" '
                        f'fill="{PALETTE[index % len(PALETTE)]}"/>')
            body.append(_text(_LABEL_WIDTH + width + 5, y + bar - 5, f"{value:.3f}", size=11))
    return _svg(_WIDTH, height, body, title)


def interval_chart(rows: Sequence[tuple[str, float, float, float]], *, title: str) -> str:
    """A forest plot: per row the delta as a dot and its interval as a line, around a zero line.

    Args:
        rows: ``(label, delta, low, high)``.
        title: the chart's accessible title.
    """
    span = max([0.05, *(abs(v) for _, d, lo, hi in rows for v in (d, lo, hi))]) * 1.15
    plot = _WIDTH - _LABEL_WIDTH - 40
    height = 30 + 30 * len(rows) + 30

    def x_of(value: float) -> float:
        return _LABEL_WIDTH + (value + span) / (2 * span) * plot

    body = [f'<line x1="{x_of(0):.1f}" y1="14" x2="{x_of(0):.1f}" y2="{height - 24}" stroke="#616e7c" '
            'stroke-dasharray="4 3"/>']
    for tick in (-span, -span / 2, 0.0, span / 2, span):
        body.append(_text(x_of(tick), height - 8, f"{tick:+.3f}", anchor="middle", size=11, fill="#616e7c"))
    for index, (label, delta, low, high) in enumerate(rows):
        y = 30 + 30 * index
        colour = "#2b8a3e" if low > 0 else "#c92a2a" if high < 0 else "#495057"
        body.append(_text(_LABEL_WIDTH - 8, y + 4, _clipped(label), anchor="end"))
        body.append(f'<line x1="{x_of(low):.1f}" y1="{y}" x2="{x_of(high):.1f}" y2="{y}" stroke="{colour}" '
                    'stroke-width="3"/>')
        body.append(f'<circle cx="{x_of(delta):.1f}" cy="{y}" r="6" fill="{colour}"/>')
        body.append(_text(x_of(high) + 8, y + 4, f"{delta:+.3f} [{low:+.3f}, {high:+.3f}]", size=11))
    return _svg(_WIDTH, height, body, title)


def heatmap(labels: Sequence[str], matrix: Sequence[Sequence[int]], *, title: str) -> str:
    """A confusion matrix: rows are gold, columns predicted, each cell shaded by its share of its row."""
    cell = max(34, min(70, 520 // max(1, len(labels))))
    left, top = _LABEL_WIDTH, 70
    width, height = left + cell * len(labels) + 20, top + cell * len(labels) + 20
    body = [_text(left + cell * len(labels) / 2, 18, "predicted", anchor="middle", weight="bold"),
            _text(12, top - 8, "gold", weight="bold")]
    for column, label in enumerate(labels):
        x = left + column * cell + cell / 2
        body.append(_text(x, top - 10, _clipped(label, 10), anchor="middle", size=12))
    for row, (label, counts) in enumerate(zip(labels, matrix)):
        total = sum(counts) or 1
        y = top + row * cell
        body.append(_text(left - 8, y + cell / 2 + 4, _clipped(label), anchor="end"))
        for column, count in enumerate(counts):
            share = count / total
            fill = f"rgba(0, 114, 178, {0.08 + 0.85 * share:.3f})" if count else "#f8f9fa"
            x = left + column * cell
            body.append(f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="{fill}"/>')
            body.append(_text(x + cell / 2 - 1, y + cell / 2 + 4, str(count), anchor="middle",
                              fill="#ffffff" if share > 0.55 else "#1f2933", weight="bold" if row == column else
                              "normal"))
    return _svg(width, height, body, title)


def line_chart(series: Mapping[str, Sequence[tuple[float, float]]], *, title: str, x_label: str,
               y_label: str, maximum: float = 1.0) -> str:
    """Lines with labelled points, y from 0 to ``maximum``, x from 0 to the largest x."""
    left, right, top, bottom = 70, 30, 40, 50
    height = 380
    plot_w, plot_h = _WIDTH - left - right, height - top - bottom
    largest = max([1.0, *(x for points in series.values() for x, _ in points)])

    def at(x: float, y: float) -> tuple[float, float]:
        return left + x / largest * plot_w, top + plot_h - max(0.0, min(1.0, y / maximum)) * plot_h

    body = _legend(list(series), 18)
    for step in range(6):
        _, y = at(0, maximum * step / 5)
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e4e7eb"/>')
        body.append(_text(left - 8, y + 4, f"{maximum * step / 5:.1f}", anchor="end", size=11, fill="#616e7c"))
    body.append(_text(left + plot_w / 2, height - 10, x_label, anchor="middle", size=12))
    body.append(f'<text x="16" y="{top + plot_h / 2:.1f}" font-size="12" text-anchor="middle" '
                f'transform="rotate(-90 16 {top + plot_h / 2:.1f})">{html.escape(y_label)}</text>')
    for index, points in enumerate(series.values()):
        colour = PALETTE[index % len(PALETTE)]
        placed = [at(x, y) for x, y in points]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in placed)
        body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
        for (x, y), (raw_x, raw_y) in zip(placed, points):
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{colour}"/>')
            body.append(_text(x, y - 9, f"{raw_y:.3f}", anchor="middle", size=11))
            body.append(_text(x, top + plot_h + 16, f"{raw_x:g}", anchor="middle", size=11, fill="#616e7c"))
    return _svg(_WIDTH, height, body, title)
