"""A runbook file, read into a Runbook: its steps with their expressions compiled once.

Reading never fails on a badly shaped file: every problem is noted (file, step, field, message)
and `check` adds the ones that need the spec; `load` refuses a runbook with any.
"""

import re
from dataclasses import dataclass, field

from pagerduty_plugin.errors import PluginError
from pagerduty_plugin.runbooks import expressions as expr

TOP_KEYS = {"name", "description", "on", "inputs", "steps", "outputs"}
STEP_KEYS = {"id", "name", "description", "action", "input", "if", "foreach", "retry", "on_failure"}
INPUT_KEYS = {"type", "required", "default", "description", "title"}
ON_KEYS = {"trigger", "event_types", "if"}
RETRY_KEYS = {"count", "delay"}
ON_FAILURE = ("fail", "continue")
MAX_RETRIES, MAX_DELAY = 100, 3600
ID_PATTERN = r"[a-z][a-z0-9_]*"
INPUT_TYPES = {"string": str, "date": str, "password": str, "credential_secret_key": str, "integer": int,
               "number": (int, float), "float": (int, float), "boolean": bool, "object": dict, "array": list}
SECRET_INPUT_TYPES = ("password", "credential_secret_key")


class RunbookError(PluginError):
    def __init__(self, path, problems):
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"The runbook {path} is invalid: {describe(first)}{more}",
                         f"Fix it; `pagerduty-plugin runbook check {path}` lists every problem.",
                         {"problems": problems})
        self.problems = problems


def describe(problem):
    where = " ".join(f"{key} {problem[key]}" for key in ("step", "field") if problem.get(key))
    return f"{where}: {problem['message']}" if where else problem["message"]


@dataclass
class Step:
    id: str
    action: str
    position: int
    input: dict = field(default_factory=dict)
    condition: object = None     # a Template, or None: always
    foreach: object = None       # a Template giving a list, or None
    retry_count: int = 0
    retry_delay: float = 0.0
    on_failure: str = "fail"


@dataclass
class Runbook:
    path: str
    name: str = ""
    description: str = ""
    inputs: dict = field(default_factory=dict)     # name -> {type, required, default (compiled)}
    steps: list = field(default_factory=list)
    outputs: dict = field(default_factory=dict)    # name -> compiled value
    on: dict = None                                # {trigger, event_types, if (Template)} or None
    problems: list = field(default_factory=list)

    def step(self, step_id):
        return next((s for s in self.steps if s.id == step_id), None)

    def matches(self, trigger_name, event):
        """Whether an event starts this runbook: its `on:` trigger (when trigger_name is given),
        event_types and `if` (evaluated over {event, inputs: {}}, JMESPath truth)."""
        if not self.on or not isinstance(event, dict):
            return False
        if trigger_name is not None and self.on.get("trigger") not in (None, trigger_name):
            return False
        types = self.on.get("event_types")
        if types and event.get("event_type") not in types:
            return False
        condition = self.on.get("if")
        if condition is None:
            return True
        try:
            return expr.truthy(evaluate(condition, {"inputs": {}, "steps": {}, "event": event}))
        except expr.EvaluationError:
            return False

    def note(self, message, step=None, field_name=None):
        self.problems.append({"file": self.path, "step": step, "field": field_name, "message": message})


def evaluate(value, context):
    return value.render(context) if isinstance(value, expr.Template) else value


MAX_RUNBOOK_BYTES = 256 * 1024
MAX_NESTING = 32  # mappings and lists inside each other
STR_TAG = "tag:yaml.org,2002:str"


def parse_file(path):
    from pagerduty_plugin.files import read_text

    return parse(read_text(path, "runbook", "Give the path of a UTF-8 YAML runbook file.",
                           limit=MAX_RUNBOOK_BYTES).text, path)


def parse(text, path="<runbook>"):
    import yaml

    runbook = Runbook(path)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        problem = shape_problem(yaml.parse(text, Loader=loader)) or key_problem(yaml.compose(text, Loader=loader))
        if problem:
            runbook.note(problem)
            return runbook
        raw = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        runbook.note(f"not valid YAML: {' '.join(str(exc).split())}")
        return runbook
    if not isinstance(raw, dict):
        runbook.note("the runbook must be a YAML mapping with name and steps")
        return runbook
    if True in raw and "on" not in raw:
        raw["on"] = raw.pop(True)  # YAML 1.1 reads a bare `on:` key as true (key_problem let only `on` through)
    read_top(runbook, raw)
    return runbook


