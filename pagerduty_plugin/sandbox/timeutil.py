"""Timestamps: PagerDuty answers RFC 3339 with Z; requests may use Z, +00:00 or +0000 offsets."""
import time
from datetime import datetime, timezone

from .compat import fromisoformat

DAY = 86400.0


def now():
    return time.time()


_ISO = {}


def iso(ts):
    """Epoch seconds -> '2024-01-01T00:00:00Z' (None stays None); memoised, answers repeat timestamps."""
    if ts is None:
        return None
    second = int(ts)
    text = _ISO.get(second)
    if text is None:
        if len(_ISO) > 200000:
            _ISO.clear()
        text = _ISO[second] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
    return text


def parse(text):
    """An ISO 8601 / RFC 3339 string (or a date) -> epoch seconds; ValueError when unreadable."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty timestamp")
    value = fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def months_back(ts, months):
    """The same moment `months` calendar months earlier (clamping the day)."""
    d = datetime.fromtimestamp(ts, timezone.utc)
    month = d.month - months
    year = d.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    for day in range(d.day, 0, -1):
        try:
            return d.replace(year=year, month=month, day=day).timestamp()
        except ValueError:
            continue
    raise ValueError("no such date")
