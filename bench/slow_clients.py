"""Slow clients against `pagerduty-plugin http` (a benchmark, not a test).

    .venv/bin/python bench/slow_clients.py [--slow 64] [--request-timeout 5]

64 connections (from 127.0.0.2) send a request head one byte a second. Once each has sent a byte or
two, a normal request (`GET /api/v1/actions` with the token, from 127.0.0.1) is timed; then the time
until the server has closed every slow connection. Two servers, same flags: ours (server/worker.py)
and the same app under gunicorn's plain gthread worker (the previous serving model), where the slow
connections take every thread: its request is given up after --give-up seconds. Prints one JSON line.
Targets: the request answered within 1 s; the slow connections closed within --request-timeout (+1 s
for the sweep, which runs once a second).
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "bench-token-" + "x" * 24
PLAIN_GTHREAD = ("import sys; from gunicorn.workers.gthread import ThreadWorker; "
                 "from pagerduty_plugin.server import command; command.GuardedWorker = ThreadWorker; "
                 "sys.exit(command.main(sys.argv[1:], sys.stdout, sys.stderr))")


def start(plain, token_file, request_timeout):
    command = [sys.executable, "-c", PLAIN_GTHREAD] if plain else [sys.executable, "-m", "pagerduty_plugin", "http"]
    process = subprocess.Popen([*command, "--port", "0", "--token-file", token_file,
                                "--request-timeout", str(request_timeout)], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    url = json.loads(process.stdout.readline())["url"]
    host, port = url[len("http://"):].rsplit(":", 1)
    return process, (host, int(port))


def closed(sock):
    try:
        while True:
            if not sock.recv(4096):
                return True
    except socket.timeout:
        return False
    except OSError:
        return True


def normal_request(address, give_up):
    started = time.monotonic()
    try:
        sock = socket.create_connection(address, timeout=give_up)
        sock.sendall(f"GET /api/v1/actions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                     "Connection: close\r\n\r\n".encode())
        answer = sock.recv(64)
        sock.close()
    except OSError:
        return None
    return round(time.monotonic() - started, 3) if answer.startswith(b"HTTP/1.1 200") else None


def measure(plain, slow, request_timeout, give_up, token_file):
    process, address = start(plain, token_file, request_timeout)
    socks = []
    for _ in range(slow):
        sock = socket.socket()
        sock.bind(("127.0.0.2", 0))
        sock.connect(address)
        sock.settimeout(0.01)
        sock.sendall(b"G")
        socks.append(sock)
    stop = threading.Event()

    def trickle():
        rest = b"ET /api/v1/actions HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 200
        for byte in rest:
            if stop.wait(1.0):
                return
            for sock in socks:
                try:
                    sock.send(bytes([byte]))
                except OSError:
                    pass

    threading.Thread(target=trickle, daemon=True).start()
    opened = time.monotonic()
    time.sleep(1.5)
    answered = normal_request(address, give_up)
    open_socks = list(socks)
    while open_socks and time.monotonic() - opened < give_up + request_timeout:
        open_socks = [sock for sock in open_socks if not closed(sock)]
        time.sleep(0.05)
    all_closed = round(time.monotonic() - opened, 1) if not open_socks else None
    stop.set()
    for sock in socks:
        sock.close()
    process.terminate()
    process.wait(30)
    return {"answered_s": answered, "slow_closed_after_s": all_closed, "still_open": len(open_socks)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slow", type=int, default=64)
    parser.add_argument("--request-timeout", type=float, default=5.0)
    parser.add_argument("--give-up", type=float, default=15.0, help="seconds to wait for an answer or a close")
    args = parser.parse_args()
    with tempfile.NamedTemporaryFile("w", suffix=".token") as token:
        token.write(TOKEN)
        token.flush()
        os.chmod(token.name, 0o600)
        report = {"bench": "slow_clients", "slow": args.slow, "request_timeout": args.request_timeout,
                  "ours": measure(False, args.slow, args.request_timeout, args.give_up, token.name),
                  "plain_gthread": measure(True, args.slow, args.request_timeout, args.give_up, token.name)}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
