"""PagerDuty Analytics (REST API v2): aggregated incident metrics and raw incident rows.

Things about these endpoints that bite (see ../shared/pagerduty-api/ and integration-facts.md):
- Every read is a POST with a JSON body (filters, time_zone, aggregate_unit); it changes
  nothing, so it is safe to repeat after an unanswered try.
- Raw rows page by cursor, not offset: the body's `starting_after` is the previous answer's
  `last`, `limit` is 1 to 1,000, and `more` says whether to go on. This paging is its own kind
  (neither the classic offset lists nor the `cursor`/`next_cursor` ones), so it lives here.
- The API is plan-gated: an account without it answers 402 (or 403 for a key without access).
- Data lags PagerDuty's incidents by up to 24 hours.
"""

from pagerduty_plugin.client.rest import unwrap
from pagerduty_plugin.errors import PluginError

METRICS_PATHS = {"all": "/analytics/metrics/incidents/all", "service": "/analytics/metrics/incidents/services",
                 "team": "/analytics/metrics/incidents/teams",
                 "escalation_policy": "/analytics/metrics/incidents/escalation_policies"}
RAW_PATH = "/analytics/raw/incidents"
RAW_LIMIT = 1000
MAX_PAGES = 1000  # a million rows: a cursor that never ends is stopped, not followed for ever


def metrics(rest, by, body):
    """The rows of one aggregated-metrics request (`by`: all, service, team, escalation_policy)."""
    path = METRICS_PATHS[by]
    return rest.post(path, body, safe_to_repeat=True, key="data", kind=list)


class RawIncidents:
    """The pages (lists of rows) of POST /analytics/raw/incidents, read by cursor.

    Nothing the server says is trusted blindly: an answer without `data`, `more` or (when more
    is claimed) `last`, a cursor answered twice, or `more` with an empty page is a clear error
    rather than a loop or a silently short list. `truncated` is set once max_results cut it."""

    def __init__(self, rest, body, max_results=None, limit=RAW_LIMIT, progress=None):
        self.rest, self.body = rest, dict(body)
        self.max_results = max_results
        self.limit = limit if max_results is None else max(1, min(limit, max_results))
        self.progress = progress
        self.truncated = False

    def page(self, cursor):
        body = dict(self.body, limit=self.limit)
        if cursor is not None:
            body["starting_after"] = cursor
        answer = self.rest.post(RAW_PATH, body, safe_to_repeat=True)
        rows = unwrap(answer, "data", list, f"POST {RAW_PATH}")
        more = answer.get("more")
        if not isinstance(more, bool):
            raise odd_answer("has no 'more' true or false", sorted(answer)[:10])
        if more and not rows:
            raise odd_answer("claims more rows after an empty page", sorted(answer)[:10])
        last = answer.get("last")
        if more and (not isinstance(last, str) or not last):
            raise odd_answer("claims more rows but has no 'last' cursor to read them from", sorted(answer)[:10])
        return rows, more, last

    def __iter__(self):
        self.truncated = False
        cursor, seen, cursors = None, 0, set()
        for _ in range(MAX_PAGES):
            rows, more, last = self.page(cursor)
            if self.max_results is not None and seen + len(rows) >= self.max_results:
                keep = self.max_results - seen
                self.truncated = more or len(rows) > keep
                yield rows[:keep]
                return
            seen += len(rows)
            if self.progress is not None:
                self.progress(len(rows))
            yield rows
            if not more:
                return
            if last in cursors:
                raise odd_answer(f"answered the cursor {last!r} a second time (the pages go round in a circle)",
                                 [])
            cursors.add(last)
            cursor = last
        raise odd_answer(f"still claims more rows after {MAX_PAGES} pages", [])

    def collect(self):
        rows = []
        for batch in self:
            rows.extend(batch)
        return rows


def odd_answer(what, keys):
    return PluginError(f"The answer to POST {RAW_PATH} {what}",
                       "The server at api_url pages unlike PagerDuty's Analytics API: check that api_url points at "
                       "PagerDuty (not a proxy or another service) and run the step again.",
                       {"answer_keys": keys})
