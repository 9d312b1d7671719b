"""Markdown → safe HTML for articles, with anchor ids on headings for the table of contents."""

from __future__ import annotations

import re
from dataclasses import dataclass

import nh3
from django.utils.text import slugify
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "dl", "dt", "em",
    "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s",
    "strong", "sub", "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "h2": {"id"},
    "h3": {"id"},
    "h4": {"id"},
    "th": {"align"},
    "td": {"align"},
    "code": {"class"},
}


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    anchor: str


@dataclass(frozen=True)
class Rendered:
    html: str
    toc: list[Heading]
    text: str


_md = (
    MarkdownIt("commonmark", {"html": False, "linkify": False})
    .enable("table")
    .enable("strikethrough")
)


def render_markdown(source: str) -> Rendered:
    """Render, then sanitise with nh3: raw HTML in the source never survives as markup.

    A level-1 heading in the body is shown as h2, since the page's h1 is the title.
    """
    tokens = _md.parse(source or "")
    toc: list[Heading] = []
    used: set[str] = set()
    for index, token in enumerate(tokens):
        if token.type in ("heading_open", "heading_close"):
            level = max(2, int(token.tag[1]))
            token.tag = f"h{level}"
            if token.type == "heading_open":
                inline = tokens[index + 1]
                text = inline.content.strip()
                base = "h-" + (slugify(text) or "section")
                anchor, n = base, 2
                while anchor in used:
                    anchor, n = f"{base}-{n}", n + 1
                used.add(anchor)
                token.attrSet("id", anchor)
                if level <= 3:
                    toc.append(Heading(level=level, text=text, anchor=anchor))
    html = _md.renderer.render(tokens, _md.options, {})
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return Rendered(html=clean, toc=toc, text=plain_text(source or ""))


_MD_NOISE = re.compile(r"[`*_>#~|\[\]()!]+")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def plain_text(source: str) -> str:
    """The Markdown's words without its markup: what search indexes and embeds."""
    text = _LINK.sub(r"\1", source)
    text = _MD_NOISE.sub(" ", text)
    return re.sub(r"\s+", " ", text).strip()
