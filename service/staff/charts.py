"""Charts drawn on the server as SVG: bars, stacked bars, a funnel, grouped columns and a histogram.

No script and no CDN: each chart is one ``<svg>`` element with a ``viewBox`` and ``width="100%"``,
so it scales to a phone's width, with ``<title>`` and ``<desc>`` (``role="img"``) for screen
readers and a ``<title>`` on every bar giving its exact number. Colours come from one fixed
palette; every text is escaped. Labels too long for their column are cut with an ellipsis (the
bar's title keeps the whole label).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Sequence
from html import escape

from markupsafe import Markup

# Colour-blind-safe (Okabe-Ito order, darkened where white text or thin bars need contrast).
PALETTE = (
    "#1f5fbf",
    "#d55e00",
    "#009e73",
    "#8a5cc2",
    "#cc79a7",
    "#b58900",
    "#56b4e9",
    "#6b7a8f",
    "#8c564b",
    "#17becf",
)
INK, MUTED, GRID = "#1d2330", "#5b6475", "#d9dee8"
WIDTH = 440  # user units; the chart is drawn at the width of its container (a phone: about 0.75 of this)
FONT = 13
ROW = 28  # height of one bar's row
TOP = 34  # room above the bars for the axis ticks (or the legend)

Format = Callable[[float], str]


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def integer(value: float) -> str:
    return f"{value:,.0f}"


def _text_width(text: str, size: float = FONT) -> float:
    """About how wide ``text`` is drawn: CJK characters take a full em, Latin ones a bit over half."""
    return sum(size * (1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.6) for ch in text)


def fit(text: str, width: float, size: float = FONT) -> str:
    """``text``, cut with an ellipsis to fit ``width`` user units."""
    if _text_width(text, size) <= width:
        return text
    while text and _text_width(text + "…", size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def nice_ticks(top: float, most: int = 5) -> list[float]:
    """0 to at least ``top`` in round steps (1, 2 or 5 times a power of ten; whole numbers for counts)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / most
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    step = max(step, 1.0) if top >= 1 else step
    count = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(count + 1)]


def _svg(chart_id: str, title: str, desc: str, height: float, body: list[str], width: float = WIDTH) -> Markup:
    ident = _e(chart_id)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{ident}" viewBox="0 0 {width:g} {height:g}" '
        f'width="100%" role="img" aria-labelledby="{ident}-title {ident}-desc" font-size="{FONT}">'
        f'<title id="{ident}-title">{_e(title)}</title><desc id="{ident}-desc">{_e(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )


def _text(
    x: float, y: float, text: str, anchor: str = "start", fill: str = INK, size: float = FONT, **extra: str
) -> str:
    names = {"css_class": "class"}
    attributes = "".join(f' {names.get(name, name.replace("_", "-"))}="{_e(value)}"' for name, value in extra.items())
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}" font-size="{size:g}"{attributes}>'
        f"{_e(text)}</text>"
    )


def _bar(x: float, y: float, width: float, height: float, colour: str, tooltip: str, css: str = "bar") -> str:
    return (
        f'<rect class="{css}" x="{x:.1f}" y="{y:.1f}" width="{max(width, 0.0):.1f}" height="{height:.1f}" '
        f'fill="{colour}"><title>{_e(tooltip)}</title></rect>'
    )


def _label_column(labels: Sequence[str]) -> float:
    """Width of the label column at the left of a horizontal chart: the longest label, at most 40%."""
    return min(max((_text_width(label) for label in labels), default=0.0) + 10, WIDTH * 0.4)


def _x_axis(left: float, right: float, ticks: list[float], y_top: float, y_bottom: float, fmt: Format) -> list[str]:
    """Vertical grid lines with their values above the plot."""
    parts = []
    for tick in ticks:
        x = left + (right - left) * tick / ticks[-1]
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y_top:.1f}" y2="{y_bottom:.1f}" stroke="{GRID}"/>')
        parts.append(_text(x, y_top - 6, fmt(tick), "middle", MUTED, FONT - 2))
    return parts


