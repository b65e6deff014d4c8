"""Step logging: every line goes to stderr and into the envelope's `log`, secrets masked."""

import collections
import logging

from pagerduty_plugin.errors import redact

LOGGER_NAME = "pagerduty_plugin"
MAX_LINES = 10000  # lines kept for the envelope's log: a long-running trigger or serve keeps the latest


class StepLog(logging.Handler):
    """Collects the step's log lines and masks every known secret in them."""

    def __init__(self, stream=None, secrets=None):
        super().__init__()
        self.lines = collections.deque(maxlen=MAX_LINES)
        self.secrets = set() if secrets is None else secrets  # masked in the log and all the command prints
        self.log_only_secrets = set()  # secrets the step received for its output: masked in the log only
        self.stream = stream
        self.setFormatter(logging.Formatter("%(levelname)s %(message)s"))

    def emit(self, record):
        try:
            line = redact(self.format(record), self.secrets | self.log_only_secrets)
        except Exception:  # a log line must never break the step
            return
        self.lines.append(line)
        if self.stream is not None:
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (OSError, ValueError, AttributeError):  # stderr full or closed: the step goes on
                self.stream = None

    def clear(self):
        """Forget the lines so far (a trigger's next event carries only the lines logged after it)."""
        self.lines.clear()

    def text(self):
        return "\n".join(self.lines) + ("\n" if self.lines else "")


def step_logger(handler, debug=False):
    """A logger of the step's own, wired to handler: not the process's registered logger (nor
    urllib3's, which it leaves alone), so concurrent steps in the HTTP server never write into each
    other's log and a step changes no logging setting of the process. At --debug the transport
    logs each request's method, path and status into it."""
    log = logging.Logger(LOGGER_NAME, logging.DEBUG if debug else logging.INFO)
    log.addHandler(handler)
    return log


def keep_out_of_logs(log, secret):
    """A secret that PagerDuty answered and the step's output must carry (a webhook signing secret):
    never written to the log, whatever logs it later, yet left in the output."""
    for handler in log.handlers:
        if isinstance(handler, StepLog) and secret:
            handler.log_only_secrets.add(secret)


def mask_everywhere(log, secret):
    """A secret the step came to hold (an OAuth token it fetched): masked from now on in the log and
    in everything the command prints, like the secrets of its connection."""
    for handler in log.handlers:
        if isinstance(handler, StepLog) and secret:
            handler.secrets.add(secret)
