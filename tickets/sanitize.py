"""The HTML sanitiser for untrusted markup shown in the desk.

It lives in the core because ``Message.html`` is rendered with ``|safe``: whatever writes that
field (the email parser, an API client, an import) must pass it through :func:`sanitize_html`.
Pure (no Django): ``nh3`` (html5ever) does the parsing, behind a linear screen for markup that
would make it crawl. ``channels_in.email.parser`` reuses the screen and the tag sets for its
HTML-to-text conversion.
"""

from __future__ import annotations

import re
from typing import Final

import nh3

# html5ever (inside nh3) goes superlinear on some hostile markup (deep nesting, floods of
# character references); these bound the worst case to about a second per message.
MAX_HTML_CHARS: Final = 1024 * 1024
_MAX_HTML_NESTING: Final = 3000
_MAX_HTML_TAGS: Final = 150_000
_MAX_HTML_ENTITIES: Final = 100_000


def _valid_str(value: str) -> str:
    """Drop lone surrogates and NULs: PostgreSQL text columns reject both."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


_SAFE_TAGS: Final = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "center", "cite", "code", "col",
        "colgroup", "dd", "del", "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5",
        "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp",
        "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th",
        "thead", "tr", "tt", "u", "ul", "wbr",
    }
)  # fmt: skip
DROP_WITH_CONTENT: Final = frozenset(
    {
        "script", "style", "title", "head", "iframe", "object", "embed", "applet", "noscript",
        "template", "select", "textarea", "svg", "math", "frameset", "frame", "button",
    }
)  # fmt: skip
_SAFE_ATTRIBUTES: Final[dict[str, set[str]]] = {
    "*": {"title", "dir", "lang", "align", "style"},
    "a": {"href", "name"},
    "img": {"src", "alt", "width", "height"},
    "table": {"border", "cellpadding", "cellspacing", "width", "bgcolor"},
    "td": {"colspan", "rowspan", "width", "valign", "bgcolor"},
    "th": {"colspan", "rowspan", "width", "valign", "bgcolor"},
    "tr": {"valign", "bgcolor"},
    "font": {"color", "face", "size"},
    "ol": {"start", "type"},
    "col": {"span", "width"},
    "colgroup": {"span", "width"},
}
# Only properties that cannot load anything (no url()) and cannot hide or overlay content.
_SAFE_STYLE_PROPERTIES: Final = frozenset(
    {
        "color", "background-color", "font-weight", "font-style", "font-size", "font-family",
        "text-align", "text-decoration", "vertical-align", "white-space", "line-height",
        "width", "max-width", "height", "margin", "margin-top", "margin-bottom", "margin-left",
        "margin-right", "padding", "padding-top", "padding-bottom", "padding-left",
        "padding-right", "border", "border-top", "border-bottom", "border-left", "border-right",
        "border-color", "border-style", "border-width", "border-collapse", "list-style-type",
    }
)  # fmt: skip


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    lowered = value.strip().lower()
    if tag == "img" and attribute == "src":
        # Inline images are safe. Remote ones are tracking pixels that leak the agent's IP:
        # they are kept, but parked in data-remote-src (see sanitize_html) until an agent
        # asks for them. SVG is refused because it can carry script when opened directly.
        if lowered.startswith("cid:"):
            return value
        if lowered.startswith("data:image/") and not lowered.startswith("data:image/svg"):
            return value
        if lowered.startswith(("https://", "http://")):
            return value
        return None
    if attribute == "href" and lowered.startswith(("data:", "cid:")):
        return None
    return value


_CLEANER: Final = nh3.Cleaner(
    tags=set(_SAFE_TAGS),
    clean_content_tags=set(DROP_WITH_CONTENT),
    attributes={tag: set(attrs) for tag, attrs in _SAFE_ATTRIBUTES.items()},
    attribute_filter=_attribute_filter,
    link_rel="noopener noreferrer nofollow",
    url_schemes={"http", "https", "mailto", "tel", "cid", "data"},
    url_relative="deny",
    filter_style_properties=set(_SAFE_STYLE_PROPERTIES),
    set_tag_attribute_values={"a": {"target": "_blank"}},
    strip_comments=True,
)


VOID_TAGS: Final = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
     "source", "track", "wbr", "basefont", "frame", "keygen"}
)  # fmt: skip
# Tags the HTML parser closes implicitly; counting them would overstate the nesting.
_IMPLIED_END_TAGS: Final = frozenset(
    {"p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "tbody", "thead", "tfoot",
     "colgroup", "rt", "rp", "html", "head", "body"}
)  # fmt: skip
_TAG_SCAN_RE: Final = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]{0,40})[^<>]*?(/?)>")


def html_too_complex(html: str) -> bool:
    """Cheap, linear screen for markup that would make html5ever or our extractor crawl.

    html5ever is superlinear in element nesting and in the number of character references;
    real mail stays far below these limits (a 1 MiB newsletter has some tens of thousands).
    """
    if html.count("<") > _MAX_HTML_TAGS or html.count("&") > _MAX_HTML_ENTITIES:
        return True
    depth = 0
    for match in _TAG_SCAN_RE.finditer(html):
        name = match.group(2).lower()
        if match.group(3) or name in VOID_TAGS or name in _IMPLIED_END_TAGS:
            continue
        if match.group(1):
            depth = max(0, depth - 1)
            continue
        depth += 1
        if depth > _MAX_HTML_NESTING:
            return True
    return False


# nh3 writes every attribute as name="value" with quotes escaped, and any "<" of the text as
# &lt;, so in its output this matches real <img> tags only.
_REMOTE_IMG_SRC_RE: Final = re.compile(r'(<img\b[^>]*?\s)src="(https?://[^"]*)"', re.IGNORECASE)


def sanitize_html(html: str) -> str:
    """Sanitise untrusted HTML for display in the agent UI.

    Keeps formatting, tables and links (with ``rel="noopener noreferrer nofollow"``); images
    with ``cid:``/``data:image`` sources as they are, remote ones with their URL moved to
    ``data-remote-src`` so nothing loads until an agent clicks "Show remote images"; drops
    script/style/iframes/forms, every ``on*`` handler and any style that could load a URL.
    Input beyond 1 MiB is cut; absurdly nested markup yields "" (show the text instead).
    """
    if not html:
        return ""
    html = prepare_html(html)
    if html_too_complex(html):
        return ""
    try:
        cleaned = _valid_str(_CLEANER.clean(html))
    except Exception:  # refusing to render beats rendering something unsanitised
        return ""
    return _REMOTE_IMG_SRC_RE.sub(r'\1data-remote-src="\2"', cleaned)


# html5ever is quadratic on runs of "&" that do not form a character reference, so those are
# escaped first. Legacy names browsers accept without ";" are left alone.
_BARE_AMPERSAND_RE: Final = re.compile(
    r"&(?!#[0-9]{1,8}|#[xX][0-9A-Fa-f]{1,8}|[A-Za-z][A-Za-z0-9]{1,31};"
    r"|(?:nbsp|amp|lt|gt|quot|copy|reg)(?![A-Za-z0-9]))"
)


def prepare_html(html: str) -> str:
    return _BARE_AMPERSAND_RE.sub("&amp;", _valid_str(html[:MAX_HTML_CHARS]))
