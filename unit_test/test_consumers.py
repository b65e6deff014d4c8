"""Every event reaches every consumer once: named consumers with a lease, readers that acknowledge,
the dispatcher's dead letters, `runbook serve` on a store that fails, and the webhook writer on a
full disk. Real processes, SIGKILL for crashes, a real `http` server and the sandbox."""

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests
from conftest import ROOT, run_command, sandbox_env
from runbook_support import write_runbook
from test_triggers import SECRET, Dispatcher, deliver, trigger_start, webhook_body

from pagerduty_plugin.state.inbox import WEBHOOK_SOURCE, Inbox
from pagerduty_plugin.state.runs import RunStore

QUICK_LEASE = {"PAGERDUTY_PLUGIN_LEASE_SECONDS": "2"}


def clean_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}
    env.update(extra or {})
    return env


def plugin(args, env=None, stdin=b"{}", stdout=subprocess.PIPE):
    process = subprocess.Popen([sys.executable, "-m", "pagerduty_plugin", *args], stdin=subprocess.PIPE,
                               stdout=stdout, stderr=subprocess.PIPE, env=clean_env(env), cwd=ROOT)
    process.stdin.write(stdin)
    process.stdin.close()
    process.stdin = None  # communicate() must not flush it again
    return process


class Lines:
    """A process's stream read in a thread, line by line."""

    def __init__(self, stream):
        self.lines = []
        self.thread = threading.Thread(target=self.read, args=(stream,), daemon=True)
        self.thread.start()

    def read(self, stream):
        for line in iter(stream.readline, b""):
            self.lines.append(line.decode())

    def wait_for(self, text, timeout=20):
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert time.monotonic() < deadline, f"never saw {text!r} in {self.lines}"
            time.sleep(0.05)

    def text(self):
        return "".join(self.lines)


def add_events(state, count, **fields):
    """count webhook events straight into the inbox (as `http` stores them): their ids."""
    inbox = Inbox(state)
    ids = []
    for _ in range(count):
        body = json.loads(webhook_body(**fields))
        inbox.add(WEBHOOK_SOURCE, body["event"]["id"], body)
        ids.append(body["event"]["id"])
    inbox.close()
    return ids


def position(state, consumer):
    inbox = Inbox(state)
    try:
        found = inbox.db.execute("SELECT seq FROM positions WHERE consumer = ?", (consumer,)).fetchone()
    finally:
        inbox.close()
    return found[0] if found else 0


def latest_runs(state):
    """The runs store's latest runs, read through a connection closed at once."""
    if not os.path.exists(os.path.join(state, "runs.sqlite")):
        return []
    store = RunStore(state)
    try:
        return store.latest(50)
    finally:
        store.close()


def event_ids(text):
    return [json.loads(line)["event"]["id"] for line in text.splitlines() if line.strip()]


@pytest.fixture
def state(tmp_path):
    return str(tmp_path / "state")


