"""Run inside a venv that has PagerDuty's own `pagerduty` client (not this project's): drive the sandbox as a
PagerDuty user would, with only what the sandbox's ready line says. argv[1]: the ready line (JSON).
The CA is trusted through REQUESTS_CA_BUNDLE and SSL_CERT_FILE, set by the caller. Prints one JSON document of results."""
import json
import sys

import pagerduty

ready = json.loads(sys.argv[1])
results = {"version": getattr(pagerduty, "__version__", None)}

rest = pagerduty.RestApiV2Client(ready["api_key"], default_from=ready["from_email"], base_url=ready["api_url"])
incidents = rest.list_all("incidents", params={"date_range": "all"})
results["incidents"] = len(incidents)
again = rest.rget(incidents[0]["self"])
results["rget_self"] = again["id"] == incidents[0]["id"]
found = rest.find("users", ready["from_email"], attribute="email")
results["find"] = found["email"] if found else None
made = rest.persist("users", "email", {"type": "user", "name": "Pat Persisted", "email": "pat.persisted@example.com"},
                    update=True)
changed = rest.persist("users", "email", {"type": "user", "name": "Pat Renamed", "email": "pat.persisted@example.com"},
                       update=True)
results["persist"] = [made["id"] == changed["id"], made["name"], changed["name"]]
results["persisted_read_back"] = rest.rget(changed["self"])["name"]

events = pagerduty.EventsApiV2Client(ready["routing_key"], base_url=ready["events_host"])
dedup = events.trigger("Acceptance: disk full on db-9", "db-9", severity="error")
events.acknowledge(dedup)
acknowledged = rest.list_all("incidents", params={"incident_key": dedup, "date_range": "all"})
events.resolve(dedup)
resolved = rest.list_all("incidents", params={"incident_key": dedup, "date_range": "all"})
results["events"] = [dedup, [i["status"] for i in acknowledged], [i["status"] for i in resolved]]
events.send_change_event(payload={"summary": "Acceptance: deployed db-9 schema 42", "source": "acceptance",
                                  "custom_details": {"schema": 42}})
results["change_event_sent"] = True
print(json.dumps(results))
