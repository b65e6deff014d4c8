"""The report's charts as inline SVG, drawn with matplotlib's object API and SVG backend (no
pyplot, no GUI toolkit, no display): text stays text, the page needs no script to show them."""

import io
from datetime import date

from pagerduty_plugin.errors import PluginError

COLORS = {"p50": "#2b6cb0", "p90": "#c05621", "business": "#2f855a", "off": "#d69e2e", "sleep": "#553c9a",
          "incidents": "#2b6cb0"}


def matplotlib_parts():
    try:
        from matplotlib.backends.backend_svg import FigureCanvasSVG
        from matplotlib.figure import Figure
    except ImportError:
        raise PluginError("Charts need matplotlib, which is not installed",
                          "Install the report extra from the plugin's repository: pip install '.[report]' "
                          "(make install has it).") from None
    return Figure, FigureCanvasSVG


def svg(figure, canvas_class):
    canvas_class(figure)
    out = io.StringIO()
    figure.savefig(out, format="svg", bbox_inches="tight")
    text = out.getvalue()
    return text[text.index("<svg"):]  # inline: no XML declaration or DOCTYPE


def draw(report):
    Figure, canvas = matplotlib_parts()
    import matplotlib

    matplotlib.rcParams["svg.fonttype"] = "none"  # text as text: smaller, searchable
    matplotlib.rcParams["svg.hashsalt"] = "pagerduty-plugin"  # the same report draws the same bytes
    return {"response_times": svg(response_times(Figure, report), canvas),
            "incidents_per_service": svg(incidents_per_service(Figure, report), canvas),
            "interruptions_by_band": svg(interruptions(Figure, report), canvas)}


def minutes(value):
    return None if value is None else value / 60.0


def response_times(Figure, report):
    figure = Figure(figsize=(8, 3.4))
    axes = figure.add_subplot()
    periods = [date.fromisoformat(r["period_start"]) for r in report.overall]  # a time axis, in order
    for column, label, color, style in (("mtta_p50_seconds", "MTTA p50", COLORS["p50"], "-"),
                                        ("mtta_p90_seconds", "MTTA p90", COLORS["p50"], "--"),
                                        ("mttr_p50_seconds", "MTTR p50", COLORS["p90"], "-"),
                                        ("mttr_p90_seconds", "MTTR p90", COLORS["p90"], "--")):
        points = [(p, minutes(r[column])) for p, r in zip(periods, report.overall) if r[column] is not None]
        if points:
            axes.plot([p for p, _ in points], [v for _, v in points], style, marker="o", color=color, label=label)
    axes.set_title(f"Time to acknowledge and to resolve, per {report.unit}")
    axes.set_ylabel("minutes")
    axes.grid(alpha=0.3)
    if axes.lines:
        axes.legend(loc="best", fontsize="small")
    else:
        axes.text(0.5, 0.5, "no incident acknowledged or resolved", ha="center", transform=axes.transAxes)
    axes.tick_params(axis="x", labelrotation=30, labelsize="small")
    if axes.lines:
        from matplotlib.dates import AutoDateLocator, DateFormatter

        axes.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=10))
        axes.xaxis.set_major_formatter(DateFormatter("%Y-%m-%d"))
    return figure


def incidents_per_service(Figure, report):
    figure = Figure(figsize=(8, 3))
    axes = figure.add_subplot()
    services = report.services()
    axes.barh([s[0] for s in services], [s[1] for s in services], color=COLORS["incidents"])
    axes.set_title("Incidents per service")
    axes.set_xlabel("incidents")
    whole_numbers(axes)
    axes.grid(axis="x", alpha=0.3)
    return figure


def interruptions(Figure, report):
    figure = Figure(figsize=(8, 3))
    axes = figure.add_subplot()
    services = report.services()
    names, left = [s[0] for s in services], [0] * len(services)
    for index, band in ((2, "business"), (3, "off"), (4, "sleep")):
        values = [s[index] for s in services]
        axes.barh(names, values, left=left, color=COLORS[band], label=f"{band} hours")
        left = [a + b for a, b in zip(left, values)]
    axes.set_title("Interruptions by hour band")
    axes.set_xlabel("interruptions")
    whole_numbers(axes)
    axes.legend(loc="lower right", fontsize="small")
    axes.grid(axis="x", alpha=0.3)
    return figure


def whole_numbers(axes):
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