@pytest.fixture
def small_disk(tmp_path):
    """mount(size) -> a fresh tmpfs of that size (root only); remount(path, "ro"|"rw")."""
    mounted = []

    def mount(size="4m"):
        path = tmp_path / f"disk{len(mounted)}"
        path.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                              capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small file system here (needs root): {done.stderr.decode().strip()}")
        mounted.append(path)
        return str(path)

    yield mount
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(disk):
    """Fill the file system (a store on it can no longer write); the filler's path, to free it."""
    filler = os.path.join(disk, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            while True:
                try:
                    os.write(fd, b"x" * size)
                except OSError:
                    break
    finally:
        os.close(fd)
    return filler


# --- a consumer's name, its lease, where it starts -------------------------------------------


def test_two_trigger_processes_with_one_consumer_name_hand_each_event_over_once(state):
    first_ids = add_events(state, 10)
    args = ["trigger", "incident_event", "--consumer", "shared", "--replay", "--state", state]
    one, two = plugin(args), plugin(args)
    outs = [Lines(one.stdout), Lines(two.stdout)]
    errs = [Lines(one.stderr), Lines(two.stderr)]
    deadline = time.monotonic() + 20
    while sum(len(o.lines) for o in outs) < 10:
        assert time.monotonic() < deadline, [e.text() for e in errs]
        time.sleep(0.05)
    later_ids = add_events(state, 10)
    while sum(len(o.lines) for o in outs) < 20:
        assert time.monotonic() < deadline, [e.text() for e in errs]
        time.sleep(0.05)
    time.sleep(1.5)  # a moment for any extra
    for process in (one, two):
        process.send_signal(signal.SIGTERM)
    assert [process.wait(20) for process in (one, two)] == [0, 0]
    handed = [event_id for o in outs for event_id in event_ids(o.text())]
    assert sorted(handed) == sorted(first_ids + later_ids)  # every event once, in total
    waiting = [e for e in errs if "in use by" in e.text()]
    assert len(waiting) == 1 and "waiting" in waiting[0].text()  # the second said why it waits


def test_a_second_once_run_of_a_busy_consumer_refuses_and_a_killed_owner_is_taken_over(state):
    add_events(state, 3)
    holder = plugin(["trigger", "incident_event", "--consumer", "c", "--replay", "--state", state])
    out = Lines(holder.stdout)
    deadline = time.monotonic() + 20
    while len(out.lines) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    while position(state, "c") < 3:  # read out of the pipe: taken at the holder's next look
        assert time.monotonic() < deadline
        time.sleep(0.05)
    busy = run_command(["trigger", "incident_event", "--once", "--consumer", "c", "--state", state], "{}")
    assert busy.code == 1 and "in use by" in json.loads(busy.stdout)["error"]["cause"]
    holder.kill()  # SIGKILL: its lease is still in the store
    holder.wait(10)
    later = add_events(state, 2)
    after = run_command(["trigger", "incident_event", "--once", "--consumer", "c", "--state", state], "{}")
    assert after.code == 0 and event_ids(after.stdout) == later and "died" in after.stderr


def test_a_new_consumer_starts_at_the_newest_event_and_a_changed_input_replays_nothing(state):
    add_events(state, 10)
    fresh = run_command(["trigger", "incident_event", "--once", "--consumer", "fresh", "--state", state], "{}")
    assert fresh.code == 0 and fresh.stdout == "" and "starting after the newest event" in fresh.stderr
    replayed = run_command(["trigger", "incident_event", "--once", "--consumer", "old", "--replay", "--state", state],
                           "{}")
    assert len(event_ids(replayed.stdout)) == 10 and "replaying" in replayed.stderr
    # the same consumer with another input: its position stays, nothing already handed over comes back
    edited = run_command(["trigger", "incident_event", "--once", "--consumer", "old", "--state", state],
                         json.dumps({"event_types": ["incident.triggered"]}))
    assert edited.code == 0 and edited.stdout == "" and "resuming" in edited.stderr
    newer = add_events(state, 2)
    again = run_command(["trigger", "incident_event", "--once", "--consumer", "old", "--state", state],
                        json.dumps({"event_types": ["incident.triggered"]}))
    assert event_ids(again.stdout) == newer


# --- plain trigger: the reader acknowledges ---------------------------------------------------

READER = """
import os, sys
ack = open(sys.argv[1], "a")
for number, line in enumerate(sys.stdin, 1):
    ack.write(line)  # the event's line itself acknowledges it
    ack.flush()
    if number == int(sys.argv[2]):
        os.kill(os.getpid(), 9)  # dies mid-stream, the rest unread or read and not handled
"""


def test_a_reader_that_dies_mid_stream_gets_every_event_it_did_not_acknowledge_next_run(state, tmp_path):
    ids = add_events(state, 20)
    acks = str(tmp_path / "acks")
    reader = subprocess.Popen([sys.executable, "-c", READER, acks, "5"], stdin=subprocess.PIPE)
    trigger = plugin(["trigger", "incident_event", "--consumer", "r", "--replay", "--ack", acks, "--state", state],
                     stdout=reader.stdin)
    reader.stdin.close()
    assert reader.wait(20) == -signal.SIGKILL
    trigger.send_signal(signal.SIGTERM)
    trigger.wait(20)
    again = run_command(["trigger", "incident_event", "--once", "--consumer", "r", "--ack", acks, "--state", state],
                        "{}")
    assert again.code == 0 and event_ids(again.stdout) == ids[5:]
    # acknowledged after the run ended (a --once batch): the next run applies them first
    with open(acks, "a") as fh:
        fh.write("".join(f"{event_id}\n" for event_id in ids[5:15]))
    last = run_command(["trigger", "incident_event", "--once", "--consumer", "r", "--ack", acks, "--state", state],
                       "{}")
    assert event_ids(last.stdout) == ids[15:]


SLOW_READER = """
import os
lines = 0
while lines < 3:  # byte by byte, as a shell's `read` does: nothing read ahead
    lines += os.read(0, 1) == b"\\n"
os.kill(os.getpid(), 9)
"""


def test_without_ack_an_event_still_in_the_pipe_when_the_reader_dies_is_not_taken(state):
    ids = add_events(state, 20)
    reader = subprocess.Popen([sys.executable, "-c", SLOW_READER], stdin=subprocess.PIPE)
    trigger = plugin(["trigger", "incident_event", "--once", "--replay", "--state", state], stdout=reader.stdin)
    reader.stdin.close()
    assert reader.wait(20) == -signal.SIGKILL
    assert trigger.wait(20) == 1  # not a success: the reader went away with events unread
    again = run_command(["trigger", "incident_event", "--once", "--state", state], "{}")
    assert event_ids(again.stdout) == ids[3:]


def test_without_ack_a_reader_gone_is_an_error_not_a_success(state):
    add_events(state, 3)
    reader = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.close()"], stdin=subprocess.PIPE)
    trigger = plugin(["trigger", "incident_event", "--replay", "--state", state], stdout=reader.stdin)
    reader.stdin.close()
    reader.wait(10)
    assert trigger.wait(20) == 1
    assert b"handed over at the next run" in trigger.stderr.read()
    assert len(event_ids(run_command(["trigger", "incident_event", "--once", "--state", state], "{}").stdout)) == 3


# --- the dispatcher: permanent refusals to the dead letters --------------------------------------


class Refusing(Dispatcher):
    """Refuses (422, with a reason) every event whose id is in `refuse`."""

    def __init__(self, refuse):
        super().__init__()
        outer = self
        handler = self.server.RequestHandlerClass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            outer.attempts += 1
            refused = body["body"]["output"]["event"]["id"] in outer.refuse
            if not refused:
                outer.received.append(body)
            self.send_response(422 if refused else 200)
            reason = b'{"error": "no workflow takes this event"}' if refused else b""
            self.send_header("Content-Length", str(len(reason)))
            self.end_headers()
            self.wfile.write(reason)

        handler.do_POST = do_POST
        self.refuse = set(refuse)


def run_message(state, dispatcher, count, env=None):
    process = plugin(["run", "--state", state, "--replay"], env=env,
                     stdin=json.dumps(trigger_start("incident_event", {}, dispatcher.url)).encode())
    deadline = time.monotonic() + 20
    while len(dispatcher.received) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=20)
    return process.returncode, out, err


