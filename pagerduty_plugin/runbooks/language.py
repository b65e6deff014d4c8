"""The runbook language's JSON Schema (runbook.schema.json beside this file): the one statement of a
runbook's shape, published by `pagerduty-plugin runbook schema` for editors, and what `parse` validates.

A file is validated in parts so that one `runbook check` lists a problem per step: the document
with its steps left open, then each step. What a schema cannot say stays in code: the guards against
hostile YAML (model.py, before any parsing), step ids used once, expressions that parse, and
everything that needs the spec (check.py).
"""

import functools
import json
import os

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runbook.schema.json")


@functools.lru_cache(maxsize=None)
def schema():
    """The schema, read once per process (never changed once read)."""
    with open(SCHEMA_PATH, encoding="utf-8") as fh:
        return json.load(fh)


@functools.lru_cache(maxsize=None)
def parts():
    """(the document with its steps open, one step): the schemas a runbook is validated against, made once
    per process (the validators are found by these very objects afterwards, without hashing them)."""
    whole = schema()
    steps = {key: value for key, value in whole["properties"]["steps"].items() if key != "items"}
    document = {**whole, "properties": {**whole["properties"], "steps": steps}}
    step = {"$schema": whole["$schema"], "$ref": "#/definitions/step", "definitions": whole["definitions"]}
    return document, step


def problems(raw):
    """raw (a parsed YAML document) with the schema's defaults filled in, and its problems: at most one
    for the document and one per step, each {step (label), field, message}."""
    import fastjsonschema

    from pagerduty_plugin import validate

    document, step = parts()
    found = []
    try:
        raw = validate.validator(document)(raw)
    except fastjsonschema.JsonSchemaValueException as exc:
        found.append(problem(exc, [], None))
    steps = raw.get("steps") if isinstance(raw, dict) else None
    for position, entry in enumerate(steps if isinstance(steps, list) else []):
        try:
            steps[position] = validate.validator(step)(entry)
        except fastjsonschema.JsonSchemaValueException as exc:
            found.append(problem(exc, ["steps", position], step_label(entry, position)))
    return raw, found


def step_label(entry, position):
    """How a problem names its step: its id when it has a usable one, else its place (#1 for the first)."""
    import re

    step_id = entry.get("id") if isinstance(entry, dict) else None
    pattern = schema()["definitions"]["step"]["properties"]["id"]["pattern"]
    return step_id if isinstance(step_id, str) and re.search(pattern, step_id) else f"#{position + 1}"


def problem(exc, prefix, label):
    """A validation error as a problem: its step (label), the field within the step (retry.delay), and a
    message naming the path in the file (steps[2].retry.delay) with what is wrong and what to do."""
    inside = [int(part) if part.isdigit() else part for part in map(str, exc.path[1:])]
    key = offending_key(exc)
    field = path_text(inside + ([key] if key else []))
    return {"step": label, "field": field or None, "message": explain(exc, key, path_text(prefix + inside))}


def path_text(parts_):
    text = ""
    for part in parts_:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def offending_key(exc):
    """The key a `required` or `additionalProperties` error is about (the error names the mapping)."""
    value = exc.value if isinstance(exc.value, dict) else {}
    if exc.rule == "required":
        return next((key for key in exc.rule_definition if key not in value), None)
    if exc.rule == "additionalProperties":
        known = (exc.definition or {}).get("properties") or {}
        return next((key for key in sorted(value) if key not in known), None)
    return None


def explain(exc, key, where):
    from pagerduty_plugin.validate import article, short, type_name

    rule, value, limit, node = exc.rule, exc.value, exc.rule_definition, exc.definition or {}
    hint = node.get("patternErrorMessage") if rule == "pattern" else node.get("errorMessage")
    hint = hint or node.get("description", "")
    where = where or "the runbook"
    if rule == "required":
        wanted = ((node.get("properties") or {}).get(key) or {}).get("description", "")
        return f"{where} needs {'an' if key[0] in 'aeiou' else 'a'} {key}: {wanted}"
    if rule == "additionalProperties":
        known = ", ".join(sorted(node.get("properties") or {}))
        return f"unknown key '{key}' in {where}: remove it or check its spelling (known keys: {known})"
    if rule == "type":
        return f"{where} must be {article(limit)}, not {type_name(value)}: {hint}"
    if rule == "enum":
        return f"{where}: unknown {str(exc.path[-1])} {short(value)} (use {choices(limit)})"
    if rule in ("minimum", "maximum"):
        return f"{where} is {short(value)}, {'below' if rule == 'minimum' else 'above'} {limit}: {hint}"
    if rule == "minItems":
        needed = "must be a non-empty list" if limit == 1 else f"needs at least {limit} items"
        return f"{where} {needed}: {hint}"
    if rule == "minLength":
        return f"{where} must not be empty: {hint}"
    return f"{where} is {short(value)}, which is refused: {hint}"


def choices(allowed):
    """`fail or continue`; `string, date, …, or []TYPE for a list` where each choice has its list form."""
    single = [str(choice) for choice in allowed if not str(choice).startswith("[]")]
    if len(single) < len(allowed) and set(allowed) == set(single) | {f"[]{choice}" for choice in single}:
        return f"{', '.join(single)}, or []TYPE for a list of them"
    return " or ".join(single) if len(single) == 2 else ", ".join(single)
