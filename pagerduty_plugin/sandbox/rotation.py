"""Schedule arithmetic: layer rotations (with restrictions), overrides, and the final schedule."""
import math
from datetime import datetime, time as dtime, timedelta, timezone

try:
    from zoneinfo import ZoneInfo
except ImportError:  # Python 3.8: the backport, a dependency there (pyproject.toml)
    try:
        from backports.zoneinfo import ZoneInfo
    except ImportError:  # pragma: no cover  an install without its dependencies: schedules in UTC
        ZoneInfo = None

MAX_TURNS = 20000   # bound on shifts rendered for one layer in one query


def zone(name):
    if ZoneInfo is None or not name or name in ("UTC", "Etc/UTC"):
        return timezone.utc
    try:
        return ZoneInfo(name)
    except Exception:  # noqa: BLE001  unknown zone: render in UTC
        return timezone.utc


def layer_entries(layer, since, until, tz=timezone.utc):
    """[(start, end, user_id)] of one layer's rotation inside [since, until)."""
    users = layer["user_ids"]
    turn = layer["turn"]
    lo = max(since, layer["start"])
    hi = until if layer.get("end") is None else min(until, layer["end"])
    if not users or turn <= 0 or lo >= hi:
        return []
    k = math.floor((lo - layer["virtual_start"]) / turn)
    entries = []
    windows = restriction_windows(layer.get("restrictions") or [], lo, hi, tz)
    for _ in range(MAX_TURNS):
        start = layer["virtual_start"] + k * turn
        if start >= hi:
            break
        s, e = max(start, lo), min(start + turn, hi)
        user = users[k % len(users)]
        if windows is None:
            entries.append((s, e, user))
        else:
            entries.extend((a, b, user) for a, b in _clip(windows, s, e))
        k += 1
    return entries


def restriction_windows(restrictions, lo, hi, tz):
    """Merged [(start, end)] when a restricted layer is active; None when unrestricted."""
    if not restrictions:
        return None
    windows = []
    first = datetime.fromtimestamp(lo, tz).date() - timedelta(days=8)
    last = datetime.fromtimestamp(hi, tz).date()
    day = first
    while day <= last:
        for r in restrictions:
            if r["type"] == "weekly_restriction" and day.isoweekday() != r.get("start_day_of_week", 1):
                continue
            start = datetime.combine(day, dtime.fromisoformat(r["start_time_of_day"]), tz).timestamp()
            windows.append((start, start + r["duration_seconds"]))
        day += timedelta(days=1)
    windows.sort()
    merged = []
    for a, b in windows:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _clip(windows, s, e):
    for a, b in windows:
        if b <= s:
            continue
        if a >= e:
            break
        yield max(a, s), min(b, e)


def override_entries(schedule, since, until):
    return [(max(o["start"], since), min(o["end"], until), o["user_id"])
            for o in schedule["overrides"] if o["start"] < until and o["end"] > since]


def final_entries(schedule, since, until, tz=timezone.utc):
    """The final schedule: overrides beat layers; a later layer beats an earlier one."""
    per_layer = [layer_entries(layer, since, until, tz) for layer in schedule["layers"]]
    overrides = override_entries(schedule, since, until)
    points = {since, until}
    for entries in per_layer + [overrides]:
        for s, e, _u in entries:
            points.update((s, e))
    ordered = sorted(p for p in points if since <= p <= until)
    out = []
    for a, b in zip(ordered, ordered[1:]):
        user = _winner(overrides, per_layer, a)
        if user is None:
            continue
        if out and out[-1][2] == user and out[-1][1] == a:
            out[-1] = (out[-1][0], b, user)
        else:
            out.append((a, b, user))
    return out


def _winner(overrides, per_layer, at):
    for s, e, user in reversed(overrides):
        if s <= at < e:
            return user
    for entries in reversed(per_layer):
        for s, e, user in entries:
            if s <= at < e:
                return user
    return None


def coverage(entries, since, until):
    if until <= since:
        return 0.0
    covered = sum(e - s for s, e, _u in entries)
    return round(100.0 * covered / (until - since), 2)


def on_call_now(schedule, at):
    """The user on call at one instant, or None."""
    entries = final_entries(schedule, at, at + 1)
    return entries[0][2] if entries else None
