"""What every trigger gets: the connection, the step's logger and its validated input."""


class Trigger:
    interval = 1.0  # seconds between two looks at the inbox (polling triggers: between polls)
    poll_lease = None  # polling triggers: the name of the lease that lets one process at a time poll

    def __init__(self, connection, log, params):
        self.connection = connection
        self.log = log
        self.params = params

    def sources(self):
        """The inbox sources this trigger reads."""
        raise NotImplementedError

    def poll(self, inbox):
        """Fill the inbox from PagerDuty (polling triggers); webhook-fed triggers have nothing to do."""

    def wants(self, event):
        """Whether the event (the inner `event` object) passes the trigger's filters."""
        return True


def incident_of(event):
    """The incident an event is about: the data itself, or data.incident (e.g. incident.annotated)."""
    data = event.get("data") or {}
    if isinstance(data.get("incident"), dict):
        return data["incident"]
    return data


def matches_filters(event, params):
    """The filters every incident trigger shares: event types, services, teams, urgencies."""
    incident = incident_of(event)
    if params.get("event_types") and event.get("event_type") not in params["event_types"]:
        return False
    if params.get("services") and ((incident.get("service") or {}).get("id") not in params["services"]):
        return False
    if params.get("teams") and not {team.get("id") for team in incident.get("teams") or []} & set(params["teams"]):
        return False
    if params.get("urgencies") and incident.get("urgency") not in params["urgencies"]:
        return False
    return True
