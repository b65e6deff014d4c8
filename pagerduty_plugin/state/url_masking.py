"""A database URL (--state, PAGERDUTY_STATE, the outbox) as it may be printed: every place libpq
takes a secret from masked, without psycopg and without trusting the URL to parse.

libpq reads a password from the userinfo (`postgresql://user:PW@host`) and from the query parameters
`password` and `sslpassword` (src/interfaces/libpq/fe-connect.c, conninfo_uri_parse_params), whose
keys and values it percent-decodes (`pass%77ord=PW` is a password). Its keys are case-sensitive
(`PASSWORD=` is refused as an invalid parameter), but a value the user meant as a password is masked
whatever the key's case. The userinfo ends at libpq's first '@' before the host; a password holding a
raw '@' is masked up to the last one as well, since either reading may be quoted in an error.
"""

from urllib.parse import unquote

MASK = "********"
SECRET_KEYS = ("password", "sslpassword")


def display_url(url):
    """The URL with every secret replaced by MASK; any other text as given."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    user, password, tail = split_userinfo(rest)
    head, tail = ("", rest) if password is None else (user + ":" + MASK + "@", tail)
    hostpart, query_sep, query = tail.partition("?")
    return scheme + sep + head + hostpart + query_sep + masked_query(query)


def split_userinfo(rest):
    """(user, password, what follows the '@') of the text after `scheme://`, password None without one.
    libpq's userinfo ends at the first '@' when no '/' comes before it; it is taken here up to the
    last '@' before the host's end ('/' or '?'), so that a raw '@' in the password stays inside."""
    first = rest.find("@")
    if first < 0 or "/" in rest[:first]:
        return rest, None, ""
    end = len(rest)
    for stop in "/?":
        found = rest.find(stop, first)
        end = found if 0 <= found < end else end
    last = rest.rfind("@", 0, end)
    user, colon, password = rest[:last].partition(":")
    if not colon:
        return rest, None, ""
    return user, password, rest[last + 1:]


def masked_query(query):
    pairs = []
    for pair in query.split("&") if query else []:
        key, equals, value = pair.partition("=")
        pairs.append(key + "=" + MASK if equals and is_secret_key(key) else pair)
    return "&".join(pairs)


def is_secret_key(key):
    return unquote(key).strip().lower() in SECRET_KEYS


def url_secrets(url):
    """Every secret of the URL in every form an error may quote it: as written (libpq quotes a token
    it cannot decode raw) and percent-decoded (as libpq reads it), the password up to libpq's first
    '@' as well as up to the last."""
    rest = url.partition("://")[2]
    _, password, tail = split_userinfo(rest)
    written = set()
    if password is not None:
        written.update((password, password.partition("@")[0]))
    query = (tail if password is not None else rest).partition("?")[2]
    for pair in query.split("&") if query else []:
        key, equals, value = pair.partition("=")
        if equals and is_secret_key(key):
            written.add(value)
    found = written | {unquote(secret) for secret in written}
    return sorted(secret for secret in found if secret)
