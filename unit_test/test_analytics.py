"""Analytics: the metrics and raw-incident actions, the report (CLI and action) against the
sandbox, its fallback where the key cannot read analytics, cursor paging against hostile servers,
and the progress bar only on a terminal."""

import csv
import fcntl
import io
import json
import math
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest
from conftest import ROOT, invoke, run_command, sandbox_env, start_message
from hostile_server import HostileServer, Reply, connection_to

FIGURES = ("incidents", "acknowledged", "mtta_mean_seconds", "mtta_p50_seconds", "mtta_p90_seconds",
           "mttr_mean_seconds", "mttr_p50_seconds", "mttr_p90_seconds", "business_hour_interruptions",
           "off_hour_interruptions", "sleep_hour_interruptions")


def step(action, connection, **values):
    return invoke(["run"], start_message(action, values, connection))


def expected_from_store(sandbox):
    """MTTA and MTTR per (UTC day, service), computed here from the sandbox's own incident and log
    entry records: first acknowledge entry and last resolve entry, nearest-rank percentiles."""
    from datetime import datetime, timezone

    store = sandbox.store
    groups = {}
    for inc in store.incidents.values():
        entries = [store.log_entries[i] for i in inc["log_ids"]]
        acks = sorted(e["created"] - inc["created"] for e in entries if e["type"] == "acknowledge_log_entry")
        resolves = [e["created"] - inc["created"] for e in entries if e["type"] == "resolve_log_entry"]
        day = datetime.fromtimestamp(inc["created"], timezone.utc).strftime("%Y-%m-%d")
        group = groups.setdefault((day, inc["service_id"]), {"incidents": 0, "ack": [], "resolve": []})
        group["incidents"] += 1
        if acks:
            group["ack"].append(acks[0])
        if resolves and inc["status"] == "resolved":
            group["resolve"].append(max(resolves))

    def rank(values, p):
        return int(round(sorted(values)[max(1, math.ceil(p / 100 * len(values))) - 1])) if values else None

    expected = {}
    for key, g in groups.items():
        expected[key] = {"incidents": g["incidents"], "acknowledged": len(g["ack"])}
        for name, values in (("mtta", g["ack"]), ("mttr", g["resolve"])):
            expected[key][f"{name}_mean_seconds"] = int(round(sum(values) / len(values))) if values else None
            expected[key][f"{name}_p50_seconds"] = rank(values, 50)
            expected[key][f"{name}_p90_seconds"] = rank(values, 90)
    return expected


def csv_figures(path):
    found = {}
    with open(path, encoding="utf-8") as source:
        for row in csv.DictReader(source):
            found[(row["period_start"], row["service_id"])] = {
                k: (int(row[k]) if row[k] != "" else None) for k in FIGURES}
    return found


def report(sandbox, out, *extra):
    done = run_command(["report", "--out", str(out), *extra], env=sandbox_env(sandbox), timeout=120)
    assert done.code == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_the_report_figures_equal_a_computation_from_the_sandbox_records_and_the_fallback_agrees(sandbox, tmp_path):
    expected = expected_from_store(sandbox)
    assert any(v["mtta_mean_seconds"] for v in expected.values()) and any(v["mttr_mean_seconds"]
                                                                           for v in expected.values())
    figures = report(sandbox, tmp_path / "analytics")
    assert figures["source"] == "analytics" and figures["computed"] is False
    from_analytics = csv_figures(tmp_path / "analytics" / "report.csv")
    assert {k: {f: v[f] for f in expected[k]} for k, v in from_analytics.items()} == expected

    sandbox.add_fault(method="POST", path="/analytics/*", status=402, count=None)
    fallback = report(sandbox, tmp_path / "computed")
    assert fallback["source"] == "computed" and fallback["computed"] is True
    assert any("first acknowledge log entry" in text for text in fallback["definitions"])
    computed = csv_figures(tmp_path / "computed" / "report.csv")
    assert {k: {f: v[f] for f in expected[k]} for k, v in computed.items()} == expected
    for mine, theirs in zip(fallback["rows"], figures["rows"]):
        assert mine["up_time_pct"] == pytest.approx(theirs["up_time_pct"], abs=0.5)
    assert "computed" in (tmp_path / "computed" / "report.html").read_text()
    written = sorted(os.listdir(tmp_path / "computed"))
    assert written == ["incidents_per_service.svg", "interruptions_by_band.svg", "report.csv", "report.html",
                       "response_times.svg"]


@pytest.mark.no_conformance  # PagerDuty answers 403 here, which its OpenAPI does not list
def test_a_read_only_key_gets_the_computed_report_too(sandbox, tmp_path):
    env = sandbox_env(sandbox, api_key=sandbox.readonly_api_key)  # POST refused with 403
    done = run_command(["report", "--out", str(tmp_path)], env=env, timeout=120)
    assert done.code == 0, done.stderr
    assert json.loads(done.stdout)["source"] == "computed" and "HTTP 403" in done.stderr


def test_metrics_by_each_grouping(sandbox, connection):
    for by, field in (("all", None), ("service", "service_id"), ("team", "team_id"),
                      ("escalation_policy", "escalation_policy_id")):
        output = step("get_incident_metrics", connection, by=by, aggregate_unit="week").output
        assert output["by"] == by and output["count"] >= 1
        assert sum(r["total_incident_count"] for r in output["metrics"]) == len(sandbox.store.incidents)
        if field:
            assert all(r[field] for r in output["metrics"])


