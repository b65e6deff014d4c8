"""Benchmark the embedded PagerDuty sandbox (not a test).

    PYTHONPATH=. python bench/sandbox.py [--duration 5] [--clients 4] [--mode processes|threads|both] [--tls]

1. throughput: N client processes (or threads) send a GET/POST/PUT mix over keep-alive connections
   for a bounded time; requests per second and error counts are reported.
2. scale (in a freshly spawned interpreter): 10,000 incidents seeded, then paged with limit=100
   (100 pages): wall time, and peak memory (the process's peak RSS, and tracemalloc's peak over a
   second, traced pass; the sandbox journal keeps every answer, which is most of the growth).

With --tls, the throughput is also measured against `Sandbox(tls=True)` (HTTPS, keep-alive, so the
handshake is paid once per client) and reported as a ratio to plain HTTP in the same run.

Prints one JSON document, then human-readable lines. Clients use http.client (cheap), so the figure
measures the server rather than the client library.
"""
import argparse
import http.client
import http.server
import json
import multiprocessing
import os
import random
import resource
import sys
import threading
import time
import tracemalloc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pagerduty_plugin.sandbox import Sandbox  # noqa: E402

MIX = (("GET", 0.6), ("POST", 0.2), ("PUT", 0.2))


def _client(info, ids, duration, seed, out):
    """One keep-alive connection hammering the server; puts (ok, errors, by_method) on `out`."""
    rnd = random.Random(seed)
    scheme, address = info["api_url"].split("://", 1)
    host, port = address.rsplit(":", 1)
    if scheme == "https":
        import ssl
        conn = http.client.HTTPSConnection(host, int(port), timeout=30,
                                           context=ssl.create_default_context(cafile=info["ca_file"]))
    else:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
    headers = {"Authorization": f"Token token={info['api_key']}", "From": info["from_email"],
               "Accept": "application/vnd.pagerduty+json;version=2", "Content-Type": "application/json"}
    service = {"id": ids["services"][0], "type": "service_reference"}
    incidents = list(ids["incidents"]["triggered"] + ids["incidents"]["acknowledged"])
    ok = errors = 0
    by_method = {"GET": 0, "POST": 0, "PUT": 0}
    deadline = time.perf_counter() + duration
    n = 0
    while time.perf_counter() < deadline:
        n += 1
        roll = rnd.random()
        if roll < 0.6:
            method = "GET"
            path = rnd.choice(("/incidents?limit=25&statuses[]=triggered", f"/incidents/{rnd.choice(incidents)}",
                               "/users?limit=25", f"/services/{service['id']}"))
            body = None
        elif roll < 0.8:
            method = "POST"
            if n % 2:
                path = f"/incidents/{rnd.choice(incidents)}/notes"
                body = {"note": {"content": f"bench note {seed}-{n}"}}
            else:
                path = "/incidents"
                body = {"incident": {"type": "incident", "title": f"bench {seed}-{n}", "service": service}}
        else:
            method = "PUT"
            path = f"/incidents/{rnd.choice(incidents)}"
            body = {"incident": {"type": "incident_reference", "title": f"renamed {seed}-{n}",
                                 "urgency": rnd.choice(("high", "low"))}}
        payload = json.dumps(body).encode() if body is not None else None
        try:
            conn.request(method, path, body=payload, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            if resp.status >= 400:
                errors += 1
            else:
                ok += 1
                by_method[method] += 1
                if method == "POST" and path == "/incidents":
                    incidents.append(json.loads(data)["incident"]["id"])
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.close()
    out.put((ok, errors, by_method))


class _Fixed(http.server.BaseHTTPRequestHandler):
    """The baseline: a bare stdlib keep-alive server answering every request with one small,
    fixed JSON document, doing no PagerDuty work at all."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # as the sandbox does: no delayed-ACK stalls on keep-alive
    BODY = json.dumps({"incident": {"id": "PBASE01", "type": "incident"}}).encode()
    ANSWER = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(BODY)}\r\n\r\n"
              .encode() + BODY)

    def answer(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.wfile.write(self.ANSWER)  # one write, as the sandbox answers

    do_GET = do_POST = do_PUT = answer

    def log_message(self, *args):
        pass


class BareServer:
    """Same interface as the Sandbox for the load clients (info, seed_ids, context manager)."""

    def __enter__(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Fixed)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        port = self.server.server_address[1]
        self.info = {"api_url": f"http://127.0.0.1:{port}", "api_key": "k", "from_email": "a@example.com"}
        self.seed_ids = {"services": ["PBASE01"], "incidents": {"triggered": ["PBASE01"], "acknowledged": []}}
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def throughput(mode, clients, duration, server=Sandbox):
    with server() as sb:
        info, ids = sb.info, sb.seed_ids
        if mode == "processes":
            ctx = multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn")
            out = ctx.Queue()
            workers = [ctx.Process(target=_client, args=(info, ids, duration, i, out)) for i in range(clients)]
        else:
            import queue
            out = queue.Queue()
            workers = [threading.Thread(target=_client, args=(info, ids, duration, i, out)) for i in range(clients)]
        start = time.perf_counter()
        for w in workers:
            w.start()
        results = [out.get(timeout=duration + 60) for _ in workers]
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - start
    ok = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    by_method = {m: sum(r[2][m] for r in results) for m in ("GET", "POST", "PUT")}
    return {"mode": mode, "clients": clients, "duration_s": round(elapsed, 2), "requests": ok + errors,
            "errors": errors, "req_per_s": round((ok + errors) / elapsed, 1), "by_method": by_method}


def _page_all(info, limit=100):
    host, port = info["api_url"][len("http://"):].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {"Authorization": f"Token token={info['api_key']}"}
    seen, offset, pages = 0, 0, 0
    while True:
        conn.request("GET", f"/incidents?limit={limit}&offset={offset}&date_range=all", headers=headers)
        resp = conn.getresponse()
        body = json.loads(resp.read())
        if resp.status != 200:
            raise RuntimeError(f"page at offset {offset}: {resp.status} {body}")
        seen += len(body["incidents"])
        pages += 1
        if not body["more"]:
            break
        offset += limit
    conn.close()
    return seen, pages


def peak_rss_mb():
    """This interpreter's peak resident memory. VmHWM rather than ru_maxrss where possible: Linux carries
    ru_maxrss across fork+exec, so a spawned child would report its parent's peak."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scale(count=10000):
    with Sandbox() as sb:
        t0 = time.perf_counter()
        existing = len(sb.seed_ids["incidents"]["triggered"]) * 3
        sb.seed_incidents(count - existing)
        seeded_s = time.perf_counter() - t0
        rss_before = peak_rss_mb()
        t0 = time.perf_counter()
        seen, pages = _page_all(sb.info)
        paging_s = time.perf_counter() - t0
        rss_after = peak_rss_mb()
        tracemalloc.start()
        _page_all(sb.info)
        _current, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {"incidents": seen, "pages": pages, "seed_s": round(seeded_s, 2), "paging_s": round(paging_s, 2),
            "ms_per_page": round(1000 * paging_s / pages, 1), "peak_rss_mb_after_seed": round(rss_before, 1),
            "peak_rss_mb_after_paging": round(rss_after, 1),
            "tracemalloc_peak_mb_while_paging": round(traced_peak / 2 ** 20, 1)}


def _scale_child(count, out):
    out.put(scale(count))


def scale_in_fresh_process(count):
    """Measure memory in a freshly spawned interpreter, untouched by the throughput run."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    child = ctx.Process(target=_scale_child, args=(count, out))
    child.start()
    result = out.get(timeout=600)
    child.join()
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of load per mode (default 5)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--mode", choices=("processes", "threads", "both"), default="processes")
    parser.add_argument("--incidents", type=int, default=10000)
    parser.add_argument("--tls", action="store_true", help="also measure the sandbox over HTTPS (--tls)")
    args = parser.parse_args(argv)
    modes = ("processes", "threads") if args.mode == "both" else (args.mode,)
    baseline = throughput("processes", args.clients, args.duration, server=BareServer)
    report = {"cpus": os.cpu_count(), "python": sys.version.split()[0],
              "throughput": [throughput(m, args.clients, args.duration) for m in modes],
              "baseline_bare_server": baseline,
              "paging": scale_in_fresh_process(args.incidents)}
    report["ratio_to_bare_server"] = round(report["throughput"][0]["req_per_s"] / baseline["req_per_s"], 2)
    if args.tls:
        report["throughput_tls"] = throughput("processes", args.clients, args.duration,
                                              server=lambda: Sandbox(tls=True))
        report["ratio_tls_to_http"] = round(report["throughput_tls"]["req_per_s"]
                                            / report["throughput"][0]["req_per_s"], 2)
    print(json.dumps(report))
    print(f"baseline: a bare stdlib keep-alive server answering a fixed JSON: {baseline['req_per_s']} req/s "
          f"({baseline['clients']} client processes)")
    for t in report["throughput"]:
        print(f"throughput ({t['clients']} client {t['mode']}, {t['duration_s']} s): {t['req_per_s']} req/s, "
              f"{t['requests']} requests, {t['errors']} errors, mix {t['by_method']}")
    print(f"sandbox / bare server: {report['ratio_to_bare_server']} (target: at least 1,000 req/s on 2 cores)")
    if args.tls:
        t = report["throughput_tls"]
        print(f"over TLS ({t['clients']} client {t['mode']}): {t['req_per_s']} req/s, {t['errors']} errors; "
              f"TLS / HTTP: {report['ratio_tls_to_http']}")
    p = report["paging"]
    print(f"paging {p['incidents']} incidents in {p['pages']} pages of 100: {p['paging_s']} s "
          f"({p['ms_per_page']} ms/page); peak RSS {p['peak_rss_mb_after_paging']} MB "
          f"(after seeding {p['peak_rss_mb_after_seed']} MB); tracemalloc peak while paging "
          f"{p['tracemalloc_peak_mb_while_paging']} MB; seeding took {p['seed_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