def shape_problem(events):
    """Aliases and anchors (whose expansion can make a few hundred bytes into gigabytes) and nesting past
    MAX_NESTING, found on the event stream: one linear pass that builds nothing."""
    depth = 0
    for event in events:
        if getattr(event, "anchor", None) is not None:
            kind, sign = ("aliases", "*") if type(event).__name__ == "AliasEvent" else ("anchors", "&")
            return (f"line {event.start_mark.line + 1}: YAML {kind} ({sign}{event.anchor}) are not allowed in "
                    "a runbook: write the value out")
        name = type(event).__name__
        if name in ("MappingStartEvent", "SequenceStartEvent"):
            depth += 1
            if depth > MAX_NESTING:
                return f"line {event.start_mark.line + 1}: nested deeper than {MAX_NESTING} mappings and lists"
        elif name in ("MappingEndEvent", "SequenceEndEvent"):
            depth -= 1
    return None


def key_problem(node):
    """A key that is not text (`1:`, `true:`, a list) or that appears twice in one mapping: YAML would
    read the first as another key (1 == True == `on`) and keep only the last of the second."""
    import yaml

    stack = [node] if node is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        if not isinstance(node, yaml.MappingNode):
            continue
        seen = set()
        for key, value in node.value:
            line = key.start_mark.line + 1
            plain_on = isinstance(key, yaml.ScalarNode) and key.value.lower() == "on" and not key.style
            if not (isinstance(key, yaml.ScalarNode) and (key.tag == STR_TAG or plain_on)):
                shown = key.value if isinstance(key, yaml.ScalarNode) else "a list or mapping"
                return f"line {line}: the key {shown!r} is not text: quote it (\"{shown}\":) or rename it"
            name = "on" if plain_on else key.value
            if name in seen:
                return f"line {line}: the key {name!r} appears twice in the same mapping: keep one"
            seen.add(name)
            stack.append(value)
    return None


def read_top(runbook, raw):
    for key in sorted(set(map(str, raw)) - TOP_KEYS):
        runbook.note(f"unknown key '{key}' (a runbook has {', '.join(sorted(TOP_KEYS))})", field_name=key)
    runbook.name = raw.get("name") if isinstance(raw.get("name"), str) else ""
    if not runbook.name.strip():
        runbook.note("the runbook needs a name", field_name="name")
    runbook.description = raw.get("description") or ""
    runbook.inputs = read_inputs(runbook, raw.get("inputs"))
    runbook.on = read_on(runbook, raw.get("on")) if "on" in raw else None
    runbook.steps = read_steps(runbook, raw.get("steps"))
    outputs = raw.get("outputs") or {}
    if not isinstance(outputs, dict):
        runbook.note("outputs must be a mapping of names to values", field_name="outputs")
        outputs = {}
    runbook.outputs = {str(name): compiled(runbook, value, None, f"outputs.{name}")
                       for name, value in outputs.items()}


def compiled(runbook, value, step, field_name):
    try:
        return expr.compile_value(value)
    except expr.ExpressionError as exc:
        runbook.note(f"the expression does not parse: {exc}", step, field_name)
        return None


def read_inputs(runbook, raw):
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        runbook.note("inputs must be a mapping of input names to {type, required, default}", field_name="inputs")
        return {}
    inputs = {}
    for name, declared in raw.items():
        at = f"inputs.{name}"
        if not isinstance(declared, dict):
            declared = {"default": declared}  # `name: value` is a shorthand for a default
        for key in sorted(set(map(str, declared)) - INPUT_KEYS):
            runbook.note(f"unknown key '{key}' (an input has {', '.join(sorted(INPUT_KEYS))})", field_name=at)
        kind = declared.get("type", "string")
        if not known_input_type(kind):
            runbook.note(f"unknown type {kind!r} (use {', '.join(INPUT_TYPES)} or []TYPE)", field_name=f"{at}.type")
            kind = "string"
        inputs[str(name)] = {"type": kind, "required": bool(declared.get("required")),
                             "description": declared.get("description", ""),
                             "default": compiled(runbook, declared.get("default"), None, f"{at}.default"),
                             "has_default": "default" in declared}
    return inputs


