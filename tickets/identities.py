"""Normalising identities so one person is one contact, whatever they write from."""

from __future__ import annotations

import re
from email.utils import parseaddr

import phonenumbers

from .models import Identity


class InvalidIdentity(ValueError):
    """The value cannot be an identity of that kind."""


_EMAIL_RE = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


def normalise_email(value: str) -> str:
    _, addr = parseaddr(value)
    addr = (addr or value).strip().lower()
    if not _EMAIL_RE.match(addr):
        raise InvalidIdentity(f"not an email address: {value!r}")
    return addr


def normalise_phone(value: str, *, default_region: str = "US") -> str:
    raw = value.strip()
    for prefix in ("whatsapp:", "tel:", "sms:"):
        if raw.lower().startswith(prefix):
            raw = raw[len(prefix) :]
    if raw and raw[0].isdigit() and len(re.sub(r"\D", "", raw)) > 10:
        raw = "+" + raw  # provider ids like WhatsApp's wa_id carry the country code, no plus
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentity(f"not a phone number: {value!r}") from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidIdentity(f"not a phone number: {value!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise(kind: str, value: str) -> str:
    if kind == Identity.Kind.EMAIL:
        return normalise_email(value)
    if kind in (Identity.Kind.PHONE, Identity.Kind.WHATSAPP):
        return normalise_phone(value)
    cleaned = value.strip()
    if not cleaned:
        raise InvalidIdentity(f"empty {kind} identity")
    return cleaned
