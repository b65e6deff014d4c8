"""Generate help.md from the spec, in the layout of an InsightConnect plugin's help.md.

`make docs` writes it; a test fails when the committed help.md differs from what this makes.
"""

import json
import sys

from pagerduty_plugin import spec as speclib


def render(spec):
    raw = spec.raw
    parts = [
        "# Description\n\n" + raw["description"].strip() + "\n",
        bullets("Key Features", raw.get("key_features")),
        bullets("Requirements", raw.get("requirements")),
        bullets("Supported Product Versions", raw.get("supported_versions")),
        "# Documentation\n\n## Setup\n\n" + connection_section(spec),
        "## Technical Details\n\n### Actions\n\n" + "\n".join(action_section(spec, n) for n in spec.actions),
        "### Triggers\n\n" + (
            "\n".join(action_section(spec, n, "triggers") for n in spec.triggers)
            or "_This plugin does not contain any triggers._\n"),
        "### Custom Types\n\n" + "\n".join(type_section(n, f, (spec.limits.get("types") or {}).get(n))
                                        for n, f in spec.types.items()),
        "## Troubleshooting\n\n" + "\n".join(f"* {t}" for t in raw.get("troubleshooting") or []) + "\n",
        "# Version History\n\n" + "\n".join(f"* {v}" for v in raw.get("version_history") or []) + "\n",
        "# Links\n\n## References\n\n" + "\n".join(f"* {r}" for r in raw.get("references") or []) + "\n",
    ]
    return "\n".join(p for p in parts if p)


def bullets(title, items):
    return f"# {title}\n\n" + "\n".join(f"* {i}" for i in items) + "\n" if items else ""


def connection_section(spec):
    rows = field_rows(spec.connection, spec.limits.get("connection"), env=spec.env_var)
    example = speclib.examples(spec.connection)
    return ("The connection configuration accepts the following parameters (in plain mode, "
            "`pagerduty-plugin run ACTION` reads each from the environment variable shown):\n\n"
            + rows + "\nExample input:\n\n" + code(example))


def action_section(spec, name, kind="actions"):
    action = (spec.actions if kind == "actions" else spec.triggers)[name]
    inputs, outputs = action.get("input") or {}, action.get("output") or {}
    example_in = speclib.examples(inputs)
    text = f"#### {action['title']}\n\n{action['description'].strip()} (`{name}`)\n\n##### Input\n\n"
    limits = (spec.limits.get(kind) or {}).get(name)
    text += (field_rows(inputs, limits) + "\nExample input:\n\n" + code(example_in)) if inputs else "_This action does not contain any inputs._\n"
    text += "\n##### Output\n\n" + (output_rows(outputs) if outputs else "_This action does not contain any outputs._\n")
    example_out = example_object(outputs, spec.types)
    if example_out:
        text += "\nExample output:\n\n" + code(example_out)
    return text


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


def type_section(name, fields, limits=None):
    return f"#### {name}\n\n" + output_rows(fields, limits)


def field_rows(fields, limits=None, env=None):
    limits = limits or {}
    head = "|Name|Type|Default|Required|Description|Enum|Example|" + ("Environment|" if env else "")
    rows = [head, "|" + "----|" * (8 if env else 7)]
    for name, f in fields.items():
        cells = [name, f["type"], cell(f.get("default")), str(bool(f.get("required"))), describe(f, limits.get(name)),
                 cell(f.get("enum")), cell(f.get("example"))]
        if env:
            cells.append(env(name) or "None")
        rows.append("|" + "|".join(cells) + "|")
    return "\n".join(rows) + "\n"


def output_rows(fields, limits=None):
    limits = limits or {}
    rows = ["|Name|Type|Required|Description|Example|", "|----|----|----|----|----|"]
    for name, f in fields.items():
        rows.append(f"|{name}|{f['type']}|{bool(f.get('required'))}|{describe(f, limits.get(name))}|"
                    f"{cell(f.get('example'))}|")
    return "\n".join(rows) + "\n"


def describe(field, limits=None):
    text = " ".join(str(field.get("description", "")).split())
    limits = [f"{k} {limits[k]}" for k in ("minimum", "maximum", "maxLength", "maxItems") if k in (limits or {})]
    return (text + (f" ({', '.join(limits)})" if limits else "")).replace("|", "\\|")


def cell(value):
    if value is None:
        return "None"
    return json.dumps(value).replace("|", "\\|")


def code(value):
    return "```\n" + json.dumps(value, indent=2) + "\n```\n"


def main():
    sys.stdout.write(render(speclib.load()))


if __name__ == "__main__":
    main()
