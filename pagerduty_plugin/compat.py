"""What the package uses of newer Pythons, on every supported one (3.8 to 3.13): str.removesuffix (3.9)
and datetime.fromisoformat as 3.11 reads RFC 3339 (before 3.11 it takes only what isoformat() writes)."""

import re
import sys
from datetime import datetime

_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2}.\d{2}:\d{2}(?::\d{2})?)(?:[.,](\d+))?([Zz]|[+-]\d{2}(?::?\d{2})?)?")


def without_suffix(text, suffix):
    return text[:-len(suffix)] if suffix and text.endswith(suffix) else text


def fromisoformat(text):
    """`Z`, `+0000` and any count of fraction digits read as Python 3.11 reads them. An aware or naive datetime; ValueError when the text is not a date and time that exists."""
    if sys.version_info >= (3, 11) or not isinstance(text, str):
        return datetime.fromisoformat(text)
    found = _STAMP.fullmatch(text)
    if found:
        base, fraction, offset = found.groups()
        text = base + (f".{(fraction + '00000')[:6]}" if fraction else "") + _offset(offset)
    return datetime.fromisoformat(text)


def _offset(text):
    if not text:
        return ""
    if text in ("Z", "z"):
        return "+00:00"
    digits = text[1:].replace(":", "")
    return f"{text[0]}{digits[:2]}:{digits[2:4] or '00'}"
