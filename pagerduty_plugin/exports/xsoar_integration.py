"""What the generated XSOAR integration calls: every command, through the runner, as `run` does.

XSOAR runs the integration's script once per command, with `demisto.command()`, `.args()` and
`.params()`; the generated script hands its `demisto` and CommonServerPython's names here (so this
module imports nothing of XSOAR's). Arguments arrive as text ("5", "true", "a,b"): each is turned
into its input field's type before the runner validates it.

fetch-incidents loses nothing and doubles nothing: a created_at watermark (PagerDuty's `since` is
inclusive of its second, so incidents at the watermark come back, and the ids taken at that second
are kept to skip them), oldest first and at most max_fetch per cycle; what the filters do not want
is passed over, so the watermark never stalls behind it. An incident that was open when the previous
cycle ran but is resolved now is still fetched once, whatever the status filter.

Mirroring: notes and the resolved status come in (get-remote-data), XSOAR's notes and closing go
out (update-remote-system). Loop guard: notes this integration writes to PagerDuty start with
MIRROR_MARK and never come back in; incidents it resolved from XSOAR are kept in the integration
context so their resolution does not come back as a close.
"""

import datetime
import io
import json
import re

from pagerduty_plugin import runner
from pagerduty_plugin import spec as speclib
from pagerduty_plugin.compat import fromisoformat
from pagerduty_plugin.errors import PluginError, bug, mask_secrets
from pagerduty_plugin.logs import StepLog, step_logger

COMMAND_PREFIX = "pagerduty-"
CONTEXT_ROOT = "PagerDutyPlugin"
STATUSES = ("triggered", "acknowledged", "resolved")
URGENCIES = ("high", "low")
MIRROR_DIRECTIONS = {"None": None, "Incoming": "In", "Outgoing": "Out", "Incoming And Outgoing": "Both"}
MAX_FETCH_LIMIT = 200
SEEN_IDS_KEPT = 200
FETCH_DEFAULTS = {"first_fetch": "3 days", "max_fetch": 50, "incident_statuses": ("triggered", "acknowledged")}
MIRROR_MARK = "[Mirrored from XSOAR] "
FROM_PAGERDUTY_TAG = "from-pagerduty"
NOTE_ENTRY, DONE = 1, 2  # XSOAR's EntryType.NOTE and IncidentStatus.DONE
URGENCY_SEVERITY = {"high": 3, "low": 1}  # XSOAR severities: 1 low, 3 high


def command_name(action):
    return COMMAND_PREFIX + action.replace("_", "-")


def context_name(action):
    return "".join(part.capitalize() for part in action.split("_"))


def main(demisto, xsoar):
    """Run demisto.command(); xsoar: the generated script's globals (CommonServerPython's names)."""
    secrets = set()
    try:
        session = Session(demisto, xsoar)
        secrets = session.secrets
        session.dispatch(demisto.command())
    except Exception as exc:  # every failure, a bug included, is one error entry
        error = exc if isinstance(exc, PluginError) else bug(exc)
        detail = mask_secrets(error.to_dict(), secrets)
        xsoar["return_error"](f"{detail['cause']} {detail['assistance']}".strip())


