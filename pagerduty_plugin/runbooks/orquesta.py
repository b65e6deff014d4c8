"""`runbook export --to orquesta`: the same runbook as a StackStorm Orquesta workflow.

Each step becomes a task running `pagerduty_plugin.<action>` (the StackStorm pack's action refs);
`if` becomes a gate task without an action whose transitions go to the step or past it, `foreach`
becomes `with: items`, `retry` Orquesta's retry, `on_failure: continue` a `failed()` transition
that goes on (a remediation, so the workflow still succeeds). A step's status and output are
published as `step_<id>_status` and `step_<id>_output` (from `result().result`, a Python action's
return value). Expressions are translated to Jinja only where the meaning stays the same: paths,
literals, comparisons, and/or/not, `[]` projections of paths, join() and length(); anything else is
refused with the step and field named, never approximated.
"""

import re

from pagerduty_plugin.errors import PluginError
from pagerduty_plugin.runbooks import expressions as expr

PACK = "pagerduty_plugin"
COMPARATORS = {"eq": "==", "ne": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")


class NotFaithful(Exception):
    """An expression with no Jinja translation of the same meaning."""


def export(runbook, spec):
    """(YAML text of the Orquesta workflow, number of tasks)."""
    import yaml

    workflow = Workflow(runbook).build()
    header = [f"# Orquesta workflow exported from the runbook {runbook.name} by `pagerduty-plugin runbook export`.",
              f"# Its actions are the StackStorm pack {PACK}'s; each task publishes step_<id>_status and",
              "# step_<id>_output (result().result, the action's return value)."]
    if runbook.on:
        header.append(f"# The runbook's on: block ({runbook.on.get('trigger') or 'any trigger'}"
                      f"{' ' + ', '.join(runbook.on['event_types']) if runbook.on.get('event_types') else ''}) "
                      "becomes a StackStorm rule passing the event as the input `event`.")
    text = yaml.safe_dump(workflow, sort_keys=False, allow_unicode=True, width=120)
    return "\n".join(header) + "\n" + text, len(workflow["tasks"])


class Workflow:
    def __init__(self, runbook):
        self.runbook = runbook
        self.where = (None, None)

    def refuse(self, reason):
        step, field = self.where
        at = f"step {step} {field}" if step else field
        raise PluginError(f"The runbook {self.runbook.name} cannot be exported to Orquesta: {at}: {reason}",
                          "Orquesta gets only translations with the same meaning: write the expression with "
                          "paths, comparisons, &&, ||, !, [] projections, join() and length(), or run this "
                          "runbook with `pagerduty-plugin runbook run`.", {"step": step, "field": field})

    def build(self):
        book = self.runbook
        inputs, defaults = [], []
        for name, declared in book.inputs.items():
            if isinstance(declared["default"], expr.Template):
                inputs.append({name: None})
                defaults.append((name, declared["default"]))
            elif declared["has_default"]:
                inputs.append({name: declared["default"]})
            else:
                inputs.append(name)
        if book.on is not None or "event" in self.roots_read():
            inputs.append({"event": None})
        variables = [{f"step_{s.id}_{part}": None} for s in book.steps for part in ("status", "output")]
        tasks = {}
        if defaults:
            tasks["init_inputs"] = {"next": [{"publish": [self.default(name, value) for name, value in defaults],
                                              "do": first_task(book.steps[0])}]}
        for number, step in enumerate(book.steps):
            following = first_task(book.steps[number + 1]) if number + 1 < len(book.steps) else None
            tasks.update(self.step_tasks(step, following))
        workflow = {"version": 1.0, "description": book.description or book.name, "input": inputs,
                    "vars": variables, "tasks": tasks}
        outputs = []
        for name, value in book.outputs.items():
            self.where = (None, f"outputs.{name}")
            outputs.append({name: self.value(value)})
        if outputs:
            workflow["output"] = outputs
        return workflow

    def roots_read(self):
        found = set()
        for value in [s.input for s in self.runbook.steps] + [s.condition for s in self.runbook.steps] + \
                [s.foreach for s in self.runbook.steps] + [self.runbook.outputs]:
            for template in expr.templates(value):
                for expression in template.expressions:
                    found |= expr.roots(expression)
        return found

    def default(self, name, template):
        self.where = (None, f"inputs.{name}.default")
        if not template.whole:
            self.refuse("a default made of text and expressions")
        given = f"ctx()['{name}']"
        value = self.jinja(template.expressions[0].ast)
        return {name: f"{{{{ {given} if {given} is not none else ({value}) }}}}"}

    def step_tasks(self, step, following):
        tasks = {}
        if step.condition is not None:
            self.where = (step.id, "if")
            condition = self.condition(step)
            skip = {"when": f"{{{{ not ({condition}) }}}}", "publish": [{f"step_{step.id}_status": "skipped"}]}
            if following:
                skip["do"] = following
            tasks[f"{step.id}_if"] = {"next": [{"when": f"{{{{ {condition} }}}}", "do": step.id}, skip]}
        task = {"action": f"{PACK}.{step.action}"}
        if step.foreach is not None:
            self.where = (step.id, "foreach")
            task["with"] = {"items": self.value(step.foreach), "concurrency": 1}
        self.where = (step.id, "input")
        task["input"] = {name: self.value(value, f"input.{name}", step.id) for name, value in step.input.items()}
        if step.retry_count:
            task["retry"] = {"count": step.retry_count, "delay": step.retry_delay}
        result = "result() | map(attribute='result') | list" if step.foreach is not None else "result().result"
        success = {"when": "{{ succeeded() }}",
                   "publish": [{f"step_{step.id}_status": "ok"}, {f"step_{step.id}_output": f"{{{{ {result} }}}}"}]}
        if following:
            success["do"] = following
        task["next"] = [success]
        if step.on_failure == "continue":
            task["next"].append({"when": "{{ failed() }}", "publish": [{f"step_{step.id}_status": "failed"}],
                                 "do": following or "noop"})
        tasks[step.id] = task
        return tasks

    def condition(self, step):
        if not isinstance(step.condition, expr.Template) or not step.condition.whole:
            self.refuse("if must be one expression")
        expression = step.condition.expressions[0]
        if step.foreach is not None and {"item", "index"} & expr.roots(expression):
            self.refuse("an if that reads item is tested per item, which Orquesta's with-items cannot do")
        return self.jinja(expression.ast)

    def value(self, value, field=None, step_id=None):
        if field:
            self.where = (step_id, field)
        if isinstance(value, expr.Template):
            if value.whole:
                return f"{{{{ {self.jinja(value.expressions[0].ast)} }}}}"
            return "".join(part if isinstance(part, str) else self.as_text(part) for part in value.parts)
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.value(item) for item in value]
        return value

    def as_text(self, expression):
        """An expression inside text, written as the runbook writes it: null as nothing, a string as
        is, anything else as JSON."""
        code = self.jinja(expression.ast)
        if expression.ast.get("type") == "function_expression" and expression.ast.get("value") == "join":
            return f"{{{{ {code} }}}}"
        return f"{{{{ '' if ({code}) is none else (({code}) if ({code}) is string else (({code}) | tojson)) }}}}"

    def jinja(self, node):
        try:
            return Translate(self.runbook).node(node)
        except NotFaithful as exc:
            self.refuse(str(exc))


