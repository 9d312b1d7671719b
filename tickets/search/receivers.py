"""What keeps the search documents current: every ticket change, and changes of a contact's
name, organisation or identities (they show in all of the contact's tickets)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from ..events import ticket_changed
from ..models import Contact, Identity, Organisation
from . import index


@receiver(ticket_changed, dispatch_uid="search_ticket_changed")
def ticket_changed_refresh(sender: Any, ticket_id: int, **kwargs: Any) -> None:
    # Sent after commit already: one Redis SET NX and, at most, one queued task.
    index.schedule_ticket_refresh([ticket_id])


@receiver(post_save, sender=Contact, dispatch_uid="search_contact_saved")
def contact_saved_refresh(sender: Any, instance: Contact, created: bool, **kwargs: Any) -> None:
    if created:  # a new contact has no ticket yet; its tickets announce themselves
        return
    contact_id = instance.pk
    transaction.on_commit(lambda: index.schedule_contact_refresh(contact_id))


@receiver(post_save, sender=Identity, dispatch_uid="search_identity_saved")
def identity_saved_refresh(sender: Any, instance: Identity, **kwargs: Any) -> None:
    contact_id = instance.contact_id
    transaction.on_commit(lambda: index.schedule_contact_refresh(contact_id))


@receiver(post_save, sender=Organisation, dispatch_uid="search_organisation_saved")
def organisation_saved_refresh(
    sender: Any, instance: Organisation, created: bool, **kwargs: Any
) -> None:
    if created:
        return
    organisation_id = instance.pk
    transaction.on_commit(lambda: index.schedule_organisation_refresh(organisation_id))
