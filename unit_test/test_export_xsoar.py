"""`export xsoar DIR`: a content pack that demisto-sdk (XSOAR's own tooling, from the package index)
validates and leaves unchanged when it formats it, and whose integration, run command by command
in processes of its own under a stand-in of XSOAR's `demisto` object (unit_test/xsoar_standin),
answers as `run` does against the sandbox, fetches every incident once, and mirrors both ways
without echoes."""

import json
import os
import shutil
import subprocess
import sys
import time

import cached_env
import pytest
import yaml

from conftest import ROOT, invoke
from export_support import export, tree_bytes
from sandbox_fixtures import Api
from pagerduty_plugin import spec as speclib
from pagerduty_plugin.exports.xsoar_integration import MIRROR_MARK, command_name, context_name

DEMISTO_SDK = "demisto-sdk==1.39.13"
STANDIN = os.path.join(ROOT, "unit_test", "xsoar_standin")
INTEGRATION = os.path.join("Packs", "PagerDutyPlugin", "Integrations", "PagerDutyPlugin")
CANARY = "canary-xsoar-secret-7d1e"


@pytest.fixture(scope="module")
def content(tmp_path_factory):
    directory = tmp_path_factory.mktemp("xsoar")
    summary = export("xsoar", directory)
    return directory, summary