class Translate:
    """JMESPath AST -> a Jinja expression of the same meaning, or NotFaithful."""

    def __init__(self, runbook):
        self.runbook = runbook

    def node(self, node, scope="root"):
        kind, children = node.get("type"), node.get("children") or []
        if kind in ("field", "subexpression", "index_expression"):
            return self.path(node, scope)
        if kind == "literal":
            return literal(node["value"])
        if kind == "comparator":
            if node["value"] not in COMPARATORS:
                raise NotFaithful(f"the comparison {node['value']}")
            left, right = (self.node(child, scope) for child in children)
            return f"({left} {COMPARATORS[node['value']]} {right})"
        if kind in ("and_expression", "or_expression"):
            left, right = (self.node(child, scope) for child in children)
            return f"({left} {'and' if kind == 'and_expression' else 'or'} {right})"
        if kind == "not_expression":
            return f"(not {self.node(children[0], scope)})"
        if kind == "projection":
            return self.projection(children, scope)
        if kind == "function_expression":
            return self.function(node["value"], children, scope)
        raise NotFaithful(f"JMESPath's {kind.replace('_', ' ')} has no Jinja equivalent of the same meaning")

    def path(self, node, scope):
        parts = flatten_path(node)
        if parts is None:
            raise NotFaithful("only paths of names and [n] indexes are translated")
        head, rest = parts[0], parts[1:]
        if head == "inputs" and rest:
            return f"ctx()['{rest[0]}']" + "".join(subscript(p) for p in rest[1:])
        if head == "event":
            return "ctx()['event']" + "".join(subscript(p) for p in rest)
        if head == "item":
            return "item()" + "".join(subscript(p) for p in rest)
        if head == "steps" and len(rest) >= 2 and rest[1] in ("status", "output"):
            return f"ctx()['step_{rest[0]}_{rest[1]}']" + "".join(subscript(p) for p in rest[2:])
        raise NotFaithful(f"'{'.'.join(map(str, parts))}' (index and steps.ID.error have no Orquesta equivalent)")

    def projection(self, children, scope):
        left, right = children
        if left.get("type") != "flatten" or scope != "root":
            raise NotFaithful("only a [] projection of a path is translated")
        base = self.node(left["children"][0], scope)
        if right.get("type") == "identity":
            return base
        names = flatten_path(right)
        if not names or any(not isinstance(name, str) for name in names):
            raise NotFaithful("a [] projection is translated only when followed by names")
        # JMESPath leaves out the items whose value is null or missing: so do select and reject
        return f"({base} | map(attribute='{'.'.join(names)}') | select('defined') | reject('none') | list)"

    def function(self, name, children, scope):
        if name == "join" and len(children) == 2 and children[0].get("type") == "literal":
            return f"({self.node(children[1], scope)} | join({literal(children[0]['value'])}))"
        if name == "length" and len(children) == 1:
            return f"({self.node(children[0], scope)} | length)"
        raise NotFaithful(f"the function {name}() is not translated")


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


def subscript(part):
    # subscripts, not dots: a key named `items` or `keys` must not reach the dict's method
    return f"[{part}]" if isinstance(part, int) else f"[{literal(part)}]"


def literal(value):
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, (int, float)):
        return repr(value)
    raise NotFaithful("list and object literals are not translated")


def first_task(step):
    return f"{step.id}_if" if step.condition is not None else step.id
