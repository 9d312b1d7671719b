"""The search documents: one row per ticket, rebuilt in SQL, off the hot path.

A ticket change (`tickets.events.ticket_changed`, sent after commit) only adds the ticket to
a dirty set in Redis (one pipelined round trip); the first change of a quiet spell also queues
`tickets.tasks.drain_search_documents` a couple of seconds later. Changes within that window
coalesce: a ticket changed ten times is rebuilt once, and a burst of a thousand tickets is
rebuilt in two statements. The drain clears its flag before it pops the ids, so a change that
lands while it runs queues the next drain: nothing is lost, and a rebuild run twice writes the
same row (idempotent).

Staleness window: the task runs `SEARCH_REFRESH_DELAY` seconds (2 s) plus the queue's latency
after the commit — a few seconds with an idle `search` worker. Searches do not wait for it:
each search first rebuilds the documents of tickets changed in the last 15 minutes that are
still missing or older than their ticket (`documents_repair_recent`, at most 200, read through
the `updated_at` index), so what was just written is found at once even with no worker
running. Older gaps (a lost task more than 15 minutes ago, rows written with COPY) wait for
`manage.py rebuild_search_index` (or `--missing` for tickets that have no document yet). If a
drain task is lost, its flag expires after `DIRTY_TTL` and the next change queues a drain
again (the dirty ids wait in Redis meanwhile).
A contact's or organisation's rename reaches its tickets only through the task (it does not
change the tickets' `updated_at`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

log = logging.getLogger(__name__)

SEARCH_CONFIG = "english"
SEARCH_REFRESH_DELAY = 2  # seconds: changes of one ticket within this window coalesce
DIRTY_TTL = 60  # seconds the "drain queued" flag lives when its task never runs
MAX_TEXT = 20_000  # characters of one message that are indexed
MAX_DOCUMENT_TEXT = 400_000  # characters of a ticket's messages (tsvector stops at 1 MB)
_PUBLIC_KINDS = ("customer", "reply")

# One statement builds the documents of a set of tickets (`{where}` selects them). Each part of
# a ticket's text is aggregated in its own LATERAL subquery, read through the foreign-key
# indexes; the whole set is written with one upsert.
_BUILD_SQL = """
INSERT INTO tickets_searchdocument (ticket_id, document, notes, people, refreshed_at)
SELECT
    t.id,
    setweight(to_tsvector(%(config)s::regconfig,
        t.subject || ' ' || t.number::text || ' ' || coalesce(tags.names, '')), 'A')
    || setweight(to_tsvector(%(config)s::regconfig,
        concat_ws(' ', c.name, ids.vals, o.name, att.public_names)), 'B')
    || setweight(to_tsvector(%(config)s::regconfig, coalesce(msg.public_text, '')), 'C'),
    setweight(to_tsvector(%(config)s::regconfig,
        concat_ws(' ', msg.note_text, att.note_names)), 'C'),
    lower(concat_ws(' ', c.name, ids.vals, ids.digits, o.name)),
    -- "covers the ticket as of its updated_at", whatever the clocks of app and database say
    greatest(clock_timestamp(), t.updated_at)
FROM tickets_ticket t
JOIN tickets_contact c ON c.id = t.contact_id
LEFT JOIN tickets_organisation o ON o.id = coalesce(t.organisation_id, c.organisation_id)
LEFT JOIN LATERAL (
    SELECT string_agg(i.value, ' ') AS vals,
           string_agg(regexp_replace(i.value, '\\D', '', 'g'), ' ')
               FILTER (WHERE i.kind IN ('phone', 'whatsapp')) AS digits
    FROM tickets_identity i WHERE i.contact_id = c.id
) ids ON true
LEFT JOIN LATERAL (
    SELECT string_agg(g.name, ' ') AS names
    FROM tickets_ticket_tags tt JOIN tickets_tag g ON g.id = tt.tag_id
    WHERE tt.ticket_id = t.id
) tags ON true
LEFT JOIN LATERAL (
    SELECT left(string_agg(left(m.text, %(max_text)s), ' ')
                FILTER (WHERE m.kind = ANY(%(public)s)), %(max_doc)s) AS public_text,
           left(string_agg(left(m.text, %(max_text)s), ' ')
                FILTER (WHERE m.kind = 'note'), %(max_doc)s) AS note_text
    FROM tickets_message m WHERE m.ticket_id = t.id
) msg ON true
LEFT JOIN LATERAL (
    -- "scan-of-receipt.pdf" is one token to the parser: its parts are indexed too
    SELECT string_agg(a.filename || ' ' || regexp_replace(a.filename, '[._-]+', ' ', 'g'), ' ')
               FILTER (WHERE m.kind = ANY(%(public)s)) AS public_names,
           string_agg(a.filename || ' ' || regexp_replace(a.filename, '[._-]+', ' ', 'g'), ' ')
               FILTER (WHERE m.kind = 'note') AS note_names
    FROM tickets_message m JOIN tickets_attachment a ON a.message_id = m.id
    WHERE m.ticket_id = t.id AND NOT a.inline
) att ON true
WHERE {where}
ON CONFLICT (ticket_id) DO UPDATE SET
    document = EXCLUDED.document,
    notes = EXCLUDED.notes,
    people = EXCLUDED.people,
    refreshed_at = EXCLUDED.refreshed_at
