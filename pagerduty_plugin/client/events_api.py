"""Events API v2: POST {events_url}/enqueue and {events_url}/change/enqueue.

Alert events carry a dedup_key (the caller makes one before the first send), so repeating a
send after a timeout or a 5xx can never open a second alert. Change events have no key:
PagerDuty's guidance is still to retry them, at the risk of a duplicate change record.
"""

import json

from pagerduty_plugin.client.http import host_of, json_body, lenient_json, told_wait
from pagerduty_plugin.errors import HttpRefusal, NotSent

EVENTS_HOSTS = {"us": "https://events.pagerduty.com/v2", "eu": "https://events.eu.pagerduty.com/v2"}
MAX_EVENT_BYTES = 512 * 1024


class EventsClient:
    def __init__(self, transport, base_url):
        self.transport = transport
        self.base_url = base_url.rstrip("/")

    def enqueue(self, event):
        return self.send("/enqueue", event)

    def change(self, event):
        return self.send("/change/enqueue", event)

    def send(self, path, event):
        body = json.dumps(event).encode("utf-8")
        if len(body) > MAX_EVENT_BYTES:
            raise NotSent(
                f"The event is {len(body) // 1024} KB; PagerDuty accepts at most 512 KB",
                "Shorten the details (custom_details) or send large data elsewhere and link to it.",
                {"bytes": len(body)},
            )
        reply = self.transport.request(
            "POST", self.base_url + path, data=body, safe_to_repeat=True,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        response = reply.response
        if 200 <= response.status_code < 300:
            answer = json_body(reply, self.transport.secrets)
            return answer if isinstance(answer, dict) else {}
        # an error answer may be a proxy's HTML page or empty: its status still says what happened
        raise events_error(response, lenient_json(reply), self.base_url + path, reply.retries)


def events_error(response, answer, url, retries=0):
    status, host = response.status_code, host_of(url)
    answer = answer if isinstance(answer, dict) else {}
    data = {"status": status, "message": answer.get("message"), "errors": answer.get("errors") or []}
    if status == 400:
        reasons = "; ".join(map(str, data["errors"])) or answer.get("message") or "no reason given"
        return HttpRefusal(f"PagerDuty refused the event: {reasons}",
                           "Correct the event's fields; a 400 is never retried.", data, status)
    if status == 429:
        data["retry_after"] = wait = told_wait(response.headers)  # what PagerDuty asked (an outbox waits that long)
        return HttpRefusal(
            f"PagerDuty's Events API is rate limiting this routing key (HTTP 429, {retries} retries)",
            "About 120 events a minute are accepted per routing key: slow down or group alerts, "
            "then run the step again (the dedup key makes a repeat safe).", data, status, retry_after=wait)
    if status >= 500:
        return HttpRefusal(
            f"PagerDuty's Events API failed with HTTP {status} after {retries + 1} tries",
            "PagerDuty may be having an outage (status.pagerduty.com). Run the step again: the dedup key "
            "makes a repeat safe.", data, status)
    return HttpRefusal(f"{host} answered HTTP {status} to the event",
                       "Check events_url (the base that /enqueue is appended to) and the routing key.", data, status)