def test_two_trigger_starts_with_one_trigger_id_post_each_event_once(state):
    ids = add_events(state, 10)
    dispatcher = Dispatcher()
    message = json.dumps(trigger_start("incident_event", {}, dispatcher.url)).encode()
    try:
        one, two = (plugin(["run", "--state", state, "--replay"], stdin=message) for _ in range(2))
        deadline = time.monotonic() + 20
        while len(dispatcher.received) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        more = add_events(state, 10)
        while len(dispatcher.received) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.5)  # a moment for any extra
        for process in (one, two):
            process.send_signal(signal.SIGTERM)
        errors = [process.communicate(timeout=20)[1] for process in (one, two)]
    finally:
        dispatcher.close()
    posted = [p["body"]["output"]["event"]["id"] for p in dispatcher.received]
    assert sorted(posted) == sorted(ids + more)  # 20 posts for 20 events, not 40
    assert sum(b"in use by" in err for err in errors) == 1


def test_a_permanent_refusal_goes_to_the_dead_letters_and_the_stream_goes_on(state):
    ids = add_events(state, 5)
    dispatcher = Refusing(refuse=[ids[1]])
    try:
        code, out, err = run_message(state, dispatcher, 4)
        assert code == 0, err
        assert [p["body"]["output"]["event"]["id"] for p in dispatcher.received] == ids[:1] + ids[2:]
        assert dispatcher.attempts == 5  # the refusal was not retried
        letters = json.loads(run_command(["dead-letters", "list", "--state", state]).stdout)
        assert letters["count"] == 1 and letters["dead_letters"][0]["event_id"] == ids[1]
        assert "422" in letters["dead_letters"][0]["reason"] and "no workflow" in letters["dead_letters"][0]["reason"]
        assert letters["dead_letters"][0]["consumer"] == "trigger:t-1"
        # fixed on the platform's side, retried by the operator: delivered, and gone from the list
        dispatcher.refuse.clear()
        assert json.loads(run_command(["dead-letters", "retry", "--state", state]).stdout) == {"retrying": 1}
        code, out, err = run_message(state, dispatcher, 5)
        assert [p["body"]["output"]["event"]["id"] for p in dispatcher.received][-1] == ids[1]
        assert len(dispatcher.received) == 5
        assert json.loads(run_command(["dead-letters", "list", "--state", state]).stdout)["count"] == 0
    finally:
        dispatcher.close()


