"""Readable plain text from (already hostile-screened) HTML."""

from __future__ import annotations

import re
from html import unescape
from typing import Final

import nh3

from tickets.sanitize import DROP_WITH_CONTENT, VOID_TAGS, html_too_complex, prepare_html

from .common import _normalise_newlines, _tidy_text

# Structure html_to_text understands; everything else is unwrapped to its text by nh3.
_TEXT_STRUCTURE_TAGS: Final = frozenset(
    {
        "a", "blockquote", "br", "caption", "center", "dd", "div", "dl", "dt", "h1", "h2", "h3",
        "h4", "h5", "h6", "hr", "li", "ol", "p", "pre", "table", "tbody", "td", "tfoot", "th",
        "thead", "tr", "ul", "address", "article", "aside", "figcaption", "figure", "footer",
        "header", "main", "nav", "section",
    }
)  # fmt: skip
_TEXT_CLEANER: Final = nh3.Cleaner(
    tags=set(_TEXT_STRUCTURE_TAGS),
    clean_content_tags=set(DROP_WITH_CONTENT),
    attributes={"a": {"href"}},
    link_rel=None,
    url_schemes={"http", "https", "mailto"},
    strip_comments=True,
)


_SKIP_TEXT_TAGS: Final = frozenset({"script", "style", "title", "template", "svg", "math"})
_BLOCK_TAGS: Final = frozenset(
    {
        "address", "article", "aside", "caption", "center", "dd", "div", "dl", "dt", "fieldset",
        "figcaption", "figure", "footer", "form", "header", "li", "main", "nav", "section",
        "table", "tbody", "tfoot", "thead", "tr",
    }
)  # fmt: skip
_PARAGRAPH_TAGS: Final = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "pre", "hr"}
)
_WHITESPACE_RE: Final = re.compile(r"[ \t\r\n\f\v\xa0]+")
_TAG_RE: Final = re.compile(r"<[^<>]*>")
_BLANK_RUN_RE: Final = re.compile(r"\n{3,}")


class _HTMLTextExtractor:
    """Turns the simple, well-formed markup that nh3 emits into text.

    Deliberately not ``html.parser.HTMLParser``: that is quadratic on some hostile inputs
    in the Python versions we run, and nh3's output needs no real parser.
    """

    def __init__(self) -> None:
        self._lines: list[tuple[int, str]] = []
        self._current: list[str] = []
        self._current_depth = 0
        self._want_breaks = 0
        self._skip = 0
        self._pre = 0
        self._quote = 0
        self._lists: list[int | None] = []
        self._href: str | None = None
        self._anchor_text: list[str] = []

    # -- output plumbing
    def _break(self, count: int) -> None:
        if self._current or self._lines:
            self._want_breaks = max(self._want_breaks, count)

    def _flush(self) -> None:
        self._lines.append((self._current_depth, "".join(self._current).rstrip()))
        self._current = []

    def _emit(self, text: str) -> None:
        if not text:
            return
        if self._want_breaks:
            if self._current or self._lines:
                self._flush()
                # A separator belongs to the shallower side, so entering a quote does not
                # start with an empty ">" line.
                depth = min(self._lines[-1][0], self._quote)
                self._lines.extend((depth, "") for _ in range(self._want_breaks - 1))
            self._want_breaks = 0
        if not self._current:
            if not self._pre:
                text = text.lstrip(" ")
                if not text:
                    return
            self._current_depth = self._quote
        elif not self._pre and text.startswith(" ") and self._current[-1].endswith(" "):
            text = text.lstrip(" ")
        self._current.append(text)
        if self._href is not None:
            self._anchor_text.append(text)

    def feed(self, normalised_html: str) -> None:
        for match in _NORMALISED_TOKEN_RE.finditer(normalised_html):
            tag = match.group(2)
            if tag is None:
                self.handle_data(unescape(match.group(0)))
            elif match.group(1):
                self.handle_endtag(tag.lower())
            else:
                attrs = [(k.lower(), unescape(v)) for k, v in _ATTR_RE.findall(match.group(3))]
                self.handle_starttag(tag.lower(), attrs)
                if match.group(4) or tag.lower() in VOID_TAGS:
                    self.handle_endtag(tag.lower())

    # -- markup events
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str]]) -> None:
        if tag == "body":
            self._skip = 0  # an unclosed <title>/<style> must not swallow the whole body
            return
        if tag in _SKIP_TEXT_TAGS:
            self._skip += 1
            return
        if self._skip:
            return
        if tag == "br":
            self._want_breaks += 1 if (self._current or self._lines) else 0
        elif tag == "blockquote":
            self._break(2)
            self._quote += 1
        elif tag in ("ul", "ol"):
            self._break(2 if not self._lists else 1)
            self._lists.append(0 if tag == "ol" else None)
        elif tag == "li":
            self._break(1)
            if self._lists and self._lists[-1] is not None:
                number = (self._lists[-1] or 0) + 1
                self._lists[-1] = number
                self._emit(f"{number}. ")
            else:
                self._emit("- ")
        elif tag in _PARAGRAPH_TAGS:
            self._break(2)
            if tag == "pre":
                self._pre += 1
        elif tag in _BLOCK_TAGS:
            self._break(1)
        elif tag in ("td", "th"):
            if self._current:
                self._emit(" ")
        elif tag == "a":
            href = next((v for k, v in attrs if k == "href" and v), None)
            self._href = href.strip() if href else None
            self._anchor_text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TEXT_TAGS:
            self._skip = max(0, self._skip - 1)
            return
        if self._skip:
            return
        if tag == "blockquote":
            self._break(2)
            self._quote = max(0, self._quote - 1)
        elif tag in ("ul", "ol"):
            if self._lists:
                self._lists.pop()
            self._break(2 if not self._lists else 1)
        elif tag in _PARAGRAPH_TAGS:
            if tag == "pre":
                self._pre = max(0, self._pre - 1)
            self._break(2)
        elif tag in _BLOCK_TAGS:
            self._break(1)
        elif tag == "a" and self._href is not None:
            href, self._href = self._href, None
            shown = "".join(self._anchor_text)
            # Keep link targets an agent needs ("click here"), skip ones already visible.
            if href.lower().startswith(("http://", "https://")) and href not in shown:
                if shown.strip():
                    self._emit(f" ({href[:2000]})")

    def handle_data(self, data: str) -> None:
        if self._skip or not data:
            return
        if self._pre:
            pieces = _normalise_newlines(data).replace("\xa0", " ").split("\n")
            for index, piece in enumerate(pieces):
                if index:
                    if self._current or self._lines:
                        self._want_breaks += 1
                self._emit(piece)
            return
        self._emit(_WHITESPACE_RE.sub(" ", data))

    def render(self) -> str:
        if self._current:
            self._flush()
        rendered = []
        for depth, text in self._lines:
            prefix = "> " * depth
            rendered.append((prefix + text).rstrip() if text else prefix.rstrip())
        joined = "\n".join(rendered).strip("\n")
        return _BLANK_RUN_RE.sub("\n\n", joined)


