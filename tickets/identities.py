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


# A WhatsApp number and a phone number are the same person's number: one rule, used wherever
# identities are looked up, claimed or normalised.
SAME_NUMBER_KINDS: tuple[str, ...] = (Identity.Kind.PHONE, Identity.Kind.WHATSAPP)


def equivalent_kinds(kind: str) -> tuple[str, ...]:
    """The identity kinds whose values name the same person as `kind`'s, `kind` first."""
    if kind in SAME_NUMBER_KINDS:
        return (kind, *(k for k in SAME_NUMBER_KINDS if k != kind))
    return (kind,)


def normalise(kind: str, value: str) -> str:
    if kind == Identity.Kind.EMAIL:
        return normalise_email(value)
    if kind in SAME_NUMBER_KINDS:
        return normalise_phone(value)
    cleaned = value.strip()
    if not cleaned:
        raise InvalidIdentity(f"empty {kind} identity")
    return cleaned