def known_input_type(kind):
    return isinstance(kind, str) and (kind in INPUT_TYPES or (kind.startswith("[]") and kind[2:] in INPUT_TYPES))


def read_on(runbook, raw):
    if not isinstance(raw, dict):
        runbook.note("on must be a mapping: {trigger, event_types, if}", field_name="on")
        return None
    for key in sorted(set(map(str, raw)) - ON_KEYS):
        runbook.note(f"unknown key '{key}' (on has trigger, event_types, if)", field_name="on")
    types = raw.get("event_types")
    if types is not None and not (isinstance(types, list) and all(isinstance(t, str) for t in types)):
        runbook.note("event_types must be a list of event types such as incident.triggered",
                     field_name="on.event_types")
        types = None
    trigger = raw.get("trigger")
    if trigger is not None and not isinstance(trigger, str):
        runbook.note("trigger must be the name of a trigger of the plugin", field_name="on.trigger")
        trigger = None
    return {"trigger": trigger, "event_types": types, "if": compiled(runbook, raw.get("if"), None, "on.if")}


def read_steps(runbook, raw):
    if not isinstance(raw, list) or not raw:
        runbook.note("steps must be a non-empty list of steps", field_name="steps")
        return []
    steps, seen = [], set()
    for position, entry in enumerate(raw):
        step = read_step(runbook, entry, position)
        if step is None:
            continue
        if step.id in seen:
            runbook.note(f"duplicate step id '{step.id}': each step needs its own id", step.id, "id")
            continue
        seen.add(step.id)
        steps.append(step)
    return steps


def read_step(runbook, raw, position):
    label = f"#{position + 1}"
    if not isinstance(raw, dict):
        runbook.note("a step must be a mapping with id and action", label)
        return None
    step_id = raw.get("id")
    if not isinstance(step_id, str) or not re.fullmatch(ID_PATTERN, step_id):
        runbook.note("a step needs an id in lower_snake_case (it names the step in references)", label, "id")
        return None
    for key in sorted(set(map(str, raw)) - STEP_KEYS):
        runbook.note(f"unknown key '{key}' (a step has {', '.join(sorted(STEP_KEYS))})", step_id, key)
    action = raw.get("action")
    if not isinstance(action, str) or not action:
        runbook.note("the step names no action", step_id, "action")
        action = ""
    step = Step(step_id, action, position)
    values = raw.get("input") or {}
    if not isinstance(values, dict):
        runbook.note("input must be a mapping of the action's input fields", step_id, "input")
        values = {}
    step.input = {str(name): compiled(runbook, value, step_id, f"input.{name}") for name, value in values.items()}
    for key, attribute in (("if", "condition"), ("foreach", "foreach")):
        if key in raw:
            setattr(step, attribute, compiled(runbook, raw[key], step_id, key))
    if isinstance(step.foreach, (str, int, float, bool, dict)):
        runbook.note("foreach must be an expression (or a list) giving the items", step_id, "foreach")
    read_retry(runbook, step, raw.get("retry"))
    on_failure = raw.get("on_failure", "fail")
    if on_failure not in ON_FAILURE:
        runbook.note(f"on_failure must be {' or '.join(ON_FAILURE)}, not {on_failure!r}", step_id, "on_failure")
    else:
        step.on_failure = on_failure
    return step


def read_retry(runbook, step, raw):
    if raw is None:
        return
    if not isinstance(raw, dict) or set(map(str, raw)) - RETRY_KEYS:
        runbook.note("retry must be {count: N, delay: SECONDS}", step.id, "retry")
        return
    count, delay = raw.get("count", 1), raw.get("delay", 0)
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_RETRIES:
        runbook.note(f"retry.count must be a whole number of retries from 0 to {MAX_RETRIES}", step.id, "retry.count")
        return
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= MAX_DELAY:
        runbook.note(f"retry.delay must be seconds from 0 to {MAX_DELAY}", step.id, "retry.delay")
        return
    step.retry_count, step.retry_delay = count, float(delay)


def load(path, spec=None):
    """The runbook at path, read and checked against the spec; RunbookError listing every problem."""
    from pagerduty_plugin.runbooks.check import check

    runbook = parse_file(path)
    problems = check(runbook, spec)
    if problems:
        raise RunbookError(path, problems)
    return runbook
