"""An email's remote images, shown only when an agent asks, under their own policy.

The sanitiser parks every remote `<img src>` in `data-remote-src`, and the desk's policy
allows images from our origin and `data:` only. When an agent clicks "Show remote images" on
one message, the ticket page is loaded again for that message, and that response's policy
adds exactly the origins of that message's images (nothing else: no other message's images,
no scripts, no frames). Loading them straight from the sender keeps the server out of the
fetch (no proxy to turn into a request forgery tool) at the price the notice already tells
the agent: the sender learns the message was read.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

MAX_SOURCES = 40
_REMOTE_SRC = re.compile(r"""\bdata-remote-src\s*=\s*(["'])(.*?)\1""", re.IGNORECASE | re.DOTALL)
_HOST = re.compile(r"^[a-z0-9.-]+$|^\[[0-9a-f:.]+\]$")


def _source(url: str) -> str | None:
    """`scheme://host[:port]` of an http(s) URL, or None if it is not one a policy can name
    safely (a quote, a semicolon or a space would end the source expression)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if not host.startswith("["):
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    if not _HOST.match(host):
        return None
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port is not None else "")


def remote_image_sources(message_html: str) -> list[str]:
    """The CSP sources (`scheme://host[:port]`) of the remote images parked in a message's
    sanitised HTML, in order of appearance, each once, at most MAX_SOURCES."""
    sources: dict[str, None] = {}
    for match in _REMOTE_SRC.finditer(message_html):
        source = _source(html.unescape(match.group(2)))
        if source is not None:
            sources[source] = None
        if len(sources) >= MAX_SOURCES:
            break
    return list(sources)