"""


def _params(**extra: Any) -> dict[str, Any]:
    return {
        "config": SEARCH_CONFIG,
        "max_text": MAX_TEXT,
        "max_doc": MAX_DOCUMENT_TEXT,
        "public": list(_PUBLIC_KINDS),
        **extra,
    }


def documents_refresh(*, ticket_ids: Sequence[int]) -> int:
    """Rebuild the documents of these tickets (ids of deleted tickets are skipped); returns
    how many were written. Safe to run any number of times."""
    ids = sorted({int(i) for i in ticket_ids})
    if not ids:
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_BUILD_SQL.format(where="t.id = ANY(%(ids)s)"), _params(ids=ids))
        return int(cursor.rowcount)


def documents_refresh_for_contacts(*, contact_ids: Sequence[int]) -> int:
    """A contact's name, identities or organisation changed: rebuild all of its tickets."""
    ids = sorted({int(i) for i in contact_ids})
    if not ids:
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_BUILD_SQL.format(where="t.contact_id = ANY(%(ids)s)"), _params(ids=ids))
        return int(cursor.rowcount)


def documents_refresh_for_organisation(*, organisation_id: int) -> int:
    """An organisation was renamed: rebuild the tickets that show its name."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            _BUILD_SQL.format(where="(t.organisation_id = %(org)s OR c.organisation_id = %(org)s)"),
            _params(org=int(organisation_id)),
        )
        return int(cursor.rowcount)


_STALE_SQL = """
SELECT t.id FROM tickets_ticket t
LEFT JOIN tickets_searchdocument d ON d.ticket_id = t.id
WHERE t.updated_at >= %s AND (d.ticket_id IS NULL OR d.refreshed_at < t.updated_at)
ORDER BY t.updated_at DESC
LIMIT %s
"""
REPAIR_WINDOW = timedelta(minutes=15)
REPAIR_LIMIT = 200


def documents_repair_recent(*, window: timedelta = REPAIR_WINDOW, limit: int = REPAIR_LIMIT) -> int:
    """Rebuild, now, the documents of tickets changed in the last `window` that are missing or
    older than their ticket: what the refresh task has not reached yet (its 2 s delay, a busy
    or stopped worker). A search calls this first, so what an agent just wrote is found at
    once. It reads the newest tickets through the `updated_at` index: one cheap query when
    the worker keeps up."""
    with connection.cursor() as cursor:
        cursor.execute(_STALE_SQL, [timezone.now() - window, limit])
        stale = [row[0] for row in cursor.fetchall()]
    return documents_refresh(ticket_ids=stale) if stale else 0


GIN_INDEXES = ("search_document_gin", "search_notes_gin", "search_people_trgm")


def documents_rebuild(
    *,
    batch_size: int = 20_000,
    missing_only: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Rebuild every document (or only the missing ones), one transaction per id range so a
    big desk is never locked for long and an interrupted run can simply be run again.

    On an empty table (the first build, a bulk seed) the GIN indexes are dropped meanwhile and
    built again in one sorted pass at the end: several times faster than filling them row by
    row. A live desk keeps its indexes and can search while this runs."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(min(id), 0), coalesce(max(id), 0) FROM tickets_ticket")
        low, high = cursor.fetchone()
        cursor.execute("SELECT NOT EXISTS (SELECT 1 FROM tickets_searchdocument)")
        empty = bool(cursor.fetchone()[0])
    # (not inside a caller's transaction: deferred foreign-key checks forbid CREATE INDEX)
    dropped = _drop_gin_indexes() if empty and high and not connection.in_atomic_block else []
    where = "t.id >= %(low)s AND t.id < %(high)s"
    if missing_only:
        where += " AND NOT EXISTS (SELECT 1 FROM tickets_searchdocument d WHERE d.ticket_id = t.id)"
    written = 0
    start = low
    try:
        while start and start <= high:
            end = start + batch_size
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
                cursor.execute(_BUILD_SQL.format(where=where), _params(low=start, high=end))
                written += int(cursor.rowcount)
            if progress is not None:
                progress(written, high)
            start = end
    finally:
        with connection.cursor() as cursor:
            for definition in dropped:
                cursor.execute("SET maintenance_work_mem = '256MB'")
                cursor.execute(definition)
                cursor.execute("RESET maintenance_work_mem")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tickets_searchdocument")
    return written


def _drop_gin_indexes() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE tablename = 'tickets_searchdocument' AND indexname = ANY(%s)",
            [list(GIN_INDEXES)],
        )
        found = cursor.fetchall()
        for name, _ in found:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
    return [definition for _, definition in found]


# --- scheduling ----------------------------------------------------------------------------------
#
# A change costs one Redis round trip: SADD the id to a dirty set and SET NX a "drain queued"
# flag, pipelined. Only the change that finds no drain queued publishes a Celery task (at most
# one every SEARCH_REFRESH_DELAY seconds, however fast tickets change); the drain clears the
# flag first, then pops ids in batches, so an id added while it runs either is popped by it or
# queues the next drain. Ids are put back when a batch fails, for the retry.

DRAIN_BATCH = 500  # tickets rebuilt per statement by the drain
DRAIN_ROUNDS = 20  # batches per task before it hands over to a fresh one
_redis_client: Any = None


def _redis() -> Any:
    global _redis_client  # noqa: PLW0603 - one connection pool per process
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
    return _redis_client


def _key(name: str) -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "hd")
    return f"{prefix}:search:{name}"


TICKETS_SET, CONTACTS_SET, DRAIN_FLAG = "dirty:tickets", "dirty:contacts", "drain"


def schedule_ticket_refresh(ticket_ids: Iterable[int]) -> None:
    """Mark tickets dirty; the drain task rebuilds them shortly. Call after commit."""
    _mark(TICKETS_SET, [int(t) for t in ticket_ids])


def schedule_contact_refresh(contact_id: int) -> None:
    _mark(CONTACTS_SET, [int(contact_id)])


def _mark(set_name: str, ids: list[int]) -> None:
    if not ids:
        return
    from ..tasks import (
        drain_search_documents,
        refresh_contact_search_documents,
        refresh_search_documents,
    )

    try:
        pipe = _redis().pipeline(transaction=False)
        pipe.sadd(_key(set_name), *ids)
        pipe.set(_key(DRAIN_FLAG), 1, nx=True, ex=DIRTY_TTL)
        _, first = pipe.execute()
        if first:
            drain_search_documents.apply_async(countdown=SEARCH_REFRESH_DELAY)
        return
    except Exception:  # noqa: BLE001 - a missed mark must not fail a write already committed
        log.warning("search: could not mark %s %s dirty; refreshing directly", set_name, ids)
    direct = (
        refresh_search_documents if set_name == TICKETS_SET else refresh_contact_search_documents
    )
    try:
        direct.apply_async(args=[ids], countdown=SEARCH_REFRESH_DELAY)
    except Exception:  # noqa: BLE001 - the search repairs recent tickets itself
        log.warning("search: refresh of %s not queued", ids, exc_info=True)


def drain_dirty() -> int:
    """Rebuild the documents of every dirty ticket and contact; returns how many were written.
    Hands over to a fresh task after DRAIN_ROUNDS batches so one task never runs for long."""
    client = _redis()
    client.delete(_key(DRAIN_FLAG))
    written = 0
    for _ in range(DRAIN_ROUNDS):
        tickets = [int(i) for i in client.spop(_key(TICKETS_SET), DRAIN_BATCH) or []]
        contacts = [int(i) for i in client.spop(_key(CONTACTS_SET), DRAIN_BATCH // 10) or []]
        if not tickets and not contacts:
            return written
        try:
            written += documents_refresh(ticket_ids=tickets)
            written += documents_refresh_for_contacts(contact_ids=contacts)
        except Exception:
            # put them back for the retry (or the next drain)
            if tickets:
                client.sadd(_key(TICKETS_SET), *tickets)
            if contacts:
                client.sadd(_key(CONTACTS_SET), *contacts)
            raise
    if client.scard(_key(TICKETS_SET)) or client.scard(_key(CONTACTS_SET)):
        from ..tasks import drain_search_documents

        if client.set(_key(DRAIN_FLAG), 1, nx=True, ex=DIRTY_TTL):
            drain_search_documents.apply_async()
    return written


def schedule_organisation_refresh(organisation_id: int) -> None:
    from ..tasks import refresh_organisation_search_documents

    try:
        refresh_organisation_search_documents.apply_async(
            args=[organisation_id], countdown=SEARCH_REFRESH_DELAY
        )
    except Exception:  # noqa: BLE001 - a missed refresh must not fail a write already committed
        log.warning("search: refresh of organisation %s not queued", organisation_id)
