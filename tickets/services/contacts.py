"""Contacts and their identities: resolving who wrote, adding identities, editing a contact,
linking a portal login."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..identities import normalise
from ..models import Contact, Identity, Organisation
from .common import ServiceError


def _find_identity(kind: str, value: str) -> Identity | None:
    kinds = [kind]
    # A WhatsApp number and a phone number are the same person's number.
    if kind in (Identity.Kind.WHATSAPP, Identity.Kind.PHONE):
        kinds = [Identity.Kind.WHATSAPP, Identity.Kind.PHONE]
    found = {i.kind: i for i in Identity.objects.filter(kind__in=kinds, value=value)}
    return found.get(kind) or next(iter(found.values()), None)


def contact_resolve(*, kind: str, value: str, name: str = "") -> Contact:
    """The contact owning this identity, created with it when unknown. Safe under races."""
    normalised = normalise(kind, value)
    identity = _find_identity(kind, normalised)
    if identity is not None:
        contact = identity.contact
        if identity.kind != kind:  # same number seen on another channel: remember it
            identity_add(contact=contact, kind=kind, value=normalised)
        if name and not contact.name:
            contact.name = name[:200]
            contact.save(update_fields=["name"])
        return _follow_merge(contact)
    try:
        with transaction.atomic():
            contact = Contact.objects.create(
                name=name[:200], organisation=_org_for(kind, normalised)
            )
            Identity.objects.create(contact=contact, kind=kind, value=normalised)
            return contact
    except IntegrityError:
        # Another worker created the same identity between our read and write.
        return _follow_merge(Identity.objects.get(kind=kind, value=normalised).contact)


def _follow_merge(contact: Contact) -> Contact:
    seen = 0
    while contact.merged_into_id is not None and seen < 10:
        contact = Contact.objects.get(pk=contact.merged_into_id)
        seen += 1
    return contact


def _org_for(kind: str, value: str) -> Any:
    if kind != Identity.Kind.EMAIL or "@" not in value:
        return None
    domain = value.rsplit("@", 1)[1]
    for org in Organisation.objects.exclude(domains="").only("id", "domains"):
        if domain in {d.strip().lower() for d in org.domains.split(",")}:
            return org
    return None


def identity_add(*, contact: Contact, kind: str, value: str) -> Identity:
    normalised = normalise(kind, value)
    existing = Identity.objects.filter(kind=kind, value=normalised).first()
    if existing is not None:
        if existing.contact_id != contact.pk:
            raise ServiceError(f"{kind} {normalised} already belongs to another contact.")
        return existing
    return Identity.objects.create(contact=contact, kind=kind, value=normalised)


@transaction.atomic
def contact_update(
    *, contact: Contact, name: str, organisation: Organisation | None, notes: str
) -> Contact:
    """Set a contact's own details (identities change through `identity_add`, merges through
    `contact_merge`). Tickets keep the organisation they were opened under."""
    contact.name = name.strip()[:200]
    contact.organisation = organisation
    contact.notes = notes
    contact.updated_at = timezone.now()
    contact.save(update_fields=["name", "organisation", "notes", "updated_at"])
    return contact


@transaction.atomic
def contact_link_user(*, user: Any, email: str) -> Contact:
    """Give a portal login its contact: the one owning this (verified) email, else a new one.

    A contact already linked to another login is left alone and a new contact is not made for
    the same address: the identity stays with its owner."""
    existing = Contact.objects.filter(user=user).first()
    if existing is not None:
        return existing
    value = normalise(Identity.Kind.EMAIL, email)
    identity = (
        Identity.objects.select_related("contact")
        .filter(kind=Identity.Kind.EMAIL, value=value)
        .first()
    )
    name = user.get_full_name() if hasattr(user, "get_full_name") else ""
    if identity is None:
        contact = Contact.objects.create(
            name=name[:200], user=user, organisation=_org_for(Identity.Kind.EMAIL, value)
        )
        Identity.objects.create(
            contact=contact, kind=Identity.Kind.EMAIL, value=value, verified=True
        )
        return contact
    contact = _follow_merge(identity.contact)
    if contact.user_id is not None and contact.user_id != user.pk:
        raise ServiceError(f"{value} already belongs to another login.")
    contact.user = user
    contact.save(update_fields=["user"])
    identity.verified = True
    identity.save(update_fields=["verified"])
    return contact
