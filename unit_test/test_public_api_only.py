"""The package leans on requests and urllib3 only through their public API, and declares what it imports.

What these checks keep out came in before: the transport wrote `response._content` (to cap an answer's size),
overrode urllib3's private `HTTPConnectionPool._get_conn` (for the whole-exchange deadline) and told a
connection that never opened by its exception's class name. Each has a public way now (client/http.py,
client/deadline.py)."""

import ast
import os
import sys

import pytest
from conftest import ROOT
from test_layering import PACKAGE, imports_of, modules_under

# requests' and urllib3's private names the plugin once used or might reach for
PRIVATE = {"_content", "_content_consumed", "_get_conn", "_put_conn", "_new_conn", "_make_request",
           "_validate_conn", "_prepare_proxy"}


def trees():
    for path in modules_under(PACKAGE):
        yield os.path.relpath(path, ROOT), ast.parse(open(path, encoding="utf-8").read())


def private_uses(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in PRIVATE:
            yield node.lineno, f".{node.attr}"
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in PRIVATE:
            yield node.lineno, f"def {node.name}"


def error_name(node):
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and \
        node.value.endswith(("Error", "Exception", "Timeout", "Warning"))


def matches_by_class_name(tree):
    """`type(x).__name__ == "SomeError"` or `... in ("AError", "BError")`: isinstance on the class instead."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        if not any(isinstance(side, ast.Attribute) and side.attr == "__name__" for side in sides):
            continue
        constants = [c for side in sides for c in ([side] if not isinstance(side, (ast.Tuple, ast.List, ast.Set))
                                                   else side.elts)]
        if any(error_name(c) for c in constants):
            yield node.lineno, "an exception matched by its class name"


def test_no_private_attribute_of_requests_or_urllib3_is_used_or_overridden():
    found = [f"{path}:{line}: {what}" for path, tree in trees() for line, what in private_uses(tree)]
    assert found == []


def test_no_exception_is_matched_by_its_class_name():
    found = [f"{path}:{line}: {what}" for path, tree in trees() for line, what in matches_by_class_name(tree)]
    assert found == []


def test_the_checks_see_what_they_look_for():  # broken controls: the old code's three forms
    old = ("response._content = read_capped(response)\n"
           "class Pool:\n    def _get_conn(self, timeout=None):\n        pass\n"
           "sent = type(reason).__name__ in ('NewConnectionError', 'NameResolutionError')\n")
    tree = ast.parse(old)
    assert [what for _, what in private_uses(tree)] == ["._content", "def _get_conn"]
    assert len(list(matches_by_class_name(tree))) == 1
    assert list(matches_by_class_name(ast.parse("kind = type(event).__name__ == 'AliasEvent'"))) == []


@pytest.mark.skipif(sys.version_info < (3, 11), reason="reads pyproject.toml with tomllib (Python 3.11+)")
def test_every_third_party_module_the_package_imports_is_declared():
    import tomllib
    from importlib.metadata import packages_distributions

    from packaging.requirements import Requirement

    project = tomllib.loads(open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8").read())["project"]
    extras = [r for name, group in project["optional-dependencies"].items() if name != "test" for r in group]
    declared = {Requirement(r).name.lower().replace("_", "-") for r in project["dependencies"] + extras}
    distributions = packages_distributions()
    imported = {name.split(".")[0] for path in modules_under(PACKAGE) for name in imports_of(path)}
    third_party = {name for name in imported if name and name not in sys.stdlib_module_names
                   and name != "pagerduty_plugin" and name in distributions}
    undeclared = {name: distributions[name] for name in third_party
                  if not {d.lower().replace("_", "-") for d in distributions[name]} & declared}
    assert "urllib3" in third_party and "requests" in third_party  # the check sees the transport's imports
    assert undeclared == {}
