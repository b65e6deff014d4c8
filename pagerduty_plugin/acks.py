"""`trigger --ack FILE`: the reader says which events it has handled, and only those are taken.

The reader appends one line per handled event to FILE: the event's id, or the event's JSON line
itself (`echo "$line" >> FILE`). The trigger reads what was appended since its last look; an
event is taken (its consumer's position moves past it) once it and every event before it are
acknowledged or filtered out. An event handed over and never acknowledged (the reader died, the
pipe's buffer was lost) is handed over again at the next run. With --once the acknowledgements
of one run's batch may come after it ended: the next run applies them before it hands anything
over. The trigger empties FILE whenever the reader has caught up (nothing handed over is left
unacknowledged), so it stays small.
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

    def reader_gone(self):
        return False  # a reader that acknowledges may come back (the next run applies its acknowledgements)

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


class PipeReads:
    """Without --ack, stdout a pipe: an event is taken once the reader has read it out of the pipe
    (the bytes still in the pipe, FIONREAD, say how far it is), not once it is in the pipe's buffer.
    A reader that reads and then dies before handling what it read still loses that: use --ack."""

    def __init__(self, fd):
        self.fd, self.written, self.ends, self.ids = fd, 0, [], set()

    @staticmethod
    def of(stream):
        """A PipeReads for stream when it is a pipe, else None (a file or a terminal has it once written)."""
        import stat

        try:
            fd = stream.fileno()
            return PipeReads(fd) if stat.S_ISFIFO(os.fstat(fd).st_mode) else None
        except (OSError, ValueError, AttributeError):
            return None

    def sent(self, event_id, size):
        self.written += size
        self.ends.append((self.written, event_id))

    def read(self):
        import fcntl
        import struct
        import termios

        unread = struct.unpack("i", fcntl.ioctl(self.fd, termios.FIONREAD, b"\0\0\0\0"))[0]
        taken = 0
        while taken < len(self.ends) and self.ends[taken][0] <= self.written - unread:
            self.ids.add(self.ends[taken][1])
            taken += 1
        del self.ends[:taken]
        return self.ids

    def reader_gone(self):
        import select

        poller = select.poll()
        poller.register(self.fd, 0)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))

    def clear(self):
        self.ids.clear()
