"""The report's page: one self-contained HTML file (inline CSS, inline SVG, no script, no external resource).

Every figure the page prints sits in an element carrying ``data-metric="<key>"`` with the figure as the
element's text, so a test (or a scraper) reads the page's numbers back and checks them against the API.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime, timezone

import attrs

__all__ = ["Cell", "figure", "metric", "number", "page", "section", "table", "text"]

#: System fonts only: the page must read the same offline, so no web font is ever fetched.
_CSS = """
:root { color-scheme: light; --ink: #1f2933; --muted: #616e7c; --rule: #d9dee3; --band: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--ink); background: #ffffff; }
header { padding: 28px 40px 20px; background: #243b53; color: #ffffff; }
header h1 { margin: 0 0 4px; font-size: 26px; font-weight: 600; }
header p { margin: 0; color: #d9e2ec; }
main { padding: 8px 40px 40px; max-width: 1180px; }
section { margin-top: 28px; }
h2 { font-size: 20px; margin: 0 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--rule); }
h3 { font-size: 16px; margin: 18px 0 8px; }
p.note { color: var(--muted); margin: 4px 0 10px; }
table { border-collapse: collapse; margin: 6px 0 14px; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 12px; border-bottom: 1px solid var(--rule); text-align: right; white-space: nowrap; }
th { background: var(--band); font-weight: 600; }
td.label, th.label { text-align: left; }
td.wrap { white-space: normal; text-align: left; max-width: 460px; }
tr.summary td { font-weight: 600; background: #fbfcfd; }
.verdict { display: inline-block; padding: 2px 10px; border-radius: 12px; font-weight: 600; }
.better { background: #d3f9d8; color: #1b5e20; } .worse { background: #ffe3e3; color: #8a1c1c; }
.same { background: #e9ecef; color: #343a40; }
figure { margin: 8px 0 18px; } figcaption { color: var(--muted); font-size: 13px; }
svg text { font-family: inherit; }
mark { background: #fff3bf; padding: 0 2px; }
"""


@attrs.frozen
class Cell:
    """One table cell: its text, and the ``data-metric`` key when it is a figure of the API."""

    text: str
    metric: str | None = None
    css: str | None = None


def text(value: object, css: str | None = None) -> Cell:
    """A cell of plain text (escaped when written)."""
    return Cell("" if value is None else str(value), css=css)


def number(value: float | int | None, key: str | None = None, digits: int = 4) -> Cell:
    """A figure, ``digits`` decimals for floats; ``-`` for an undefined one (never with a key)."""
    if value is None:
        return Cell("-")
    shown = str(value) if isinstance(value, int) and not isinstance(value, bool) else f"{value:.{digits}f}"
    return Cell(shown, metric=key)


def metric(value: float | int | None, key: str, digits: int = 4) -> str:
    """A figure inline in a sentence, carrying its key."""
    cell = number(value, key if value is not None else None, digits)
    attribute = f' data-metric="{html.escape(cell.metric)}"' if cell.metric else ""
    return f"<strong{attribute}>{html.escape(cell.text)}</strong>"


def table(header: Sequence[str], rows: Sequence[Sequence[Cell]], *, summary_rows: int = 0) -> str:
    """A table; the last ``summary_rows`` rows (micro, macro…) are set apart. The first column is a label."""
    head = "".join(f'<th class="{"label" if i == 0 else ""}">{html.escape(h)}</th>' for i, h in enumerate(header))
    body = []
    for index, row in enumerate(rows):
        css = ' class="summary"' if index >= len(rows) - summary_rows else ""
        cells = "".join(_cell(cell, first=i == 0) for i, cell in enumerate(row))
        body.append(f"<tr{css}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _cell(cell: Cell, *, first: bool) -> str:
    classes = " ".join(c for c in ("label" if first else None, cell.css) if c)
    attributes = (f' class="{classes}"' if classes else "") + (
        f' data-metric="{html.escape(cell.metric)}"' if cell.metric else "")
    return f"<td{attributes}>{html.escape(cell.text)}</td>"


def figure(svg: str, caption: str) -> str:
    """An inline SVG chart with its caption."""
    return f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>"


def section(title: str, *parts: str, note: str | None = None) -> str:
    """A titled section of already rendered parts (a note under the title, escaped)."""
    lead = f'<p class="note">{html.escape(note)}</p>' if note else ""
    return f"<section><h2>{html.escape(title)}</h2>{lead}{''.join(parts)}</section>"


def page(title: str, subtitle: str, sections: Sequence[str]) -> str:
    """The whole HTML document."""
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)} · written by alab-training, {made}</p>"
        f"</header><main>{''.join(sections)}</main></body></html>\n"
    )
