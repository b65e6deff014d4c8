"""Step logging: every line goes to stderr and into the envelope's `log`, secrets masked."""

import logging

from pagerduty_plugin.errors import redact

LOGGER_NAME = "pagerduty_plugin"


class StepLog(logging.Handler):
    """Collects the step's log lines and masks every known secret in them."""

    def __init__(self, stream=None):
        super().__init__()
        self.lines = []
        self.secrets = set()
        self.stream = stream
        self.setFormatter(logging.Formatter("%(levelname)s %(message)s"))

    def emit(self, record):
        try:
            line = redact(self.format(record), self.secrets)
        except Exception:  # a log line must never break the step
            return
        self.lines.append(line)
        if self.stream is not None:
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (OSError, ValueError, AttributeError):  # stderr full or closed: the step goes on
                self.stream = None

    def text(self):
        return "\n".join(self.lines) + ("\n" if self.lines else "")


def step_logger(handler, debug=False):
    """The logger actions and clients write to, wired to handler (and urllib3 at --debug)."""
    log = logging.getLogger(LOGGER_NAME)
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG if debug else logging.INFO)
    if debug:
        urllib3 = logging.getLogger("urllib3")
        urllib3.handlers[:] = [handler]
        urllib3.setLevel(logging.DEBUG)
    return log