# --- runbook serve: claims that cannot be recorded, runs whose process died -----------------------

BOOK = """
    name: on-event
    on:
      trigger: incident_event
      event_types: [incident.triggered]
    steps:
      - id: incident
        action: get_incident
        input: {incident_id: "${{ event.data.id }}"}
    """


def test_the_runs_store_unwritable_during_serve_runs_every_event_once_when_writable_again(
        tmp_path, sandbox, small_disk):
    """The stores are open for writing, so their file system cannot be remounted read-only (EBUSY):
    it is filled instead, which fails every write the same way (SQLITE_FULL instead of READONLY)."""
    disk = small_disk("16m")
    state = os.path.join(disk, "state")
    books = tmp_path / "books"
    books.mkdir()
    write_runbook(books, BOOK)
    incident = sandbox.seed_ids["incidents"]["triggered"][0]
    serve = plugin(["runbook", "serve", str(books), "--state", state], env=sandbox_env(sandbox))
    err = Lines(serve.stderr)
    out = Lines(serve.stdout)
    try:
        err.wait_for("starting after the newest event")
        serve.send_signal(signal.SIGSTOP)
        ids = add_events(state, 5, incident_id=incident)
        filler = fill(disk)
        serve.send_signal(signal.SIGCONT)
        err.wait_for("tried again")  # the claim (or the inbox) could not be written: nothing taken
        assert out.lines == []
        os.unlink(filler)
        deadline = time.monotonic() + 30
        while len(out.lines) < 5:
            assert time.monotonic() < deadline and serve.poll() is None, err.text()
            time.sleep(0.1)
        time.sleep(1.5)  # a moment for any extra
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(20)
    runs = [json.loads(line) for line in out.lines]
    assert sorted(run["event"] for run in runs) == sorted(ids) and {run["status"] for run in runs} == {"ok"}
    assert sorted(run["event_id"] for run in latest_runs(state)) == sorted(ids)


def test_a_run_whose_process_died_is_listed_as_abandoned_then_taken_over(tmp_path, sandbox):
    incident = sandbox.seed_ids["incidents"]["triggered"][0]
    sandbox.add_fault(method="GET", path=f"/incidents/{incident}", delay=30, count=1)  # the step hangs
    books = tmp_path / "books"
    books.mkdir()
    write_runbook(books, BOOK)
    state = str(tmp_path / "state")
    serve = plugin(["runbook", "serve", str(books), "--state", state], env={**sandbox_env(sandbox), **QUICK_LEASE})
    err, out = Lines(serve.stderr), Lines(serve.stdout)
    try:
        err.wait_for("starting after the newest event")
        [event_id] = add_events(state, 1, incident_id=incident)
        deadline = time.monotonic() + 20
        while not latest_runs(state):
            assert time.monotonic() < deadline, (out.text(), event_id, os.listdir(state), latest_runs(state))
            time.sleep(0.05)
        time.sleep(1.5)  # beating while the step hangs: still running
        runs = json.loads(run_command(["runbook", "runs", "--state", state], env=QUICK_LEASE).stdout)["runs"]
        assert runs[0]["status"] == "running"
    finally:
        serve.kill()
        serve.wait(10)
    time.sleep(2.5)  # no more heartbeat: a lease later it is abandoned
    runs = json.loads(run_command(["runbook", "runs", "--state", state], env=QUICK_LEASE).stdout)["runs"]
    assert runs[0]["status"] == "abandoned" and runs[0]["owner"].split(":")[1] == str(serve.pid)
    again = run_command(["runbook", "serve", str(books), "--once", "--state", state],
                        env={**sandbox_env(sandbox), **QUICK_LEASE})
    assert again.code == 0 and "abandoned" in again.stderr and "taking over run" in again.stderr
    [line] = [json.loads(text) for text in again.stdout.splitlines()]  # run again from its first step, once
    assert line["run_id"] == runs[0]["id"] and line["event"] == event_id and line["status"] == "ok"
    runs = json.loads(run_command(["runbook", "runs", "--state", state], env=QUICK_LEASE).stdout)["runs"]
    assert [run["status"] for run in runs] == ["ok"]
    status = json.loads(run_command(["state", "status", "--state", state]).stdout)
    takeovers = status["runs"]["takeovers"]
    assert takeovers["count"] == 1 and takeovers["latest"][0]["from"].split(":")[1] == str(serve.pid)


