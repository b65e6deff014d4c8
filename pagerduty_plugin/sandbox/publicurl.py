"""--public-url: the base a client reaches the sandbox by (a TLS front, a tunnel, a container's name),
written into every `self` link and html_url instead of the address the sandbox listens on."""
from urllib.parse import urlsplit


def normalize(url):
    """'https://host[:port][/prefix]' without a trailing slash; ValueError saying what is wrong."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("the public URL is empty")
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError(f"{url!r} is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http:// or https:// URL with a host")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(f"{url!r} may not carry a user, a query or a fragment")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def host(url):
    return urlsplit(url).hostname if url else None
