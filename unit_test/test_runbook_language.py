"""The runbook language's published JSON Schema: a valid schema, the one `runbook schema` prints, the
one every example names for its editor, the one `check` refuses broken files by, and the README's."""

import glob
import json
import os
import re

import pytest
import yaml
from conftest import ROOT
from runbook_support import EXAMPLES, problems, runbook, write_runbook

from pagerduty_plugin.runbooks import model
from pagerduty_plugin.runbooks.language import SCHEMA_PATH

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is a test dependency (pip install '.[test]')")
SCHEMA = json.load(open(SCHEMA_PATH, encoding="utf-8"))
EXAMPLE_FILES = sorted(glob.glob(os.path.join(EXAMPLES, "*.yaml")) +
                       glob.glob(os.path.join(ROOT, "examples", "fleet", "*.yaml")))  # the README links both
EDITOR_LINE = re.compile(r"# yaml-language-server: \$schema=(\S+)\n")


def read_yaml(path):
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh.read().replace("\non:", '\n"on":'))  # YAML 1.2 (editors) reads on: as text


def test_the_schema_is_valid_against_its_metaschema():
    validator = jsonschema.validators.validator_for(SCHEMA)
    assert validator is jsonschema.Draft7Validator
    validator.check_schema(SCHEMA)


def test_runbook_schema_prints_the_shipped_file(tmp_path):
    result = runbook(tmp_path, "schema")
    assert result.code == 0 and result.doc == SCHEMA


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=os.path.basename)
def test_every_example_names_the_schema_for_editors_and_validates(path):
    with open(path, encoding="utf-8") as fh:
        first = fh.readline()
    named = EDITOR_LINE.fullmatch(first)
    assert named, f"{path} does not start with the yaml-language-server line"
    assert os.path.samefile(os.path.join(os.path.dirname(path), named.group(1)), SCHEMA_PATH)
    assert list(jsonschema.Draft7Validator(SCHEMA).iter_errors(read_yaml(path))) == []


BROKEN = [  # (what a step says, the rule that refuses it, the path in the file, the field `check` names)
    ("{id: a, action: list_teams, when: x}", "additionalProperties", ["steps", 0], "when"),
    ("{id: a, action: list_teams, retry: {delay: soon}}", "type", ["steps", 0, "retry", "delay"], "retry.delay"),
    ("{id: a}", "required", ["steps", 0], "action"),
    ("{id: a, action: list_teams, retry: {count: 101}}", "maximum", ["steps", 0, "retry", "count"], "retry.count"),
]


@pytest.mark.parametrize("step, rule, path, field", BROKEN, ids=[case[1] for case in BROKEN])
def test_a_broken_runbook_is_refused_by_the_schema_with_its_path(tmp_path, step, rule, path, field):
    text = f"name: t\nsteps: [{step}]\n"
    (error,) = jsonschema.Draft7Validator(SCHEMA).iter_errors(yaml.safe_load(text))  # as an editor sees it
    assert (error.validator, list(error.absolute_path)) == (rule, path)
    (problem,) = problems(runbook(tmp_path, "check", write_runbook(tmp_path, text)))  # as `check` says it
    assert (problem["step"], problem["field"]) == ("a", field)
    assert problem["message"].startswith(("steps[0]", f"unknown key '{field}' in steps[0]")), problem


def test_check_lists_a_problem_per_step_and_one_for_the_rest(tmp_path):
    text = ("name: t\ninputs: {x: {type: strng}}\nsteps:\n  - {id: a, action: list_teams, on_failure: ignore}\n"
            "  - {id: B, action: list_teams}\n  - {id: c, action: list_teams, foreach: items}\n")
    found = problems(runbook(tmp_path, "check", write_runbook(tmp_path, text)))
    assert [(p["step"], p["field"]) for p in found] == [(None, "inputs.x.type"), ("a", "on_failure"),
                                                        ("#2", "id"), ("c", "foreach")]
    assert [p["message"].split(" ")[0] for p in found] == ["inputs.x.type:", "steps[0].on_failure:", "steps[1].id",
                                                           "steps[2].foreach"]
    assert "lower_snake_case" in found[2]["message"] and "expression" in found[3]["message"]


def test_the_input_types_the_schema_names_are_the_ones_run_knows():
    named = SCHEMA["definitions"]["input"]["properties"]["type"]["enum"]
    assert named == list(model.INPUT_TYPES) + [f"[]{kind}" for kind in model.INPUT_TYPES]


def keys_of(schema, found=None):
    """Every key the language has, at every level of the schema (the steps, retry, on, an input)."""
    found = set() if found is None else found
    if isinstance(schema, dict):
        found.update(schema.get("properties") or {})
        for name, value in schema.items():
            if name != "examples":
                keys_of(value, found)
    elif isinstance(schema, list):
        for value in schema:
            keys_of(value, found)
    return found


def test_the_readme_documents_every_key_of_the_schema():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        text = fh.read()
    section = text[text.index("## Runbooks"):]
    section = section[:section.index("\n## ", 1)]
    keys = keys_of(SCHEMA) | set(SCHEMA["definitions"]["step"]["properties"]["on_failure"]["enum"])
    assert {"name", "steps", "retry", "count", "event_types", "title"} <= keys
    assert sorted(key for key in keys if f"`{key}`" not in section) == []
    assert "runbook schema" in section and "yaml-language-server" in section


@pytest.mark.slow
def test_an_editor_completes_and_checks_runbooks_by_the_schema(tmp_path):
    """The yaml-language-server (VS Code's YAML support) as an editor runs it: an example, through its
    relative yaml-language-server line, shows the schema's descriptions and no error; a runbook outside the
    repository, beside the `runbook schema` output as the README says, gets step keys completed and its
    mistakes marked where they are."""
    from yaml_language_server import Server

    (tmp_path / "runbook.schema.json").write_text(json.dumps(runbook(tmp_path, "schema").doc))
    broken = tmp_path / "book.yaml"
    broken.write_text("# yaml-language-server: $schema=runbook.schema.json\nname: t\nsteps:\n"
                      "  - id: a\n    action: list_teams\n    when: x\n    retry: {count: 3, delay: soon}\n  - \n")
    example = os.path.join(EXAMPLES, "triage.yaml")
    retry_line = next(n for n, line in enumerate(open(example, encoding="utf-8")) if "retry:" in line)
    with Server() as server:
        diagnostics, hover = server.open(example, ("hover", retry_line, 6))
        assert diagnostics == [] and "Try the step again" in json.dumps(hover)
        diagnostics, completion = server.open(str(broken), ("completion", 7, 4))
    marked = {(d["range"]["start"]["line"], d["message"]) for d in diagnostics}
    assert {(5, "Property when is not allowed."), (6, 'Incorrect type. Expected "number".')} <= marked, marked
    offered = {item["label"] for item in completion["items"]}
    assert set(SCHEMA["definitions"]["step"]["properties"]) <= offered
