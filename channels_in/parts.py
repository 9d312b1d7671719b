"""A reply that leaves as several provider messages (its text, then each file on its own, as
the WhatsApp Cloud API and Messenger's Send API require), sent so that a retry repeats
nothing the customer already has and a half-sent reply never looks like a sent one.

Each part is recorded on the delivery (`OutboundDelivery.parts`) as it starts and again the
moment the provider accepts it; `delivery_send` sends outside any transaction, so each record
commits at once. A retry after a failure skips every part recorded as sent. A worker killed
outright leaves at most one part started and not confirmed: the providers offer no
idempotency key, so `channels_in.recovery` resumes such a delivery only when no part is in
that state, and otherwise fails it naming the part that may not have arrived.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from .errors import DeliveryError
from .models import OutboundDelivery
from .webhooks import ProviderError, Receipt

# Where a long text is cut, best first: between paragraphs, between lines, between words.
BREAKS = ("\n\n", "\n", " ")


@dataclass(frozen=True, slots=True)
class Part:
    """One provider message of a reply: `key` is stable across retries ("text",
    "file:<attachment id>"), `label` is what the agent reads ("the text", "invoice.pdf")."""

    key: str
    label: str
    send: Callable[[], str]  # sends it, returns the provider's message id


def recorded(delivery: OutboundDelivery, key: str) -> dict[str, Any]:
    """What was recorded for one part ({} when nothing was)."""
    for entry in delivery.parts:
        if isinstance(entry, dict) and entry.get("part") == key:
            return entry
    return {}


def record(delivery: OutboundDelivery, key: str, **values: str) -> None:
    """Add `values` to a part's record and save it now (see the module's note on when that
    commits)."""
    parts = [dict(entry) for entry in delivery.parts if isinstance(entry, dict)]
    for entry in parts:
        if entry.get("part") == key:
            entry.update(values)
            break
    else:
        parts.append({"part": key, **values})
    delivery.parts = parts
    delivery.save(update_fields=["parts"])


def send_parts(delivery: OutboundDelivery, parts: Sequence[Part], *, provider: str) -> str:
    """Send each part not yet recorded as sent, in order; returns the last part's message id
    (receipts follow that one). When a part fails, the DeliveryError names what went out
    and what did not, transient (retried from that part) or permanent as the provider's
    answer says."""
    last = ""
    for index, part in enumerate(parts):
        done = recorded(delivery, part.key).get("id")
        if done:
            last = str(done)
            continue
        record(delivery, part.key, started=timezone.now().isoformat(), label=part.label)
        try:
            last = part.send()
        except ProviderError as exc:
            record(delivery, part.key, started="")  # the provider answered: not in flight
            raise partial_failure(provider, parts, index, exc) from exc
        record(delivery, part.key, id=last, label=part.label)
    return last


def in_flight(delivery: OutboundDelivery) -> list[str]:
    """Labels of the parts that were started and neither confirmed nor refused: a worker
    died while the provider had them, and whether they arrived is unknown."""
    return [
        str(entry.get("label") or entry.get("part"))
        for entry in delivery.parts
        if isinstance(entry, dict) and entry.get("started") and not entry.get("id")
    ]


def confirmed(delivery: OutboundDelivery) -> list[str]:
    return [
        str(entry.get("label") or entry.get("part"))
        for entry in delivery.parts
        if isinstance(entry, dict) and entry.get("id")
    ]


def partial_failure(
    provider: str, parts: Sequence[Part], index: int, exc: ProviderError
) -> DeliveryError:
    if index == 0:
        return exc.as_delivery_error(provider)
    sent = ", ".join(p.label for p in parts[:index])
    missing = ", ".join(p.label for p in parts[index:])
    return DeliveryError(
        f"{provider}: only part of this reply went out. Sent: {sent}. Not sent: {missing} ({exc})",
        permanent=not exc.transient,
    )


def split_text(text: str, limit: int) -> list[str]:
    """`text` as consecutive pieces of at most `limit` characters, nothing lost: each cut is
    at the last paragraph break in the piece's second half, else the last line break there,
    else the last space, else at `limit` itself (a word longer than half a message). The
    break a cut falls on is dropped, as is a piece of nothing but whitespace. Deterministic,
    so a retry cuts the same text into the same pieces."""
    if limit < 2:
        raise ValueError(f"cannot split text into pieces of {limit} characters")
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[: limit + 2]  # a break just past the limit still counts
        for brk in BREAKS:
            cut = window.rfind(brk, limit // 2, limit + len(brk))
            if cut > 0:
                piece, rest = rest[:cut], rest[cut + len(brk) :]
                break
        else:
            piece, rest = rest[:limit], rest[limit:]
        if piece.strip():
            pieces.append(piece)
    if rest.strip() or not pieces:
        pieces.append(rest)
    return pieces


def text_parts(text: str, limit: int, send: Callable[[str], str]) -> list[Part]:
    """The parts that send `text` in pieces of at most `limit` characters, `send(piece)`
    sending one. A text that fits is the one part "text" (as replies were recorded before
    long texts were split); a longer one is "text:1", "text:2", … so a retry sends only
    the pieces not yet sent."""
    pieces = split_text(text, limit)

    def sender(piece: str) -> Callable[[], str]:
        return lambda: send(piece)

    if len(pieces) == 1:
        return [Part("text", "the text", sender(pieces[0]))]
    return [
        Part(f"text:{n}", f"part {n} of {len(pieces)} of the text", sender(piece))
        for n, piece in enumerate(pieces, start=1)
    ]


def reply_receipt(receipt: Receipt, *, channel: str) -> Receipt:
    """A reply sent as several messages is followed by its last one; an earlier one failing
    fails the reply too, naming which part (a provider's receipt names one message)."""
    if receipt.status != OutboundDelivery.Status.FAILED:
        return receipt
    if OutboundDelivery.objects.filter(provider_id=receipt.provider_id).exists():
        return receipt
    delivery = (
        OutboundDelivery.objects.filter(
            channel=channel, parts__contains=[{"id": receipt.provider_id}]
        )
        .exclude(provider_id="")
        .first()
    )
    if delivery is None:
        return receipt
    part = next(p for p in delivery.parts if p.get("id") == receipt.provider_id)
    return Receipt(
        provider_id=delivery.provider_id,
        status=receipt.status,
        detail=f"{part.get('label', 'part')} not delivered: {receipt.detail or 'failed'}",
    )
