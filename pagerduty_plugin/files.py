"""Reading the small files a user names on the command line (connection, token, secrets, keys,
runbooks, events): a regular file only, of bounded size, as UTF-8. A FIFO or a device (/dev/zero)
would block or never end, so it is refused before a byte is read."""

import os
import stat

from pagerduty_plugin.errors import PluginError

MAX_BYTES = 1024 * 1024


class TextFile:
    """A file's text, and whether users other than its owner may read it (for files holding secrets)."""

    def __init__(self, text, mode):
        self.text = text
        self.mode = stat.S_IMODE(mode)  # its permission bits

    @property
    def shared(self):
        return bool(self.mode & (stat.S_IRGRP | stat.S_IROTH))


def read_text(path, what, assistance, error=PluginError, limit=MAX_BYTES, data=None):
    """The TextFile at path; `error` (PluginError or UsageError) naming `what` when it cannot be had."""
    if not str(path).strip():
        raise error(f"No {what} named (the path is empty)", assistance, data)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO opens without waiting
        with os.fdopen(fd, "rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise error(f"The {what} {path} is not a regular file", assistance, data)
            raw = fh.read(limit + 1)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"Cannot read the {what} {path}: {getattr(exc, 'strerror', None) or exc}", assistance,
                    data) from None
    if len(raw) > limit:
        raise error(f"The {what} {path} is larger than {limit // 1024} KiB", assistance, data)
    return TextFile(text, mode)
