"""The usage chart, drawn on the server as SVG: segments by day, stacked by origin.

No JavaScript and no inline style (strict CSP): rectangles carry a class per origin that
static/css/billing.css colours, and a <title> each so a pointer or screen reader gets the
numbers. The page also shows the same numbers as a table.
"""

from __future__ import annotations

from dataclasses import dataclass

from billing.selectors import ORIGINS, UsageSummary

WIDTH, HEIGHT = 720, 220
LEFT, BOTTOM, TOP = 48, 24, 12


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    origin: str
    title: str


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    ticks: list[Tick]
    day_labels: list[tuple[float, str]]
    allowance_y: float | None  # the daily share of the included segments, as a guide line
    left: int
    plot_bottom: float


def _nice_ceiling(value: int) -> int:
    if value <= 10:
        return 10
    magnitude = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def usage_chart(summary: UsageSummary) -> Chart:
    """Bars for every day of the period (empty days too), scaled to the busiest day."""
    days = summary.days
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    daily_share = summary.included / len(days) if days and summary.included else 0
    peak = _nice_ceiling(max([d.total for d in days] + [int(daily_share), 1]))
    slot = plot_w / max(len(days), 1)
    bar_w = max(slot * 0.7, 1.0)
    bars: list[Bar] = []
    for i, day in enumerate(days):
        x = LEFT + i * slot + (slot - bar_w) / 2
        y = TOP + plot_h
        for origin, label in ORIGINS:
            value = day.by_origin.get(origin, 0)
            if not value:
                continue
            h = plot_h * value / peak
            y -= h
            bars.append(Bar(round(x, 1), round(y, 1), round(bar_w, 1), round(h, 1), origin,
                            f"{day.day:%d %b}: {value:,} segments ({label})"))
    ticks = [Tick(round(TOP + plot_h - plot_h * f, 1), f"{int(peak * f):,}") for f in (0, 0.5, 1)]
    labels = [(round(LEFT + i * slot + slot / 2, 1), f"{d.day.day}") for i, d in enumerate(days)
              if i % 5 == 0 or i == len(days) - 1]
    allowance_y = round(TOP + plot_h - plot_h * daily_share / peak, 1) if daily_share else None
    return Chart(WIDTH, HEIGHT, bars, ticks, labels, allowance_y, LEFT, TOP + plot_h)
