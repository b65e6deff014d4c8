"""Extension actions against the sandbox: schemas named by label, services by name, partial
updates, and the errors around them."""

import pytest
from test_services import HOSTILE_IDS, api, assert_hostile_id_sends_nothing, assert_read_only_key_refused, first  # helpers; the fixtures are conftest.py's


@pytest.fixture
def schema(sandbox):
    return first(sandbox, "extension_schemas")


@pytest.fixture
def hook(step, schema, service):
    """A webhook extension on the first service, made through the plugin."""
    result, _ = step("create_extension", name="Ops hook", extension_schema=schema["id"], services=[service["id"]],
                     endpoint_url="https://hooks.example.com/a")
    return result.output["extension"]


def test_list_extension_schemas(step, sandbox):
    result, sent = step("list_extension_schemas", max_results=1)
    assert result.output["extension_schemas"][0]["label"]
    assert (result.output["count"], result.output["truncated"]) == (1, len(
        api(sandbox, "GET", "/extension_schemas")["extension_schemas"]) > 1)
    assert [(e["method"], e["path"], e["query"]) for e in sent] == [
        ("GET", "/extension_schemas", {"limit": ["1"], "offset": ["0"]})]


def test_create_extension_by_schema_label_and_service_name(step, schema, service):
    result, sent = step("create_extension", name="Ops hook", extension_schema=schema["label"].upper(),
                        services=[service["name"]], endpoint_url="https://hooks.example.com/a",
                        config={"referer": "x"})
    made = result.output["extension"]
    assert made["extension_schema"]["id"] == schema["id"]
    assert [o["id"] for o in made["extension_objects"]] == [service["id"]]
    assert [(e["method"], e["path"], e["query"].get("query")) for e in sent] == [
        ("GET", "/extension_schemas", None), ("GET", "/services", [service["name"]]), ("POST", "/extensions", None)]
    assert sent[-1]["json"] == {"extension": {
        "type": "extension", "name": "Ops hook", "endpoint_url": "https://hooks.example.com/a",
        "config": {"referer": "x"}, "extension_schema": {"id": schema["id"], "type": "extension_schema_reference"},
        "extension_objects": [{"id": service["id"], "type": "service_reference"}]}}


@pytest.mark.parametrize("values, cause", [
    ({"extension_schema": "Carrier Pigeon"}, "No extension schema is named 'Carrier Pigeon'"),
    ({"services": ["No Such Service"]}, "No service is named 'No Such Service'"),
])
def test_names_that_match_nothing(step, schema, service, values, cause):
    values = {"name": "X", "extension_schema": schema["id"], "services": [service["id"]], **values}
    result, sent = step("create_extension", **values)
    assert result.error["cause"] == cause and "list_" in result.error["assistance"]
    assert [e["method"] for e in sent] == ["GET"]


@pytest.mark.parametrize("values", [
    {"name": "X", "extension_schema": "PSCHEMA"}, {"name": "X", "services": ["PSERV01"]},
    {"name": "X", "extension_schema": "PSCHEMA", "services": 7},
    {"name": "X", "extension_schema": "PSCHEMA", "services": ["PSERV01"], "config": "a=b"},
])
def test_bad_extension_input_sends_nothing(step, values):
    result, sent = step("create_extension", **values)
    assert result.code == 1 and sent == [] and result.error["assistance"]


def test_list_extensions_of_a_service_and_schema(step, hook, schema, service):
    result, sent = step("list_extensions", service=service["id"], extension_schema=schema["id"], query="ops")
    assert hook["id"] in [e["id"] for e in result.output["extensions"]]
    assert [(e["path"], e["query"]) for e in sent] == [
        ("/extensions", {"query": ["ops"], "extension_object_id": [service["id"]],
                         "extension_schema_id": [schema["id"]], "limit": ["100"], "offset": ["0"]})]


def test_get_extension(step, hook):
    result, sent = step("get_extension", extension_id=hook["id"])
    assert result.output["extension"]["endpoint_url"] == "https://hooks.example.com/a"
    assert [(e["method"], e["path"]) for e in sent] == [("GET", f"/extensions/{hook['id']}")]


def test_update_extension_url_only(step, hook):
    result, sent = step("update_extension", extension_id=hook["id"], endpoint_url="https://hooks.example.com/b")
    assert result.output["extension"]["endpoint_url"] == "https://hooks.example.com/b"
    assert result.output["extension"]["name"] == "Ops hook"
    assert [(e["method"], e["json"]) for e in sent] == [
        ("PUT", {"extension": {"type": "extension", "endpoint_url": "https://hooks.example.com/b"}})]


def test_update_with_nothing_to_change(step, hook):
    result, sent = step("update_extension", extension_id=hook["id"])
    assert result.code == 1 and sent == [] and "Give at least one of" in result.error["cause"]


def test_delete_extension(step, hook):
    result, sent = step("delete_extension", extension_id=hook["id"])
    assert result.output == {"success": True}
    assert [(e["method"], e["path"], e["status"]) for e in sent] == [("DELETE", f"/extensions/{hook['id']}", 204)]
    assert step("get_extension", extension_id=hook["id"])[0].error["data"]["status"] == 404


BY_ID = [("get_extension", {}), ("delete_extension", {}), ("update_extension", {"services": ["Some Service"]})]


@pytest.mark.parametrize("action, extra", BY_ID)
def test_unknown_extension(step, action, extra):
    values = {"name": "X"} if extra else {}
    result, sent = step(action, extension_id="PNOSUCH", **values)
    assert result.code == 1 and result.error["cause"].startswith("Extension PNOSUCH was not found (HTTP 404)")
    assert len(sent) == 1


@pytest.mark.parametrize("bad", HOSTILE_IDS)
@pytest.mark.parametrize("action, extra", BY_ID)
def test_hostile_extension_ids_send_nothing(step, action, extra, bad):
    assert_hostile_id_sends_nothing(step, action, "extension", bad, **extra)


@pytest.mark.parametrize("action, values", [
    ("create_extension", {"name": "X", "extension_schema": "PSCHEMA", "services": ["PSERV01"]}),
    ("update_extension", {"extension_id": "PEXT001", "name": "X"}),
    ("delete_extension", {"extension_id": "PEXT001"}),
])
def test_a_read_only_key_is_refused(act, readonly, action, values):
    assert_read_only_key_refused(act, readonly, action, values)
