"""The report's charts as PNG images, drawn with matplotlib's Agg backend.

Only the report imports this module, so matplotlib is loaded by ``inboxd report`` and the weekly
report job alone. Figures are built with ``matplotlib.figure.Figure`` and its Agg canvas, not
pyplot: no global state, safe on the daemon's worker thread. Each PNG has the size in pixels
that ``core.report_render.CHARTS`` names, so the HTML can give ``<img>`` its width and height.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import date

import matplotlib

matplotlib.use("Agg")

from matplotlib.axes import Axes  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from inboxd.core.report import OUTCOME_LABELS, OUTCOMES, Report, Response  # noqa: E402
from inboxd.core.report_render import CHARTS, Chart  # noqa: E402

DPI = 100
COLORS = {"automatic": "#2da44e", "person": "#0969da", "follow_up": "#bf8700",
          "automated": "#8c959f", "status": "#8250df"}
DEADLINE_COLOR = "#cf222e"
WITHIN_COLOR = "#2da44e"


def draw_charts(report: Report) -> dict[str, bytes]:
    """Chart name -> PNG bytes, for every chart of ``CHARTS``."""
    drawers = {"volume": _volume, "response": _response}
    return {chart.name: _png(chart, lambda fig, name=chart.name: drawers[name](fig, report))
            for chart in CHARTS}


def _png(chart: Chart, draw: Callable[[Figure], None]) -> bytes:
    fig = Figure(figsize=(chart.width_px / DPI, chart.height_px / DPI), dpi=DPI,
                 layout="constrained")
    FigureCanvasAgg(fig)
    draw(fig)
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()


def _volume(fig: Figure, report: Report) -> None:
    """Stacked bars per day by outcome; the day totals of the period before as a dashed line."""
    ax = fig.add_subplot()
    current, previous = report.current.daily, report.previous.daily
    positions = list(range(len(current)))
    bottom = [0] * len(current)
    for outcome in OUTCOMES:
        heights = [counts[outcome] for _, counts in current]
        ax.bar(positions, heights, bottom=bottom, color=COLORS[outcome], width=0.7,
               label=OUTCOME_LABELS[outcome])
        bottom = [b + h for b, h in zip(bottom, heights)]
    before = [sum(c.values()) for _, c in previous]
    if len(before) == len(current):
        ax.plot(positions, before, color="#57606a", linestyle="--", marker="o", markersize=3,
                linewidth=1.2, label="all mail, period before")
    ax.set_xticks(positions, [_day_label(day, len(current)) for day, _ in current],
                  fontsize=8)
    ax.set_ylabel("mails")
    ax.set_ylim(0, max([*bottom, *before, 1]) * 1.1)
    _tidy(ax)
    fig.legend(loc="outside upper center", ncols=3, fontsize=8, frameon=False)


def _day_label(day: date, days: int) -> str:
    return day.strftime("%a\n%d %b" if days <= 14 else "%d %b")


def _response(fig: Figure, report: Report) -> None:
    """Histograms of people's first responses: wall-clock hours against 24 h, business hours
    against one business day."""
    responses = report.current.responses
    wall_ax, business_ax = fig.subplots(1, 2)
    business_day_h = _business_day_h(responses)
    _histogram(wall_ax, [r.wall_h for r in responses], 24.0,
               "wall-clock hours (deadline 24 h)")
    _histogram(business_ax, [r.business_h for r in responses], business_day_h,
               f"business hours (deadline one business day, {business_day_h:g} h)")
    handles, labels = wall_ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=3, fontsize=8, frameon=False)


def _business_day_h(responses: Sequence[Response]) -> float:
    lengths = sorted(r.business_day_h for r in responses)
    return lengths[len(lengths) // 2] if lengths else 8.0


def _histogram(ax: Axes, hours: list[float], deadline_h: float, label: str) -> None:
    top = max([*hours, deadline_h]) * 1.1
    bins = [top * i / 20 for i in range(21)]
    within = [h for h in hours if h <= deadline_h]
    late = [h for h in hours if h > deadline_h]
    ax.hist([within, late], bins=bins, stacked=True, color=[WITHIN_COLOR, DEADLINE_COLOR],
            label=["answered in time", "answered late"])
    ax.axvline(deadline_h, color=DEADLINE_COLOR, linestyle="--", linewidth=1.5,
               label="the deadline")
    ax.set_xlim(0, top)
    ax.set_xlabel(label, fontsize=9)
    ax.set_ylabel("tickets", fontsize=9)
    _tidy(ax)
    if not hours:
        ax.text(0.5, 0.5, "no first responses by people", ha="center", va="center",
                transform=ax.transAxes, color="#57606a")


def _tidy(ax: Axes) -> None:
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.spines[["top", "right"]].set_visible(False)