def integration_yaml(directory):
    with open(os.path.join(directory, INTEGRATION, "PagerDutyPlugin.yml"), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def test_every_action_is_a_command_and_two_exports_give_the_same_bytes(content, tmp_path):
    directory, summary = content
    spec = speclib.load()
    document = integration_yaml(directory)
    commands = {command["name"]: command for command in document["script"]["commands"]}
    assert summary["commands"] == len(spec.actions) >= 65
    assert {command_name(name) for name in spec.actions} <= set(commands)
    assert {"get-remote-data", "get-modified-remote-data", "update-remote-system", "get-mapping-fields"} <= set(commands)
    script = document["script"]
    assert script["isfetch"] and script["ismappable"] and script["isremotesyncin"] and script["isremotesyncout"]
    export("xsoar", tmp_path / "again")
    assert tree_bytes(tmp_path / "again") == tree_bytes(directory)


def test_arguments_outputs_and_parameters_follow_the_spec(content):
    directory, _ = content
    spec = speclib.load()
    document = integration_yaml(directory)
    commands = {command["name"]: command for command in document["script"]["commands"]}
    for name in spec.actions:
        command = commands[command_name(name)]
        fields = spec.action(name).get("input") or {}
        assert [arg["name"] for arg in command["arguments"]] == list(fields), name
        for arg in command["arguments"]:
            field = fields[arg["name"]]
            assert arg["required"] == bool(field.get("required")), (name, arg["name"])
            assert arg["isArray"] == field["type"].startswith("[]"), (name, arg["name"])
            assert arg["secret"] == (field["type"] in speclib.SECRET_TYPES), (name, arg["name"])
            if field.get("enum"):
                assert arg["predefined"] == [str(value) for value in field["enum"]]
        paths = {output["contextPath"] for output in command["outputs"]}
        prefix = f"PagerDutyPlugin.{context_name(name)}"
        assert {f"{prefix}.{field}" for field in spec.action(name).get("output") or {}} <= paths, name
    parameters = {param["name"]: param for param in document["configuration"]}
    for name in spec.secret_fields(spec.connection):
        assert parameters[name]["type"] == 9 and parameters[name]["hiddenusername"], name  # credentials
    assert {"isFetch", "first_fetch", "max_fetch", "incident_statuses", "mirror_direction"} <= set(parameters)


# --- demisto-sdk ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demisto_sdk():
    python = cached_env.venv("demisto-sdk", [DEMISTO_SDK])
    return [python, "-m", "demisto_sdk"]


def content_repository(tmp_path, source):
    """demisto-sdk works in a content repository: a git work tree with Packs/ and an origin."""
    shutil.copytree(source, tmp_path / "content")
    repo = tmp_path / "content"
    for command in (["init", "-q", "-b", "master"], ["remote", "add", "origin", "https://github.com/demisto/content.git"],
                    ["add", "-A"], ["-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "export"]):
        subprocess.run(["git", *command], cwd=repo, check=True, capture_output=True)
    return repo


def sdk(demisto_sdk, repo, *arguments):
    # a proxy on a closed loopback port: whatever demisto-sdk would fetch fails here instead of leaving
    env = {**os.environ, "DEMISTO_SDK_IGNORE_CONTENT_WARNING": "1", "HTTP_PROXY": "http://127.0.0.1:9",
           "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}
    return subprocess.run([*demisto_sdk, *arguments], cwd=repo, capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.slow
def test_demisto_sdk_validates_the_pack_and_refuses_a_broken_one(demisto_sdk, content, tmp_path):
    """demisto-sdk's validate (its path-based validations: schema ST110, integration IN1xx, pack PA1xx,
    ...); the graph validations need its content graph and the docker checks XSOAR's registry."""
    repo = content_repository(tmp_path, content[0])
    done = sdk(demisto_sdk, repo, "validate", "-i", "Packs/PagerDutyPlugin")
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert "All validations passed" in done.stdout + done.stderr
    broken = repo / INTEGRATION / "PagerDutyPlugin.yml"
    broken.write_text(broken.read_text().replace("subtype: python3", "subtype: python4"))
    refused = sdk(demisto_sdk, repo, "validate", "-i", "Packs/PagerDutyPlugin")
    assert refused.returncode != 0 and "IN108" in refused.stdout + refused.stderr


@pytest.mark.slow
def test_demisto_sdk_format_leaves_the_export_as_it_is(demisto_sdk, content, tmp_path):
    repo = content_repository(tmp_path, content[0])
    done = sdk(demisto_sdk, repo, "format", "-i", "Packs/PagerDutyPlugin", "-y", "-nv")
    changed = subprocess.run(["git", "diff", "--stat"], cwd=repo, capture_output=True, text=True).stdout
    assert changed == "", changed + (done.stdout + done.stderr)[-2000:]


# --- the integration under the stand-in --------------------------------------------------


class Xsoar:
    """Runs the generated integration's commands, each in a process of its own, as XSOAR does."""

    def __init__(self, directory, params, tmp_path):
        self.script = os.path.join(directory, INTEGRATION, "PagerDutyPlugin.py")
        self.params = params
        self.state_file = tmp_path / "xsoar-state.json"
        self.last_run, self.context = {}, {}

    def run(self, command, args=None, params=None):
        state = {"command": command, "args": args or {}, "params": {**self.params, **(params or {})},
                 "last_run": self.last_run, "integration_context": self.context}
        self.state_file.write_text(json.dumps(state))
        env = {**os.environ, "XSOAR_STANDIN": str(self.state_file),
               "PYTHONPATH": os.pathsep.join([STANDIN, ROOT])}
        done = subprocess.run([sys.executable, self.script], capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        after = json.loads(self.state_file.read_text())
        self.last_run, self.context = after.get("last_run") or {}, after.get("integration_context") or {}
        after["stderr"] = done.stderr
        return after

    def fetch(self, **params):
        return [incident["dbotMirrorId"] for incident in self.run("fetch-incidents", params=params)["incidents"]]


def params_of(sandbox):
    info = sandbox.info
    return {"api_key": {"identifier": "", "password": info["api_key"]},
            "routing_key": {"identifier": "", "password": info["routing_key"]},
            "from_email": info["from_email"], "api_url": info["api_url"], "events_url": info["events_url"],
            "timeout": "5", "max_retries": "2", "verify_tls": True}


@pytest.fixture
def xsoar(content, sandbox, tmp_path):
    return Xsoar(content[0], params_of(sandbox), tmp_path)


@pytest.fixture
def api(sandbox):
    return Api(sandbox)


def as_xsoar_args(values):
    """Arguments as XSOAR sends them: text, lists comma-separated, objects as JSON."""
    def text(value):
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, list):
            return ",".join(str(item) for item in value) if all(isinstance(i, str) for i in value) \
                else json.dumps(value)
        if isinstance(value, dict):
            return json.dumps(value)
        return str(value)
    return {name: text(value) for name, value in values.items()}


def test_a_command_answers_what_run_prints(xsoar, sandbox, act):
    ran = xsoar.run("pagerduty-list-services", as_xsoar_args({"max_results": 5}))
    [entry] = ran["results"]
    expected = act("list_services", max_results=5).body["output"]
    assert entry["EntryContext"]["PagerDutyPlugin.ListServices"] == expected
    assert entry["HumanReadable"].startswith("### List Services")


def test_a_bad_argument_is_an_error_entry_that_sends_nothing(xsoar, journal):
    before = len(journal())
    ran = xsoar.run("pagerduty-list-incidents", {"max_results": "many"})
    [entry] = ran["results"]
    assert entry["Type"] == 4 and "max_results" in entry["Contents"] and "Traceback" not in entry["Contents"]
    assert len(journal()) == before


def test_secrets_never_reach_results_or_logs(content, sandbox, tmp_path):
    params = params_of(sandbox)
    params["api_key"] = {"identifier": "", "password": CANARY}
    for command in ("pagerduty-list-services", "test-module", "fetch-incidents"):
        ran = Xsoar(content[0], params, tmp_path).run(command, {})
        written = {key: ran.get(key) for key in ("results", "logs", "stderr", "last_run", "integration_context")}
        assert CANARY not in json.dumps(written), command
        assert ran["results"][0]["Type"] == 4, command  # PagerDuty refused the key


@pytest.mark.slow
@pytest.mark.full_answers  # once is enough: the examples name objects the sandbox may not have,
@pytest.mark.no_conformance  # so its 404s for them are outside PagerDuty's documented statuses
def test_every_command_runs_against_the_sandbox(xsoar):
    """Each action with its spec's example input: a result, or PagerDuty's or the runner's error in
    words (the examples name objects the sandbox may not have), never a bug."""
    spec = speclib.load()
    for name in spec.actions:
        ran = xsoar.run(command_name(name), as_xsoar_args(spec.sample_input(name)))
        [entry] = ran["results"]
        if entry["Type"] == 4:
            assert "Internal error" not in entry["Contents"] and "Traceback" not in entry["Contents"], (name, entry)
        else:
            assert f"PagerDutyPlugin.{context_name(name)}" in entry["EntryContext"], name


# --- fetching ---------------------------------------------------------------------------


def resolve(api, incident_id):
    response = api.update_incident(incident_id, status="resolved")
    assert response.status_code == 200, response.text


def test_fetch_takes_every_incident_once_across_the_boundary_second_and_a_resolve(xsoar, api):
    """max_fetch 2 over a burst created within a second or two: each cycle resumes at the last
    created_at (PagerDuty's since includes that second) and the id buffer skips what was taken; an
    incident still open when a cycle ran but resolved before the next is fetched all the same."""
    burst = [api.create_incident(title=f"burst {n}")["id"] for n in range(5)]
    fetched = xsoar.fetch(max_fetch="2", first_fetch="1 day")
    resolve(api, burst[-1])  # open when the first cycle ran, past its max_fetch
    for _ in range(8):
        fetched += xsoar.fetch(max_fetch="2", first_fetch="1 day")
    assert len(fetched) == len(set(fetched)), fetched
    assert set(burst) <= set(fetched)
    time.sleep(1.1)  # PagerDuty's stamps are to the second: one made in a cycle's own second counts as before it
    late = api.create_incident(title="after the cycles")["id"]
    resolve(api, late)  # created and resolved between two cycles: not open when any cycle ran
    assert xsoar.fetch(max_fetch="2", first_fetch="1 day") == []


def test_incidents_the_filter_passes_over_never_stall_the_fetch(xsoar, api):
    """After a cycle, more incidents created and resolved than max_fetch, then open ones: each answer
    of 2 holds only resolved ones the status filter does not want, and the watermark moves past them."""
    while xsoar.fetch(max_fetch="50", first_fetch="1 day"):
        pass  # the seeded backlog taken
    time.sleep(1.1)  # created after that cycle's second: never open when a cycle ran
    closed = [api.create_incident(title=f"closed {n}")["id"] for n in range(5)]
    for incident in closed:
        resolve(api, incident)
    wanted = [api.create_incident(title=f"open {n}")["id"] for n in range(2)]
    time.sleep(1.1)  # resolved in an earlier second than any cycle ran (the same second would count as open then)
    fetched = []
    for _ in range(6):  # a cycle that only passes over answers nothing, and the next goes on
        fetched += xsoar.fetch(max_fetch="2", first_fetch="1 day")
    assert sorted(fetched) == sorted(wanted)


def test_fetch_parameters_are_checked(xsoar, journal):
    before = len(journal())
    ran = xsoar.run("fetch-incidents", params={"max_fetch": "500"})
    assert ran["results"][0]["Type"] == 4 and "max_fetch" in ran["results"][0]["Contents"]
    assert len(journal()) == before


# --- mirroring ---------------------------------------------------------------------------


def notes_of(api, incident_id):
    return [note["content"] for note in api.get(f"/incidents/{incident_id}/notes").json()["notes"]]


def iso_now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def close_entries(entries):
    return [e for e in entries if isinstance(e.get("Contents"), dict) and e["Contents"].get("dbotIncidentClose")]


def test_a_note_mirrors_each_way_with_no_echo(xsoar, api):
    incident = api.create_incident(title="mirrored")["id"]
    since = iso_now()
    time.sleep(1.1)  # notes are stamped to the second
    assert api.post(f"/incidents/{incident}/notes", json={"note": {"content": "seen in PagerDuty"}}).status_code \
        in (200, 201)
    modified = xsoar.run("get-modified-remote-data", {"lastUpdate": since})["results"][0]["Contents"]
    assert incident in modified
    mirrored, *entries = xsoar.run("get-remote-data", {"id": incident, "lastUpdate": since})["results"][0]
    assert mirrored["id"] == incident
    assert [e["Contents"] for e in entries if e.get("Note")] == ["Jane Doe (PagerDuty): seen in PagerDuty"] or \
        [e["Contents"].split(": ", 1)[1] for e in entries if e.get("Note")] == ["seen in PagerDuty"]
    # XSOAR sends its own note out, and the note that came in (tagged) back: only the first reaches PagerDuty
    xsoar.run("update-remote-system", {"remoteId": incident, "entries": [
        {"contents": "written in XSOAR", "tags": ["note"]},
        {"contents": entries[0]["Contents"], "tags": entries[0]["Tags"]}]})
    assert notes_of(api, incident).count(MIRROR_MARK + "written in XSOAR") == 1
    assert len(notes_of(api, incident)) == 2
    mirrored, *again = xsoar.run("get-remote-data", {"id": incident, "lastUpdate": since})["results"][0]
    assert [e for e in again if e.get("Note") and "written in XSOAR" in e["Contents"]] == []


def status_changes(journal, incident):
    return [entry for entry in journal() if entry["method"] == "PUT" and entry["path"] == f"/incidents/{incident}"]


def test_a_close_mirrors_each_way_with_no_echo(xsoar, api, journal):
    closed_in_xsoar = api.create_incident(title="closed in XSOAR")["id"]
    resolved_in_pagerduty = api.create_incident(title="resolved in PagerDuty")["id"]
    since = iso_now()
    time.sleep(1.1)
    close = {"incidentChanged": True, "status": 2, "data": {"closeReason": "Resolved"}}
    xsoar.run("update-remote-system", {"remoteId": closed_in_xsoar, **close})
    assert api.get(f"/incidents/{closed_in_xsoar}").json()["incident"]["status"] == "resolved"
    _, *entries = xsoar.run("get-remote-data", {"id": closed_in_xsoar, "lastUpdate": since})["results"][0]
    assert close_entries(entries) == []  # XSOAR's own close does not come back
    xsoar.run("update-remote-system", {"remoteId": closed_in_xsoar, **close})
    assert len(status_changes(journal, closed_in_xsoar)) == 1

    resolve(api, resolved_in_pagerduty)
    _, *entries = xsoar.run("get-remote-data", {"id": resolved_in_pagerduty, "lastUpdate": since})["results"][0]
    assert len(close_entries(entries)) == 1
    xsoar.run("update-remote-system", {"remoteId": resolved_in_pagerduty, **close})  # XSOAR's close, its echo
    assert len(status_changes(journal, resolved_in_pagerduty)) == 1  # only the test's own resolve


def test_the_mapping_fields_name_the_mirrored_fields(xsoar):
    [mapping] = xsoar.run("get-mapping-fields")["results"]
    assert {"status", "urgency", "title"} <= set(mapping["PagerDuty Incident"])


def test_an_unknown_command_is_an_error_entry(xsoar):
    [entry] = xsoar.run("pagerduty-no-such-thing")["results"]
    assert entry["Type"] == 4 and "Unknown command" in entry["Contents"]


def test_test_module_answers_ok(xsoar):
    assert xsoar.run("test-module")["results"] == ["ok"]


# --- the README's steps --------------------------------------------------------------------


def readme_block(heading):
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        text = fh.read()
    section = text.split(heading, 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow
def test_the_readme_steps_build_an_uploadable_pack(demisto_sdk, tmp_path):
    """The README's XSOAR block, line by line, in a copy of the repository as a clone has it; `docker
    build` is left out (no Docker engine here): its Dockerfile and the wheel it copies are checked."""
    clone = tmp_path / "clone"
    shutil.copytree(ROOT, clone, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "dist",
                                                               "__pycache__"))
    tools = tmp_path / "bin"
    tools.mkdir()
    # demisto-sdk behind a closed loopback proxy (whatever it would fetch fails here); pip's build reaches PyPI
    proxy = "HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY="
    (tools / "demisto-sdk").write_text(f"#!/bin/sh\nexec env {proxy} {' '.join(demisto_sdk)} \"$@\"\n")
    (tools / "demisto-sdk").chmod(0o755)
    env = {**os.environ, "PATH": os.pathsep.join([str(tools), os.path.dirname(sys.executable), os.environ["PATH"]]),
           "DEMISTO_SDK_IGNORE_CONTENT_WARNING": "1"}
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.com")
    block = readme_block("### In XSOAR")
    assert "\ndocker build " in block
    script = "\n".join(line for line in block.splitlines() if not line.startswith("docker build "))
    done = subprocess.run(["bash", "-e", "-c", script], cwd=clone, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    docker = clone / "dist" / "xsoar" / "docker"
    assert "COPY pagerduty_plugin-*.whl" in (docker / "Dockerfile").read_text()
    assert [p.name for p in docker.glob("pagerduty_plugin-*.whl")]
    assert (clone / "dist" / "xsoar" / "uploadable_packs" / "PagerDutyPlugin.zip").exists()
