"""`trigger --ack FILE`: the reader says which events it has handled, and only those are taken.

The reader appends one line per handled event to FILE: the event's id, or the event's JSON line
itself (`echo "$line" >> FILE`). The trigger reads what was appended since its last look; an
event is taken (its consumer's position moves past it) once it and every event before it are
acknowledged or filtered out. An event handed over and never acknowledged (the reader died, the
pipe's buffer was lost) is handed over again at the next run. With --once the acknowledgements
of one run's batch may come after it ended: the next run applies them before it hands anything
over. The trigger empties FILE once every acknowledgement in it is applied, so it stays small.
"""

import json
import os

from pagerduty_plugin.errors import PluginError

CHUNK = 1 << 20


class AckFile:
    def __init__(self, path):
        self.path = path
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise PluginError(f"Cannot open the acknowledgements file {path}: {exc.strerror}",
                              "Give --ack a file this user can read and write (the reader appends to it).") from None
        self.offset, self.partial, self.ids = 0, b"", set()

    def read(self):
        """The ids acknowledged so far (since the file was last emptied)."""
        while True:
            data = os.pread(self.fd, CHUNK, self.offset)
            if not data:
                return self.ids
            self.offset += len(data)
            lines = (self.partial + data).split(b"\n")
            self.partial = lines.pop()
            self.ids.update(filter(None, (event_id(line) for line in lines)))

    def clear(self):
        os.ftruncate(self.fd, 0)
        self.offset, self.partial = 0, b""
        self.ids.clear()

    def close(self):
        os.close(self.fd)


def event_id(line):
    """The id on one line: the id itself, or the event's JSON line ({"event": {"id": …}})."""
    text = line.strip().decode("utf-8", "replace")
    if not text.startswith("{"):
        return text
    try:
        document = json.loads(text)
    except ValueError:
        return None
    inner = document.get("event", document) if isinstance(document, dict) else None
    return inner.get("id") if isinstance(inner, dict) and isinstance(inner.get("id"), str) else None
