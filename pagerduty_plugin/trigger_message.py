"""Message mode triggers: a `trigger_start` message on `run`, each event POSTed to the dispatcher.

As InsightConnect's runtime does, each event goes to `body.dispatcher.url` as a `trigger_event`
envelope whose `output` is the event. Unlike the runtime (which logs a failed POST and loses the
event) a POST that fails is retried with back-off until the dispatcher accepts it; the event is
marked taken only then, so a trigger stopped mid-retry hands it over at its next start. A
permanent refusal (a 4xx other than 408 and 429) is not retried: the event goes to the dead
letters with the answer (`pagerduty-plugin dead-letters list|retry`) and the stream goes on.

The consumer is the platform's trigger id (`body.meta.trigger_id`; else the trigger's name): the
same trigger started again resumes where it stopped, whatever its input became.
"""

import threading
from urllib.parse import urlsplit

from pagerduty_plugin import messages, runner
from pagerduty_plugin import spec as speclib
from pagerduty_plugin.command_io import dump_json, stop_on_signals
from pagerduty_plugin.errors import PluginError, bug
from pagerduty_plugin.trigger_loop import Refused

FIRST_WAIT, MAX_WAIT = 0.25, 30.0  # seconds between two tries of a POST to the dispatcher
POST_TIMEOUT = 10.0


class Stopped(Exception):
    """The trigger was stopped while an event was still undelivered."""


def run_trigger_message(message, handler, log, state=None, replay=False):
    """Run the trigger until stopped; an Answer: a final status, or the error that prevented the start."""
    from pagerduty_plugin.trigger_loop import TriggerRun

    meta = messages.echoed_meta(message)
    try:
        body = messages.message_body(message, ("trigger_start",))
        spec = speclib.load()
        handler.secrets.update(runner.secret_values(spec, spec.connection, body.get("connection")))
        name = body.get("trigger")
        if not isinstance(name, str) or not name:
            raise PluginError("The message names no trigger", "Set body.trigger to a trigger name.")
        stop = threading.Event()
        dispatcher = Dispatcher(body.get("dispatcher"), meta, handler, log, stop)
        run = TriggerRun(spec, name, body.get("input"), body.get("connection"), log, state, stop=stop,
                         consumer=consumer_name(body, name), replay=replay)
    except PluginError as exc:
        return messages.Answer(messages.envelope("trigger_event", messages.error_body(exc, meta, handler.text())),
                               "step")
    with stop_on_signals(stop):
        try:
            delivered = run.run(dispatcher.deliver)
        except Stopped:
            delivered = dispatcher.delivered
        except Exception as exc:  # the inbox failed: one error envelope, as for a failed start
            error = exc if isinstance(exc, PluginError) else bug(exc)
            return messages.Answer(messages.envelope("trigger_event", messages.error_body(error, meta, handler.text())),
                                   "step" if error is exc else "bug")
    return messages.Answer(messages.envelope("trigger_event", {
        "status": "ok", "meta": meta, "output": {"stopped": True, "delivered": delivered}, "log": handler.text()}))


def consumer_name(body, trigger):
    meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
    given = meta.get("trigger_id")
    return f"trigger:{given}" if isinstance(given, str) and given else trigger


def permanent(status):
    """A refusal that no retry changes: a 4xx but 408 (timeout) and 429 (slow down)."""
    return 400 <= status < 500 and status not in (408, 429)


class Dispatcher:
    def __init__(self, config, meta, handler, log, stop):
        if not isinstance(config, dict) or not web_url(config.get("url")):
            raise PluginError("The trigger_start message has no dispatcher URL",
                              'Set body.dispatcher to {"url": "http(s)://…"}: each event is POSTed there.')
        self.url, self.meta, self.handler, self.log = config["url"], meta, handler, log
        self.webhook_url = config.get("webhook_url") or None  # kept as the runtime keeps it; unused here
        self.stop = stop  # set by a signal: a POST being retried gives up, its event stays in the inbox
        self.delivered = 0
        self.session = None

    def deliver(self, event):
        import requests

        if self.session is None:
            self.session = requests.Session()
            self.session.trust_env = False  # the dispatcher is local to the platform: no proxy, no netrc
        envelope = messages.envelope("trigger_event", {"status": "ok", "meta": self.meta, "output": event,
                                                       "log": self.handler.text()})
        wait, attempt = FIRST_WAIT, 1
        while True:
            problem, status = self.post(envelope)
            if problem is None:
                self.handler.clear()  # each event carries the log lines since the previous one
                self.delivered += 1
                return
            if status is not None and permanent(status):
                raise Refused(problem)  # to the dead letters; the next event goes on
            self.log.warning(f"POST of event {event['event']['id']} to the dispatcher failed ({problem}); "
                             f"try {attempt + 1} in {wait:.1f} s")
            if self.stop.wait(wait):
                raise Stopped()
            wait, attempt = min(wait * 2, MAX_WAIT), attempt + 1

    def post(self, envelope):
        """(None, status) when the dispatcher accepted the event, else (what went wrong, status or None)."""
        import requests

        try:
            response = self.session.post(self.url, data=dump_json(envelope, self.handler.secrets),
                                         headers={"Content-Type": "application/json"}, timeout=POST_TIMEOUT)
        except requests.RequestException as exc:
            return type(exc).__name__, None
        status = response.status_code
        problem = None if 200 <= status < 300 else f"HTTP {status}{answer_text(response)}"
        response.close()
        return problem, status


def answer_text(response):
    """The start of a refusal's body, for the dead letter's reason."""
    try:
        text = response.content[:300].decode("utf-8", "replace").strip()
    except Exception:  # noqa: BLE001 - the reason is a courtesy
        return ""
    return f": {' '.join(text.split())}" if text else ""


def web_url(url):
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
    except ValueError:
        return False
    return parts is not None and parts.scheme in ("http", "https") and bool(parts.hostname)
