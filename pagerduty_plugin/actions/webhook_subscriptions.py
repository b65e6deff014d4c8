"""Webhook subscriptions (PagerDuty's v3 webhooks): where PagerDuty sends signed events about
incidents (and services). A subscription's scope is a service, a team (each by id or exact name), or
the whole account when neither is given.

PagerDuty answers the signing secret once, in the create answer: the output carries it as
`signing_secret` (a password-typed field) and nowhere else, and it is kept out of the step's log.
"""

from urllib.parse import urlsplit

from pagerduty_plugin.actions.base import Action
from pagerduty_plugin.actions.common import (
    deleter, getter, given, lister, object_path, reference, resolve,
)
from pagerduty_plugin.compat import without_suffix
from pagerduty_plugin.errors import PluginError
from pagerduty_plugin.logs import keep_out_of_logs

COLLECTION, KIND = "webhook_subscriptions", "webhook_subscription"
# A new subscription's events when the step names none: every incident type of PagerDuty's v3
# webhooks (the spec's enum of `events` lists the service types too).
INCIDENT_EVENTS = (
    "incident.acknowledged", "incident.annotated", "incident.delegated", "incident.escalated",
    "incident.priority_updated", "incident.reassigned", "incident.reopened", "incident.resolved",
    "incident.responder.added", "incident.responder.replied", "incident.status_update_published",
    "incident.triggered", "incident.unacknowledged",
    # 2025–2026
    "incident.custom_field_values.updated", "incident.incident_type.changed", "incident.workflow.completed",
    "incident.workflow.started",
)
SECRET_NOTE = ("PagerDuty shows this signing secret only once, in this answer (reading the subscription "
               "later answers null): store it now with the receiver that checks X-PagerDuty-Signature.")


def scope(rest, params):
    """The subscription's filter: a service, a team (not both: the spec's rule), or the account."""
    if "service" in params:
        return reference(resolve(rest, "services", params["service"], "service"), "service")
    if "team" in params:
        return reference(resolve(rest, "teams", params["team"], "team"), "team")
    return {"type": "account_reference"}


def delivery_url(value):
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value.strip()):
        raise PluginError(f"{value[:80]!r} is not an http or https URL",
                          "Give the full address PagerDuty should POST webhooks to, e.g. "
                          "https://automation.example.com/webhooks/pagerduty.", {"field": "url"})
    return value.strip()


def custom_headers(value):
    headers = []
    for name, text in (value or {}).items():
        if not isinstance(text, str) or not name or any(c in name for c in " :\r\n\t") \
                or any(c in text for c in "\r\n"):
            raise PluginError(f"custom_headers entry {name[:60]!r} is not a header name with a one-line text value",
                              'Give custom_headers as {"Header-Name": "value"}.', {"field": "custom_headers"})
        headers.append({"name": name, "value": text})
    return headers


def subscription_fields(rest, params, creating=False):
    """The body fields the step gave; every input is checked before the one lookup (service or team)."""
    fields = given(params, "description", "active")
    if creating or "events" in params:
        fields["events"] = params["events"] if "events" in params else list(INCIDENT_EVENTS)
    if creating or "service" in params or "team" in params:
        fields["filter"] = scope(rest, params)
    return fields


class CreateWebhookSubscription(Action):
    def run(self, params):
        rest = self.connection.rest
        method = {"type": "http_delivery_method", "url": delivery_url(params["url"])}
        if "custom_headers" in params:
            method["custom_headers"] = custom_headers(params["custom_headers"])
        body = {KIND: {"type": KIND, "delivery_method": method, **subscription_fields(rest, params, creating=True)}}
        subscription = rest.post(f"/{COLLECTION}", body, key=KIND)
        delivery = subscription.get("delivery_method")
        secret = delivery.get("secret") if isinstance(delivery, dict) else None
        if not isinstance(secret, str) or not secret:
            raise PluginError("PagerDuty created the webhook subscription but answered no signing secret",
                              "Delete it (delete_webhook_subscription) and create it again; the secret is only "
                              "ever shown in the create answer.", {"webhook_subscription_id": subscription.get("id")})
        keep_out_of_logs(self.log, secret)
        delivery["secret"] = None    # one place for it in the output: signing_secret
        return {KIND: subscription, "signing_secret": secret, "signing_secret_note": SECRET_NOTE}


class UpdateWebhookSubscription(Action):
    def run(self, params):
        path = object_path(COLLECTION, params[f"{KIND}_id"], KIND)
        changes = subscription_fields(self.connection.rest, params)
        return {KIND: self.connection.rest.put(path, {KIND: changes}, key=KIND)}


class EnableWebhookSubscription(Action):
    def run(self, params):
        path = object_path(COLLECTION, params[f"{KIND}_id"], KIND)
        return {KIND: self.connection.rest.post(f"{path}/enable", safe_to_repeat=True, key=KIND)}


class PingWebhookSubscription(Action):
    def run(self, params):
        path = object_path(COLLECTION, params[f"{KIND}_id"], KIND)
        self.connection.rest.post(f"{path}/ping", kind=None)  # its answer is not read
        return {"success": True, "webhook_subscription_id": params[f"{KIND}_id"].strip()}


def list_filters(rest, params):
    found = scope(rest, params)
    if found["type"] == "account_reference":
        return {"filter_type": "account"} if params.get("account_only") else None
    return {"filter_type": without_suffix(found["type"], "_reference"), "filter_id": found["id"]}


ListWebhookSubscriptions = lister(COLLECTION, list_filters)
GetWebhookSubscription = getter(COLLECTION, KIND)
DeleteWebhookSubscription = deleter(COLLECTION, KIND)
