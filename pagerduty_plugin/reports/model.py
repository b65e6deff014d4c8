"""A report's figures and the forms it is handed over in: JSON figures, CSV, charts, HTML page."""

import csv
import io

from pagerduty_plugin.actions.common import rfc3339

ANALYTICS_NOTE = ("Figures from PagerDuty's Analytics API (its definitions: support.pagerduty.com/docs/insights); "
                  "they may lag the incidents by up to 24 hours.")


class Report:
    def __init__(self, source, start, end, unit, by_service, overall, notes=()):
        self.source = source  # "analytics" or "computed"
        self.start, self.end, self.unit = start, end, unit
        self.by_service = by_service  # CSV rows, one per period and service
        self.overall = overall  # the same figures per period for every service together
        self.notes = list(notes)  # how figures PagerDuty's answer lacked were worked out

    def definitions(self):
        if self.source == "computed":
            from pagerduty_plugin.reports.computed import DEFINITIONS

            return list(DEFINITIONS)
        return [ANALYTICS_NOTE, *self.notes]

    def services(self):
        """[(service name, incidents, business, off, sleep interruptions)] over the whole period."""
        totals = {}
        for r in self.by_service:
            name = r["service_name"] or r["service_id"] or "(no service)"
            total = totals.setdefault(name, [0, 0, 0, 0])
            for i, column in enumerate(("incidents", "business_hour_interruptions", "off_hour_interruptions",
                                        "sleep_hour_interruptions")):
                total[i] += r[column] or 0
        return [(name, *values) for name, values in sorted(totals.items())]

    def figures(self):
        return {"source": self.source, "computed": self.source == "computed", "definitions": self.definitions(),
                "since": rfc3339(self.start), "until": rfc3339(self.end), "aggregate_unit": self.unit,
                "rows": self.by_service, "periods": self.overall, "count": len(self.by_service)}

    def csv(self):
        from pagerduty_plugin.reports import COLUMNS

        text = io.StringIO()
        writer = csv.DictWriter(text, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.by_service)
        return text.getvalue()

    def charts(self):
        """{name: SVG text} of the report's charts (needs the `report` extra: matplotlib)."""
        from pagerduty_plugin.reports import charts

        return charts.draw(self)

    def html(self, drawn=None):
        from pagerduty_plugin.reports import page

        return page.render(self, drawn if drawn is not None else self.charts())
