"""Query-string readers and PagerDuty's classic pagination (limit, offset, more, total)."""
from . import timeutil
from .errors import invalid

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
MAX_WINDOW = 10000  # offset + limit beyond this answers 400


def one(query, name, default=None):
    values = query.get(name)
    return values[-1] if values else default


def many(query, name):
    """Repeated `name[]=a&name[]=b` (the plain `name` is accepted too)."""
    return [v for v in query.get(name + "[]", []) + query.get(name, []) if v != ""]


def flag(query, name, default=False):
    value = one(query, name)
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise invalid(f"{name} must be true or false")


def integer(query, name, default):
    value = one(query, name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise invalid(f"{name} must be an integer") from None


def timestamp(query, name):
    value = one(query, name)
    if value is None or value == "":
        return None
    try:
        return timeutil.parse(value)
    except ValueError:
        raise invalid(f"{name} is not a valid ISO 8601 date-time: {value!r}") from None


def page_window(query):
    """(limit, offset) after PagerDuty's rules: limit 1..100 (clamped), offset + limit <= 10000."""
    limit = integer(query, "limit", DEFAULT_LIMIT)
    offset = integer(query, "offset", 0)
    if limit < 1:
        raise invalid("limit must be a positive integer")
    if offset < 0:
        raise invalid("offset must not be negative")
    limit = min(limit, MAX_LIMIT)
    if offset + limit > MAX_WINDOW:
        raise invalid(
            f"Offset + limit must not exceed {MAX_WINDOW} (got {offset} + {limit}); "
            "narrow the query, e.g. with since/until, instead of paging further"
        )
    return limit, offset


def paginate(query, items, key, render):
    """Slice `items` for the classic list envelope; `render` turns one item into its JSON."""
    limit, offset = page_window(query)
    chunk = items[offset:offset + limit]
    return {
        key: [render(item) for item in chunk],
        "limit": limit,
        "offset": offset,
        "more": offset + len(chunk) < len(items),
        "total": len(items) if flag(query, "total") else None,
    }


def text_match(needle, *haystacks):
    """`query=` filters: a case-insensitive substring of any of the fields."""
    if not needle:
        return True
    needle = needle.lower()
    return any(needle in (h or "").lower() for h in haystacks)
