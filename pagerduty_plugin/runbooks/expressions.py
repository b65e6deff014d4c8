"""`${{ … }}` expressions: JMESPath (the `jmespath` package) over the run's context.

The context is `{inputs, steps: {ID: {status, output, error}}, event, item, index}`. A value that
is one whole expression keeps its JSON type; an expression inside text becomes text. JMESPath
parses and evaluates everything: this module only finds where an expression starts and ends.
"""

import json
import time
from datetime import datetime, timezone

import jmespath
from jmespath import exceptions as jmespath_errors
from jmespath import functions

from pagerduty_plugin.compat import fromisoformat

OPEN, CLOSE = "${{", "}}"
MAX_LENGTH = 4096  # characters in one expression
MAX_DEPTH = 48  # nodes inside each other in its syntax tree (JMESPath's parser and interpreter recurse)
QUOTES = "'\"`"  # raw strings, quoted names, JSON literals: a } inside them closes nothing
CONTEXT_NAMES = ("inputs", "steps", "event", "item", "index")


class ExpressionError(ValueError):
    """An expression that does not parse (or is not closed)."""


class EvaluationError(ValueError):
    """An expression that parsed but could not be evaluated on this data (e.g. join of numbers)."""


class RunbookFunctions(functions.Functions):
    """JMESPath's own functions plus two for time, which JMESPath lacks."""

    @functions.signature()
    def _func_now(self):
        """The current time, UTC, RFC 3339."""
        return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    @functions.signature({"types": ["string", "null"]})
    def _func_hours_since(self, value):
        """Hours from an RFC 3339 date to now (null for null or a date that does not parse)."""
        moment = parse_date(value)
        return None if moment is None else round((time.time() - moment.timestamp()) / 3600, 3)


OPTIONS = jmespath.Options(custom_functions=RunbookFunctions())
FUNCTION_NAMES = {name[len("_func_"):] for name in dir(RunbookFunctions) if name.startswith("_func_")}


def parse_date(value):
    if not isinstance(value, str):
        return None
    try:
        moment = fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def compile_expression(text):
    """The parsed JMESPath expression, or ExpressionError saying why not."""
    if not text.strip():
        raise ExpressionError("the expression is empty")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    try:
        parsed = jmespath.compile(text)
    except jmespath_errors.JMESPathError as exc:
        raise ExpressionError(" ".join(str(exc).split())) from None
    except RecursionError:
        raise ExpressionError(f"the expression is nested deeper than {MAX_DEPTH} levels") from None
    if depth(parsed.parsed) > MAX_DEPTH:
        raise ExpressionError(f"the expression is nested deeper than {MAX_DEPTH} levels")
    return parsed


