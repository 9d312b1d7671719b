"""Merging: two tickets into one, two contacts into one."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from ..models import Contact, Identity, Message, Participant, Ticket, TicketEvent
from .common import ServiceError, _announce, _event
from .lifecycle import _set_status_fields


@transaction.atomic
def contact_merge(*, source: Contact, target: Contact, actor: Any) -> Contact:
    """Move every identity, ticket and message of `source` to `target`; `source` stays as a
    tombstone pointing at `target` so old links and late messages still resolve."""
    if source.pk == target.pk:
        raise ServiceError("A contact cannot be merged into itself.")
    source = Contact.objects.select_for_update().get(pk=source.pk)
    target = Contact.objects.select_for_update().get(pk=target.pk)
    Identity.objects.filter(contact=source).update(contact=target)
    ticket_ids = list(Ticket.objects.filter(contact=source).values_list("id", flat=True))
    Ticket.objects.filter(contact=source).update(contact=target)
    Message.objects.filter(author_contact=source).update(author_contact=target)
    for participant in Participant.objects.filter(contact=source):
        if Participant.objects.filter(ticket_id=participant.ticket_id, contact=target).exists():
            participant.delete()
        else:
            participant.contact = target
            participant.save(update_fields=["contact"])
    TicketEvent.objects.bulk_create(
        TicketEvent(
            ticket_id=tid,
            kind=TicketEvent.Kind.CONTACT,
            actor=actor,
            old={"contact": source.pk, "name": source.display_name},
            new={"contact": target.pk, "name": target.display_name, "reason": "contacts merged"},
        )
        for tid in ticket_ids
    )
    if not target.name and source.name:
        target.name = source.name
    if target.organisation_id is None and source.organisation_id:
        target.organisation_id = source.organisation_id
    target.updated_at = timezone.now()
    target.save(update_fields=["name", "organisation", "updated_at"])
    source.merged_into = target
    source.save(update_fields=["merged_into"])
    return target


@transaction.atomic
def ticket_merge(*, source: Ticket, target: Ticket, actor: Any) -> Ticket:
    """Move every message of `source` into `target` and close `source` pointing at it."""
    if source.pk == target.pk:
        raise ServiceError("A ticket cannot be merged into itself.")
    first, second = sorted([source.pk, target.pk])  # lock in id order: no deadlock
    locked = {t.pk: t for t in Ticket.objects.select_for_update().filter(pk__in=[first, second])}
    source, target = locked[source.pk], locked[target.pk]
    if source.merged_into_id or target.merged_into_id:
        raise ServiceError("One of these tickets was already merged.")
    moved = Message.objects.filter(ticket=source).update(ticket=target)
    for participant in Participant.objects.filter(ticket=source):
        Participant.objects.get_or_create(ticket=target, contact_id=participant.contact_id)
    if source.contact_id != target.contact_id:
        Participant.objects.get_or_create(ticket=target, contact_id=source.contact_id)
    target.message_count = Message.objects.filter(ticket=target).count()
    target.updated_at = timezone.now()
    target.save(update_fields=["message_count", "updated_at"])
    source.merged_into = target
    fields = ["merged_into", "updated_at", "message_count"]
    source.message_count = 0
    source.updated_at = timezone.now()
    if source.status != Ticket.Status.CLOSED:
        _set_status_fields(source, Ticket.Status.CLOSED, fields, actor=actor)
    source.save(update_fields=fields)
    _event(source, TicketEvent.Kind.MERGED, actor=actor, new={"into": target.number})
    _event(
        target, TicketEvent.Kind.MERGED, actor=actor, new={"from": source.number, "messages": moved}
    )
    _announce(source, "merged")
    _announce(target, "merged")
    return target