# --- the webhook writer on a full disk ------------------------------------------------------------


def worker_fds(server, name):
    """How many descriptors the server's worker processes hold open on files named name*."""
    count = 0
    children = subprocess.run(["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True).stdout.split()
    for pid in children:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.path.basename(os.readlink(f"/proc/{pid}/fd/{fd}")).startswith(name):
                    count += 1
        except OSError:
            continue
    return count


def test_after_a_full_disk_the_webhook_writer_answers_202_again_and_leaks_nothing(plugin_server, small_disk):
    disk = small_disk("4m")
    state = os.path.join(disk, "state")
    server = plugin_server(["--state", state, "--workers", "1"], env={"PAGERDUTY_WEBHOOK_SECRETS": SECRET})
    assert deliver(server, webhook_body()).status_code == 202
    opened = worker_fds(server, "inbox.sqlite")
    filler = fill(disk)
    big = {"note": "y" * 200_000}
    answers = [deliver(server, webhook_body_with(big)).status_code for _ in range(4)]
    assert set(answers) == {503}
    status = requests.get(server.url + "/api/v1/status", timeout=10).json()
    assert status["webhooks"].startswith("failing: ")  # the status says it while it cannot store
    os.unlink(filler)
    after = [deliver(server, webhook_body_with(big)).status_code for _ in range(3)]
    assert after == [202, 202, 202]
    assert worker_fds(server, "inbox.sqlite") <= opened  # the failed batches' descriptors were closed
    assert requests.get(server.url + "/api/v1/status", timeout=10).json() == {"status": "Ready"}


def webhook_body_with(extra):
    body = json.loads(webhook_body())
    body["event"]["data"].update(extra)
    body["event"]["id"] = uuid.uuid4().hex
    return json.dumps(body).encode()


def test_the_inbox_lease_uses_the_store_clock(state):
    """A lease's expiry is computed in SQL by the store, so two hosts' clocks are never compared."""
    inbox = Inbox(state)
    assert inbox.acquire("x", "a", 30) is None
    held = inbox.acquire("x", "b", 30)
    assert held["owner"] == "a" and 25 < held["expires_in"] <= 30
    assert inbox.acquire("x", "b", 30, dead="a") is None  # a holder known dead is taken over
    inbox.release("x", "b")
    assert inbox.acquire("x", "a", 30) is None
    inbox.close()


# --- polling: PagerDuty's clock, not this host's ---------------------------------------------------

AHEAD = """
import sys
from datetime import datetime, timedelta

from pagerduty_plugin import cli
from pagerduty_plugin.triggers import polling


class Ahead(datetime):  # this host's clock, 10 minutes ahead of PagerDuty's
    @classmethod
    def now(cls, tz=None):
        return datetime.now(tz) + timedelta(minutes=10)


polling.datetime = Ahead
sys.exit(cli.main(sys.argv[1:]))
"""


def test_a_host_clock_ahead_of_pagerduty_skips_no_incident(sandbox, state):
    from test_triggers import alerts

    env = clean_env(sandbox_env(sandbox))

    def poll():
        done = subprocess.run([sys.executable, "-c", AHEAD, "trigger", "new_incident", "--once", "--state", state],
                              input=b"{}", capture_output=True, env=env, cwd=ROOT, timeout=60)
        assert done.returncode == 0, done.stderr
        return [json.loads(line)["event"]["data"]["id"] for line in done.stdout.splitlines()]

    poll()  # the poller's first window, and its cursor
    created = alerts(sandbox, 2)
    assert set(poll()) == created


# --- bounds the operator sets ------------------------------------------------------------------


def test_retention_is_the_operators_and_logs_stay_bounded(state):
    from pagerduty_plugin.logs import MAX_LINES, StepLog

    add_events(state, 3)
    time.sleep(1.2)
    kept = run_command(["trigger", "incident_event", "--once", "--replay", "--consumer", "a", "--retention-days",
                        "0.00001", "--state", state], "{}")  # about a second
    assert kept.code == 0 and kept.stdout == "" and Inbox(state).count() == 0
    wrong = run_command(["trigger", "incident_event", "--once", "--retention-days", "0", "--state", state], "{}")
    assert wrong.code == 2 and "retention" in json.loads(wrong.stdout)["error"]["cause"]
    log = StepLog()
    for number in range(MAX_LINES + 50):
        log.emit(logging.LogRecord("x", 20, "", 0, f"line {number}", None, None))
    assert len(log.lines) == MAX_LINES and log.lines[-1].endswith(f"line {MAX_LINES + 49}")


def test_a_second_connection_in_one_process_keeps_the_first_ones_writes_visible(state):
    """Opening a store again in the same process (a heartbeat's own connection) must not drop the
    POSIX locks of the first: another process closing its connection would delete the WAL under it."""
    first = RunStore(state)
    second = RunStore(state)
    read = ("import sys; from pagerduty_plugin.state.runs import RunStore; s = RunStore(sys.argv[1]); "
            "print(len(s.latest(50))); s.close()")

    def count_elsewhere():
        done = subprocess.run([sys.executable, "-c", read, state], capture_output=True, text=True, cwd=ROOT)
        return int(done.stdout)

    assert count_elsewhere() == 0  # another process opens and closes the store
    first.claim("book", "event-1")
    assert count_elsewhere() == 1
    first.close()
    second.close()


def test_a_consumer_of_an_earlier_version_resumes_where_it_stopped(state):
    """Before consumers were named, a consumer was its trigger and a digest of its input: the first
    named run of that trigger with that input adopts that position instead of skipping to the newest."""
    from pagerduty_plugin import spec as speclib
    from pagerduty_plugin import validate
    from pagerduty_plugin.trigger_loop import digest

    spec = speclib.load()
    values = validate.check(spec.trigger_input_schema("incident_event"), {}, "input", "incident_event")
    taken = add_events(state, 3)
    inbox = Inbox(state)
    inbox.taken(f"incident_event:{digest(values)}", 3)  # as the earlier version recorded it
    inbox.close()
    waiting = add_events(state, 2)
    first = run_command(["trigger", "incident_event", "--once", "--state", state], "{}")
    assert first.code == 0 and event_ids(first.stdout) == waiting and "as consumers were named before" in first.stderr
    assert not set(taken) & set(event_ids(first.stdout))


def test_incident_changed_stores_a_window_of_several_pages_oldest_first(sandbox, state):
    """Log entries come newest first, page by page: staged on disk, stored oldest first at the end."""
    from datetime import datetime, timedelta, timezone

    made = set(sandbox.seed_incidents(150))  # one a minute over the last 150 minutes: 2+ pages of entries
    since = (datetime.now(timezone.utc) - timedelta(hours=3)).isoformat(timespec="seconds")
    done = run_command(["trigger", "incident_changed", "--once", "--replay", "--state", state],
                       json.dumps({"since": since, "event_types": ["incident.triggered"]}), env=sandbox_env(sandbox))
    assert done.code == 0, done.stderr
    events = [json.loads(line)["event"] for line in done.stdout.splitlines()]
    mine = [e for e in events if e["data"]["id"] in made]
    assert sorted(e["data"]["id"] for e in mine) == sorted(made)  # each once
    times = [e["occurred_at"] for e in events]
    assert times == sorted(times)  # oldest first across the pages
    assert Inbox(state).db.execute("SELECT count(*) FROM staged").fetchone()[0] == 0


@pytest.mark.slow
def test_past_the_10000_offset_cap_the_next_window_overlaps_and_nothing_is_skipped(sandbox, state):
    from datetime import datetime, timedelta, timezone

    made = set(sandbox.seed_incidents(10050))  # one a minute: 10,050 minutes, past PagerDuty's 10,000 offsets
    since = (datetime.now(timezone.utc) - timedelta(days=8)).isoformat(timespec="seconds")
    done = run_command(["trigger", "new_incident", "--once", "--replay", "--state", state], json.dumps({"since": since}),
                       env=sandbox_env(sandbox), timeout=300)
    assert done.code == 0, done.stderr
    seen = [json.loads(line)["event"]["data"]["id"] for line in done.stdout.splitlines()]
    assert len(seen) == len(set(seen)) and made <= set(seen)
