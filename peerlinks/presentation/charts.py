"""Chart geometry, colours and the units people read: what the lead view's SVG chart is drawn from.

Pure functions of the numbers the services compute; no queries.
"""

import math
from dataclasses import dataclass
from datetime import date, timedelta

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from peerlinks.services.lead import Provisioning


def format_duration(seconds: float | None) -> str:
    """'55 s', '4.5 min', '2.1 h': the unit a person reads best."""
    if seconds is None:
        return "–"
    if seconds < 120:
        return _("{count} s").format(count=f"{round(seconds, 1):g}")
    if seconds < 120 * 60:
        return _("{count} min").format(count=f"{round(seconds / 60, 1):g}")
    return _("{count} h").format(count=f"{round(seconds / 3600, 1):g}")


@dataclass
class ChartSeries:
    name: str
    color: str
    points: str
    markers: list[tuple[float, float, str]]
    legend_x: float = 0


@dataclass
class Chart:
    """Geometry of the provisioning chart, ready for the SVG template (no JavaScript)."""

    width: int
    height: int
    left: int
    top: int
    right: int
    bottom: int
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]
    series: list[ChartSeries]


# Tick steps for the time axis, in seconds: each one reads as a round number in its unit.
_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
_COLORS = {"p50": "#0969da", "p95": "#bc4c00"}


def provisioning_chart(provisioning: Provisioning) -> Chart:
    """A daily p50/p95 line chart: one slot per day of the period, time on the y axis from zero."""
    daily, first_day, days = provisioning.daily, provisioning.first_day, provisioning.days
    width, height, left, top, right, bottom = 720, 260, 64, 24, 16, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    highest = max((point.p95 for point in daily), default=0.0)
    step = next((s for s in _STEPS if highest / s <= 5), _STEPS[-1] * math.ceil(highest / (5 * _STEPS[-1])))
    y_max = step * max(1, math.ceil(highest / step))

    def x_of(day: date) -> float:
        return round(left + ((day - first_day).days + 0.5) * plot_w / days, 1)

    def y_of(seconds: float) -> float:
        return round(top + plot_h * (1 - seconds / y_max), 1)

    y_ticks = [(y_of(step * i), format_duration(step * i)) for i in range(int(y_max // step) + 1)]
    every = {7: 1, 30: 5, 90: 15}.get(days, max(1, days // 6))
    x_ticks = [
        (x_of(first_day + timedelta(days=i)), f"{first_day + timedelta(days=i):%m-%d}")
        for i in range(days - 1, -1, -every)
    ]
    series = []
    for i, name in enumerate(("p50", "p95")):
        markers = [
            (
                x_of(point.day),
                y_of(getattr(point, name)),
                f"{point.day:%Y-%m-%d}: {name} {format_duration(getattr(point, name))} ("
                + ngettext("{count} link", "{count} links", point.count).format(count=point.count)
                + ")",
            )
            for point in daily
        ]
        points = " ".join(f"{x},{y}" for x, y, _ in markers)
        series.append(
            ChartSeries(
                name=name,
                color=_COLORS[name],
                points=points,
                markers=markers,
                legend_x=left + 12 + 56 * i,
            )
        )
    return Chart(
        width=width,
        height=height,
        left=left,
        top=top,
        right=width - right,
        bottom=height - bottom,
        y_ticks=y_ticks,
        x_ticks=sorted(x_ticks),
        series=series,
    )
