"""Rules between an action's inputs, declared in the spec and enforced before the action runs.

Ansible's idea (`mutually_exclusive`, `required_one_of` … beside `argument_spec`): the
declaration is the check, so actions stay short and forms can show the rules. The spec keeps
them in its `python:` block, keyed by action (Rapid7's validators refuse unknown keys on actions
and fields):

    constraints:
      create_incident:
        - at_most_one: [escalation_policy, assignees]
          why: PagerDuty assigns a new incident through an escalation policy or to users.
    aliases:
      get_user_by_email: {email: [user_email]}     # the earlier plugin's names

A rule is one of KINDS, with an optional `why` (the error's assistance). Fields count as given
when the step gave a value that is not blank (the runner drops blank optional fields first).
This module knows nothing of PagerDuty.
"""

from pagerduty_plugin.errors import PluginError

BLANKS = ("", None, {}, [])
# kind -> how its fields are written: a list of fields, or {FIELD: VALUE(S), then: [fields]}
LIST_KINDS = ("one_of", "at_most_one", "together", "at_least_one", "ascending")
CONDITION_KINDS = ("required_if", "only_if")
KINDS = LIST_KINDS + CONDITION_KINDS


def kind_of(rule):
    return next(k for k in KINDS if k in rule)


def fields_of(rule):
    """Every field a rule names."""
    kind = kind_of(rule)
    if kind in LIST_KINDS:
        return list(rule[kind])
    field, _ = condition(rule[kind])
    return [field, *rule[kind]["then"]]


def condition(body):
    """(field, allowed values) of a required_if / only_if body {FIELD: VALUE(S), then: [...]}."""
    field = next(k for k in body if k != "then")
    values = body[field]
    return field, list(values) if isinstance(values, list) else [values]


def names(fields, word="or", quote=True):
    quoted = [f"'{f}'" if quote else str(f) for f in fields]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} {word} {quoted[-1]}"


def describe(rule):
    """The rule in words, for help.md, the JSON Schema and errors."""
    kind = kind_of(rule)
    if kind in CONDITION_KINDS:
        field, values = condition(rule[kind])
        then = names(rule[kind]["then"], "and")
        wanted = f"'{field}' is {names(values, quote=False)}"
        return f"{then} only when {wanted}" if kind == "only_if" else f"when {wanted}, {then} too"
    fields = rule[kind]
    return {
        "one_of": f"exactly one of {names(fields)}",
        "at_most_one": f"{names(fields)}, not both" if len(fields) == 2 else f"at most one of {names(fields)}",
        "together": f"{names(fields, 'and')} together or not at all",
        "at_least_one": f"at least one of {names(fields)}",
        "ascending": f"{names(fields, 'before')} (the dates given, in this order, none at the same time)",
    }[kind]


# --- enforcement ------------------------------------------------------------------------


def apply_aliases(aliases, values):
    """values with each earlier name renamed to its field; both names given (not blank) and
    different is an error. values that are not an object are left to the caller to refuse."""
    if not aliases or not isinstance(values, dict):
        return values
    values = dict(values)
    for field, earlier in aliases.items():
        for alias in earlier:
            if alias not in values:
                continue
            value = values.pop(alias)
            if value in BLANKS and not isinstance(value, bool):
                continue
            current = values.get(field)
            if current in BLANKS and not isinstance(current, bool):
                values[field] = value
            elif current != value:
                raise PluginError(f"Give '{field}' or '{alias}' (its earlier name), not both",
                                  f"'{alias}' is the earlier plugin's name for '{field}': give the value once.",
                                  {"field": field, "fields": [field, alias], "rule": "alias"})
    return values


def check_rules(rules, values, fields, action=None):
    """Refuse values that break one of the rules, naming the fields; values are the prepared
    input (blank optional fields dropped, defaults not yet filled in: a default counts for the
    condition of required_if / only_if only)."""
    for rule in rules or ():
        problem = broken(rule, values, fields)
        if problem:
            kind = kind_of(rule)
            hint = f"`pagerduty-plugin spec {action}` lists the rules between its inputs." if action else ""
            raise PluginError(problem[0], rule.get("why") or hint,
                              {"field": problem[1][0], "fields": problem[1], "rule": kind})


def broken(rule, values, fields):
    """(cause, the fields to name) when values break rule, else None."""
    kind = kind_of(rule)
    if kind in CONDITION_KINDS:
        return broken_condition(kind, rule[kind], values, fields)
    listed = rule[kind]
    given = [f for f in listed if f in values]
    missing = [f for f in listed if f not in values]
    if kind == "one_of" and not given:
        return f"Give one of {names(listed)}", listed
    if kind in ("one_of", "at_most_one") and len(given) > 1:
        return f"Give {names(given)}, not both" if len(given) == 2 else \
            f"Give only one of {names(given)}", given
    if kind == "at_least_one" and not given:
        return f"Give at least one of {names(listed)}", listed
    if kind == "together" and given and missing:
        return f"{names(listed, 'and')} go together: {names(missing, 'and')} missing", missing
    if kind == "ascending":
        return out_of_order(listed, values)
    return None


