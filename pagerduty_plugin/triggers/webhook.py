"""incident_event: the signed v3 webhooks `pagerduty-plugin http` stored in the inbox."""

from pagerduty_plugin.state.inbox import WEBHOOK_SOURCE
from pagerduty_plugin.triggers.base import Trigger, matches_filters


class IncidentEvent(Trigger):
    def sources(self):
        return [WEBHOOK_SOURCE]

    def wants(self, event):
        return matches_filters(event, self.params)