def test_raw_incidents_are_read_by_cursor_across_pages(sandbox, connection):
    sandbox.seed_incidents(2300)
    mark = sandbox.last_seq
    output = step("list_raw_incidents", connection).output
    assert output["count"] == len(sandbox.store.incidents) and output["truncated"] is False
    assert len({row["id"] for row in output["incidents"]}) == output["count"]
    bodies = [e["request_json"] for e in sandbox.exchanges_after(mark) if e["path"] == "/analytics/raw/incidents"]
    assert [b.get("starting_after") is None for b in bodies] == [True, False, False]
    assert all(b["limit"] == 1000 for b in bodies)
    capped = step("list_raw_incidents", connection, max_results=1500).output
    assert capped["count"] == 1500 and capped["truncated"] is True


def raw_page(rows, more, last="PCURSOR", **extra):
    return {"data": rows, "more": more, "last": last, "first": "P1", "limit": 1000, "order": "desc",
            "order_by": "created_at", "time_zone": "Etc/UTC", **extra}


@pytest.mark.parametrize("answer, says", [
    (lambda request: Reply(200, raw_page([{"id": "PA"}], True, "PSAME")), "a second time"),
    (lambda request: Reply(200, {"more": False}), "has no 'data'"),
    (lambda request: Reply(200, {"data": [{"id": "PA"}]}), "no 'more'"),
    (lambda request: Reply(200, raw_page([{"id": "PA"}], True, None)), "no 'last' cursor"),
    (lambda request: Reply(200, raw_page([], True)), "empty page"),
], ids=["repeated-cursor", "no-data", "no-more", "no-last", "more-after-empty"])
def test_cursor_paging_trusts_no_odd_answer(answer, says):
    with HostileServer(answer) as api:
        result = step("list_raw_incidents", connection_to(api.url))
    assert result.code == 1 and says in result.error["cause"], result.error
    assert len(api.requests) <= 2


def test_bad_input_is_refused_before_any_request(sandbox, connection):
    mark = sandbox.last_seq
    for values in ({"since": "2026-05-01T00:00:00Z", "until": "2026-04-01T00:00:00Z"},
                   {"since": "2024-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
                   {"by": "user"}, {"aggregate_unit": "year"}, {"since": "yesterday"}):
        result = step("get_incident_metrics", connection, **values)
        assert result.code == 1 and result.error["cause"], values
    done = run_command(["report", "--since", "2026-05-01T00:00:00Z", "--until", "2026-04-01T00:00:00Z"],
                       env=sandbox_env(sandbox))
    assert done.code == 1 and "until" in json.loads(done.stdout)["error"]["cause"]
    assert [e for e in sandbox.exchanges_after(mark) if e["path"].startswith("/analytics")] == []


def test_the_report_action_answers_figures_csv_and_the_page(sandbox, connection):
    output = step("analytics_report", connection, aggregate_unit="week", html=True).output
    assert output["source"] == "analytics" and output["csv"].startswith("period_start,service_id")
    assert output["html"].startswith("<!DOCTYPE html>") and output["html"].count("<svg") == 3


def test_run_never_imports_the_report_or_its_libraries():
    code = ("import io, sys; from pagerduty_plugin import cli; "
            "cli.main(['run', 'list_teams'], stdin=io.BytesIO(b'{}'), stdout=io.StringIO(), stderr=io.StringIO()); "
            "cli.main(['run', 'get_incident_metrics'], stdin=io.BytesIO(b'{}'), stdout=io.StringIO(), "
            "stderr=io.StringIO()); "
            "print(sorted(m for m in ('matplotlib', 'numpy', 'tqdm', 'pagerduty_plugin.reports') if m in sys.modules))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def run_on_pty(argv, env):
    """argv with stderr on a pseudo-terminal (stdout a pipe): (exit code, stdout, what the terminal got)."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal's size
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=terminal, env=env, cwd=ROOT)
    os.close(terminal)
    seen = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    out = process.stdout.read()
    process.wait(timeout=60)
    os.close(controller)
    return process.returncode, out.decode(), seen.decode(errors="replace")


def test_a_progress_bar_only_when_stderr_is_a_terminal(sandbox, tmp_path):
    sandbox.add_fault(method="POST", path="/analytics/*", status=402, count=None)  # many pages to read
    sandbox.seed_incidents(300)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}
    env.update(sandbox_env(sandbox))
    argv = [sys.executable, "-m", "pagerduty_plugin", "report", "--out", str(tmp_path / "tty")]
    code, out, terminal = run_on_pty(argv, env)
    assert code == 0 and json.loads(out)["source"] == "computed"
    assert "rows" in terminal and "\r" in terminal, terminal  # tqdm redraws its line
    piped = run_command(["report", "--out", str(tmp_path / "pipe")], env=sandbox_env(sandbox), timeout=120)
    assert piped.code == 0 and "rows" not in piped.stderr and "\r" not in piped.stderr


def test_the_report_command_refuses_bad_flags_and_never_shows_the_key(sandbox, tmp_path):
    env = sandbox_env(sandbox)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    for argv, code in ((["--since", "yesterday"], 1), (["--unit", "year"], 2), (["--out", str(blocker)], 1),
                       (["--service", "No Such Service"], 1)):
        done = run_command(["report", *argv], env=env)
        assert done.code == code, (argv, done.stdout, done.stderr)
        error = json.loads(done.stdout)["error"]
        assert error["cause"] and error["assistance"] and "Traceback" not in done.stderr, argv
    done = run_command(["report", "--out", str(tmp_path / "out"), "--debug"], env=env, timeout=120)
    assert done.code == 0
    written = "".join(p.read_text() for p in (tmp_path / "out").iterdir())
    for text in (done.stdout, done.stderr, written):
        assert sandbox.api_key not in text
