"""Small checks for request bodies; each failure is PagerDuty's 400 'Invalid Input Provided'."""
from .errors import invalid
from .compat import without_suffix


def required(obj, *fields, where=""):
    missing = [f for f in fields if obj.get(f) in (None, "", [], {})]
    if missing:
        prefix = f"{where}." if where else ""
        raise invalid(*(f"{prefix}{f} is required" for f in missing))


def text(obj, field, max_len=None, required_=False, where=""):
    value = obj.get(field)
    name = f"{where}.{field}" if where else field
    if value is None:
        if required_:
            raise invalid(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise invalid(f"{name} must be a string")
    if required_ and not value.strip():
        raise invalid(f"{name} can't be blank")
    if max_len is not None and len(value) > max_len:
        raise invalid(f"{name} is too long (maximum is {max_len} characters)")
    return value


def choice(obj, field, allowed, default=None, where=""):
    value = obj.get(field, default)
    if value is None:
        return default
    if value not in allowed:
        name = f"{where}.{field}" if where else field
        raise invalid(f"{name} must be one of: {', '.join(allowed)}")
    return value


def type_is(obj, allowed, where):
    """A body object's `type` must name the resource (e.g. 'incident' or 'incident_reference')."""
    value = obj.get("type")
    if value is None:
        raise invalid(f"{where}.type is required")
    if value not in allowed:
        raise invalid(f"{where}.type must be {' or '.join(allowed)}")


def integer(obj, field, minimum=None, maximum=None, where=""):
    value = obj.get(field)
    name = f"{where}.{field}" if where else field
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"{name} must be an integer")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise invalid(f"{name} must be between {minimum} and {maximum}")
    return value


def ref_id(value, kinds, where):
    """The id of a reference {id, type}; its type (when given) must be one of `kinds` (+ '_reference')."""
    if not isinstance(value, dict) or not isinstance(value.get("id"), str) or not value["id"]:
        raise invalid(f"{where} must be a reference object with an id")
    if value.get("type") is not None:
        ref_kind(value, kinds, where)
    return value["id"]


def ref_kind(value, kinds, where):
    """The kind a reference's `type` names ('user' for user or user_reference): one of `kinds`."""
    type_ = value.get("type")
    kind = without_suffix(type_, "_reference") if isinstance(type_, str) else None
    if kind not in kinds:
        allowed = sorted(set(kinds) | {k + "_reference" for k in kinds})
        raise invalid(f"{where}.type must be one of: {', '.join(allowed)}")
    return kind


def typed_ref(value, kinds, where):
    """(kind, id) of a reference whose `type` is required and tells which kind it names."""
    id_ = ref_id(value, kinds, where)
    return ref_kind(value, kinds, where), id_


def items(values, where, check):
    """An optional array, each item passed through check(item, where) ([] when absent)."""
    if values is None:
        return []
    if not isinstance(values, list):
        raise invalid(f"{where} must be an array")
    return [check(value, f"{where}[{i}]") for i, value in enumerate(values)]


def existing_ids(store, values, kind, where):
    """The ids of an optional array of references to records of one kind that exist."""
    return items(values, where, lambda value, at: existing(store, kind, ref_id(value, [kind], at), at))


def staged(apply, store, record, body):
    """An update is all or nothing: `apply` works on a copy, kept only when it raised nothing.
    (`apply` must assign new values, not mutate the record's lists in place.)"""
    draft = dict(record)
    apply(store, draft, body, creating=False)
    record.update(draft)
    return record


def existing(store, kind, id_, where):
    """An id named in a body must exist: 400 (not 404) when it does not."""
    if store.find(kind, id_) is None:
        raise invalid(f"{where} {id_} does not exist")
    return id_


def existing_ref(store, value, kinds, where):
    """(kind, id) of a typed reference to a record that exists."""
    kind, id_ = typed_ref(value, kinds, where)
    return kind, existing(store, kind, id_, where)
