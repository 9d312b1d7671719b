"""The ranked search over tickets, on top of any ticket queryset (already scoped by the gate).

`apply_search(qs, user, query)` narrows `qs` by the parsed query and annotates `search_rank`.
The text part reads only `SearchDocument` through its GIN indexes: the matching ticket ids come
from one subquery on that table, and the ticket rows (with the caller's visibility filter)
are joined by primary key. Names, emails and phone digits are also matched as substrings
through the trigram index on `people`.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from django.contrib.postgres.search import SearchQuery as TsQuery
from django.contrib.postgres.search import SearchRank
from django.db import connection, transaction
from django.db.models import (
    Case,
    Exists,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from ..identities import InvalidIdentity, normalise_email, normalise_phone
from ..models import Group, Identity, SearchDocument, Tag, Ticket
from .index import MAX_TEXT, SEARCH_CONFIG, documents_repair_recent
from .parser import Condition, SearchQuery

_HIGHLIGHT_START, _HIGHLIGHT_END = "\x02", "\x03"
_HEADLINE_OPTIONS = (
    f"StartSel={_HIGHLIGHT_START}, StopSel={_HIGHLIGHT_END}, "
    'MaxWords=24, MinWords=8, MaxFragments=2, FragmentDelimiter=" … "'
)
SNIPPET_MESSAGES = 30  # the newest messages of a ticket looked at for its snippet
SEARCH_CANDIDATES = 200  # matches ranked per query; beyond, the count shows "200+"
RECENT_WALK = 5000  # recent visible tickets tested first (a common word stops here)
PROBE_LIMIT = 2000  # matching documents read through the GIN indexes otherwise


class SearchError(ValueError):
    """The query cannot run as typed; `messages` say why, in words for the agent."""

    def __init__(self, messages: list[str] | tuple[str, ...]) -> None:
        self.messages = list(messages)
        super().__init__(" ".join(self.messages))


def _tsquery(text: str) -> TsQuery:
    return TsQuery(text, search_type="websearch", config=SEARCH_CONFIG)


def _people_text(query: SearchQuery) -> str:
    """What to look for as a substring of names, emails and phones: a short plain query
    (one to three words, at least 4 characters), or the digits of a phone number."""
    if query.phrases or not query.words or len(query.words) > 3:
        return ""
    raw = " ".join(query.words).lower()
    digits = re.sub(r"\D", "", raw)
    if len(digits) >= 6 and not re.search(r"[a-z@]", raw):
        return digits
    return raw if len(raw) >= 4 else ""


def _in(column: str, query: SearchQuery) -> Q:
    """`column @@ query`; for a phrase, its words alone first: testing word positions costs
    far more than finding the words, so most rows are turned away by the cheap test."""
    tsq = _tsquery(query.websearch())
    if not query.phrases:
        return Q(**{column: tsq})
    words = " ".join([*query.words, *query.phrases])
    return Q(**{column: TsQuery(words, search_type="plain", config=SEARCH_CONFIG)}) & Q(
        **{column: tsq}
    )


def _text_match(query: SearchQuery, *, include_notes: bool, prefix: str = "") -> Q:
    match = _in(f"{prefix}document", query)
    if include_notes:
        match |= _in(f"{prefix}notes", query)
    people = _people_text(query)
    if people:
        match |= Q(**{f"{prefix}people__contains": people})
    return match


def apply_search(
    qs: QuerySet[Ticket],
    user: Any,
    query: SearchQuery,
    *,
    include_notes: bool = True,
    eager: bool = True,
) -> QuerySet[Ticket]:
    """Narrow `qs` by the query and annotate `search_rank` (0 without text). Raises
    `SearchError` for what the parser rejected or the database cannot resolve.

    With text, the candidates are the `SEARCH_CANDIDATES` most recently updated matching
    tickets, ranked among themselves: ranking every match of a common word over a million
    tickets would cost seconds, and an agent refines a query long before page 20.

    `eager` (the default) reads the candidates' ids first, and first rebuilds what the refresh
    task has not reached yet; `eager=False` leaves both out and keeps the candidates as a
    subquery, for counting several searches in one query."""
    if query.errors:
        raise SearchError(query.errors)
    qs = qs.filter(_conditions(user, query.conditions))
    if eager and (query.has_text or query.excluded or query.where("from")):
        documents_repair_recent()
    if query.has_text:
        matching = qs.filter(
            _text_match(query, include_notes=include_notes, prefix="search_document__")
        )
        newest = matching.order_by("-updated_at", "-id").values("pk")[: SEARCH_CANDIDATES + 1]
        if not eager:
            return qs.filter(pk__in=newest).alias(search_rank=Value(0.0, FloatField()))
        candidates = _candidates(qs, matching, query, include_notes=include_notes)
        if query.ticket_number is not None:
            # a ticket is found by its number even before its document exists
            candidates += list(
                qs.filter(number=query.ticket_number).values_list("pk", flat=True)[:1]
            )
        tsq = _tsquery(query.websearch())
        rank: Any = Coalesce(
            SearchRank(F("search_document__document"), tsq), Value(0.0), output_field=FloatField()
        )
        if include_notes:
            rank = rank + Coalesce(
                SearchRank(F("search_document__notes"), tsq) * Value(0.5),
                Value(0.0),
                output_field=FloatField(),
            )
        if query.ticket_number is not None:
            rank = rank + Case(
                When(number=query.ticket_number, then=Value(10.0)),
                default=Value(0.0),
                output_field=FloatField(),
            )
        # the caller's queryset again, so its joins and prefetches stay; by primary key. An
        # alias, not an annotation: the page's count then does not rank every candidate.
        return qs.filter(pk__in=candidates).alias(search_rank=rank)
    if query.excluded:
        hidden = SearchDocument.objects.filter(
            _text_match(SearchQuery(words=query.excluded), include_notes=include_notes)
        ).values("ticket_id")
        qs = qs.exclude(pk__in=hidden)
    return qs.alias(search_rank=Value(0.0, output_field=FloatField()))


def _candidates(
    qs: QuerySet[Ticket], matching: QuerySet[Ticket], query: SearchQuery, *, include_notes: bool
) -> list[int]:
    """The ids of up to `SEARCH_CANDIDATES` (+1) visible matches, as a literal list, at a cost
    that does not grow with the desk: a search reads at most `RECENT_WALK` recent tickets and
    `PROBE_LIMIT` documents, whatever the number of tickets and matches.

    1. The `RECENT_WALK` most recently updated visible tickets (the `updated_at` index) are
       tested against their documents (primary key), bitmap scans off. A common word fills the candidates here: they are then
       the newest matches.
    2. Otherwise the GIN indexes give up to `PROBE_LIMIT` matching documents (sequential scans
       off: the planner's guess for words that never meet is often wrong), of which the
       visible ones join the candidates. A rare word (a name, an email, a number) has fewer
       matches than that: all of them are found, however old. A word between the two may
       leave out some older matches; an operator or a second word narrows to them."""
    recent = qs.order_by("-updated_at", "-id").values("pk")[:RECENT_WALK]
    walk = matching.filter(pk__in=recent).order_by("-updated_at", "-id")
    with transaction.atomic(), connection.cursor() as cursor:
        # GIN is read only by bitmap scans: without them the plan is the bounded walk, even
        # when the planner believes a phrase to be rare
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        newest = list(walk.values_list("pk", flat=True)[: SEARCH_CANDIDATES + 1])
    if len(newest) > SEARCH_CANDIDATES:
        return newest
    probe = SearchDocument.objects.filter(_text_match(query, include_notes=include_notes))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        found = list(probe.values_list("ticket_id", flat=True)[:PROBE_LIMIT])
    # by primary key, sorted here: asked to sort, the planner would walk the date index
    # looking for these (mostly old) tickets
    older = qs.filter(pk__in=set(found) - set(newest)).order_by().values_list("updated_at", "pk")
    ranked = sorted(older, reverse=True)[: SEARCH_CANDIDATES + 1 - len(newest)]
    return newest + [pk for _, pk in ranked]


# --- conditions --------------------------------------------------------------------------------


def _conditions(user: Any, conditions: tuple[Condition, ...]) -> Q:
    result = Q()
    errors: list[str] = []
    for condition in conditions:
        try:
            q = _condition(user, condition)
        except SearchError as exc:
            errors.extend(exc.messages)
            continue
        result &= ~q if condition.negated else q
    if errors:
        raise SearchError(errors)
    return result


def _condition(user: Any, c: Condition) -> Q:
    if c.key == "status":
        if c.value == "unsolved":
            return Q(status__in=Ticket.ACTIVE_STATUSES)
        return Q(status=c.value)
    if c.key == "priority":
        return Q(priority=c.number)
    if c.key == "channel":
        return Q(channel=c.value)
    if c.key == "tag":
        tagged = Ticket.tags.through.objects.filter(ticket_id=OuterRef("pk"), tag__name=c.value)
        if not Tag.objects.filter(name=c.value).exists():
            raise SearchError([f"No tag is called “{c.value}”."])
        return Q(Exists(tagged))
    if c.key == "from":
        return _from(c.value)
    if c.key == "assignee":
        return _assignee(user, c.value)
    if c.key == "group":
        return _group(c.value)
    if c.key in ("created", "updated") and c.day is not None:
        return _dates(f"{c.key}_at", c.op, c.day)
    raise SearchError([f"“{c.key}:” cannot be searched."])  # the parser admits no other key


def _from(value: str) -> Q:
    """An email or phone number finds the requester by identity (exactly, through the unique
    index); anything else is part of a name, email or number (trigram index)."""
    exact = ""
    try:
        exact = normalise_email(value) if "@" in value else ""
    except InvalidIdentity:
        exact = ""
    if not exact and len(re.sub(r"\D", "", value)) >= 7 and not re.search(r"[a-z]", value):
        try:
            exact = normalise_phone(value)
        except InvalidIdentity:
            exact = ""
    if exact:
        contacts = Identity.objects.filter(kind__in=Identity.Kind.values, value=exact).values(
            "contact_id"
        )
        return Q(contact_id__in=contacts)
    if len(value) < 3:
        raise SearchError([f"“from:{value}” is too short: give at least 3 characters."])
    people = SearchDocument.objects.filter(people__contains=value.lower()).values("ticket_id")
    return Q(pk__in=people)


def _assignee(user: Any, value: str) -> Q:
    if value == "me":
        return Q(assignee=user)
    if value in ("none", "nobody", "unassigned"):
        return Q(assignee__isnull=True)
    from ..selectors import agents

    people = agents()
    found = (
        people.filter(Q(email__iexact=value) | Q(username__iexact=value))
        .values_list("pk", flat=True)
        .first()
    )
    if found is None and value.isdigit():
        found = people.filter(pk=int(value)).values_list("pk", flat=True).first()
    if found is None:
        raise SearchError([f"No agent “{value}”: use me, none, or an agent's email."])
    return Q(assignee_id=found)


def _group(value: str) -> Q:
    if value.lower() in ("none", "nogroup"):
        return Q(group__isnull=True)
    found = Group.objects.filter(name__iexact=value).values_list("pk", flat=True).first()
    if found is None and value.isdigit():
        found = Group.objects.filter(pk=int(value)).values_list("pk", flat=True).first()
    if found is None:
        raise SearchError([f"No group is called “{value}”."])
    return Q(group_id=found)


def _dates(field: str, op: str, day: Any) -> Q:
    """`>` a day means after that whole day; `<` before it begins (in the desk's time zone)."""
    zone = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(day, time.min), zone)
    end = start + timedelta(days=1)
    bounds = {
        ">": Q(**{f"{field}__gte": end}),
        ">=": Q(**{f"{field}__gte": start}),
        "<": Q(**{f"{field}__lt": start}),
        "<=": Q(**{f"{field}__lt": end}),
    }
    return bounds[op]


# --- snippets ----------------------------------------------------------------------------------

_SNIPPET_SQL = f"""
SELECT t.id,
    (SELECT ts_headline(%(config)s::regconfig, m.body, q.query, %(options)s)
       FROM (SELECT translate(left(mm.text, {MAX_TEXT}), chr(2) || chr(3), '') AS body,
                    mm.created_at, mm.id
               FROM tickets_message mm
              WHERE mm.ticket_id = t.id AND mm.kind = ANY(%(kinds)s)
              ORDER BY mm.created_at DESC, mm.id DESC
              LIMIT {SNIPPET_MESSAGES}) m
      WHERE to_tsvector(%(config)s::regconfig, m.body) @@ q.query
      ORDER BY m.created_at DESC, m.id DESC
      LIMIT 1),
    CASE WHEN to_tsvector(%(config)s::regconfig, t.subject) @@ q.query
         THEN ts_headline(%(config)s::regconfig,
                          translate(t.subject, chr(2) || chr(3), ''), q.query, %(options)s)
    END
FROM tickets_ticket t,
     (SELECT websearch_to_tsquery(%(config)s::regconfig, %(text)s) AS query) q
WHERE t.id = ANY(%(ids)s)
"""  # noqa: S608 - constants only; values are bound parameters


@dataclass(frozen=True)
class Snippet:
    body: SafeString  # a highlighted fragment of the best matching message, or ""
    subject: SafeString  # the subject with its matches highlighted, or ""


def _safe(fragment: str | None) -> SafeString:
    """Escape everything, then turn only our own markers into <mark>."""
    if not fragment:
        return mark_safe("")  # noqa: S308 - empty
    escaped = html.escape(" ".join(fragment.split()))
    marked = escaped.replace(_HIGHLIGHT_START, "<mark>").replace(_HIGHLIGHT_END, "</mark>")
    return mark_safe(marked)  # noqa: S308 - escaped above; only <mark> is ours


def search_snippets(
    ticket_ids: list[int], query: SearchQuery, *, include_notes: bool = True
) -> dict[int, Snippet]:
    """Highlighted fragments for a page of results, in one query."""
    if not ticket_ids or not query.has_text:
        return {}
    kinds = ["customer", "reply", *(["note"] if include_notes else [])]
    with connection.cursor() as cursor:
        cursor.execute(
            _SNIPPET_SQL,
            {
                "config": SEARCH_CONFIG,
                "options": _HEADLINE_OPTIONS,
                "kinds": kinds,
                "text": query.websearch(),
                "ids": list(ticket_ids),
            },
        )
        rows = cursor.fetchall()
    return {tid: Snippet(_safe(body), _safe(subject)) for tid, body, subject in rows}


def rank_order(query: SearchQuery) -> list[Any]:
    """Best match first, equal ranks newest first; newest first for a query without words."""
    newest = [F("updated_at").desc(), F("id").desc()]
    return [F("search_rank").desc(), *newest] if query.has_text else newest
