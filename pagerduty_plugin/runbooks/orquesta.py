"""`runbook export --to orquesta`: the same runbook as a StackStorm Orquesta workflow, of the same meaning.

Each step becomes a task running the StackStorm pack's action `pagerduty_plugin.runbook_step`, which runs the
step's action (`pagerduty_action`) with its input through the runner. The workflow keeps the runbook's meaning:

- each step publishes `step_<id>_status` (ok, failed, skipped: the value it starts with, so a step never reached
  is skipped, as in `runbook run`) and `step_<id>_output`; `if` is a gate task without an action;
- `foreach` is a loop of tasks over the items, not Orquesta's with-items (which stops at the first failed item
  and retries the whole task): each item is retried on its own, `on_failure: continue` goes on with the next
  item, and a foreach that ran no item is skipped;
- a failed step under `on_failure: fail` fails the workflow after publishing its status; later steps stay
  skipped; the output `steps` gives each step's status and output, `outputs` the runbook's outputs;
- expressions are translated to Jinja only where the meaning is JMESPath's: a path through a missing or
  skipped step's output gives null (each field and index is guarded), truth is JMESPath's (0 is true, empty
  strings, lists and objects are false), `<`-style comparisons of other than numbers give null. Anything else
  is refused naming the step and the field, never approximated.

No value from PagerDuty or a user is ever evaluated as an expression by Orquesta or st2: Orquesta evaluates
again any expression result that is a string holding `{{ }}`, `{% %}` or `<% %>` (and st2 renders action
parameters holding Jinja), so no expression here ends in a string of data. A step's input reaches the action as
URL-encoded JSON (`pagerduty_input`), outputs are published as objects, and the runbook's inputs and event come
in as `input_json` and `event_json`: JSON in which no expression delimiter appears (exports/stackstorm_sensor.py
inert_json; the pack's sensors dispatch the event so beside it), read with Orquesta's json().
"""

import re

from pagerduty_plugin.errors import PluginError
from pagerduty_plugin.runbooks import expressions as expr

