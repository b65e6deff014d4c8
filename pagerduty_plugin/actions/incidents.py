"""Incident actions (REST API v2): create, show, list, update, change status, reassign,
snooze and merge. Notes, status updates, responders, log entries and alerts are in
incident_collaboration.py; on-call in oncall.py.

The runner has checked the spec's rules (choices, fields that go together or exclude each
other) before a step starts; each step checks what needs its own code before the first request
(ids, the From address), then resolves names (one lookup each), then sends its one write.
"""

from pagerduty_plugin.actions.base import Action
from pagerduty_plugin.actions.common import as_list, given, given_times, reference, resolve, resolve_user
from pagerduty_plugin.actions.listing import output
from pagerduty_plugin.client.rest import segment
from pagerduty_plugin.errors import PluginError

BULK_LIMIT = 250  # PUT /incidents answers 413 beyond this many incidents


class IncidentAction(Action):
    @property
    def rest(self):
        return self.connection.rest

    def sender(self, params):
        """The From address (the step's, else the connection's), or a clear error before any request."""
        return self.rest.require_from(params.get("from_email"), f"The action {self.name()}")

    def name(self):
        return "".join("_" + c.lower() if c.isupper() else c for c in type(self).__name__).lstrip("_")


# --- inputs checked before any request ----------------------------------------------------------


def incident_path(value, suffix="", what="incident id"):
    return f"/incidents/{segment(value, what)}{suffix}"


def ids(values, what):
    """A list of ids (or comma-separated text), each checked; duplicates dropped."""
    return list(dict.fromkeys(segment(value, what) for value in as_list(values)))


def user_values(values, field):
    """Ids or emails, shapes checked (an id like `../users` is refused before any lookup)."""
    checked = []
    for value in as_list(values):
        value = str(value).strip()
        if "@" not in value:
            segment(value, f"user id in {field}")
        checked.append(value)
    return checked


def user_ids(rest, values):
    """User ids for checked ids or emails: each email costs one lookup."""
    return [resolve_user(rest, value) if "@" in value else value for value in values]


# --- the incident fields of create and update ----------------------------------------------------


def incident_fields(rest, params):
    """The incident fields the step gives, with names looked up (one request each) once
    the assignees' shapes are checked."""
    assignees = user_values(params.get("assignees"), "assignees")
    fields = {k: params[k] for k in ("title", "status", "resolution", "urgency", "escalation_level") if k in params}
    if "priority" in params:
        fields["priority"] = reference(resolve(rest, "priorities", params["priority"], "priority", query=False),
                                       "priority")
    if "escalation_policy" in params:
        fields["escalation_policy"] = escalation_policy(rest, params["escalation_policy"])
    if "incident_type" in params:  # by name, as PagerDuty's incident type reference names it
        fields["incident_type"] = {"name": params["incident_type"]}
    if assignees:
        fields["assignments"] = [{"assignee": reference(user_id, "user")} for user_id in user_ids(rest, assignees)]
    bridge = {k: params[k] for k in ("conference_number", "conference_url") if k in params}
    if bridge:
        fields["conference_bridge"] = bridge
    return fields


def escalation_policy(rest, value):
    return reference(resolve(rest, "escalation_policies", value, "escalation_policy"), "escalation_policy")


def one_incident(incident):
    return {"incident": incident}


# --- actions --------------------------------------------------------------------------------------


class CreateIncident(IncidentAction):
    def run(self, params):
        sender = self.sender(params)
        fields = incident_fields(self.rest, params)
        incident = {"type": "incident", "title": params["title"],
                    "service": reference(resolve(self.rest, "services", params["service"], "service"), "service"),
                    **fields}
        if "details" in params:
            incident["body"] = {"type": "incident_body", "details": params["details"]}
        if "incident_key" in params:
            incident["incident_key"] = params["incident_key"]
        return one_incident(self.rest.post("/incidents", {"incident": incident}, from_email=sender, needs_from=True,
                                           key="incident"))


class GetIncident(IncidentAction):
    def run(self, params):
        path = incident_path(params["incident_id"], what="incident id or number")
        include = params.get("include")
        return one_incident(self.rest.get(path, {"include": include} if include else None, key="incident"))