def bar_chart(
    chart_id: str,
    title: str,
    desc: str,
    items: Sequence[tuple[str, float]],
    axis_label: str = "",
    fmt: Format = integer,
    colour: str = PALETTE[0],
) -> Markup:
    """Horizontal bars, one per ``(label, value)``, in the order given, each value written at its end."""
    labels = [label for label, _ in items]
    left = _label_column(labels)
    value_room = max((_text_width(fmt(value)) for _, value in items), default=0.0) + 8
    right = WIDTH - value_room
    ticks = nice_ticks(max((value for _, value in items), default=0.0))
    height = TOP + ROW * len(items) + 26
    body = _x_axis(left, right, ticks, TOP, TOP + ROW * len(items), fmt)
    for row, (label, value) in enumerate(items):
        y = TOP + row * ROW
        width = (right - left) * value / ticks[-1]
        body.append(_text(left - 6, y + ROW / 2 + 4, fit(label, left - 10), "end"))
        body.append(_bar(left, y + 4, width, ROW - 8, colour, f"{label}: {fmt(value)}"))
        body.append(_text(left + width + 4, y + ROW / 2 + 4, fmt(value), css_class="value"))
    if axis_label:
        body.append(_text((left + right) / 2, height - 6, axis_label, "middle", MUTED, FONT - 1))
    return _svg(chart_id, title, desc, height, body)


LEGEND_LINE = 18


def _legend(names: Sequence[str], y: float, x: float = 0.0) -> tuple[list[str], float]:
    """A key of colours and names from ``(x, y)``, wrapped to the chart's width; also its height."""
    parts, position, line = [], x, 0
    for index, name in enumerate(names):
        width = 16 + _text_width(name, FONT - 1) + 14
        if position > x and position + width > WIDTH:
            position, line = x, line + 1
        colour = PALETTE[index % len(PALETTE)]
        top = y + line * LEGEND_LINE
        parts.append(
            f'<rect class="key" x="{position:.1f}" y="{top - 10:.1f}" width="12" height="12" fill="{colour}"/>'
        )
        parts.append(_text(position + 16, top, name, fill=INK, size=FONT - 1))
        position += width
    return parts, (line + 1) * LEGEND_LINE if names else 0.0


def stacked_bars(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    axis_label: str = "",
    fmt: Format = integer,
) -> Markup:
    """Horizontal bars of ``labels``, each split into the ``series`` (a legend above), the total at the end."""
    totals = [sum(values[row] for _, values in series) for row in range(len(labels))]
    left = _label_column(labels)
    right = WIDTH - max((_text_width(fmt(total)) for total in totals), default=0.0) - 8
    ticks = nice_ticks(max(totals, default=0.0))
    body, legend = _legend([name for name, _ in series], 14)
    top = TOP + legend + 4
    height = top + ROW * len(labels) + 26
    body += _x_axis(left, right, ticks, top, top + ROW * len(labels), fmt)
    for row, label in enumerate(labels):
        y = top + row * ROW
        body.append(_text(left - 6, y + ROW / 2 + 4, fit(label, left - 10), "end"))
        x = left
        for index, (name, values) in enumerate(series):
            value = values[row]
            if value <= 0:
                continue
            width = (right - left) * value / ticks[-1]
            body.append(
                _bar(x, y + 4, width, ROW - 8, PALETTE[index % len(PALETTE)], f"{label} · {name}: {fmt(value)}")
            )
            x += width
        body.append(_text(x + 4, y + ROW / 2 + 4, fmt(totals[row]), css_class="value"))
    if axis_label:
        body.append(_text((left + right) / 2, height - 6, axis_label, "middle", MUTED, FONT - 1))
    return _svg(chart_id, title, desc, height, body)


def funnel_chart(chart_id: str, title: str, desc: str, stages: Sequence[tuple[str, int]]) -> Markup:
    """Centred bars narrowing stage by stage; each says its count and its share of the stage before."""
    left = _label_column([label for label, _ in stages])
    right_room = _text_width("0,000 · 100%") + 8
    middle = (left + WIDTH - right_room) / 2
    span = WIDTH - right_room - left
    most = max((value for _, value in stages), default=0) or 1
    row = ROW + 8
    height = 8 + row * len(stages) + 4
    body = []
    previous: int | None = None
    for index, (label, value) in enumerate(stages):
        y = 8 + index * row
        width = max(span * value / most, 2.0 if value else 0.0)
        share = f" · {value / previous:.0%}" if previous else ""
        body.append(_text(left - 6, y + row / 2 + 2, fit(label, left - 10), "end"))
        body.append(
            _bar(middle - width / 2, y + 2, width, row - 8, PALETTE[index % len(PALETTE)], f"{label}: {value}{share}")
        )
        body.append(_text(WIDTH - right_room + 6, y + row / 2 + 2, f"{value:,}{share}", css_class="value"))
        previous = value
    return _svg(chart_id, title, desc, height, body)


