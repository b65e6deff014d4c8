"""A runbook file, read into a Runbook: its steps with their expressions compiled once.

Reading never fails on a badly shaped file: every problem is noted (file, step, field, message)
and `check` adds the ones that need the spec; `load` refuses a runbook with any. The shape is the
schema's (language.py, runbook.schema.json); what is here is what a schema cannot say.
"""

from dataclasses import dataclass, field

from pagerduty_plugin.errors import PluginError
from pagerduty_plugin.runbooks import expressions as expr
from pagerduty_plugin.runbooks import language

# The Python types of the input types the schema names (runbook.schema.json; a test keeps the two in step)
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
    """`step ID field NAME: message`, leaving out the field when the message names it already."""
    field_name = problem.get("field")
    shown = {"step": problem.get("step"), "field": field_name if field_name not in problem["message"] else None}
    where = " ".join(f"{key} {value}" for key, value in shown.items() if value)
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
    if isinstance(raw, dict) and True in raw and "on" not in raw:
        raw["on"] = raw.pop(True)  # YAML 1.1 reads a bare `on:` key as true (key_problem let only `on` through)
    raw, problems = language.problems(raw)
    for problem in problems:
        runbook.note(problem["message"], problem["step"], problem["field"])
    if problems:  # the model is built from a well-shaped document only: its meaning is checked once it is
        runbook.name = raw.get("name") if isinstance(raw, dict) and isinstance(raw.get("name"), str) else ""
        return runbook
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
    """The runbook from a document the schema accepted (its defaults filled in): expressions compiled,
    step ids checked to be used once."""
    runbook.name, runbook.description = raw["name"], raw.get("description") or ""
    runbook.inputs = read_inputs(runbook, raw.get("inputs") or {})
    runbook.on = read_on(runbook, raw["on"]) if "on" in raw else None
    runbook.steps = read_steps(runbook, raw["steps"])
    runbook.outputs = {str(name): compiled(runbook, value, None, f"outputs.{name}")
                       for name, value in (raw.get("outputs") or {}).items()}


def compiled(runbook, value, step, field_name):
    try:
        return expr.compile_value(value)
    except expr.ExpressionError as exc:
        runbook.note(f"the expression does not parse: {exc}", step, field_name)
        return None


def read_inputs(runbook, raw):
    inputs = {}
    for name, declared in raw.items():
        if not isinstance(declared, dict):
            declared = {"default": declared}  # `name: value` is a shorthand for a default
        inputs[str(name)] = {"type": declared.get("type", "string"), "required": declared.get("required", False),
                             "description": declared.get("description", ""),
                             "default": compiled(runbook, declared.get("default"), None, f"inputs.{name}.default"),
                             "has_default": "default" in declared}
    return inputs


def read_on(runbook, raw):
    return {"trigger": raw.get("trigger"), "event_types": raw.get("event_types"),
            "if": compiled(runbook, raw.get("if"), None, "on.if")}


def read_steps(runbook, raw):
    steps, seen = [], set()
    for position, entry in enumerate(raw):
        step = read_step(runbook, entry, position)
        if step.id in seen:
            runbook.note(f"steps[{position}] has a duplicate step id '{step.id}': each step needs its own id",
                         step.id, "id")
            continue
        seen.add(step.id)
        steps.append(step)
    return steps


def read_step(runbook, raw, position):
    step_id = raw["id"]
    step = Step(step_id, raw["action"], position, on_failure=raw["on_failure"])
    step.input = {str(name): compiled(runbook, value, step_id, f"input.{name}")
                  for name, value in (raw.get("input") or {}).items()}
    for key, attribute in (("if", "condition"), ("foreach", "foreach")):
        if key in raw:
            setattr(step, attribute, compiled(runbook, raw[key], step_id, key))
    if "retry" in raw:
        step.retry_count, step.retry_delay = int(raw["retry"]["count"]), float(raw["retry"]["delay"])
    return step


def load(path, spec=None):
    """The runbook at path, read and checked against the spec; RunbookError listing every problem."""
    from pagerduty_plugin.runbooks.check import check

    runbook = parse_file(path)
    problems = check(runbook, spec)
    if problems:
        raise RunbookError(path, problems)
    return runbook
