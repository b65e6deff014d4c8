"""Masking is exact (issue 19): whole secrets and their encoded forms anywhere, a secret's start only
where a cut text ends, never a short prefix inside other words; every field of every message."""

import base64
import json
from urllib.parse import quote

from conftest import invoke, start_message
from hostile_server import HostileServer, Reply, connection_to

KEY = "example-key-0123456789"


def priorities(*names):
    return {"priorities": [{"id": f"P{n}", "type": "priority", "summary": name, "name": name,
                            "description": name} for n, name in enumerate(names)], "more": False}


def test_a_key_is_masked_in_every_form_and_nothing_else_is():
    cut = "a text cut at " + KEY[:12]
    forms = [KEY, quote(KEY + "/", safe=""), base64.b64encode(f"user:{KEY}".encode()).decode(), cut, cut + "..."]
    with HostileServer(lambda r: Reply(200, priorities("test@example.com", "see for example", *forms))) as api:
        result = invoke(["run"], start_message("list_priorities", {}, connection_to(api.url, api_key=KEY)))
    assert result.code == 0, result.stdout
    names = [p["name"] for p in json.loads(result.stdout)["body"]["output"]["priorities"]]
    assert names[:2] == ["test@example.com", "see for example"]  # unrelated words keep their letters
    assert KEY[:12] not in result.stdout and quote(KEY + "/", safe="") not in result.stdout
    assert base64.b64encode(KEY.encode()).decode()[4:16] not in result.stdout
    assert names[2] == "********"
    assert names[5] == "a text cut at ********" and names[6] == "a text cut at ********..."


def test_a_key_in_the_version_or_type_of_a_message_is_masked():
    for field in ("version", "type"):
        message = start_message("list_priorities", {}, connection_to("http://127.0.0.1:9", api_key=KEY),
                                meta={"echo": KEY})
        message[field] = KEY
        result = invoke(["run"], message)
        assert result.code == 1
        assert KEY not in result.stdout and KEY[:12] not in result.stdout, result.stdout
        assert json.loads(result.stdout)["body"]["meta"] == {"echo": "********"}