class Session:
    """One command's run: the spec, the connection from the instance's parameters, the step log."""

    def __init__(self, demisto, xsoar):
        self.demisto, self.xsoar = demisto, xsoar
        self.log_text = io.StringIO()
        self.handler = StepLog(self.log_text)
        self.secrets = self.handler.secrets
        self.spec = speclib.load()
        self.params = demisto.params() or {}

    def dispatch(self, command):
        special = {"test-module": self.test_module, "fetch-incidents": self.fetch_incidents,
                   "get-remote-data": self.get_remote_data, "get-modified-remote-data": self.get_modified_remote_data,
                   "update-remote-system": self.update_remote_system, "get-mapping-fields": self.get_mapping_fields}
        if command in special:
            special[command]()
            return
        action = command[len(COMMAND_PREFIX):].replace("-", "_") if command.startswith(COMMAND_PREFIX) else None
        if action not in self.spec.actions:
            raise PluginError(f"Unknown command '{command}'",
                              "Regenerate the integration with `pagerduty-plugin export xsoar DIR`.")
        self.run_command(action, self.demisto.args() or {})

    # the actions

    def step(self, action, values):
        """One action through the runner; its log lines go to XSOAR's debug log, masked."""
        try:
            return runner.run_step(self.spec, action, values, self.connection(), self.secrets,
                                   step_logger(self.handler))
        finally:
            text = self.log_text.getvalue()
            if text:
                self.demisto.debug(mask_secrets(text, self.secrets))
                self.log_text.seek(0)
                self.log_text.truncate()

    def connection(self):
        settings = {}
        schema = self.spec.connection_schema()["properties"]
        for name in self.spec.connection:
            value = self.params.get(name)
            if isinstance(value, dict) and "password" in value:  # a credentials parameter
                value = value.get("password")
            if value not in (None, ""):
                settings[name] = typed(value, schema[name])
        self.secrets.update(runner.secret_values(self.spec, self.spec.connection, settings))  # masked on every path
        return settings

    def run_command(self, action, args):
        properties = self.spec.input_schema(action)["properties"]
        values = {name: typed(value, properties.get(name, {})) for name, value in args.items()}
        output = mask_secrets(self.step(action, values), self.secrets)
        results = self.xsoar["CommandResults"](
            outputs_prefix=f"{CONTEXT_ROOT}.{context_name(action)}", outputs=output, raw_response=output,
            readable_output=self.xsoar["tableToMarkdown"](self.spec.action(action)["title"], readable_rows(output)))
        self.xsoar["return_results"](results)

    def test_module(self):
        connection = runner.open_connection(self.spec, self.connection(), step_logger(self.handler))
        try:
            connection.test()
        finally:
            connection.close()
        self.xsoar["return_results"]("ok")

    # fetching

    def fetch_incidents(self):
        settings = FetchSettings(self.params)
        last = self.demisto.getLastRun() or {}
        watermark = last.get("watermark") or (utc_now() - settings.first_fetch).strftime("%Y-%m-%dT%H:%M:%SZ")
        seen = json.loads(last.get("seen_ids") or "[]")  # XSOAR keeps the last run's values as text
        before = Backlog(last.get("ran_at"), last.get("due_since"))
        limit = settings.max_fetch + len(seen)
        query = {"since": watermark, "sort_by": "created_at:asc", "max_results": limit}
        query.update(settings.filters())
        answer = self.step("list_incidents", query)["incidents"]
        ran_at = utc_now().strftime("%Y-%m-%dT%H:%M:%SZ")  # after the answer: what it holds was created by then
        chosen, passed, whole = take(answer, seen, settings, before)
        if passed:
            watermark, seen = advance(watermark, seen, passed)
        caught_up = whole and len(answer) < limit
        self.demisto.incidents([self.as_xsoar_incident(incident, settings) for incident in chosen])
        self.demisto.setLastRun({"watermark": watermark, "seen_ids": json.dumps(seen), "ran_at": ran_at,
                                 "due_since": "" if caught_up else (last.get("due_since") or ran_at)})

    def as_xsoar_incident(self, incident, settings):
        raw = dict(incident, mirror_direction=settings.mirror_direction,
                   mirror_instance=self.demisto.integrationInstance())
        return {"name": incident.get("title") or incident.get("summary") or incident["id"],
                "occurred": incident.get("created_at"), "severity": URGENCY_SEVERITY.get(incident.get("urgency"), 0),
                "dbotMirrorId": incident["id"], "rawJSON": json.dumps(raw)}

    # mirroring

    def get_modified_remote_data(self):
        args = self.xsoar["GetModifiedRemoteDataArgs"](self.demisto.args())
        answer = self.step("api_request", {"method": "GET", "path": "/log_entries",
                                           "query": {"since": args.last_update, "limit": 100}})
        ids = sorted({(entry.get("incident") or {}).get("id") for entry in answer["body"].get("log_entries") or []}
                     - {None})
        self.xsoar["return_results"](self.xsoar["GetModifiedRemoteDataResponse"](ids))

    def get_remote_data(self):
        args = self.xsoar["GetRemoteDataArgs"](self.demisto.args())
        incident = self.step("get_incident", {"incident_id": args.remote_incident_id})["incident"]
        since = parse_time(args.last_update) if args.last_update else None
        entries = [note_entry(note) for note in
                   self.step("list_notes", {"incident_id": incident["id"]})["notes"]
                   if not note.get("content", "").startswith(MIRROR_MARK)
                   and (since is None or parse_time(note["created_at"]) > since)]
        if resolved_since(incident, since) and not self.forget_closed_from_xsoar(incident["id"]):
            entries.append({"Type": NOTE_ENTRY, "ContentsFormat": "json",
                            "Contents": {"dbotIncidentClose": True, "closeReason": "Resolved",
                                         "closeNotes": "Resolved in PagerDuty"}})
        self.xsoar["return_results"](self.xsoar["GetRemoteDataResponse"](incident, entries))

    def update_remote_system(self):
        args = self.xsoar["UpdateRemoteSystemArgs"](self.demisto.args())
        incident_id = args.remote_incident_id
        for entry in args.entries or []:
            if FROM_PAGERDUTY_TAG in (entry.get("tags") or []):
                continue  # a note that came from PagerDuty: never sent back
            contents = entry.get("contents") or entry.get("Contents")
            if isinstance(contents, str) and contents.strip() and not contents.startswith(MIRROR_MARK):
                self.step("add_note", {"incident_id": incident_id, "note": MIRROR_MARK + contents})
        if args.incident_changed and int(args.inc_status or 0) == DONE:
            self.resolve_from_xsoar(incident_id, (args.data or {}).get("closeReason") or "closed in XSOAR")
        self.xsoar["return_results"](incident_id)

    def resolve_from_xsoar(self, incident_id, reason):
        current = self.step("get_incident", {"incident_id": incident_id})["incident"]
        if current.get("status") == "resolved":
            return  # resolved in PagerDuty first: this close is its echo
        self.step("update_status", {"incident_id": incident_id, "status": "resolved",
                                    "resolution": MIRROR_MARK + str(reason)})
        context = self.demisto.getIntegrationContext() or {}
        closed = set(context.get("closed_from_xsoar") or []) | {incident_id}
        self.demisto.setIntegrationContext({**context, "closed_from_xsoar": sorted(closed)})

    def forget_closed_from_xsoar(self, incident_id):
        """True when XSOAR closed this incident (its resolution is no news to XSOAR); forgets it."""
        context = self.demisto.getIntegrationContext() or {}
        closed = list(context.get("closed_from_xsoar") or [])
        if incident_id not in closed:
            return False
        closed.remove(incident_id)
        self.demisto.setIntegrationContext({**context, "closed_from_xsoar": closed})
        return True

    def get_mapping_fields(self):
        scheme = self.xsoar["SchemeTypeMapping"](type_name="PagerDuty Incident")
        for name, description in (("status", "triggered, acknowledged or resolved"), ("urgency", "high or low"),
                                  ("title", "The incident's title"), ("priority", "The incident's priority")):
            scheme.add_field(name=name, description=description)
        response = self.xsoar["GetMappingFieldsResponse"]()
        response.add_scheme_type(scheme)
        self.xsoar["return_results"](response)


