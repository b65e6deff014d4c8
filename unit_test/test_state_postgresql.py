"""Every durable store in one PostgreSQL database (`--state postgresql://…`): the inbox behind a real
`http` server and a poller, runbook runs shared by two `runbook serve` processes with a SIGKILLed
owner taken over, migrations applied once by processes starting together, retention that counts
what it drops untaken, a password never printed, and a store that reconnects after the server
comes back. A real PostgreSQL (unit_test/postgres_server.py), real processes."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid

import pytest
import requests
from conftest import ROOT, run_command, sandbox_env
from outbox_support import postgres
from test_consumers import QUICK_LEASE, Lines, add_events, plugin
from test_triggers import SECRET, alerts, deliver, webhook_body

from pagerduty_plugin.errors import PluginError
from pagerduty_plugin.state.inbox import Inbox
from pagerduty_plugin.state.runs import RunStore


@pytest.fixture
def database():
    return postgres().fresh_database("s" + uuid.uuid4().hex[:12])


def lines_of(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# --- the inbox: de-duplication through the webhook server, a poller's cursor ------------------------


def test_webhooks_received_by_http_are_stored_once_in_postgresql_and_handed_over(plugin_server, database):
    server = plugin_server(["--state", database], env={"PAGERDUTY_WEBHOOK_SECRETS": SECRET})
    first, second = webhook_body(), webhook_body()
    same_event_id = json.loads(first)["event"]["id"]
    answers = [deliver(server, first, webhook_id="w1"), deliver(server, first, webhook_id="w1"),  # a redelivery
               deliver(server, second, webhook_id="w2"),
               deliver(server, webhook_body(event_id=same_event_id), webhook_id="w3")]  # a second subscription
    assert [answer.status_code for answer in answers] == [202] * 4
    assert [answer.json()["duplicate"] for answer in answers] == [False, True, False, True]
    taken = run_command(["trigger", "incident_event", "--once", "--replay", "--consumer", "c", "--state", database])
    assert taken.code == 0, taken.stderr
    assert [line["event"]["id"] for line in lines_of(taken.stdout)] == [same_event_id, json.loads(second)["event"]["id"]]
    again = run_command(["trigger", "incident_event", "--once", "--consumer", "c"], env={"PAGERDUTY_STATE": database})
    assert again.code == 0 and again.stdout == ""  # its position is in the database
    status = json.loads(run_command(["state", "status", "--state", database]).stdout)
    assert status["inbox"]["events"] == 2 and status["inbox"]["consumers"] == [
        {"consumer": "c", "position": status["inbox"]["consumers"][0]["position"], "backlog": 0}]


def test_a_poller_resumes_from_its_cursor_in_postgresql(sandbox, database):
    env = {**sandbox_env(sandbox), "PAGERDUTY_STATE": database}

    def poll():
        done = run_command(["trigger", "new_incident", "--once"], env=env)
        assert done.code == 0, done.stderr
        return [line["event"]["data"]["id"] for line in lines_of(done.stdout)]

    poll()  # the poller's first window, and its cursor
    created = alerts(sandbox, 2)
    assert set(poll()) == created
    assert poll() == []  # polled again over the overlap: nothing twice


# --- runbook runs: two serve processes, a SIGKILLed owner --------------------------------------------


def test_two_serve_processes_run_each_event_once_and_a_killed_owners_run_is_taken_over_after_its_lease(
        tmp_path, sandbox, database):
    books = tmp_path / "books"
    books.mkdir()
    shutil.copy(os.path.join(ROOT, "examples", "fleet", "note-once.yaml"), books)  # idempotent steps: one note per event
    incident = sandbox.seed_ids["incidents"]["triggered"][0]
    hanging = sandbox.seed_ids["incidents"]["triggered"][1]
    env = {**sandbox_env(sandbox), **QUICK_LEASE, "PAGERDUTY_STATE": database, "PAGERDUTY_TIMEOUT": "60",
           "PAGERDUTY_MAX_RETRIES": "0"}  # the hanging step waits for its answer (30 s), not for a retry
    serves = {name: plugin(["runbook", "serve", str(books), "--consumer", name], env=env) for name in ("a", "b")}
    outs = {name: Lines(process.stdout) for name, process in serves.items()}
    errs = {name: Lines(process.stderr) for name, process in serves.items()}
    store = RunStore(database)
    try:
        for err in errs.values():
            err.wait_for("starting after the newest event")
        sandbox.add_fault(method="GET", path=f"/incidents/{hanging}/notes", delay=30, count=1)  # its first run hangs
        [stuck] = add_events(database, 1, incident_id=hanging)
        ids = add_events(database, 8, incident_id=incident)
        run = wait_for(lambda: store.for_event("note-once", stuck))
        owner = next(name for name, process in serves.items() if run["owner"].split(":")[1] == str(process.pid))
        wait_for(lambda: sum(len(out.lines) for out in outs.values()) >= 8)
        time.sleep(3 * 2.0)  # three leases: its owner lives and beats, so nobody takes the run over
        assert store.for_event("note-once", stuck)["owner"] == run["owner"]
        assert store.status()["takeovers"]["count"] == 0
        serves[owner].kill()
        serves[owner].wait(10)
        survivor = "b" if owner == "a" else "a"
        errs[survivor].wait_for("taking over run", timeout=30)
        wait_for(lambda: store.for_event("note-once", stuck)["status"] == "ok")
    finally:
        for process in serves.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(20)
    printed = [json.loads(line) for out in outs.values() for line in out.lines]
    assert sorted(line["event"] for line in printed) == sorted(ids + [stuck])  # each (runbook, event) once
    runs = store.latest(50)
    assert sorted(found["event_id"] for found in runs) == sorted(ids + [stuck])
    assert {found["status"] for found in runs} == {"ok"}
    takeovers = store.status()["takeovers"]
    assert takeovers["count"] == 1 and takeovers["latest"][0]["from"] == run["owner"]
    store.close()
    notes = notes_of(sandbox, incident) + notes_of(sandbox, hanging)
    assert sorted(note.rsplit(" ", 1)[1] for note in notes if "Seen by the fleet" in note) == sorted(ids + [stuck])


def notes_of(sandbox, incident):
    answer = requests.get(f"{sandbox.info['api_url']}/incidents/{incident}/notes", timeout=10,
                          headers={"Authorization": f"Token token={sandbox.info['api_key']}"})
    return [note["content"] for note in answer.json()["notes"]]


def wait_for(condition, timeout=45):
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.1)


# --- migrations --------------------------------------------------------------------------------


def test_three_processes_starting_together_apply_each_migration_once(database):
    command = [sys.executable, "-m", "pagerduty_plugin", "state", "migrate", "--state", database]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
                 for _ in range(3)]
    answers = [json.loads(process.communicate(timeout=60)[0]) for process in processes]
    for store, applied in (("inbox", [1, 2, 3, 4]), ("runs", [1, 2])):
        assert sorted(answer[store]["applied"] for answer in answers) == [[], [], applied]
        assert {answer[store]["version"] for answer in answers} == {len(applied)}


def test_state_migrate_upgrades_an_older_postgresql_schema_and_keeps_its_events(database):
    from pagerduty_plugin.state import pg
    from pagerduty_plugin.state.inbox_pg import PG_MIGRATIONS

    older = pg.Database(database, "inbox")
    assert older.migrate("inbox", PG_MIGRATIONS[:1]) == [1]
    with older.transaction({}) as run:
        run.execute("INSERT INTO inbox_events (source, key, event_id, event_type, received_at, body) "
                    "VALUES ('webhook', 'k', 'e', 'incident.triggered', 0, '{}')", {})
    older.close()
    done = run_command(["state", "migrate", "--state", database])
    assert done.code == 0 and json.loads(done.stdout)["inbox"] == {"applied": [2, 3, 4], "version": 4}
    assert json.loads(done.stdout)["runs"] == {"applied": [1, 2], "version": 2}
    assert json.loads(run_command(["state", "migrate", "--state", database]).stdout)["inbox"]["applied"] == []
    assert Inbox(database).count() == 1


def test_state_status_is_a_report_that_creates_and_migrates_nothing(database, tmp_path):
    """It created the directory (a typo) and its stores, and applied the schema to a fresh database."""
    import psycopg

    def tables():
        with psycopg.connect(database) as db:
            return db.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]

    typo = tmp_path / "typo"
    for state in (str(typo), database):
        done = run_command(["state", "status", "--state", state])
        report = json.loads(done.stdout)
        assert done.code == 0 and "state migrate" in report["next_step"], done.stdout + done.stderr
        assert report["inbox"] == {"schema_version": 0, "schema_latest": 4}
        assert report["runs"] == {"schema_version": 0, "schema_latest": 2}
        assert report.get("exists", True) is (state == database)
    assert not typo.exists() and tables() == 0
    assert run_command(["state", "migrate", "--state", database]).code == 0
    created = tables()
    with psycopg.connect(database) as db:
        db.execute("UPDATE schema_version SET version = 1 WHERE store = 'inbox'")  # as a newer release finds it
    report = json.loads(run_command(["state", "status", "--state", database]).stdout)
    assert report["inbox"] == {"schema_version": 1, "schema_latest": 4} and "next_step" in report
    assert report["runs"]["schema_version"] == 2 and "runs" in report["runs"]  # a store at its version: counted
    assert tables() == created and json.loads(run_command(["state", "status", "--state", database]).stdout)[
        "inbox"]["schema_version"] == 1  # status applied nothing


def test_state_migrate_upgrades_a_state_directory_made_before_versions(tmp_path):
    from pagerduty_plugin.state.inbox import SCHEMA

    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    db = sqlite3.connect(str(state / "inbox.sqlite"))
    db.executescript(SCHEMA)
    db.execute("INSERT INTO events (source, key, event_id, event_type, received_at, body) "
               "VALUES ('webhook', 'k', 'e', 'incident.triggered', 0, '{}')")
    db.commit()
    db.close()
    os.chmod(state / "inbox.sqlite", 0o600)
    done = json.loads(run_command(["state", "migrate", "--state", str(state)]).stdout)
    assert done["inbox"] == {"applied": [1, 2, 3, 4], "version": 4} and Inbox(str(state)).count() == 1
    status = json.loads(run_command(["state", "status", "--state", str(state)]).stdout)
    assert (status["inbox"]["schema_version"], status["runs"]["schema_version"]) == (4, 2)


# --- retention -----------------------------------------------------------------------------------


def aged(inbox, days):
    """Every stored event made `days` older (as if received then)."""
    if hasattr(inbox, "database"):
        with inbox.database.transaction({}) as run:
            run.execute("UPDATE inbox_events SET received_at = received_at - %(s)s", {"s": days * 86400})
    else:
        inbox.db.execute("UPDATE events SET received_at = received_at - ?", (days * 86400,))


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_retention_keeps_what_a_consumer_has_not_taken_until_the_age_then_counts_what_it_drops(kind, tmp_path):
    state = str(tmp_path / "state") if kind == "sqlite" else postgres().fresh_database("r" + uuid.uuid4().hex[:12])
    inbox = Inbox(state)
    inbox.begin("up", sources=["webhook"])
    inbox.begin("down", sources=["webhook"])  # a consumer that is down: it takes nothing for a while
    inbox.begin("poller", sources=["new_incident:x"])  # reads another source: never waited for, nor counted
    add_events(state, 3)  # seq 1 to 3
    inbox.taken("up", 3)
    aged(inbox, 3)  # past the de-duplication window (2 days), within the retention (7)
    assert inbox.purge(7) == {} and inbox.count() == 3  # "down" has not taken them: kept
    inbox.taken("down", 3)
    add_events(state, 2)  # seq 4 and 5: "up" takes them, "down" is down again
    inbox.taken("up", 5)
    assert inbox.purge(7) == {} and inbox.count() == 2  # the three every consumer had taken are gone
    assert [(found["consumer"], found["backlog"]) for found in inbox.status()["consumers"]] == [
        ("down", 2), ("poller", 0), ("up", 0)]
    aged(inbox, 8)  # now past the retention
    assert inbox.purge(7) == {"down": 2} and inbox.count() == 0
    status = json.loads(run_command(["state", "status", "--state", state]).stdout)["inbox"]
    assert {name: found["events"] for name, found in status["dropped_untaken"].items()} == {"down": 2}
    inbox.close()
    runs = RunStore(state)
    finished = runs.claim("book", "e1", "me")
    runs.finish(finished, {"status": "ok"})
    runs.claim("book", "e2", "me")  # still running: never purged
    assert runs.purge(-1) == {"finished runs": 1} and [run["event_id"] for run in runs.latest()] == ["e2"]
    assert runs.status()["purged"]["finished runs"]["runs"] == 1
    runs.close()


@pytest.mark.any_sandbox
def test_a_role_with_only_dml_rights_works_on_a_migrated_database_and_is_told_who_migrates(database, sandbox,
                                                                                           tmp_path):
    """The fleet's hosts run as a role without CREATE: opening a migrated database takes no lock and runs
    no DDL; a schema left behind is an error naming `state migrate` by the owner."""
    import psycopg

    assert run_command(["state", "migrate", "--state", database]).code == 0
    role = "dml_" + uuid.uuid4().hex[:8]
    with psycopg.connect(database, autocommit=True) as owner:
        owner.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")  # as PostgreSQL 15+ has it by default
        owner.execute(f"CREATE ROLE {role} LOGIN")
        owner.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
        owner.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}")
    host = database.replace("postgres@", f"{role}@")
    books = tmp_path / "books"
    books.mkdir()
    shutil.copy(os.path.join(ROOT, "examples", "fleet", "note-once.yaml"), books)
    env = {**sandbox_env(sandbox), "PAGERDUTY_OUTBOX": "sqlite://"}
    for command in (["trigger", "incident_event", "--once"], ["state", "status"],
                    ["runbook", "serve", str(books), "--once"], ["outbox", "status"]):
        done = run_command([*command, "--state", host] if command[0] != "outbox" else command,
                           env={**env, "PAGERDUTY_STATE": host})
        assert done.code == 0, (command, done.stdout, done.stderr)
    with psycopg.connect(database, autocommit=True) as owner:
        owner.execute("UPDATE schema_version SET version = version - 1 WHERE store = 'inbox'")  # a newer release
    behind = run_command(["trigger", "incident_event", "--once", "--state", host], env=env)
    cause = json.loads(behind.stdout)["error"]["cause"] + json.loads(behind.stdout)["error"]["assistance"]
    assert behind.code == 1 and "schema version 3 of 4" in cause and "state migrate" in cause, behind.stdout
    assert "Traceback" not in behind.stderr


# --- secrets and outages ---------------------------------------------------------------------------


def test_a_password_in_the_state_url_is_never_printed(database, sandbox):
    canary = "canary-pw-" + uuid.uuid4().hex[:8]
    live = database.replace("postgres@", f"postgres:{canary}@")  # trust authentication: accepted, ignored
    down = f"postgresql://postgres:{canary}@127.0.0.1:1/nothing"
    for url in (live, down):
        for command in (["state", "migrate"], ["state", "status"], ["runbook", "runs"], ["dead-letters", "list"],
                        ["trigger", "incident_event", "--once", "--debug"]):
            done = run_command([*command, "--state", url], env=sandbox_env(sandbox))
            assert canary not in done.stdout + done.stderr, command
            assert "Traceback" not in done.stderr
            assert done.code == (0 if url == live else 1), (command, done.stdout, done.stderr)
            if url == down:
                assert "postgresql://postgres:********@" in json.loads(done.stdout)["error"]["cause"]


def secret_urls(url, canary):
    """(accepted, refused): the URL with the canary in every place libpq reads a secret from, as written
    and percent-encoded ('C' is %43; trust authentication accepts and ignores them), and under a key
    libpq refuses (its keys are case-sensitive; the value is still the user's password)."""
    encoded = "%43" + canary[1:]
    accepted = (url.replace("postgres@", f"postgres:{encoded}1@") + f"?password={canary}2&application_name=x"
                f"&sslpassword={canary}3&pass%77ord={encoded}4")
    return accepted, f"{url}?PASSWORD={canary}5"


@pytest.mark.any_sandbox
def test_no_form_of_a_password_in_a_database_url_is_ever_printed(database, sandbox, plugin_server, tmp_path):
    canary = "Canary" + uuid.uuid4().hex[:8]
    books = tmp_path / "books"
    books.mkdir()
    shutil.copy(os.path.join(ROOT, "examples", "fleet", "note-once.yaml"), books)
    commands = (["state", "migrate"], ["state", "status"], ["outbox", "status"],
                ["runbook", "serve", str(books), "--once"], ["trigger", "incident_event", "--once", "--debug"])
    for url in (database, "postgresql://postgres@127.0.0.1:1/nothing"):
        for secret_url in secret_urls(url, canary):
            ok = url == database and "PASSWORD" not in secret_url
            runs = [(command, {"PAGERDUTY_STATE": secret_url, "PAGERDUTY_OUTBOX": "sqlite://"}) for command in commands]
            runs.append((["outbox", "status"], {"PAGERDUTY_OUTBOX": secret_url}))
            runs.append((["state", "status", "--state", secret_url], {}))  # the flag as well as the variable
            runs.append((["run", "send_trigger_event"], {"PAGERDUTY_OUTBOX": secret_url}))  # a step's outbox
            for command, env in runs:
                stdin = b'{"description": "disk full"}' if command[0] == "run" else b""
                done = run_command(command, stdin, env={**sandbox_env(sandbox), **env})
                shown = done.stdout + done.stderr
                assert canary[1:] not in shown, (command, secret_url, shown)
                assert "Traceback" not in done.stderr and "Internal error" not in done.stdout, (command, shown)
                assert done.code == (0 if ok else 1), (command, secret_url, shown)
                if command[:2] == ["state", "status"] and ok:
                    assert json.loads(done.stdout)["state"].count("********") == 4, shown
        http = plugin_server(["--state", secret_urls(url, canary)[0], "--debug"],
                             env={**sandbox_env(sandbox), "PAGERDUTY_WEBHOOK_SECRETS": SECRET,
                                  "PAGERDUTY_OUTBOX": secret_urls(url, canary)[0]})
        deliver(http, webhook_body())
        http.stop()
        logged = json.dumps(http.ready) + http.process.stdout.read().decode() + http.process.stderr.read().decode()
        assert canary[1:] not in logged, logged


@pytest.mark.slow
def test_while_postgresql_is_down_stores_raise_a_plugin_error_webhooks_get_503_and_both_recover(plugin_server):
    import postgres_server

    try:
        server = postgres_server.start()
    except postgres_server.Unavailable as exc:
        pytest.skip(f"no PostgreSQL server could be had: {exc}")
    try:
        inbox, runs = Inbox(server.url), RunStore(server.url)
        http = plugin_server(["--state", server.url, "--workers", "1"], env={"PAGERDUTY_WEBHOOK_SECRETS": SECRET})
        assert deliver(http, webhook_body()).status_code == 202
        server.run("pg_ctl", "-D", server.data, "-m", "fast", "-w", "stop")
        with pytest.raises(PluginError, match="not usable"):
            inbox.add("webhook", "k2", json.loads(webhook_body()))
        with pytest.raises(PluginError, match="not usable"):
            runs.claim("book", "e1", "me")
        assert [deliver(http, webhook_body()).status_code for _ in range(2)] == [503, 503]  # PagerDuty retries
        options = f"-p {server.port} -c listen_addresses=127.0.0.1 -k {server.dir} -c fsync=off"
        server.run("pg_ctl", "-D", server.data, "-o", options, "-l", os.path.join(server.dir, "log"), "-w", "start")
        assert inbox.add("webhook", "k2", json.loads(webhook_body())) and inbox.count() == 2
        assert runs.claim("book", "e1", "me") is not None
        assert deliver(http, webhook_body()).status_code == 202 and inbox.count() == 3
    finally:
        server.stop()


def test_the_outboxs_default_file_follows_the_state_into_its_database(sandbox, database):
    env = {**sandbox_env(sandbox), "PAGERDUTY_OUTBOX": "sqlite://", "PAGERDUTY_STATE": database}
    sent = run_command(["run", "send_trigger_event"], b'{"description": "disk full"}', env=env)
    assert sent.code == 0, sent.stderr
    status = json.loads(run_command(["outbox", "status"], env=env).stdout)
    assert status["outbox"] == database and status["counts"]["sent"] == 1


@pytest.mark.parametrize("url", [
    "postgresql://u:s%zzCanaryPw9@127.0.0.1:9/db",      # a percent sign libpq cannot decode: it quotes the token
    "postgresql://u:Canary Pw9@127.0.0.1:9/db",         # a raw space: libpq quotes it too
    "postgresql://u:CanaryPw9@[::1/db",                 # a host part too broken for urllib to read
    "postgresql://u:Canary/Pw9+x==@127.0.0.1:9/db",     # a raw '/' (base64): libpq reads no userinfo at all
    "postgresql://u@127.0.0.1:9/db?password=Ca%zz",     # short, quoted by libpq: masked whatever its length
])
def test_a_password_in_a_state_url_libpq_cannot_read_is_never_printed(url):
    for command in (["state", "status"], ["outbox", "status"]):
        done = subprocess.run([sys.executable, "-m", "pagerduty_plugin", *command], capture_output=True, text=True,
                              cwd=ROOT, timeout=60, env={**os.environ, "PAGERDUTY_STATE": url,
                                                         "PAGERDUTY_OUTBOX": "sqlite://"})
        assert done.returncode == 1, done.stdout + done.stderr
        error = json.loads(done.stdout)["error"]
        assert "Internal error" not in error["cause"], error
        assert "Canary" not in done.stdout + done.stderr and "Ca%zz" not in done.stdout, done.stdout + done.stderr


def test_without_psycopg_the_error_names_the_store_being_opened_and_the_extra_to_install(tmp_path):
    """A venv of the plugin's pinned dependencies without the `postgresql` extra, running this tree."""
    import cached_env
    from test_packaging import pinned_requirements

    python = cached_env.venv("wheel-deps", [str(r) for r in pinned_requirements() if r.name != "gunicorn"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}
    env["PYTHONPATH"] = ROOT
    canary = "CanaryPw" + uuid.uuid4().hex[:8]
    for given, store, setting in (
            ({"PAGERDUTY_STATE": f"postgresql://u:{canary}@127.0.0.1:1/db"}, "runs store",
             "--state or PAGERDUTY_STATE"),
            ({"PAGERDUTY_OUTBOX": f"postgresql://u@127.0.0.1:1/db?password={canary}"}, "outbox", "PAGERDUTY_OUTBOX")):
        command = ["runbook", "runs"] if store == "runs store" else ["outbox", "status"]
        done = subprocess.run([python, "-m", "pagerduty_plugin", *command], capture_output=True, text=True,
                              cwd=str(tmp_path), env={**env, **given}, timeout=60)
        error = json.loads(done.stdout)["error"]
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stdout + done.stderr
        assert error["cause"].startswith(f"The {store} is in a PostgreSQL database") and setting in error["cause"]
        assert "psycopg" in error["cause"] and "[postgresql]" in error["assistance"], error
        assert canary not in done.stdout + done.stderr
    assert "give --state a directory" in json.loads(subprocess.run(
        [python, "-m", "pagerduty_plugin", "state", "migrate", "--state", "postgres://h/db"], capture_output=True,
        text=True, cwd=str(tmp_path), env=env, timeout=60).stdout)["error"]["assistance"]
