"""`pagerduty-plugin sandbox`: serve until SIGINT/SIGTERM; the first stdout line says where."""
import argparse
import json
import signal
import sys
import threading


def _parser():
    parser = argparse.ArgumentParser(
        prog="pagerduty-plugin sandbox",
        description="Run a local imitation of PagerDuty's REST API v2 and Events API v2. The first line on "
                    "stdout is JSON {api_url, events_url, events_host, api_key, routing_key, from_email, "
                    "identity_url, client_id, client_secret, subdomain, ca_file, served_url}.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    parser.add_argument("--seed", choices=("demo", "empty"), default="demo",
                        help="starting data: demo (users, teams, services, incidents...) or empty (one admin)")
    parser.add_argument("--rate-limit", type=int, default=None, metavar="N",
                        help="answer 429 after N requests per minute per API key (or routing key)")
    parser.add_argument("--webhook-hosts", choices=("loopback", "any"), default="loopback",
                        help="where webhook subscriptions may deliver: loopback URLs only (default) or any host")
    parser.add_argument("--tls", action="store_true",
                        help="serve HTTPS with a certificate from a throwaway CA made at start; the CA's file is "
                             "ca_file in the first line (trust it with REQUESTS_CA_BUNDLE, SSL_CERT_FILE or "
                             "NODE_EXTRA_CA_CERTS)")
    parser.add_argument("--public-url", metavar="URL", default=None,
                        help="the base written into self links and html_urls, when clients reach the sandbox "
                             "through another address (a TLS front, a container name); default: what it serves")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each request on stderr")
    parser.add_argument("--contract", metavar="FOLDER", default=None,
                        help="strict-contract mode: answer only what PagerDuty's OpenAPI files in FOLDER "
                             "(rest_openapiv3.json, events_v2_openapiv3.json) promise")
    return parser


def main(argv=None):
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:   # --help (0) or a bad command line (2)
        return exc.code if isinstance(exc.code, int) else 2
    if args.rate_limit is not None and args.rate_limit < 1:
        print("pagerduty-plugin sandbox: --rate-limit must be at least 1", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print("pagerduty-plugin sandbox: --port must be from 0 to 65535", file=sys.stderr)
        return 2
    from . import publicurl
    if args.public_url is not None:
        try:
            publicurl.normalize(args.public_url)
        except ValueError as exc:
            print(f"pagerduty-plugin sandbox: --public-url: {exc}", file=sys.stderr)
            return 2
    from .app import Sandbox
    from .tls import TlsUnavailable
    try:
        sandbox = Sandbox(host=args.host, port=args.port, seed=args.seed, rate_limit=args.rate_limit,
                          verbose=args.verbose, max_exchanges=5000, webhook_hosts=args.webhook_hosts,
                          tls=args.tls, public_url=args.public_url, contract=args.contract)
    except (OSError, ValueError) as exc:
        print(f"pagerduty-plugin sandbox: cannot read the contract in {args.contract}: {exc}", file=sys.stderr)
        return 2
    try:
        sandbox.start()
    except TlsUnavailable as exc:
        print(f"pagerduty-plugin sandbox: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"pagerduty-plugin sandbox: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        sys.stdout.write(json.dumps(sandbox.info) + "\n")
        sys.stdout.flush()
        print(f"pagerduty-plugin sandbox: serving on {sandbox.served_url} (seed {args.seed}); "
              "stop with Ctrl-C", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    except BrokenPipeError:
        pass
    finally:
        sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
