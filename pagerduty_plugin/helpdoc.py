"""Generate help.md from the spec, in the layout of an InsightConnect plugin's help.md.

`make docs` writes it; a test fails when the committed help.md differs from what this makes.
The layout is the one Rapid7's plugin validators read: their headings, their input table
|Name|Type|Default|Required|Description|Enum|Example|Placeholder|Tooltip| and output table
|Name|Type|Required|Description|Example|, with each cell written as the validators expect it.
"""

import json
import sys

from pagerduty_plugin import constraints
from pagerduty_plugin import spec as speclib

RUNNER = (
    "This plugin brings its own runner, `pagerduty-plugin`, in place of Rapid7's Python SDK "
    "(insightconnect-plugin-runtime): the Docker image's entrypoint reads InsightConnect's messages and "
    "answers in its envelopes, and starts 3-5x faster than an SDK plugin. The same command runs the actions "
    "outside InsightConnect (`pagerduty-plugin run ACTION`, with the input object on stdin and the connection "
    "from the environment variables below)."
)
INPUT_HEAD = ["Name", "Type", "Default", "Required", "Description", "Enum", "Example", "Placeholder", "Tooltip"]
OUTPUT_HEAD = ["Name", "Type", "Required", "Description", "Example"]
TYPE_HEAD = ["Name", "Type", "Default", "Required", "Description", "Example"]
LIMIT_WORDS = {"minimum": "at least {}", "maximum": "at most {}", "minLength": "at least {} characters",
               "maxLength": "at most {} characters", "minItems": "at least {} items", "maxItems": "at most {} items",
               "uniqueItems": "each item once", "pattern": "of the form {}"}


def render(spec):
    raw = spec.raw
    parts = [
        "# Description\n\n" + raw["description"].strip() + "\n",
        bullets("Key Features", raw.get("key_features")),
        bullets("Requirements", raw.get("requirements")),
        bullets("Supported Product Versions", raw.get("supported_versions")),
        "# Documentation\n\n## Setup\n\n" + RUNNER + "\n\n" + connection_section(spec),
        "## Technical Details\n\n### Actions\n\n" + "\n".join(component(spec, n, "actions") for n in spec.actions),
        "### Triggers\n\n" + ("\n".join(component(spec, n, "triggers") for n in spec.triggers)
                              or "*This plugin does not contain any triggers.*\n"),
        "### Custom Types\n\n" + "\n".join(type_section(spec, n) for n in spec.types),
        "## Troubleshooting\n\n" + bullet_list(raw.get("troubleshooting")),
        "# Version History\n\n" + bullet_list(raw.get("version_history")),
        "# Links\n\n" + bullet_list(raw.get("links")),
        "## References\n\n" + bullet_list(raw.get("references")),
    ]
    return "\n".join(p for p in parts if p)


def bullets(title, items):
    return f"# {title}\n\n" + bullet_list(items) if items else ""


def bullet_list(items):
    return "".join(f"* {item}\n" for item in items or [])


def connection_section(spec):
    text = "The connection configuration accepts the following parameters:\n\n"
    text += input_table(spec.connection) + limits_line(spec.limits.get("connection"))
    text += "\nExample input:\n\n" + code(spec.sample_connection())
    text += ("\nIn plain mode, `pagerduty-plugin run ACTION` reads each setting from its environment variable:\n\n"
             + table(["Name", "Environment Variable"],
                     [[name, spec.env_var(name) or "None"] for name in spec.connection]))
    return text


def component(spec, name, kind):
    entry = (spec.actions if kind == "actions" else spec.triggers)[name]
    what = kind[:-1]
    inputs, outputs = entry.get("input") or {}, entry.get("output") or {}
    text = f"#### {entry['title']}\n\n{entry['description'].strip()} (`{name}`)\n\n##### Input\n\n"
    if inputs:
        example_in = spec.sample_input(name) if kind == "actions" else speclib.examples(inputs)
        text += input_table(inputs) + limits_line((spec.limits.get(kind) or {}).get(name))
        if kind == "actions":
            text += rules_lines(spec, name)
        text += "\nExample input:\n\n" + code(example_in)
    else:
        text += f"*This {what} does not contain any inputs.*\n"
    text += "\n##### Output\n\n"
    if outputs:
        text += table(OUTPUT_HEAD, [[n, f["type"], f.get("required", False), f["description"], f.get("example")]
                                    for n, f in outputs.items()])
        text += "\nExample output:\n\n" + code(example_object(outputs, spec.types))
    else:
        text += f"*This {what} does not contain any outputs.*\n"
    return text


def input_table(fields):
    return table(INPUT_HEAD, [[n, f["type"], f.get("default"), f.get("required"), f["description"], f.get("enum"),
                               f.get("example"), f.get("placeholder"), f.get("tooltip")]
                              for n, f in fields.items()])


def limits_line(limits):
    """The input limits from `python.limits`, in words (the description cell must stay the spec's own)."""
    if not limits:
        return ""
    said = [f"`{field}` " + ", ".join(LIMIT_WORDS[k].format(v) for k, v in rule.items())
            for field, rule in limits.items()]
    return "\nLimits: " + "; ".join(said) + ".\n"


def rules_lines(spec, name):
    """The action's rules between inputs (`python.constraints`) and earlier input names, in words."""
    text = "".join(f"\nRule: {constraints.describe(rule)}" + (f". {rule['why']}" if rule.get("why") else "")
                   + "\n" for rule in spec.constraints(name))
    aliases = spec.aliases(name)
    if aliases:
        said = [f"`{field}` also as {', '.join(f'`{a}`' for a in earlier)}" for field, earlier in aliases.items()]
        text += "\nEarlier names: " + "; ".join(said) + ".\n"
    return text


def type_section(spec, name):
    fields = spec.types[name]
    rows = [[n, f["type"], f.get("default"), f.get("required"), f["description"], f.get("example")]
            for n, f in fields.items()]
    return f"**{name}**\n\n" + table(TYPE_HEAD, rows) + limits_line((spec.limits.get("types") or {}).get(name))


def table(head, rows):
    lines = ["|" + "|".join(head) + "|", "|" + " :--- |" * len(head)]
    lines += ["|" + "|".join(cell(value) for value in row) + "|" for row in rows]
    return "\n".join(lines) + "\n"


def cell(value):
    """A value as Rapid7's help validator expects to find it: Python's str() of the value, a list
    with double quotes, a line break as the two characters \\n."""
    text = str(value).replace("'", '"') if isinstance(value, list) else str(value)
    return text.replace("\n", "\\n")


def example_object(fields, types, depth=0):
    """An example built from the examples of the fields (and of their types' fields)."""
    example = {}
    for name, field in fields.items():
        value = example_value(field, types, depth)
        if value is not None:
            example[name] = value
    return example


def example_value(field, types, depth):
    if "example" in field:
        return field["example"]
    type_name = field["type"]
    if type_name.startswith("[]"):
        item = example_value({"type": type_name[2:]}, types, depth)
        return [item] if item is not None else None
    if type_name in types and depth < 3:
        return example_object(types[type_name], types, depth + 1) or None
    return None


def code(value):
    return "```\n" + json.dumps(value, indent=2) + "\n```\n"


def main():
    sys.stdout.write(render(speclib.load()))


if __name__ == "__main__":
    main()
