"""Events API v2 actions. Input names follow the earlier generation of this plugin
(description, service_key, incident_key, details, contexts) so existing workflows keep working."""

import os

from pagerduty_plugin.actions.base import Action
from pagerduty_plugin.connection import host_name
from pagerduty_plugin.errors import BadAnswer, HttpRefusal, NetworkError, NotSent, PluginError

PAYLOAD_FIELDS = ("timestamp", "component", "group", "class")


class SendTriggerEvent(Action):
    def run(self, params):
        # A key made before the first send: a retried send can never open a second alert.
        dedup_key = params.get("incident_key") or os.urandom(16).hex()
        event = trigger_event(params, dedup_key)
        event["routing_key"] = self.connection.routing_key(params.get("service_key"))
        try:
            reply = self.connection.send_event(event, "trigger")
        except PluginError as exc:
            raise keep_key(exc, dedup_key, made_here="incident_key" not in params) from None
        return answer(reply, dedup_key)


def trigger_event(params, dedup_key):
    """The trigger event without its routing key; contexts are checked first."""
    links, images = split_contexts(params.get("contexts") or [])
    links += params.get("links") or []
    images += params.get("images") or []
    payload = {
        "summary": params["description"],
        "source": params.get("source") or host_name(),
        "severity": params["severity"],
        **{f: params[f] for f in PAYLOAD_FIELDS if f in params},
    }
    if "details" in params:
        payload["custom_details"] = params["details"]
    event = {"event_action": "trigger", "dedup_key": dedup_key, "payload": payload,
             **{f: params[f] for f in ("client", "client_url") if f in params}}
    if links:
        event["links"] = links
    if images:
        event["images"] = images
    return event


class SendAcknowledgeEvent(Action):
    action = "acknowledge"

    def run(self, params):
        # Events API v2 ignores a payload on acknowledge and resolve: description and details
        # are kept as inputs for old workflows and only logged.
        if "description" in params or "details" in params:
            self.log.info(f"{self.action}: description and details are not sent (Events API v2 ignores them)")
        event = {
            "routing_key": self.connection.routing_key(params.get("service_key")),
            "event_action": self.action,
            "dedup_key": params["incident_key"],
        }
        return answer(self.connection.send_event(event, self.action), params["incident_key"])


class SendResolveEvent(SendAcknowledgeEvent):
    action = "resolve"


class SendChangeEvent(Action):
    def run(self, params):
        payload = {"summary": params["summary"], "source": params.get("source") or host_name()}
        for field in ("timestamp", "custom_details"):
            if field in params:
                payload[field] = params[field]
        event = {"routing_key": self.connection.routing_key(params.get("service_key")), "payload": payload}
        if params.get("links"):
            event["links"] = params["links"]
        reply = self.connection.send_event(event, "change")
        return {"status": reply.get("status", "success"), "message": reply.get("message", "")}


def keep_key(exc, dedup_key, made_here):
    """A failed send may still have reached PagerDuty (a timeout, a 5xx, a garbled 2xx): the key
    goes with the error, and a key made here is the one to give when the step is run again."""
    exc.data["dedup_key"] = dedup_key
    refused = isinstance(exc, NotSent) or (isinstance(exc, HttpRefusal) and exc.status == 400)
    if made_here and not refused:
        if may_have_been_accepted(exc):
            exc.assistance = (f"PagerDuty may have accepted the alert. Run the step again with "
                              f"incident_key={dedup_key}: a repeat then updates that alert instead of opening a "
                              "second one.")
        else:
            exc.assistance = f"The alert was not sent. {exc.assistance} incident_key={dedup_key} keeps its dedup key."
    return exc


def may_have_been_accepted(exc):
    """False when PagerDuty certainly did not take the event (never sent, or refused outright)."""
    if isinstance(exc, NetworkError):
        return exc.sent
    if isinstance(exc, HttpRefusal):
        return exc.status >= 500 or exc.status == 408
    return isinstance(exc, BadAnswer) or not isinstance(exc, NotSent)


# An Events v1 context of each type: what it needs, and the v2 fields it becomes.
CONTEXT_KINDS = {"link": ("a link", "href", ("href", "text")), "image": ("an image", "src", ("src", "href", "alt"))}


def split_contexts(contexts):
    """The old Events v1 contexts [{type: link|image, ...}] as v2 links and images; a link
    without href or an image without src (PagerDuty answers 400) is refused before sending."""
    links, images = [], []
    for number, context in enumerate(contexts):
        kind = "image" if context.get("type") == "image" else "link"
        what, needed, fields = CONTEXT_KINDS[kind]
        if not str(context.get(needed) or "").strip():
            raise PluginError(f"contexts[{number}] is {what} without {needed}",
                              f"Give each {kind} context its {needed} (the address), or leave that context out.",
                              {"field": f"contexts[{number}]"})
        (images if kind == "image" else links).append({k: context[k] for k in fields if k in context})
    return links, images


def answer(reply, dedup_key):
    key = reply.get("dedup_key") or dedup_key
    return {"status": reply.get("status", "success"), "message": reply.get("message", ""),
            "incident_key": key, "dedup_key": key}
