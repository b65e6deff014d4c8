"""What list and get actions share beyond common.py: lists filtered on our side, lists that
PagerDuty does not paginate, a 404 that is an answer ("not found") rather than an error."""

from pagerduty_plugin.errors import HttpRefusal


def listed(rest, path, key, filters, max_results, keep=None):
    """(items, truncated) of a paged list; with `keep`, only the items it accepts, reading
    pages until max_results of them are found."""
    if keep is None:
        return rest.iterate(path, key, filters, max_results)
    kept, pages = [], rest.pages(path, key, filters)
    for page in pages:
        kept += [item for item in page if keep(item)]
        if max_results is not None and len(kept) > max_results:
            return kept[:max_results], True
    return kept, pages.truncated


def cut(items, max_results):
    """(items, truncated) for a list PagerDuty answers in one piece."""
    items = list(items or [])
    if max_results is None:
        return items, False
    return items[:max_results], len(items) > max_results


def output(key, items, truncated):
    return {key: items, "count": len(items), "truncated": bool(truncated)}


def get_or_none(rest, path, key, params=None):
    """The object under `key` in the answer, or None when PagerDuty says 404 (other errors stay errors)."""
    try:
        return rest.get(path, params, key=key)
    except HttpRefusal as exc:
        if exc.status == 404:
            return None
        raise


