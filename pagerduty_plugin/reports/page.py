"""The report as one self-contained HTML page: inline SVG charts, the table, no script, nothing
fetched from elsewhere."""

from html import escape

from pagerduty_plugin.reports import COLUMNS

STYLE = """body{font-family:system-ui,sans-serif;margin:24px;color:#1a202c}
h1{font-size:22px}.note{background:#fffbea;border:1px solid #d69e2e;padding:8px 12px;margin:12px 0}
.charts figure{margin:12px 0}.charts svg{max-width:100%;height:auto}
.table{overflow-x:auto}table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #cbd5e0;padding:3px 6px;text-align:right}
th{background:#edf2f7}td:nth-child(-n+5){text-align:left}"""
TITLES = {"response_times": "MTTA and MTTR (p50, p90) over time", "incidents_per_service": "Incidents per service",
          "interruptions_by_band": "Interruptions by hour band"}


def render(report, charts):
    figures = report.figures()
    source = ("computed from incidents and log entries" if report.source == "computed"
              else "from PagerDuty's Analytics API")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>PagerDuty incident report</title>", f"<style>{STYLE}</style></head><body>",
             "<h1>PagerDuty incident report</h1>",
             f"<p>{escape(figures['since'])} to {escape(figures['until'])}, per {escape(report.unit)}; "
             f"figures {escape(source)}.</p>",
             f'<div class="note" id="source" data-source="{escape(report.source)}">'
             + "".join(f"<p>{escape(text)}</p>" for text in figures["definitions"]) + "</div>",
             '<section class="charts">']
    for name, drawing in charts.items():
        parts.append(f'<figure id="{escape(name)}"><figcaption>{escape(TITLES.get(name, name))}</figcaption>'
                     f"{drawing}</figure>")
    parts.append('</section><h2>Per period and service</h2><div class="table"><table><thead><tr>')
    parts += [f"<th>{escape(c)}</th>" for c in COLUMNS] + ["</tr></thead><tbody>"]
    for row in report.by_service:
        cells = ("" if row[c] is None else escape(str(row[c])) for c in COLUMNS)
        parts.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    parts.append("</tbody></table></div></body></html>")
    return "\n".join(parts)