class FetchSettings:
    """The instance's fetch parameters, checked."""

    def __init__(self, params):
        self.max_fetch = bounded_int(params.get("max_fetch"), FETCH_DEFAULTS["max_fetch"], "max_fetch",
                                     1, MAX_FETCH_LIMIT)
        self.first_fetch = duration(params.get("first_fetch") or FETCH_DEFAULTS["first_fetch"])
        self.statuses = as_list(params.get("incident_statuses")) or list(FETCH_DEFAULTS["incident_statuses"])
        self.service_ids = as_list(params.get("service_ids"))
        self.urgencies = as_list(params.get("urgencies"))
        self.mirror_direction = MIRROR_DIRECTIONS.get(params.get("mirror_direction") or "None")

    def filters(self):
        """Every status is asked for: a resolved incident may still be due (wanted)."""
        found = {"service_ids": self.service_ids, "urgencies": self.urgencies}
        return {name: value for name, value in found.items() if value}

    def wanted(self, incident, before):
        if incident.get("status") in self.statuses:
            return True
        return before.had_open(incident)


class Backlog:
    """What the earlier cycles knew. A cycle that left incidents for later (past max_fetch) starts a
    backlog; it lasts until a cycle has taken all there was. An incident created by the time the
    previous cycle ran and resolved no earlier than the backlog began was open when some cycle was
    due to take it: it is fetched even if it is resolved now. Times are to the second (PagerDuty's
    stamps are): the same second counts as open then, fetched once rather than perhaps lost."""

    def __init__(self, ran_at, due_since):
        self.ran_at = parse_time(ran_at) if ran_at else None
        self.since = parse_time(due_since) if due_since else self.ran_at

    def had_open(self, incident):
        if self.ran_at is None or parse_time(incident["created_at"]) > self.ran_at:
            return False
        resolved = incident.get("resolved_at")
        return resolved is None or parse_time(resolved) >= self.since


