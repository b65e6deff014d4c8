"""A database URL (--state, PAGERDUTY_STATE, the outbox) as it may be printed: every place libpq
takes a secret from masked, without psycopg and without trusting the URL to parse.

libpq reads a password from the userinfo (`postgresql://user:PW@host`) and from the query parameters
`password` and `sslpassword` (src/interfaces/libpq/fe-connect.c, conninfo_uri_parse_params), whose
keys and values it percent-decodes (`pass%77ord=PW` is a password). Its keys are case-sensitive
(`PASSWORD=` is refused as an invalid parameter), but a value the user meant as a password is masked
whatever the key's case. The userinfo ends at libpq's first '@' before the host; a password holding a
raw '@' is masked up to the last one as well, since either reading may be quoted in an error.
"""

import re
from urllib.parse import unquote

MASK = "********"
SECRET_KEYS = ("password", "sslpassword")
PORT_THEN_PATH = re.compile(r"\d+[/?]")


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
    Read more widely than libpq, which ends the userinfo at the first '@' when no '/' comes before it:
    a password written with a raw '/' (base64 has them), '?' or '@' is still the user's password, and
    libpq's error may quote what it made of it. So the password runs from the first ':' to the last
    '@' before the host's end ('/' or '?'), unless that ':' is a host's port (`h:5432/db?user=a@b`)."""
    first = rest.find("@")
    user, colon, after = rest[:max(first, 0)].partition(":")
    if first < 0 or not colon or "/" in user or "?" in user or PORT_THEN_PATH.match(after):
        return rest, None, ""
    end = len(rest)
    for stop in "/?":
        found = rest.find(stop, first)
        end = found if 0 <= found < end else end
    last = rest.rfind("@", 0, end)
    return user, rest[len(user) + 1:last], rest[last + 1:]


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
        written.update((password, password.partition("@")[0], password.partition("/")[0]))
    query = (tail if password is not None else rest).partition("?")[2]
    for pair in query.split("&") if query else []:
        key, equals, value = pair.partition("=")
        if equals and is_secret_key(key):
            written.add(value)
    found = written | {unquote(secret) for secret in written}
    return sorted(secret for secret in found if secret)


def mask_quoted(text, secrets):
    """libpq quotes a token it cannot read whole (`invalid percent-encoded token: "a%zz"`): such a quote
    of a secret is masked whatever its length (redact() leaves secrets under 8 characters alone, as
    ordinary words could match them)."""
    for secret in secrets:
        text = text.replace(f'"{secret}"', f'"{MASK}"')
    return text
