"""An embedded PagerDuty: REST API v2 and Events API v2 on a local port, for demos and tests.

An independent second implementation of PagerDuty's side (stdlib only, plus trustme for TLS; nothing from the rest of
pagerduty_plugin), so it catches the client's mistakes instead of sharing them.

    from pagerduty_plugin.sandbox import Sandbox
    with Sandbox(seed="demo") as sb:
        sb.info   # {"api_url", "events_url", "events_host", "api_key", "routing_key", "from_email", "ca_file", ...}

    Sandbox(tls=True) serves HTTPS with a throwaway CA (info["ca_file"]; needs trustme), and
    Sandbox(public_url=...) writes that base into self links and html_urls.
"""
__all__ = ["Sandbox", "main"]


def __getattr__(name):   # imported lazily: `import pagerduty_plugin.sandbox` stays cheap
    if name == "Sandbox":
        from .app import Sandbox
        return Sandbox
    if name == "main":
        from .command import main
        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
