"""Mailboxes from address headers: display names decoded, invalid addresses left out."""

from __future__ import annotations

import re
from email import policy as email_policy
from email.utils import getaddresses
from typing import Final

from .charsets import _decode_rfc2047, _unfold
from .common import _MAX_ADDRESS_HEADER_CHARS, _one_line, _valid_str

_ADDR_SPEC_RE: Final = re.compile(r"[^\s@<>()\[\]\\,;:\"]{1,64}@[^\s@<>()\[\]\\,;:\"]{1,255}")
_ADDR_SEARCH_RE: Final = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]{1,64}@[\w-]+(?:\.[\w-]+)*")


def _valid_address(address: str) -> bool:
    return bool(_ADDR_SPEC_RE.fullmatch(address)) and not address.endswith(".")


def _clean_name(name: str) -> str:
    decoded = _decode_rfc2047(name)
    return _valid_str(_one_line(decoded).strip("\"' "))


def _mailboxes(raw: str) -> list[tuple[str, str]]:
    """(display name, lower-cased address) pairs; invalid addresses are left out."""
    unfolded = _unfold(raw)[:_MAX_ADDRESS_HEADER_CHARS]
    pairs: list[tuple[str, str]] = []
    try:
        header = email_policy.default.header_factory("to", unfolded)
        pairs = [(a.display_name or "", a.addr_spec or "") for a in header.addresses]
    except Exception:  # the structured parser has crash bugs on garbage; fall back below
        pairs = []
    try:
        loose = getaddresses([unfolded])
    except Exception:
        loose = []
    if not any(_valid_address(address.strip()) for _, address in pairs):
        pairs = loose
    # The structured parser drops "addr (Comment Name)" names and mangles some encoded-word
    # phrases; the loose parser keeps both raw, which our own RFC 2047 decoder then handles.
    loose_names = {address.strip().lower(): name for name, address in loose if name}
    result: list[tuple[str, str]] = []
    for name, address in pairs:
        address = address.strip().strip("<>").strip()
        if not _valid_address(address):
            continue
        lowered = address.lower()
        loose_name = loose_names.get(lowered, "")
        chosen = loose_name if (not name or "=?" in loose_name) else name
        result.append((_clean_name(chosen), _valid_str(lowered)))
    if not result:
        result = [
            ("", _valid_str(m.group(0).lower()))
            for m in _ADDR_SEARCH_RE.finditer(_decode_rfc2047(unfolded))
            if _valid_address(m.group(0))
        ]
    return result


def _first_mailbox(values: list[str]) -> tuple[str, str]:
    fallback_name = ""
    for raw in values:
        boxes = _mailboxes(raw)
        if boxes:
            return boxes[0]
        if not fallback_name:
            fallback_name = _display_name_only(raw)
    return fallback_name, ""


def _display_name_only(raw: str) -> str:
    """Name of a mailbox whose address is unusable, e.g. ``MAILER DAEMON <>``."""
    try:
        loose = getaddresses([_unfold(raw)[:_MAX_ADDRESS_HEADER_CHARS]])
    except Exception:
        return ""
    return next((_clean_name(name) for name, _ in loose if name), "")


def _address_list(values: list[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for raw in values:
        for _, address in _mailboxes(raw):
            seen.setdefault(address, None)
    return tuple(seen)


def _person_name(name: str) -> str:
    return " ".join(name.replace('"', " ").replace("'", " ").casefold().split())


def same_person(*, from_name: str, from_address: str, reply_name: str, reply_address: str) -> bool:
    """Whether a Reply-To address is the sender's own other address (so it becomes another
    identity of the same contact) rather than someone else's (a team mailbox, an assistant).

    Both addresses must be at the same domain (or subdomains of one another: a company's
    ``mail.`` host), and then either the local parts are equal or both carry the same,
    non-empty display name. Anything else is another party."""
    from_local, _, from_domain = from_address.lower().partition("@")
    reply_local, _, reply_domain = reply_address.lower().partition("@")
    if not (from_local and from_domain and reply_local and reply_domain):
        return False
    related = (
        from_domain == reply_domain
        or from_domain.endswith("." + reply_domain)
        or reply_domain.endswith("." + from_domain)
    )
    if not related:
        return False
    if from_local.split("+", 1)[0] == reply_local.split("+", 1)[0]:
        return True
    name = _person_name(from_name)
    return bool(name) and name == _person_name(reply_name)
