"""What every service shares: the error a rule raises, the after-commit
announcement, the ticket row lock and attachment storage."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.core.files.base import ContentFile
from django.db import transaction

from .. import events
from ..models import Attachment, Message, Ticket
from ..types import IncomingAttachment


class ServiceError(ValueError):
    """A change the rules do not allow; the message is shown to the person who asked."""


_quiet: ContextVar[bool] = ContextVar("tickets_services_quiet", default=False)


@contextmanager
def announcements_off() -> Iterator[None]:
    """Within it, services announce nothing (`ticket_changed`): for replaying past history
    (`import_history`), which is neither news for live screens nor a cause for automation.
    The caller schedules what must still follow (the search document)."""
    token = _quiet.set(True)
    try:
        yield
    finally:
        _quiet.reset(token)


def announcing() -> bool:
    return not _quiet.get()


def _announce(ticket: Ticket, kind: str) -> None:
    if not announcing():
        return
    ticket_id, number, group_id = ticket.pk, ticket.number, ticket.group_id

    def send() -> None:
        events.ticket_changed.send(
            sender=Ticket, ticket_id=ticket_id, number=number, group_id=group_id, kind=kind
        )

    transaction.on_commit(send)


def _store_attachments(message: Message, attachments: Iterable[IncomingAttachment]) -> None:
    for item in attachments:
        digest = hashlib.sha256(item.payload).hexdigest()
        att = Attachment(
            message=message,
            filename=item.filename[:255] or "attachment",
            content_type=item.content_type[:200] or "application/octet-stream",
            size=len(item.payload),
            sha256=digest,
            content_id=item.content_id[:255],
            inline=item.inline,
        )
        att.file.save(att.filename, ContentFile(item.payload), save=False)
        att.save()


def _lock(ticket: Ticket) -> Ticket:
    return Ticket.objects.select_for_update().get(pk=ticket.pk)