# nh3 output: tags with double-quoted attributes (values may contain ">"), or text.
_NORMALISED_TOKEN_RE: Final = re.compile(
    r'<(/?)([A-Za-z][A-Za-z0-9]*)((?:\s+[^\s="\'<>/]+(?:="[^"]*")?)*)\s*(/?)>|[^<]+|<'
)
_ATTR_RE: Final = re.compile(r'([^\s="\'<>/]+)="([^"]*)"')


def html_to_text(html: str) -> str:
    """Readable plain text from HTML: paragraphs and line breaks kept, script/style dropped,
    ``<blockquote>`` rendered as ``>``-quoted lines so :func:`split_quoted` works on it."""
    if not html:
        return ""
    html = prepare_html(html)
    text: str | None = None
    if not html_too_complex(html):
        try:
            # html5ever (Rust) first turns hostile markup into simple, well-formed tags.
            extractor = _HTMLTextExtractor()
            extractor.feed(_TEXT_CLEANER.clean(html))
            text = extractor.render()
        except Exception:  # fall back to the crude but linear stripper below
            text = None
    if text is None:
        text = _crude_html_text(html)
    return _tidy_text(text.replace("\xa0", " "))


def _crude_html_text(html: str) -> str:
    """Tag stripper for markup too hostile for a real parser; linear by construction."""
    lowered = html.lower()
    pieces: list[str] = []
    position = 0
    while True:
        start = min(
            (
                i
                for i in (lowered.find("<script", position), lowered.find("<style", position))
                if i >= 0
            ),
            default=-1,
        )
        if start < 0:
            pieces.append(html[position:])
            break
        pieces.append(html[position:start])
        tag = "</script" if lowered.startswith("<script", start) else "</style"
        end = lowered.find(tag, start)
        if end < 0:
            break
        position = end + len(tag)
    stripped = _TAG_RE.sub(" ", "".join(pieces))
    lines = (" ".join(line.split()) for line in unescape(stripped).splitlines())
    return _BLANK_RUN_RE.sub("\n\n", "\n".join(lines).strip())
