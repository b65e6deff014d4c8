"""Events API v2 actions. Input names follow the earlier generation of this plugin
(description, service_key, incident_key, details, contexts) so existing workflows keep working."""

import os

from pagerduty_plugin.actions.base import Action
from pagerduty_plugin.connection import host_name

PAYLOAD_FIELDS = ("timestamp", "component", "group", "class")


class SendTriggerEvent(Action):
    def run(self, params):
        # A key made before the first send: a retried send can never open a second alert.
        dedup_key = params.get("incident_key") or os.urandom(16).hex()
        payload = {
            "summary": params["description"],
            "source": params.get("source") or host_name(),
            "severity": params["severity"],
            **{f: params[f] for f in PAYLOAD_FIELDS if f in params},
        }
        if "details" in params:
            payload["custom_details"] = params["details"]
        event = {
            "routing_key": self.connection.routing_key(params.get("service_key")),
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "payload": payload,
            **{f: params[f] for f in ("client", "client_url") if f in params},
        }
        links, images = split_contexts(params.get("contexts") or [])
        links += params.get("links") or []
        images += params.get("images") or []
        if links:
            event["links"] = links
        if images:
            event["images"] = images
        return answer(self.connection.events.enqueue(event), dedup_key)


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
        return answer(self.connection.events.enqueue(event), params["incident_key"])


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
        reply = self.connection.events.change(event)
        return {"status": reply.get("status", "success"), "message": reply.get("message", "")}


def split_contexts(contexts):
    """The old Events v1 contexts [{type: link|image, ...}] as v2 links and images."""
    links, images = [], []
    for context in contexts:
        if context.get("type") == "image" or ("src" in context and "type" not in context):
            images.append({k: context[k] for k in ("src", "href", "alt") if k in context})
        else:
            links.append({k: context[k] for k in ("href", "text") if k in context})
    return links, images


def answer(reply, dedup_key):
    key = reply.get("dedup_key") or dedup_key
    return {"status": reply.get("status", "success"), "message": reply.get("message", ""),
            "incident_key": key, "dedup_key": key}
