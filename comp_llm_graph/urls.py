"""URLs as they may be shown: a password in a URL is never printed.

Checkpoint, Chroma and server URLs reach error messages, logs and `--json`; `shown` replaces
the password with `***` and keeps everything else, so the message still says which server
and which user.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["shown"]

_USERINFO = re.compile(r"(?<=://)([^/@\s:]*):[^/@\s]*@")


def shown(url: str) -> str:
    """`url` with any password replaced by `***` (also when the URL does not parse)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return _USERINFO.sub(r"\1:***@", url)
        netloc = parts.netloc.rsplit("@", 1)[1]
        user = parts.username or ""
        return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))
    except ValueError:  # an unparseable port or bracket: fall back to the pattern
        return _USERINFO.sub(r"\1:***@", url)