def broken_condition(kind, body, values, fields):
    field, allowed = condition(body)
    then = body["then"]
    actual = values.get(field, (fields.get(field) or {}).get("default"))
    matches = actual in allowed
    shown = names(allowed, quote=False)
    if kind == "required_if" and matches:
        missing = [f for f in then if f not in values]
        if missing:
            return f"When '{field}' is {shown}, give {names(missing, 'and')} too", missing
    if kind == "only_if" and not matches:
        given = [f for f in then if f in values]
        if given:
            return f"{names(given, 'and')} is used only when '{field}' is {shown}", given
    return None


def out_of_order(listed, values):
    from datetime import timezone

    from pagerduty_plugin.compat import fromisoformat

    def moment(text):
        try:
            parsed = fromisoformat(str(text))
        except ValueError:
            return None  # not a date: the field's own check says so
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)

    given = [(f, moment(values[f])) for f in listed if f in values]
    given = [(f, m) for f, m in given if m is not None]
    for (first, a), (second, b) in zip(given, given[1:]):
        if b <= a:  # the same time too: a window or period of no length selects or makes nothing
            relation = "is the same time as" if b == a else "is before"
            return f"'{second}' ({values[second]}) {relation} '{first}' ({values[first]})", [second, first]
    return None


# --- JSON Schema ----------------------------------------------------------------------------


def schema(rules):
    """The rules as JSON Schema, one `allOf` entry each (with the rule in words)."""
    return [{"description": describe(rule), **keywords(rule)} for rule in rules]


def keywords(rule):
    kind = kind_of(rule)
    if kind in CONDITION_KINDS:
        field, allowed = condition(rule[kind])
        value_is = {"properties": {field: {"enum": allowed}}, "required": [field]}
        then = rule[kind]["then"]
        if kind == "required_if":
            return {"if": value_is, "then": {"required": then}}
        return {"if": any_of(then), "then": value_is}
    listed = rule[kind]
    if kind == "one_of":
        return {"oneOf": [{"required": [f]} for f in listed]}
    if kind == "at_least_one":
        return any_of(listed)
    if kind == "at_most_one":
        pairs = [[a, b] for i, a in enumerate(listed) for b in listed[i + 1:]]
        return {"not": {"anyOf": [{"required": pair} for pair in pairs]}}
    if kind == "together":
        return {"dependentRequired": {f: [g for g in listed if g != f] for f in listed}}
    return {}  # ascending: no JSON Schema keyword compares two values; the description says it


def any_of(fields):
    return {"anyOf": [{"required": [f]} for f in fields]}


def alias_annotations(aliases):
    """{field: {"x-aliases": [earlier names]}} for the input schema's properties."""
    return {field: {"x-aliases": list(earlier)} for field, earlier in (aliases or {}).items()}


# --- lint -------------------------------------------------------------------------------------


def lint(actions, constraints, aliases):
    """Problems in `python.constraints` and `python.aliases`: each names existing actions and
    input fields, in the documented form."""
    problems = []
    for name, rules in (constraints or {}).items():
        where = f"python.constraints.{name}"
        inputs = input_fields(actions, name)
        if inputs is None:
            problems.append(f"{where}: names no action")
        elif not isinstance(rules, list):
            problems.append(f"{where}: must be a list of rules")
        else:
            for number, rule in enumerate(rules, 1):
                problems += lint_rule(f"{where}[{number}]", rule, inputs)
    for name, fields in (aliases or {}).items():
        where = f"python.aliases.{name}"
        inputs = input_fields(actions, name)
        if inputs is None:
            problems.append(f"{where}: names no action")
            continue
        for field, earlier in (fields or {}).items():
            if field not in inputs:
                problems.append(f"{where}.{field}: names no input field")
            elif not isinstance(earlier, list) or not all(isinstance(a, str) for a in earlier):
                problems.append(f"{where}.{field}: must be a list of earlier names")
            else:
                problems += [f"{where}.{field}: {a!r} is an input field itself" for a in earlier if a in inputs]
    return problems


def input_fields(actions, name):
    action = (actions or {}).get(name)
    return (action.get("input") or {}) if isinstance(action, dict) else None


def lint_rule(where, rule, inputs):
    if not isinstance(rule, dict) or len([k for k in rule if k in KINDS]) != 1 \
            or set(rule) - set(KINDS) - {"why"}:
        return [f"{where}: must be one of {', '.join(KINDS)} (and an optional why)"]
    kind = kind_of(rule)
    body = rule[kind]
    if kind in LIST_KINDS:
        if not isinstance(body, list) or len(body) < 2 or not all(isinstance(f, str) for f in body):
            return [f"{where}: {kind} takes a list of two or more fields"]
    elif not isinstance(body, dict) or len(body) != 2 or not isinstance(body.get("then"), list):
        return [f"{where}: {kind} takes {{FIELD: VALUE, then: [fields]}}"]
    problems = [f"{where}: {kind} names no input field {f!r}" for f in fields_of(rule) if f not in inputs]
    if kind in ("one_of", "at_most_one", "together", "at_least_one"):
        problems += [f"{where}: {kind} field {f!r} has a default, so it is always given"
                     for f in body if "default" in inputs.get(f, {})]
    if kind in CONDITION_KINDS and not problems:
        field, allowed = condition(body)
        enum = inputs[field].get("enum")
        problems += [f"{where}: {field!r} can never be {v!r}" for v in allowed if enum and v not in enum]
    return problems
