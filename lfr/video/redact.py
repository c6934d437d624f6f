"""Credentials out of every URL lfr prints, logs or records.

A camera's URL may carry `user:password@` (RTSP cameras mostly do) or a secret in its query
(`?password=...`, `?token=...`). `redact_url` removes both from one URL; `redact_urls` does
it to every URL inside a message (an FFmpeg error, a config error), so whatever names a
source can be printed, logged or put in an event.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode

__all__ = ["SECRET_PARAMS", "redact_url", "redact_urls"]

#: Query parameters whose values are secrets (compared case-insensitively).
SECRET_PARAMS = frozenset(
    {
        "password",
        "passwd",
        "pass",
        "pwd",
        "secret",
        "token",
        "access_token",
        "auth",
        "key",
        "api_key",
        "apikey",
        "signature",
        "sig",
    }
)

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")


def redact_url(url: str) -> str:
    """The URL with any `user:password@` removed and secret query values masked."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = len(rest)
    for mark in "/?#":
        found = rest.find(mark)
        if found != -1:
            end = min(end, found)
    netloc, tail = rest[:end], rest[end:]
    if "@" in netloc:
        netloc = netloc.rsplit("@", 1)[1]
    path, qmark, query = tail.partition("?")
    if qmark:
        query, hash_, fragment = query.partition("#")
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in SECRET_PARAMS for k, _ in pairs):
            masked = [(k, "***" if k.lower() in SECRET_PARAMS else v) for k, v in pairs]
            query = urlencode(masked, safe="*")
        tail = f"{path}?{query}{hash_}{fragment}"
    return f"{scheme}://{netloc}{tail}"


def redact_urls(text: str) -> str:
    """`text` with every URL in it passed through `redact_url`."""
    if "://" not in text:
        return text
    return _URL.sub(lambda m: redact_url(m.group(0)), text)
