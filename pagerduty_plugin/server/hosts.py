"""In `http`, PagerDuty's hosts and the server's files are the operator's, not the caller's.

A platform message carries a whole connection. Taken as it comes, its `api_url` would make the server
fetch any URL it can reach (loopback and private addresses included) and hand back the answer, and its
`outbox` would make the server create a database file wherever it may write. So a caller's connection
may name only:
- an `api_url` / `events_url` on https://*.pagerduty.com, on the host of the server's own
  PAGERDUTY_API_URL / PAGERDUTY_EVENTS_URL, or on a host given with `--allow-host`;
- the `outbox` and `ca_file` the server itself was started with (PAGERDUTY_OUTBOX, PAGERDUTY_CA_FILE).
"""

from urllib.parse import urlsplit

from pagerduty_plugin.errors import PluginError

URL_FIELDS = ("api_url", "events_url")
FILE_FIELDS = {"outbox": "PAGERDUTY_OUTBOX", "ca_file": "PAGERDUTY_CA_FILE"}


def host_and_port(url):
    """(host, port) of an http(s) URL, None when it is not one."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.hostname.lower(), port


def parse_allowed(entry):
    """`--allow-host` HOST or HOST:PORT (an IPv6 address in brackets) -> (host, port or None)."""
    found = host_and_port(f"http://{entry.strip()}")
    if found is None or "/" in entry or "@" in entry:
        raise ValueError(entry)
    host, port = found
    return host, port if urlsplit(f"http://{entry.strip()}").port else None


class HostPolicy:
    def __init__(self, connection, allowed=()):
        """connection: the server's own settings (from its environment); allowed: `--allow-host` values."""
        self.allowed = [parse_allowed(entry) for entry in allowed]
        for name in URL_FIELDS:
            own = host_and_port(connection.get(name) or "")
            if own:
                self.allowed.append(own)
        self.files = {name: connection.get(name) for name in FILE_FIELDS}

    def check_connection(self, connection):
        """Refuse a caller's connection that points the server anywhere the operator did not allow."""
        if not isinstance(connection, dict):
            return  # the runner refuses it with its usual error
        for name in URL_FIELDS:
            url = connection.get(name)
            if url and not self.allows(url):
                raise PluginError(f"The connection's {name} is not a host this server may call",
                                  "Leave it out (the region's PagerDuty host is used), use a pagerduty.com host, or "
                                  "have the operator allow the host with `http --allow-host HOST[:PORT]`.",
                                  {"field": name})
        for name, variable in FILE_FIELDS.items():
            value = connection.get(name)
            if value and value != self.files[name]:
                raise PluginError(f"The connection's {name} is not the server's own",
                                  f"Leave it out: the operator sets it for the server ({variable} in the "
                                  "environment of `http`).", {"field": name})

    def allows(self, url):
        found = host_and_port(url) if isinstance(url, str) else None
        if found is None:
            return True  # not a URL at all: the connection's own check refuses it, sending nothing
        host, port = found
        if urlsplit(url).scheme == "https" and (host == "pagerduty.com" or host.endswith(".pagerduty.com")):
            return True
        return any(host == allowed and allowed_port in (None, port) for allowed, allowed_port in self.allowed)