def _y_axis(
    left: float, right: float, ticks: list[float], top: float, bottom: float, fmt: Format, label: str
) -> list[str]:
    parts = []
    for tick in ticks:
        y = bottom - (bottom - top) * tick / ticks[-1]
        parts.append(f'<line x1="{left:.1f}" x2="{right:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(_text(left - 6, y + 4, fmt(tick), "end", MUTED, FONT - 2))
    if label:
        parts.append(_text(4, top - 12, label, "start", MUTED, FONT - 1))
    return parts


def grouped_columns(
    chart_id: str,
    title: str,
    desc: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    axis_label: str = "",
    fmt: Format = integer,
) -> Markup:
    """Vertical columns: one group per category (left to right), one column per series, a legend above."""
    body, legend = _legend([name for name, _ in series], 14, 4)
    left, right, top = 44.0, WIDTH - 8.0, 34.0 + legend
    bottom = top + 180.0
    ticks = nice_ticks(max((max(values, default=0.0) for _, values in series), default=0.0))
    body += _y_axis(left, right, ticks, top, bottom, fmt, axis_label)
    group = (right - left) / max(len(categories), 1)
    column = group * 0.8 / max(len(series), 1)
    every = max(1, math.ceil(len(categories) * _text_width("0000-00", FONT - 2) / (right - left) / 0.9))
    for position, category in enumerate(categories):
        x0 = left + position * group + group * 0.1
        for index, (name, values) in enumerate(series):
            value = values[position]
            height = (bottom - top) * value / ticks[-1]
            body.append(
                _bar(
                    x0 + index * column,
                    bottom - height,
                    column,
                    height,
                    PALETTE[index % len(PALETTE)],
                    f"{category} · {name}: {fmt(value)}",
                )
            )
        if position % every == 0:
            body.append(_text(x0 + group * 0.4, bottom + 16, fit(category, group * every), "middle", INK, FONT - 2))
    body.append(f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="{MUTED}"/>')
    return _svg(chart_id, title, desc, bottom + 26, body)


def histogram(
    chart_id: str,
    title: str,
    desc: str,
    edges: Sequence[float],
    counts: Sequence[int],
    axis_label: str = "",
    value_label: str = "",
    floor: float | None = None,
    floor_label: str = "",
) -> Markup:
    """Columns over equal bins ``edges[i]`` to ``edges[i+1]``; ``floor`` marked with a dashed line."""
    left, right, top, bottom = 44.0, WIDTH - 12.0, 56.0, 230.0
    ticks = nice_ticks(max(counts, default=0))
    lowest, highest = edges[0], edges[-1]

    def x_of(value: float) -> float:
        return left + (right - left) * (value - lowest) / ((highest - lowest) or 1)

    body = _y_axis(left, right, ticks, top, bottom, integer, value_label)
    for index, count in enumerate(counts):
        x1, x2 = x_of(edges[index]), x_of(edges[index + 1])
        height = (bottom - top) * count / ticks[-1]
        tooltip = f"{edges[index]:.2f}–{edges[index + 1]:.2f}: {count}"
        body.append(_bar(x1 + 1, bottom - height, x2 - x1 - 2, height, PALETTE[0], tooltip))
        if count:
            body.append(_text((x1 + x2) / 2, bottom - height - 4, str(count), "middle", INK, FONT - 2))
    for edge in edges:
        body.append(_text(x_of(edge), bottom + 16, f"{edge:g}", "middle", MUTED, FONT - 2))
    body.append(f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="{MUTED}"/>')
    if floor is not None and lowest <= floor <= highest:
        x = x_of(floor)
        body.append(
            f'<line class="floor" x1="{x:.1f}" x2="{x:.1f}" y1="{top - 18:.1f}" y2="{bottom:.1f}" '
            f'stroke="{PALETTE[1]}" stroke-width="2" stroke-dasharray="5 3"/>'
        )
        anchor = "end" if x > (left + right) / 2 else "start"
        body.append(_text(x + (-4 if anchor == "end" else 4), top - 24, floor_label, anchor, PALETTE[1], FONT - 1))
    if axis_label:
        body.append(_text((left + right) / 2, bottom + 34, axis_label, "middle", MUTED, FONT - 1))
    return _svg(chart_id, title, desc, bottom + 42, body)