def take(answer, seen, settings, before):
    """(incidents to fetch, incidents taken or passed over, whether the whole answer was gone
    through): oldest first, at most max_fetch taken; what the filters do not want is passed over,
    so the watermark moves past it too."""
    chosen, passed = [], []
    for incident in answer:
        if incident["id"] in seen:
            continue
        if settings.wanted(incident, before):
            if len(chosen) == settings.max_fetch:
                return chosen, passed, False
            chosen.append(incident)
        passed.append(incident)
    return chosen, passed, True


def advance(watermark, seen, passed):
    """The new watermark (the newest created_at passed) and the ids at its second, which the next
    answer holds again (PagerDuty's since includes its second)."""
    newest = max(watermark, passed[-1]["created_at"], key=parse_time)
    second = parse_time(newest).replace(microsecond=0)
    at_mark = [i["id"] for i in passed if parse_time(i["created_at"]).replace(microsecond=0) == second]
    kept = seen if parse_time(watermark).replace(microsecond=0) == second else []
    return newest, (kept + at_mark)[-SEEN_IDS_KEPT:]


def typed(value, schema):
    """XSOAR's text form of an argument -> the type its schema wants; what cannot be turned is
    left as it came, for the runner's validation to refuse with the field named."""
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if "$ref" in schema:
        kind = "object"
    try:
        if kind == "array":
            items = schema.get("items") or {}
            return [typed(item, items) for item in as_list(value)]
        if isinstance(value, str) and kind in ("object",):
            return json.loads(value)
        if isinstance(value, (str, float)) and kind == "integer":
            number = float(value)
            return int(number) if number.is_integer() else value
        if isinstance(value, str) and kind == "number":
            return float(value)
        if isinstance(value, str) and kind == "boolean":
            return {"true": True, "yes": True, "false": False, "no": False}.get(value.strip().lower(), value)
    except (TypeError, ValueError):
        return value
    return value


def as_list(value):
    """XSOAR's argToList: a list, JSON text of a list, or comma-separated text."""
    if value in (None, ""):
        return []
    if isinstance(value, list):
        return value
    text = str(value).strip()
    if text.startswith("["):
        try:
            return list(json.loads(text))
        except ValueError:
            pass
    return [part.strip() for part in text.split(",") if part.strip()]


def bounded_int(value, default, name, low, high):
    if value in (None, ""):
        return default
    try:
        number = int(float(value))
    except (TypeError, ValueError):
        number = None
    if number is None or not low <= number <= high:
        raise PluginError(f"The parameter {name} is {value!r}, not a whole number from {low} to {high}",
                          f"Set {name} in the instance's settings to a number from {low} to {high}.",
                          {"field": name})
    return number


UNITS = {"minute": 60, "hour": 3600, "day": 86400, "week": 604800}


def duration(text):
    """'3 days', '12 hours', '30 minutes' -> a timedelta."""
    found = re.fullmatch(r"\s*(\d+)\s*(minute|hour|day|week)s?\s*", str(text).lower())
    if not found:
        raise PluginError(f"The first fetch time {text!r} is not a number and a unit",
                          "Write it as e.g. '3 days', '12 hours' or '30 minutes'.", {"field": "first_fetch"})
    return datetime.timedelta(seconds=int(found.group(1)) * UNITS[found.group(2)])


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def parse_time(text):
    """PagerDuty's timestamps (Z, +00:00 or +0000) -> an aware datetime."""
    return fromisoformat(str(text))


def resolved_since(incident, since):
    if incident.get("status") != "resolved":
        return False
    stamp = incident.get("resolved_at") or incident.get("last_status_change_at")
    return since is None or stamp is None or parse_time(stamp) > since


def note_entry(note):
    author = ((note.get("user") or {}).get("summary")) or "PagerDuty"
    return {"Type": NOTE_ENTRY, "ContentsFormat": "markdown", "Note": True, "Tags": [FROM_PAGERDUTY_TAG],
            "Contents": f"{author} (PagerDuty): {note.get('content', '')}"}


def readable_rows(output):
    """The rows of the human-readable table: a list output's items, else the output's own fields."""
    lists = [value for value in output.values() if isinstance(value, list)]
    rows = lists[0] if len(lists) == 1 else [output]
    return [{key: value for key, value in row.items() if not isinstance(value, (dict, list))}
            if isinstance(row, dict) else {"value": row} for row in rows]