class ListIncidents(IncidentAction):
    def run(self, params):
        query = {**given(params, "incident_key", "date_range"), **given_times(params, "since", "until")}
        query.update(given(params, "statuses", "urgencies"))
        for field, what in (("service_ids", "service id"), ("team_ids", "team id"), ("user_ids", "user id")):
            query[field] = ids(params.get(field), what)
        if "sort_by" in params:
            query["sort_by"] = ",".join(as_list(params["sort_by"]))  # its form is checked by the spec
        query = {k: v for k, v in query.items() if v not in ([], "")}
        incidents, truncated = self.rest.iterate("/incidents", "incidents", query, params.get("max_results"),
                                                 check=self.output_items("incidents"))
        return output("incidents", incidents, truncated)


class UpdateIncident(IncidentAction):
    def run(self, params):
        path = incident_path(params["incident_id"])
        sender = self.sender(params)
        fields = incident_fields(self.rest, params)
        if "service" in params:  # moves the incident to another service (PagerDuty, 2025-10-01)
            fields["service"] = reference(resolve(self.rest, "services", params["service"], "service"), "service")
        return put_incident(self.rest, path, fields, sender)


class UpdateStatus(IncidentAction):
    def run(self, params):
        path = incident_path(params["incident_id"])
        fields = {k: params[k] for k in ("status", "resolution") if k in params}
        return put_incident(self.rest, path, fields, self.sender(params))


class UpdateIncidentEscalationPolicy(IncidentAction):
    def run(self, params):
        path = incident_path(params["incident_id"])
        sender = self.sender(params)
        fields = {"escalation_policy": escalation_policy(self.rest, params["escalation_policy"])}
        return put_incident(self.rest, path, fields, sender)


def put_incident(rest, path, fields, sender):
    # A PUT that sets fields to given values: repeating it after a timeout is safe.
    return one_incident(rest.put(path, {"incident": {"type": "incident_reference", **fields}}, from_email=sender,
                                 needs_from=True, key="incident"))


class ManageIncidents(IncidentAction):
    """The same status for many incidents: PUT /incidents, at most 250 per request."""

    def run(self, params):
        incident_ids = ids(params["incident_ids"], "incident id")
        if not incident_ids:
            raise PluginError("incident_ids names no incident", "Give at least one incident id.",
                              {"field": "incident_ids"})
        sender = self.sender(params)
        change = {k: params[k] for k in ("status", "resolution") if k in params}
        updated = []
        for start in range(0, len(incident_ids), BULK_LIMIT):
            batch = [{"id": i, "type": "incident_reference", **change} for i in incident_ids[start:start + BULK_LIMIT]]
            try:
                updated += self.rest.put("/incidents", {"incidents": batch}, from_email=sender, needs_from=True,
                                         key="incidents", kind=list)
            except PluginError as exc:
                raise partly_done(exc, incident_ids, start) from None
        return {"incidents": updated, "count": len(updated)}


def partly_done(exc, incident_ids, done):
    if done:
        exc.cause += f" (the first {done} of {len(incident_ids)} incidents were already updated)"
        exc.data["updated_ids"] = incident_ids[:done]
    return exc


class SnoozeIncident(IncidentAction):
    def run(self, params):
        path = incident_path(params["incident_id"], "/snooze")
        self.rest.post(path, {"duration": params["duration"]}, from_email=self.sender(params), needs_from=True,
                       key="incident")
        # PagerDuty documents the answer without the incident's title: the whole incident is read back
        return one_incident(self.rest.get(incident_path(params["incident_id"]), key="incident"))


class MergeIncidents(IncidentAction):
    def run(self, params):
        target = segment(params["target_incident_id"], "target incident id")
        sources = ids(params["source_incident_ids"], "source incident id")
        if not sources or target in sources:
            raise PluginError("source_incident_ids must name incidents other than the target",
                              "Give the ids of the incidents to merge into target_incident_id.",
                              {"field": "source_incident_ids"})
        body = {"source_incidents": [reference(source, "incident") for source in sources]}
        # Not repeated after a timeout: a merge that went through would then fail as "already merged".
        self.rest.put(f"/incidents/{target}/merge", body, from_email=self.sender(params), needs_from=True,
                      safe_to_repeat=False, key="incident")
        # PagerDuty documents the answer as a reference ({id, type, summary, self, html_url}) only:
        # the full incident is read back with one GET.
        try:
            return one_incident(self.rest.get(f"/incidents/{target}", key="incident"))
        except PluginError as exc:
            raise PluginError(f"The incidents were merged into {target}, but reading it back failed: {exc.cause}",
                              f"The merge is done: do not run the step again. {exc.assistance}",
                              {**exc.data, "merged": True}) from None
