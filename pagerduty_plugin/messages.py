"""Platform messages (InsightConnect's v1 envelopes), shared by the CLI and the HTTP server.

The answer follows the runtime's output schema: `meta` echoed on every answer (refused messages
included), `output` only when the step succeeded, and on failure `error` as the runtime words it
("An error occurred during plugin execution! CAUSE ASSISTANCE") beside `exception`
{cause, assistance, data}.
"""

from pagerduty_plugin.errors import PluginError, bug

VERSION = "v1"
ANSWER_TYPES = {"action_start": "action_event", "connection_test": "connection_test",
                "trigger_start": "trigger_event"}


class Answer:
    """An envelope and how the step ended. (A plain class: dataclasses costs 5 ms to import on `run`'s path.)"""

    def __init__(self, envelope, failure=None):
        self.envelope = envelope
        self.failure = failure  # None when ok; "step" for a step that failed; "bug" for a bug in the plugin

    @property
    def ok(self):
        return self.failure is None


def respond(message, accepted, work, log_text, default_type="action_event", on_bug=None):
    """Check the message, do the work, and answer with one envelope.

    accepted: the message types this entry point takes; work(kind, body) -> output does the step.
    log_text() -> the step's log so far (secrets already masked); on_bug() is called while a bug's
    exception is being handled (to show its traceback at --debug).
    """
    meta = echoed_meta(message)
    kind = message.get("type") if isinstance(message, dict) else None
    answer_type = ANSWER_TYPES.get(kind, default_type) if kind in accepted else default_type
    try:
        body = message_body(message, accepted)
        output = work(kind, body)
    except Exception as exc:  # every failure, a bug included, is an error envelope
        error = exc if isinstance(exc, PluginError) else bug(exc)
        if on_bug is not None and error is not exc:
            on_bug()
        return Answer(envelope(answer_type, error_body(error, meta, log_text())),
                      "step" if isinstance(exc, PluginError) else "bug")
    return Answer(envelope(answer_type, {"status": "ok", "meta": meta, "output": output, "log": log_text()}))


def refusal(error, log_text="", answer_type="action_event"):
    """The envelope for a message that could not even be read (not JSON, too large)."""
    return envelope(answer_type, error_body(error, {}, log_text))


def envelope(kind, body):
    return {"version": VERSION, "type": kind, "body": body}


def error_body(error, meta, log_text):
    return {"status": "error", "meta": meta, "log": log_text, "error": error_text(error),
            "exception": error.to_dict()}


def error_text(error):
    cause = error.cause if not error.cause or error.cause.endswith((".", "!", "?", ":")) else error.cause + "."
    return " ".join(part for part in ("An error occurred during plugin execution!", cause, error.assistance) if part)


def echoed_meta(message):
    """body.meta when the message has one (an object), else {}: the runtime's schema wants an object."""
    body = message.get("body") if isinstance(message, dict) else None
    meta = body.get("meta") if isinstance(body, dict) else None
    return meta if isinstance(meta, dict) else {}


def message_body(message, kinds):
    if not isinstance(message, dict) or not isinstance(message.get("body"), dict):
        raise PluginError("The message is not a platform message: it needs a 'body' object",
                          'Send {"version": "v1", "type": "action_start", "body": {"action": ..., "input": ...}}, '
                          "or use `pagerduty-plugin run ACTION` for plain input.")
    if message.get("version", VERSION) != VERSION:
        raise PluginError(f"Unsupported message version {message.get('version')!r}",
                          f"This plugin reads version {VERSION} messages.")
    if message.get("type") not in kinds:
        raise PluginError(f"Unexpected message type {message.get('type')!r} for this command",
                          f"Expected type {' or '.join(kinds)}.")
    return message["body"]


def note_secrets(spec, message, secrets):
    """The connection's secrets of a message, noted before the message is checked: an error about its
    version or type, and the meta it echoes, are masked with them too."""
    from pagerduty_plugin import runner

    body = message.get("body") if isinstance(message, dict) else None
    if isinstance(body, dict):
        secrets.update(runner.secret_values(spec, spec.connection, body.get("connection")))


def do_step(spec, kind, body, secrets, log, pool=None, test=False):
    """The work a message asks for: run its action, or test its connection (`test`, or a
    connection_test message). The step's secrets are noted first, so every later line masks them."""
    from pagerduty_plugin import runner

    connection = body.get("connection")
    secrets.update(runner.secret_values(spec, spec.connection, connection))
    if test or kind == "connection_test":
        return runner.test_connection(spec, connection, log, pool)
    name = body.get("action")
    if not isinstance(name, str) or not name:
        raise PluginError("The message names no action", "Set body.action to an action name.")
    return runner.run_step(spec, name, body.get("input"), connection, secrets, log, pool)
