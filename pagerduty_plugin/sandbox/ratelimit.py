"""Per-key request counting in fixed one-minute windows (PagerDuty's ratelimit-* headers)."""
import math
import threading
import time

REST_DEFAULT = 960  # PagerDuty's documented REST limit per minute per key


class RateLimiter:
    def __init__(self, limit=None, window=60.0):
        self.enforced = limit is not None
        self.limit = int(limit) if limit is not None else REST_DEFAULT
        self.window = window
        self._lock = threading.Lock()
        self._windows = {}   # key -> [window start, count]

    def hit(self, key):
        """Count one request: (allowed, limit, remaining, reset seconds)."""
        now = time.monotonic()
        with self._lock:
            slot = self._windows.get(key)
            if slot is None or now - slot[0] >= self.window:
                slot = self._windows[key] = [now, 0]
            slot[1] += 1
            count = slot[1]
            reset = max(1, math.ceil(slot[0] + self.window - now))
        allowed = not self.enforced or count <= self.limit
        return allowed, self.limit, max(0, self.limit - count), reset

    def peek(self):
        """Headers for an answer not counted against any key (e.g. 401)."""
        return self.limit, self.limit, math.ceil(self.window)

    def reset(self):
        with self._lock:
            self._windows.clear()