PACK = "pagerduty_plugin"
STEP_ACTION = f"{PACK}.runbook_step"  # the pack's generic action: pagerduty_action + pagerduty_input
COMPARATORS = {"eq": "==", "ne": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
ORDERING = ("lt", "lte", "gt", "gte")
BOOLEAN_NODES = ("comparator", "and_expression", "or_expression", "not_expression")
START = "start"
MISSING = "\u2400pagerduty-plugin: missing\u2400"  # a projection's stand-in for a field an item lacks


class NotFaithful(Exception):
    """An expression with no Jinja translation of the same meaning."""


def export(runbook, spec):
    """(YAML text of the Orquesta workflow, number of tasks)."""
    import yaml

    workflow = Workflow(runbook).build()
    header = [f"# Orquesta workflow exported from the runbook {runbook.name} by `pagerduty-plugin runbook export`.",
              f"# Each task runs {STEP_ACTION} (the StackStorm pack {PACK}); the output `steps` has each step's",
              "# status and output, `outputs` the runbook's outputs."]
    if runbook.on:
        header.append(f"# The runbook's on: block ({runbook.on.get('trigger') or 'any trigger'}"
                      f"{' ' + ', '.join(runbook.on['event_types']) if runbook.on.get('event_types') else ''}) "
                      "becomes a StackStorm rule passing the trigger's event_json as the input event_json.")
    text = yaml.safe_dump(workflow, sort_keys=False, allow_unicode=True, width=120)
    return "\n".join(header) + "\n" + text, len(workflow["tasks"])


class Workflow:
    def __init__(self, runbook):
        self.runbook = runbook
        self.where = (None, None)
        self.tasks = {}

    def refuse(self, reason):
        step, field = self.where
        at = f"step {step} {field}" if step else field
        raise PluginError(f"The runbook {self.runbook.name} cannot be exported to Orquesta: {at}: {reason}",
                          "Orquesta gets only translations with the same meaning: write the expression with "
                          "paths, comparisons, &&, ||, !, [] projections, join() and length(), or run this "
                          "runbook with `pagerduty-plugin runbook run`.", {"step": step, "field": field})

    def build(self):
        book = self.runbook
        self.check_names()
        inputs = [{"input_json": "{}"}, {"event_json": None}]
        variables = [{"runbook_inputs": None}, {"event": None}]
        for step in book.steps:
            variables += [{f"step_{step.id}_status": "skipped"}, {f"step_{step.id}_output": None}]
        self.tasks[START] = {"next": [{"publish": [
            {"event": "{{ json(ctx()['event_json']) if ctx()['event_json'] else none }}"},
            {"runbook_inputs": "{{ json(ctx()['input_json'] or '{}') }}"},
            {"runbook_inputs": self.inputs_value()}], "do": entry(book.steps[0])}]}
        for number, step in enumerate(book.steps):
            following = entry(book.steps[number + 1]) if number + 1 < len(book.steps) else None
            self.step_tasks(step, following)
        outputs = {}
        for name, value in book.outputs.items():
            self.where = (None, f"outputs.{name}")
            outputs[name] = self.value(value)
        steps = {s.id: f"{{'status': ctx()['step_{s.id}_status'], 'output': ctx()['step_{s.id}_output']}}"
                 for s in book.steps}
        return {"version": 1.0, "description": book.description or book.name, "input": inputs,
                "vars": variables, "tasks": self.tasks,
                "output": [{"steps": "{{ " + mapping(steps) + " }}"}, {"outputs": "{{ " + mapping(outputs) + " }}"}]}

    def check_names(self):
        names = {START}
        for step in self.runbook.steps:
            for name in (step.id, f"{step.id}__if", f"{step.id}__loop", f"{step.id}__init", f"{step.id}__skip"):
                if name in names:
                    self.where = (step.id, "id")
                    self.refuse(f"the task name {name} is taken by another step's task")
                names.add(name)

    def inputs_value(self):
        """The runbook's inputs as one object: given values, else defaults (which may read the event)."""
        entries = {}
        for name, declared in self.runbook.inputs.items():
            self.where = (None, f"inputs.{name}.default")
            given = f"ctx()['runbook_inputs'].get({literal(name)})"
            if declared["has_default"]:
                default = self.value(declared["default"])
                entries[name] = f"({given} if {given} not in [none, ''] else {default})"
            else:
                entries[name] = given
        return "{{ " + mapping(entries) + " }}"

    # --- steps ------------------------------------------------------------------------------------

    def step_tasks(self, step, following):
        after = following or "noop"
        if step.condition is not None:
            self.where = (step.id, "if")
            if not isinstance(step.condition, expr.Template):
                self.refuse("if must be an expression")
        if step.foreach is not None:
            self.loop(step, after)
            return
        if step.condition is not None:
            condition = self.truth(step.condition)
            self.tasks[f"{step.id}__if"] = {"next": [{"when": f"{{{{ {condition} }}}}", "do": step.id},
                                                     {"when": f"{{{{ not {condition} }}}}", "do": after}]}
        self.single(step, after)

    def task(self, step, item=None, index=None):
        self.where = (step.id, "input")
        fields = {}
        for name, value in step.input.items():
            self.where = (step.id, f"input.{name}")
            fields[name] = self.value(value, item, index)
        task = {"action": STEP_ACTION, "input": {
            "pagerduty_action": step.action,
            # an object, URL-encoded: the text holds no `{{`, `{%` or `<%`, whatever the values hold
            "pagerduty_input": "{{ " + mapping(fields) + " | tojson | urlencode }}"}}
        if step.retry_count:
            task["retry"] = {"count": step.retry_count, "delay": int(round(step.retry_delay))}
            if task["retry"]["delay"] != step.retry_delay:
                self.where = (step.id, "retry.delay")
                self.refuse("Orquesta's retry delay is whole seconds")
        return task

    def failed(self, step, after, publish):
        """Where a failed step goes: on with the runbook (continue), or the workflow fails (fail)."""
        publish = [*publish, {f"step_{step.id}_status": "failed"}]
        if step.on_failure == "continue":
            return {"when": "{{ failed() }}", "publish": publish, "do": after}
        return {"when": "{{ failed() }}", "publish": publish, "do": "fail"}

    def single(self, step, after):
        task = self.task(step)
        task["next"] = [{"when": "{{ succeeded() }}", "publish": [{f"step_{step.id}_status": "ok"},
                                                                  {f"step_{step.id}_output": "{{ result().result }}"}],
                         "do": after},
                        self.failed(step, after, [])]
        self.tasks[step.id] = task

    def loop(self, step, after):
        """foreach as a loop: init (the items), loop (the next item, or the step's end), the action per item."""
        v = {part: f"ctx()['{step.id}__{part}']" for part in ("items", "index", "outputs", "failures", "ran")}
        self.where = (step.id, "foreach")
        items = self.value(step.foreach)
        self.tasks[f"{step.id}__init"] = {"next": [{"publish": [
            {f"{step.id}__items": f"{{{{ {items} }}}}"}, {f"{step.id}__index": 0}, {f"{step.id}__outputs": []},
            {f"{step.id}__failures": 0}, {f"{step.id}__ran": 0}], "do": f"{step.id}__loop"}]}
        listed = f"({v['items']} is none or ({kind_list(v['items'])}))"
        more = f"{v['index']} < ({v['items']} or []) | length"
        done = [{f"step_{step.id}_output": f"{{{{ {v['outputs']} }}}}"}]
        item, index = f"{v['items']}[{v['index']}]", v["index"]
        wanted = "true"
        if step.condition is not None:  # tested per item, as runbook run does
            self.where = (step.id, "if")
            wanted = self.truth(step.condition, item, index)
        self.tasks[f"{step.id}__skip"] = {"next": [{"publish": [
            {f"{step.id}__outputs": f"{{{{ {v['outputs']} + [none] }}}}"},
            {f"{step.id}__index": f"{{{{ {v['index']} + 1 }}}}"}], "do": f"{step.id}__loop"}]}
        self.tasks[f"{step.id}__loop"] = {"next": [
            {"when": f"{{{{ not {listed} }}}}", "publish": [{f"step_{step.id}_status": "failed"}],
             "do": after if step.on_failure == "continue" else "fail"},
            {"when": f"{{{{ {listed} and {more} and {wanted} }}}}", "do": step.id},
            {"when": f"{{{{ {listed} and {more} and not {wanted} }}}}", "do": f"{step.id}__skip"},
            {"when": f"{{{{ {listed} and not ({more}) and {v['failures']} > 0 }}}}",
             "publish": [*done, {f"step_{step.id}_status": "failed"}], "do": after},
            {"when": f"{{{{ {listed} and not ({more}) and {v['failures']} == 0 and {v['ran']} > 0 }}}}",
             "publish": [*done, {f"step_{step.id}_status": "ok"}], "do": after},
            {"when": f"{{{{ {listed} and not ({more}) and {v['failures']} == 0 and {v['ran']} == 0 }}}}",
             "publish": [*done, {f"step_{step.id}_status": "skipped"}], "do": after},
        ]}
        task = self.task(step, item=item, index=index)
        advance = {f"{step.id}__index": f"{{{{ {v['index']} + 1 }}}}"}
        failed_item = [{f"{step.id}__outputs": f"{{{{ {v['outputs']} + [none] }}}}"}]
        task["next"] = [
            {"when": "{{ succeeded() }}", "do": f"{step.id}__loop", "publish": [
                {f"{step.id}__outputs": f"{{{{ {v['outputs']} + [result().result] }}}}"},
                {f"{step.id}__ran": f"{{{{ {v['ran']} + 1 }}}}"}, advance]}]
        if step.on_failure == "continue":
            task["next"].append({"when": "{{ failed() }}", "publish": [
                *failed_item, {f"{step.id}__failures": f"{{{{ {v['failures']} + 1 }}}}"}, advance],
                "do": f"{step.id}__loop"})
        else:  # the items stop at the first failure, and so does the runbook
            task["next"].append({"when": "{{ failed() }}", "publish": [
                *failed_item, {f"step_{step.id}_output": f"{{{{ {v['outputs']} }}}}"},
                {f"step_{step.id}_status": "failed"}], "do": "fail"})
        self.tasks[step.id] = task

    # --- values -----------------------------------------------------------------------------------

    def value(self, value, item=None, index=None):
        """A Jinja expression (text, without delimiters) of the compiled value."""
        translate = Translate(item, index)
        try:
            return translate.value(value)
        except NotFaithful as exc:
            self.refuse(str(exc))

    def truth(self, template, item=None, index=None):
        try:
            return Translate(item, index).truth(template)
        except NotFaithful as exc:
            self.refuse(str(exc))


def reads(template):
    return set().union(*(expr.roots(e) for e in template.expressions)) if template.expressions else set()


def entry(step):
    if step.foreach is not None:
        return f"{step.id}__init"
    return f"{step.id}__if" if step.condition is not None else step.id


def mapping(entries):
    # "} }": Orquesta finds an expression's end at the first "}}"
    return "{" + ", ".join(f"{literal(k)}: {v}" for k, v in entries.items()) + " }"


def kind_list(code):
    return f"{code} is sequence and {code} is not string and {code} is not mapping"


class Translate:
    """Compiled runbook values and JMESPath ASTs -> Jinja expressions of the same meaning, or NotFaithful."""

    def __init__(self, item=None, index=None):
        self.item, self.index = item, index

    def value(self, value):
        if isinstance(value, expr.Template):
            if value.whole:
                return self.node(value.expressions[0].ast)
            parts = [literal(p) if isinstance(p, str) else self.as_text(p.ast) for p in value.parts]
            return "(" + " ~ ".join(parts) + ")"
        if isinstance(value, dict):
            return mapping({k: self.value(v) for k, v in value.items()})
        if isinstance(value, list):
            return "[" + ", ".join(self.value(v) for v in value) + "]"
        return literal(value)

    def truth(self, template):
        if not template.whole:
            return "true"  # text is never empty here: it holds literal text and expressions
        return self.truthy(template.expressions[0].ast)

    def as_text(self, node):
        """An expression inside text, written as the runbook writes it: null as nothing, a string as is,
        anything else as JSON."""
        code = self.node(node)
        return (f"(([{code}] | select('string') | list) + ([{code}] | reject('string') | reject('none') "
                f"| map('tojson') | list) + [''])[0]")

    def truthy(self, node):
        """JMESPath's truth of a node's value: false, null, '', [] and {} are false (0 is true)."""
        code = self.node(node)
        if node.get("type") == "comparator":
            return f"({code} is true)"  # an ordering of other than numbers gives null
        if node.get("type") in BOOLEAN_NODES:
            return code
        return (f"([{code}] | reject('none') | reject('false') | reject('equalto', '') | reject('equalto', []) "
                f"| reject('equalto', {{}}) | list | length > 0)")

    def node(self, node):
        kind, children = node.get("type"), node.get("children") or []
        if kind in ("field", "subexpression", "index_expression"):
            return self.path(node)
        if kind == "literal":
            return literal(node["value"])
        if kind == "comparator":
            return self.comparison(node["value"], children)
        if kind == "and_expression":
            left, right = (self.truthy(c) for c in children)
            if not all(c.get("type") in BOOLEAN_NODES for c in children):
                raise NotFaithful("&& of values (JMESPath gives a value, not true or false)")
            return f"({left} and {right})"
        if kind == "or_expression":
            if not all(c.get("type") in BOOLEAN_NODES for c in children):
                raise NotFaithful("|| of values (JMESPath gives a value, not true or false)")
            left, right = (self.truthy(c) for c in children)
            return f"({left} or {right})"
        if kind == "not_expression":
            return f"(not {self.truthy(children[0])})"
        if kind == "projection":
            return self.projection(children)
        if kind == "function_expression":
            return self.function(node["value"], children)
        raise NotFaithful(f"JMESPath's {kind.replace('_', ' ')} has no Jinja equivalent of the same meaning")

    def comparison(self, operator, children):
        if operator not in COMPARATORS:
            raise NotFaithful(f"the comparison {operator}")
        left, right = (self.node(c) for c in children)
        if operator in ORDERING:  # JMESPath orders numbers only: anything else gives null
            numbers = " and ".join(f"({{'v': {c}}}.v is number and {{'v': {c}}}.v is not boolean)"
                                   for c in (left, right))
            return f"(({left} {COMPARATORS[operator]} {right}) if ({numbers}) else none)"
        equal = f"({left} == {right})"
        for child, other in ((children[0], right), (children[1], left)):
            value = child.get("value") if child.get("type") == "literal" else None
            if isinstance(value, bool):  # Python's 1 == true is not JMESPath's
                equal = f"({other} is {'true' if value else 'false'})"
            elif isinstance(value, (int, float)):
                equal = f"({left} == {right} and {other} is not boolean)"
        return equal if operator == "eq" else f"(not {equal})"

    def path(self, node):
        parts = flatten_path(node)
        if parts is None:
            raise NotFaithful("only paths of names and [n] indexes are translated")
        head, rest = parts[0], parts[1:]
        if head == "inputs" and rest:
            code, rest = f"ctx()['runbook_inputs'][{literal(rest[0])}]", rest[1:]
        elif head == "event":
            code = "ctx()['event']"
        elif head == "item" and self.item:
            code = self.item
        elif head == "index" and self.index and not rest:
            return self.index
        elif head == "steps" and len(rest) >= 2 and rest[1] in ("status", "output"):
            code, rest = f"ctx()['step_{rest[0]}_{rest[1]}']", rest[2:]
        else:
            raise NotFaithful(f"'{'.'.join(map(str, parts))}' (steps.ID.error has no Orquesta equivalent)")
        for part in rest:
            code = guarded(code, part)
        return code

    def projection(self, children):
        left, right = children
        if left.get("type") != "flatten":
            raise NotFaithful("only a [] projection of a path is translated")
        base = f"(([{self.node(left['children'][0])}] | select('sequence') | reject('string') | reject('mapping') " \
               f"| list) + [none])[0]"
        if right.get("type") == "identity":
            return base
        names = flatten_path(right)
        if not names or any(not isinstance(name, str) for name in names):
            raise NotFaithful("a [] projection is translated only when followed by names")
        if any(name in ("items", "keys", "values", "get") for name in names):
            raise NotFaithful("a [] projection to a field named like a dict's method")
        # JMESPath leaves out the items whose value is null or missing (MISSING: what Jinja's map gives then)
        return (f"(([{base}] | reject('none') | map('map', attribute={literal('.'.join(names))}, default=MISSING) "
                f"| map('reject', 'equalto', MISSING) | map('reject', 'none') | map('list') | list) + [none])[0]"
                ).replace("MISSING", literal(MISSING))

    def function(self, name, children):
        if name == "join" and len(children) == 2 and children[0].get("type") == "literal":
            return f"({self.node(children[1])} | join({literal(children[0]['value'])}))"
        if name == "length" and len(children) == 1:
            return f"({self.node(children[0])} | length)"
        raise NotFaithful(f"the function {name}() is not translated")


def guarded(code, part):
    """code[part] as JMESPath reads it: null where code is not an object (a list for an index) or lacks it."""
    if isinstance(part, int):
        if part < 0:
            raise NotFaithful("a negative index")
        return f"((([{code}] | select('sequence') | reject('string') | reject('mapping') | list) + [[]])[0]" \
               f"[{part}:{part + 1}] + [none])[0]"
    return f"((([{code}] | select('mapping') | list) + [{{}}])[0].get({literal(part)}))"


def flatten_path(node):
    """['a', 'b', 0, 'c'] for a.b[0].c, or None when node is not a plain path."""
    kind, children = node.get("type"), node.get("children") or []
    if kind == "field":
        return [node["value"]]
    if kind == "subexpression":
        parts = []
        for child in children:
            more = flatten_path(child)
            if more is None:
                return None
            parts += more
        return parts
    if kind == "index_expression" and children[1].get("type") == "index":
        left = flatten_path(children[0])
        return None if left is None else left + [children[1]["value"]]
    return None


def literal(value):
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):  # as escapes, the characters of expression delimiters: the text is the runbook's
        text = value.replace("\\", "\\\\").replace("'", "\\'")
        return "'" + re.sub(r"[{}%<#]", lambda m: f"\\x{ord(m.group()):02x}", text) + "'"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return mapping({k: literal(v) for k, v in value.items()})
    raise NotFaithful(f"the literal {value!r}")
