"""A progress bar on stderr while a report reads its pages, drawn by tqdm, and only when stderr
is a terminal (a platform or a pipe reading stderr gets the log lines alone)."""


def bar(stream):
    """A callable told how many rows each answer brought, or None when stream is no terminal."""
    isatty = getattr(stream, "isatty", None)
    if not (isatty and isatty()):
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # the report extra is not installed: no bar, the report still runs
        return None
    drawn = tqdm(file=stream, unit=" rows", desc="reading", leave=False)

    def advance(rows):
        drawn.update(rows)

    advance.close = drawn.close
    return advance