def depth(ast):
    """How deep a JMESPath syntax tree goes (walked without recursion)."""
    deepest, stack = 0, [(ast, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(node, dict):
            stack.extend((child, level + 1) for child in node.get("children") or [] if isinstance(child, dict))
    return deepest


class Expression:
    """One `${{ … }}`: its text and parsed form."""

    def __init__(self, text):
        self.text = text.strip()
        self.parsed = compile_expression(self.text)

    @property
    def ast(self):
        return self.parsed.parsed

    def evaluate(self, context):
        try:
            return self.parsed.search(context, options=OPTIONS)
        except jmespath_errors.JMESPathError as exc:
            raise EvaluationError(f"${{{{ {self.text} }}}}: {' '.join(str(exc).split())}") from None


class Template:
    """A string holding expressions: parts are text or Expression."""

    def __init__(self, parts):
        self.parts = parts
        self.whole = len(parts) == 1 and isinstance(parts[0], Expression)

    @property
    def expressions(self):
        return [part for part in self.parts if isinstance(part, Expression)]

    def render(self, context):
        if self.whole:
            return self.parts[0].evaluate(context)
        return "".join(part if isinstance(part, str) else as_text(part.evaluate(context)) for part in self.parts)

    def source(self):
        return "".join(part if isinstance(part, str) else f"${{{{ {part.text} }}}}" for part in self.parts)


def as_text(value):
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False)


def parse_text(text):
    """A plain string, or a Template when it holds `${{ … }}`; ExpressionError when one is broken.

    The end of an expression is the first `}}` outside its own braces and quotes, so a `}}` inside one
    (a nested multi-select hash, a string) does not cut it short.
    """
    if OPEN not in text:
        return text
    parts, position = [], 0
    while True:
        start = text.find(OPEN, position)
        if start < 0:
            break
        if start > position:
            parts.append(text[position:start])
        expression, position = close_expression(text, start + len(OPEN))
        parts.append(expression)
    if position < len(text):
        parts.append(text[position:])
    meaningful = [part for part in parts if not (isinstance(part, str) and not part.strip())]
    if len(meaningful) == 1 and isinstance(meaningful[0], Expression):
        parts = meaningful  # " ${{ x }} " is one whole expression too
    return Template(parts)


def close_expression(text, begin):
    """The expression starting at begin and where it ends: the first `}}` outside JMESPath's braces and
    quotes. One pass over the text, one parse: a text that never closes costs no more than one that does."""
    end = closing(text, begin)
    if end < 0:
        raise ExpressionError(f"'{OPEN}' is not closed by '{CLOSE}'")
    return Expression(text[begin:end]), end + len(CLOSE)


def closing(text, begin):
    braces, position, length = 0, begin, len(text)
    while position < length:
        char = text[position]
        if char in QUOTES:
            position = skip_quoted(text, position)
            continue
        if char == "}" and braces == 0 and text.startswith(CLOSE, position):
            return position
        if char == "{":
            braces += 1
        elif char == "}" and braces:
            braces -= 1
        position += 1
    return -1


def skip_quoted(text, start):
    """The position after the quoted part that starts at start (a backslash escapes the next character)."""
    quote, position = text[start], start + 1
    while position < len(text):
        if text[position] == "\\":
            position += 2
            continue
        if text[position] == quote:
            return position + 1
        position += 1
    return len(text)


def compile_value(value):
    """A YAML value with every string holding expressions turned into a Template."""
    if isinstance(value, str):
        return parse_text(value)
    if isinstance(value, dict):
        return {key: compile_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [compile_value(item) for item in value]
    return value


def render(value, context):
    """A compiled value with its templates evaluated in context."""
    if isinstance(value, Template):
        return value.render(context)
    if isinstance(value, dict):
        return {key: render(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, context) for item in value]
    return value


def templates(value):
    """Every Template inside a compiled value."""
    if isinstance(value, Template):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from templates(item)
    elif isinstance(value, list):
        for item in value:
            yield from templates(item)


def source(value):
    """A compiled value back as written (for a dry run's plan)."""
    if isinstance(value, Template):
        return value.source()
    if isinstance(value, dict):
        return {key: source(item) for key, item in value.items()}
    if isinstance(value, list):
        return [source(item) for item in value]
    return value


def roots(expression):
    """The context names an expression reads (inputs, steps, …) from its AST."""
    found = set()

    def walk(node, at_root):
        if not isinstance(node, dict):
            return
        kind, children = node.get("type"), node.get("children") or []
        if kind == "field" and at_root:
            found.add(node["value"])
            return
        if kind in ("subexpression", "index_expression", "projection", "value_projection", "filter_projection",
                    "pipe", "flatten"):  # only the first child reads the context; the rest read its result
            walk(children[0], at_root)
            for child in children[1:]:
                walk(child, False)
            return
        for child in children:
            walk(child, at_root and kind not in ("expref",))

    walk(expression.ast, True)
    return found


def truthy(value):
    """JMESPath's truth: false, null, and empty strings, lists and objects are false."""
    return not (value is None or value is False or value in ("", [], {}))
