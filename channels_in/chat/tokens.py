"""Signed tokens: who a chat visitor is, and links to the files of their conversation.

A visitor is a random id, known to the browser only through a token signed with the site's
secret key: holding the token is what lets a browser join that visitor's conversations, and
nobody can forge one for another visitor."""

from __future__ import annotations

import secrets

from django.core import signing

VISITOR_SALT = "channels_in.chat.visitor"
FILE_SALT = "channels_in.chat.file"
VISITOR_MAX_AGE = 400 * 24 * 3600  # a returning visitor is recognised for about a year


def new_visitor_id() -> str:
    return "v_" + secrets.token_urlsafe(18)


def visitor_token(*, account_id: int, visitor_id: str) -> str:
    return signing.dumps({"a": account_id, "v": visitor_id}, salt=VISITOR_SALT)


def visitor_from_token(token: str, *, account_id: int) -> str | None:
    """The visitor id the token was issued for on this account, or None."""
    if not token or len(token) > 500:
        return None
    try:
        data = signing.loads(token, salt=VISITOR_SALT, max_age=VISITOR_MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("a") != account_id:
        return None
    visitor = data.get("v")
    return visitor if isinstance(visitor, str) and visitor.startswith("v_") else None


def file_token(*, attachment_id: int, conversation_id: int) -> str:
    return signing.dumps({"f": attachment_id, "c": conversation_id}, salt=FILE_SALT)


def file_from_token(token: str) -> tuple[int, int] | None:
    try:
        data = signing.loads(token, salt=FILE_SALT, max_age=VISITOR_MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    return int(data["f"]), int(data["c"])
