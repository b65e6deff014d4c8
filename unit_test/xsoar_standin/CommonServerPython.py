"""A stand-in of XSOAR's CommonServerPython for the tests: the names the generated integration uses,
with the meaning demisto/content's `Packs/Base/Scripts/CommonServerPython/CommonServerPython.py`
gives them. Results become plain dicts in demisto.results(), so the tests can read them.
"""

import sys

import demistomock as demisto

ERROR_ENTRY = 4  # EntryType.ERROR


class CommandResults:
    def __init__(self, outputs_prefix=None, outputs_key_field=None, outputs=None, readable_output=None,
                 raw_response=None):
        if outputs is not None and not outputs_prefix:
            raise ValueError("outputs_prefix is missing")  # as CommonServerPython refuses it
        self.outputs_prefix, self.outputs = outputs_prefix, outputs
        self.readable_output, self.raw_response = readable_output, raw_response

    def to_context(self):
        return {"Type": 1, "ContentsFormat": "json", "Contents": self.raw_response,
                "HumanReadable": self.readable_output, "EntryContext": {self.outputs_prefix: self.outputs}}


class GetRemoteDataArgs:
    def __init__(self, args):
        self.remote_incident_id = args["id"]
        self.last_update = args.get("lastUpdate")


class GetModifiedRemoteDataArgs:
    def __init__(self, args):
        self.last_update = args.get("lastUpdate")


class GetRemoteDataResponse:
    def __init__(self, mirrored_object, entries):
        self.mirrored_object, self.entries = mirrored_object, entries

    def extract_for_local(self):
        return [self.mirrored_object] + list(self.entries or [])


class GetModifiedRemoteDataResponse:
    def __init__(self, modified_incident_ids):
        self.modified_incident_ids = modified_incident_ids

    def to_entry(self):
        return {"Type": 1, "ContentsFormat": "json", "Contents": self.modified_incident_ids}


class UpdateRemoteSystemArgs:
    def __init__(self, args):
        self.data = args.get("data")
        self.entries = args.get("entries")
        self.incident_changed = args.get("incidentChanged")
        self.remote_incident_id = args.get("remoteId")
        self.inc_status = args.get("status")
        self.delta = args.get("delta")


class SchemeTypeMapping:
    def __init__(self, type_name="", fields=None):
        self.type_name, self.fields = type_name, dict(fields or {})

    def add_field(self, name, description=""):
        self.fields[name] = description


class GetMappingFieldsResponse:
    def __init__(self):
        self.scheme_types_mappings = []

    def add_scheme_type(self, scheme):
        self.scheme_types_mappings.append(scheme)

    def extract_mapping(self):
        return {scheme.type_name: scheme.fields for scheme in self.scheme_types_mappings}


def return_results(results):
    if isinstance(results, CommandResults):
        demisto.results(results.to_context())
    elif isinstance(results, GetRemoteDataResponse):
        demisto.results(results.extract_for_local())
    elif isinstance(results, GetModifiedRemoteDataResponse):
        demisto.results(results.to_entry())
    elif isinstance(results, GetMappingFieldsResponse):
        demisto.results(results.extract_mapping())
    else:
        demisto.results(results)


def return_error(message, error="", outputs=None):
    demisto.results({"Type": ERROR_ENTRY, "ContentsFormat": "text", "Contents": str(message)})
    sys.exit(0)


def tableToMarkdown(name, t, headers=None, **_options):
    rows = t if isinstance(t, list) else [t]
    columns = headers or sorted({key for row in rows for key in row})
    lines = [f"### {name}", "|" + "|".join(columns) + "|", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["|" + "|".join(str(row.get(column, "")) for column in columns) + "|" for row in rows]
    return "\n".join(lines) + "\n"
