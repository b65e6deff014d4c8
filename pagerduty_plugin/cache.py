"""A per-user cache of data derived from a spec edited since the build (the parsed spec as
JSON; never code). Every entry is named by a hash of what it was made from, so a changed spec
simply misses. A cache that cannot be written (read-only home) only costs the work again.
"""

import os


def cache_dir():
    explicit = os.environ.get("PAGERDUTY_PLUGIN_CACHE")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pagerduty-plugin")


def write_atomic(path, content):
    """Write text or bytes so a concurrent reader sees the old file or the whole new one."""
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        binary = isinstance(content, bytes)
        with open(tmp, "wb" if binary else "w", encoding=None if binary else "utf-8") as fh:
            fh.write(content)
        os.replace(tmp, path)
        return True
    except OSError:
        return False
