"""Reports drawn server-side: a bar chart (matplotlib, no JavaScript needed to read it) as
SVG for the pages or PNG for `s117 report`, and the same figures as CSV. Every chart has a
title and axis labels; its text alternative is the table beside it."""

from __future__ import annotations

import csv
import io
import re
from html import escape

import matplotlib

matplotlib.use("Agg")  # no display: charts are files

from matplotlib import pyplot  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from register.reports import Report  # noqa: E402

# NHS identity colours with at least 3:1 contrast on white (WCAG 2.2 1.4.11).
COLOURS = ("#005eb8", "#d5281b", "#007f3b", "#330072", "#425563", "#ae2573", "#003087")
# Series whose meaning has a colour: good is green, a failure red.
MEANING = {"held in time": "#007f3b", "held late": "#330072", "not held (overdue)": "#d5281b",
           "reviews": "#d5281b"}


def _figure(report: Report) -> Figure:
    chart = report.chart
    labels = [str(v) for v in report.column(chart.x)]
    series = [(name, [float(v) if isinstance(v, int | float) else 0.0
                      for v in report.column(name)]) for name in chart.series]
    horizontal = chart.kind == "barh"
    height = max(4.0, 0.45 * len(labels) + 1.5) if horizontal else 4.8
    figure, axes = pyplot.subplots(figsize=(9, height), layout="constrained")
    positions = list(range(len(labels)))
    width = 0.8 / max(1, len(series)) if chart.kind != "stacked" else 0.7
    bottoms = [0.0] * len(labels)
    for i, (name, values) in enumerate(series):
        colour = MEANING.get(name, COLOURS[i % len(COLOURS)])
        if chart.kind == "stacked":
            axes.bar(positions, values, width, bottom=bottoms, label=name, color=colour)
            bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
            continue
        offset = [p - 0.4 + width * (i + 0.5) for p in positions]
        if horizontal:
            axes.barh(offset, values, width, label=name, color=colour)
        else:
            axes.bar(offset, values, width, label=name, color=colour)
    # Counts are whole numbers: no "2.5 reviews" on the axis.
    (axes.xaxis if horizontal else axes.yaxis).set_major_locator(MaxNLocator(integer=True))
    if horizontal:
        axes.set_yticks(positions, labels)
        axes.invert_yaxis()  # the first row at the top, as in the table
    else:
        axes.set_xticks(positions, labels, rotation=45 if len(labels) > 6 else 0,
                        ha="right" if len(labels) > 6 else "center")
    axes.set_title(report.title, fontsize=13, loc="left")
    axes.set_xlabel(chart.y_label if horizontal else chart.x_label)
    axes.set_ylabel(chart.x_label if horizontal else chart.y_label)
    if not labels:
        axes.text(0.5, 0.5, "nothing to show", transform=axes.transAxes, ha="center")
    if len(series) > 1:
        axes.legend(frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    return figure


def svg(report: Report) -> str:
    """The chart as an SVG document, titled for assistive technology."""
    figure = _figure(report)
    out = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": report.name}):
        figure.savefig(out, format="svg", metadata={"Date": None})
    pyplot.close(figure)
    title = escape(f"{report.title}: the figures are in the table on the page")
    return re.sub(r"(<svg\b[^>]*)>", rf'\1 role="img" aria-label="{title}"><title>{title}'
                  "</title>", out.getvalue(), count=1)


def png(report: Report) -> bytes:
    figure = _figure(report)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=120, metadata={"Software": None})
    pyplot.close(figure)
    return out.getvalue()


def csv_text(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(report.columns)
    writer.writerows(report.rows)
    return out.getvalue()
