"""Read queries for the agent desk and the customer portal.

Every queryset here starts from `tickets.access` (the visibility gate) and carries the joins and
prefetches its page needs, so a page's query count does not grow with its rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, F, Min, OuterRef, Prefetch, Q, QuerySet

from . import events, sla_events
from .access import agent_tickets, my_group_ids, visible_tickets
from .models import (
    Attachment,
    Channel,
    Contact,
    Group,
    Identity,
    Macro,
    Message,
    Ticket,
    TicketEvent,
)
from .pagination import capped_counts
from .roles import Role, is_agent, sees_all_tickets
from .search.engine import apply_search, rank_order, search_snippets
from .search.parser import SearchQuery, parse_query
from .teams import group_workers_q

User = get_user_model()

QUEUE_VIEWS: dict[str, str] = {
    "mine": "My open",
    "unassigned": "Unassigned",
    "groups": "My groups",
    "unsolved": "All unsolved",
    "all": "All tickets",
}
DEFAULT_VIEW = "unsolved"
SORTS: dict[str, str] = {
    "-updated_at": "Updated",
    "-priority": "Priority",
    "-created_at": "Created",
    "due": "Due soonest",
    "relevance": "Relevance",
}
DEFAULT_SORT = "-updated_at"
RELEVANCE = "relevance"  # the default sort of a search with words; "Updated" without


@dataclass(frozen=True)
class QueueQuery:
    """What the agent asked the queue for; built by `tickets.forms.QueueFilterForm`."""

    view: str = DEFAULT_VIEW
    status: str = ""
    priority: int | None = None
    channel: str = ""
    group_id: int | None = None
    assignee: str = ""  # "me", "none" or a user id
    tag: str = ""
    q: str = ""
    sort: str = DEFAULT_SORT


def _active() -> Q:
    return Q(status__in=Ticket.ACTIVE_STATUSES)


def _my_groups(user: Any) -> list[int]:
    return my_group_ids(user)


def _view_filter(view: str, user: Any) -> Q:
    if view == "mine":
        return Q(assignee=user) & _active()
    if view == "unassigned":
        return Q(assignee__isnull=True) & _active()
    if view == "groups":
        return Q(group_id__in=_my_groups(user)) & _active()
    if view == "unsolved":
        return _active()
    return Q()


def queue_counts(user: Any) -> list[tuple[str, str, str]]:
    """The sidebar: (view, label, count) with every count in one query, each capped so that
    it costs the same at a million tickets as at a thousand."""
    visible = agent_tickets(user)
    counts = capped_counts({name: visible.filter(_view_filter(name, user)) for name in QUEUE_VIEWS})
    return [(name, label, counts[name]) for name, label in QUEUE_VIEWS.items()]


def queue_tickets(user: Any, query: QueueQuery) -> QuerySet[Ticket]:
    qs = agent_tickets(user).filter(_view_filter(query.view, user))
    if query.status:
        qs = qs.filter(status=query.status)
    if query.priority:
        qs = qs.filter(priority=query.priority)
    if query.channel:
        qs = qs.filter(channel=query.channel)
    if query.group_id:
        qs = qs.filter(group_id=query.group_id)
    if query.assignee == "me":
        qs = qs.filter(assignee=user)
    elif query.assignee == "none":
        qs = qs.filter(assignee__isnull=True)
    elif query.assignee.isdigit():
        qs = qs.filter(assignee_id=int(query.assignee))
    if query.tag:
        qs = qs.filter(tags__name=query.tag)
    parsed = parse_query(query.q) if query.q else None
    if parsed is not None:
        # last, so that the ranked candidates are drawn from the filtered tickets
        qs = apply_search(qs, user, parsed)  # raises SearchError for the agent to read
    return (
        qs.select_related("contact", "group", "assignee")
        .prefetch_related("tags")
        .order_by(*_queue_order(query.sort, parsed))
    )


def _queue_order(sort: str, parsed: SearchQuery | None) -> list[Any]:
    if sort == RELEVANCE and parsed is not None and parsed.has_text:
        return rank_order(parsed)
    if sort == "-priority":
        return ["-priority", "-updated_at", "-id"]
    if sort == "-created_at":
        return ["-created_at", "-id"]
    if sort == "due":  # the (sla_due_at, id) index; tickets with no running target last
        return [F("sla_due_at").asc(nulls_last=True), "-id"]
    return ["-updated_at", "-id"]


def queue_snippets(user: Any, tickets: Any, query: QueueQuery) -> None:
    """Set `search_snippet` on each ticket of a results page (one query for the page)."""
    rows = list(tickets)
    parsed = parse_query(query.q) if query.q else None
    found = (
        search_snippets([t.pk for t in rows], parsed, include_notes=is_agent(user))
        if parsed is not None and not parsed.errors
        else {}
    )
    for ticket in rows:
        ticket.search_snippet = found.get(ticket.pk)


def agents() -> QuerySet[Any]:
    """Everyone who can work tickets (for filter and assignee menus)."""
    roles = [Role.AGENT.value, Role.SUPERVISOR.value, Role.ADMIN.value]
    return (
        User.objects.filter(Q(groups__name__in=roles) | Q(is_superuser=True), is_active=True)
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


def assignable_agents(ticket: Ticket) -> list[Any]:
    """Agents who may take this ticket: those who work in its group (`teams`; everyone when it has no group),
    plus the current assignee so the menu always shows the truth."""
    qs = agents()
    if ticket.group_id:
        qs = qs.filter(group_workers_q(ticket.group_id))
    people = list(qs)
    if ticket.assignee is not None and all(p.pk != ticket.assignee_id for p in people):
        people.append(ticket.assignee)
    return people


def groups_of(user: Any) -> QuerySet[Group]:
    """The teams a user belongs to (every team for supervisors and admins)."""
    if sees_all_tickets(user):
        return Group.objects.order_by("name")
    return Group.objects.filter(members=user).order_by("name")


def all_groups() -> QuerySet[Group]:
    return Group.objects.order_by("name")


def active_macros() -> QuerySet[Macro]:
    return Macro.objects.filter(active=True).order_by("name")


# --- one ticket --------------------------------------------------------------------------------


def ticket_for_page(ticket: Ticket) -> Ticket:
    """The ticket with everything its header and sidebar show, in a fixed number of queries."""
    return (
        Ticket.objects.select_related("contact__organisation", "group", "assignee", "merged_into")
        .prefetch_related("tags", "contact__identities")
        .get(pk=ticket.pk)
    )


@dataclass
class ThreadItem:
    message: Message
    author: str = ""
    body_main: str = ""
    body_quoted: str = ""
    use_html: bool = False
    attachments: list[Attachment] = field(default_factory=list)
    call: str = ""  # "📞 Outbound call, 4 min" when the message is a logged call


def _duration(seconds: int) -> str:
    minutes, rest = divmod(max(seconds, 0), 60)
    if not minutes:
        return f"{rest} s"
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def call_summary(message: Message) -> str:
    """The heading of a logged call (`services.call_log` keeps it in metadata["call"])."""
    call = (message.metadata or {}).get("call")
    if not isinstance(call, dict):
        return ""
    direction = "Outbound" if call.get("direction") == "outbound" else "Inbound"
    seconds = call.get("duration_seconds")
    length = _duration(seconds) if isinstance(seconds, int) else "length unknown"
    return f"📞 {direction} call, {length}"


def call_notes(message: Message) -> str:
    call = (message.metadata or {}).get("call")
    notes = call.get("notes") if isinstance(call, dict) else ""
    return notes if isinstance(notes, str) else ""


def _author(message: Message) -> str:
    if message.author_user is not None:
        profile = getattr(message.author_user, "agent_profile", None)
        return (
            (profile.display_name if profile is not None else "")
            or message.author_user.get_full_name()
            or message.author_user.get_username()
        )
    if message.author_contact is not None:
        return message.author_contact.display_name
    return message.sender or "System"


def _thread_item(message: Message) -> ThreadItem:
    author = _author(message)
    files = list(message.attachments.all())
    call = call_summary(message)
    if call:
        # The stored text repeats the heading for plain readers; the desk shows the notes.
        return ThreadItem(
            message, author, body_main=call_notes(message), attachments=files, call=call
        )
    start = (message.metadata or {}).get("quoted_text_start")
    if isinstance(start, int) and 0 < start < len(message.text):
        # The fold index counts characters of the plain text, so fold the text, not the HTML.
        return ThreadItem(
            message,
            author,
            body_main=message.text[:start],
            body_quoted=message.text[start:],
            attachments=files,
        )
    return ThreadItem(
        message, author, body_main=message.text, use_html=bool(message.html), attachments=files
    )


def _messages(ticket: Ticket) -> QuerySet[Message]:
    return (
        Message.objects.filter(ticket=ticket)
        .select_related("author_user__agent_profile", "author_contact")
        .prefetch_related(
            Prefetch("attachments", queryset=Attachment.objects.filter(inline=False).order_by("id"))
        )
        .order_by("created_at", "id")
    )


def ticket_thread(ticket: Ticket) -> list[ThreadItem]:
    """Every message of the ticket in time order, whatever channel it came by."""
    return [_thread_item(m) for m in _messages(ticket)]


def portal_thread(ticket: Ticket) -> list[ThreadItem]:
    """What a customer may read: their side and our replies; never notes or system lines."""
    public = _messages(ticket).filter(kind__in=[Message.Kind.CUSTOMER, Message.Kind.REPLY])
    return [_thread_item(m) for m in public]


@dataclass(frozen=True)
class ActivityLine:
    event: TicketEvent
    who: str
    summary: str


def _who(event: TicketEvent) -> str:
    if event.actor is not None:
        return event.actor.get_full_name() or event.actor.get_username()
    if event.actor_contact is not None:
        return event.actor_contact.display_name
    return str(event.get_actor_kind_display())


def ticket_activity(ticket: Ticket) -> list[ActivityLine]:
    """The event log in words, newest first. Ids in payloads are resolved in two batched
    queries."""
    events = list(
        TicketEvent.objects.filter(ticket=ticket)
        .select_related("actor", "actor_contact")
        .order_by("-occurred_at", "-id")[:200]
    )
    user_ids = {
        v
        for e in events
        if e.kind == TicketEvent.Kind.ASSIGNEE
        for v in (e.payload.get("old"), e.payload.get("new"))
        if isinstance(v, int)
    }
    group_ids = {
        v
        for e in events
        if e.kind == TicketEvent.Kind.GROUP
        for v in (e.payload.get("old"), e.payload.get("new"))
        if isinstance(v, int)
    }
    users = (
        {
            u.pk: (u.get_full_name() or u.get_username())
            for u in User.objects.filter(pk__in=user_ids)
        }
        if user_ids
        else {}
    )
    groups = (
        dict(Group.objects.filter(pk__in=group_ids).values_list("pk", "name")) if group_ids else {}
    )
    return [ActivityLine(e, _who(e), _summary(e, ticket, users, groups)) for e in events]


def _name(names: dict[int, str], key: Any, default: str) -> str:
    return names.get(key, default) if isinstance(key, int) else default


def _summary(
    event: TicketEvent, ticket: Ticket, users: dict[int, str], groups: dict[int, str]
) -> str:
    kind, data = event.kind, event.payload
    old, new = data.get("old"), data.get("new")
    labels: dict[str, dict[Any, str]] = {
        TicketEvent.Kind.STATUS: dict(Ticket.Status.choices),
        TicketEvent.Kind.PRIORITY: dict(Ticket.Priority.choices),
    }
    if kind in labels:
        names = labels[kind]
        return f"{event.get_kind_display()}: {names.get(old, old or '—')} → {names.get(new, new)}"
    if kind == TicketEvent.Kind.ASSIGNEE:
        return f"Assignee: {_name(users, old, 'nobody')} → {_name(users, new, 'nobody')}"
    if kind == TicketEvent.Kind.GROUP:
        return f"Group: {_name(groups, old, 'none')} → {_name(groups, new, 'none')}"
    if kind == TicketEvent.Kind.TAGS:
        return f"Tags: {', '.join(old or []) or 'none'} → {', '.join(new or []) or 'none'}"
    if kind == TicketEvent.Kind.SUBJECT:
        return f"Subject: “{old}” → “{new}”"
    if kind == TicketEvent.Kind.MERGED:
        if data.get("source") == ticket.number:
            return f"Merged into #{data.get('target')}"
        return f"Merged #{data.get('source')} into this ticket"
    if kind == TicketEvent.Kind.FOLLOW_UP:
        if data.get("previous") == ticket.number:
            return f"Followed up by #{data.get('next')}"
        return f"Follow-up of #{data.get('previous')}"
    if kind == TicketEvent.Kind.DELIVERY:
        detail = f" ({data['detail']})" if data.get("detail") else ""
        return f"Delivery {data.get('status', '')}{detail}"
    if kind == TicketEvent.Kind.MESSAGE and data.get("flag"):
        return f"Customer message (flagged: {data['flag']})"
    if kind == TicketEvent.Kind.AUTO_MESSAGE and data.get("purpose"):
        return f"Automatic message ({data['purpose']})"
    if kind == TicketEvent.Kind.NOTE and data.get("call"):
        return "Call logged"
    if kind == TicketEvent.Kind.CSAT:
        return f"Satisfaction rating: {data.get('rating')}/5"
    if kind in sla_events.KINDS:
        return sla_events.summary(kind, data)
    if kind == TicketEvent.Kind.AUTOMATION:
        detail = data.get("error") and f"failed: {data['error']}" or data.get("detail") or ""
        tail = f" ({detail})" if detail else ""
        return f"Rule “{data.get('rule_name', '')}”: {data.get('action', '')}{tail}"
    return str(event.get_kind_display())


@dataclass(frozen=True)
class TicketLink:
    number: int
    label: str  # how the other ticket relates to this one


def ticket_links(ticket: Ticket, activity: list[ActivityLine]) -> list[TicketLink]:
    """The tickets linked to this one (follow-ups and splits, both ways), read from its
    activity (no query of its own); newest first, each once."""
    links: dict[int, TicketLink] = {}
    for line in activity:
        data = line.event.payload
        if line.event.kind != TicketEvent.Kind.FOLLOW_UP:
            continue
        if data.get("previous") == ticket.number and isinstance(data.get("next"), int):
            links.setdefault(data["next"], TicketLink(data["next"], "Followed up by"))
        elif isinstance(data.get("previous"), int):
            links.setdefault(data["previous"], TicketLink(data["previous"], "Follow-up of"))
    return list(links.values())


def contact_other_tickets(user: Any, ticket: Ticket, *, limit: int = 10) -> list[Ticket]:
    return list(
        agent_tickets(user)
        .filter(contact_id=ticket.contact_id)
        .exclude(pk=ticket.pk)
        .only("id", "number", "subject", "status", "updated_at")
        .order_by("-updated_at")[:limit]
    )


# --- answering on another channel ---------------------------------------------------------------

# Which channels reach a person through each kind of identity. A phone number takes SMS (a call
# is logged, not sent); a WhatsApp number is a phone number too, so it takes SMS as well.
CHANNELS_BY_IDENTITY: dict[str, tuple[str, ...]] = {
    Identity.Kind.EMAIL: (Channel.EMAIL,),
    Identity.Kind.PHONE: (Channel.SMS,),
    Identity.Kind.WHATSAPP: (Channel.WHATSAPP, Channel.SMS),
    Identity.Kind.TELEGRAM: (Channel.TELEGRAM,),
    Identity.Kind.MESSENGER: (Channel.MESSENGER,),
    Identity.Kind.CHAT: (Channel.CHAT,),
}
# Replies on these are read in the portal: they need no address.
PORTAL_CHANNELS = (Channel.WEB, Channel.API)


@dataclass(frozen=True, slots=True)
class ReplyOption:
    """One way to answer: the channel, where it goes, and what the agent should know first."""

    value: str
    label: str
    notes: tuple[str, ...] = ()

    @property
    def full_label(self) -> str:
        return " — ".join([self.label, *self.notes])


def reply_options(ticket: Ticket) -> list[ReplyOption]:
    """The channels an agent may answer this ticket by: the ticket's own channel first (the
    default), then every other channel the contact's identities can receive, each labelled
    with the address it goes to. A phone ticket has no written reply of its own: its default
    is the first channel that reaches the caller (SMS, usually). Uses the identities
    prefetched by `ticket_for_page` when present (no extra query); an edge may add a note to
    a channel it serves (`events.reply_channel_note`)."""
    # Best address first, as the delivery picks it: verified before unverified, then oldest.
    identities = sorted(ticket.contact.identities.all(), key=lambda i: (not i.verified, i.pk))
    address: dict[str, str] = {}
    for identity in identities:
        for channel in CHANNELS_BY_IDENTITY.get(identity.kind, ()):
            # a chat visitor's identity is an opaque widget token: name the widget instead
            shown = "web widget" if identity.kind == Identity.Kind.CHAT else identity.value
            address.setdefault(channel, shown)
    ordered = [c for c in Channel.values if c in address]
    own = ticket.channel
    if own == Channel.PHONE and ordered:
        own = Channel.SMS if Channel.SMS in address else ordered[0]
    ordered = [own, *(c for c in ordered if c != own)]
    labels = dict(Channel.choices)

    def option(channel: str) -> ReplyOption:
        if channel in address:
            notes = tuple(
                note
                for _, note in events.reply_channel_note.send(
                    sender=Ticket, ticket=ticket, channel=channel
                )
                if note
            )
            return ReplyOption(channel, f"{labels[channel]} · {address[channel]}", notes)
        if channel in PORTAL_CHANNELS:
            return ReplyOption(channel, f"{labels[channel]} (read in the portal)")
        return ReplyOption(channel, f"{labels[channel]} · no address on file")

    return [option(c) for c in ordered]


def reply_channels(ticket: Ticket) -> list[tuple[str, str]]:
    """`reply_options` as (value, label with its notes) pairs."""
    return [(o.value, o.full_label) for o in reply_options(ticket)]


# --- contacts ----------------------------------------------------------------------------------

TIMELINE_PAGE_SIZE = 50


def visible_contacts(user: Any) -> QuerySet[Contact]:
    """Supervisors and admins: every contact. Agents: contacts with a ticket they can see,
    and contacts with no ticket at all (someone must be able to open their first one).
    Merged-away contacts are tombstones and never listed. (The API's contact list too.)"""
    qs = Contact.objects.filter(merged_into__isnull=True)
    if sees_all_tickets(user):
        return qs
    if not is_agent(user):
        return qs.none()
    seen = agent_tickets(user).filter(contact=OuterRef("pk"))
    any_ticket = Ticket.objects.filter(contact=OuterRef("pk"))
    return qs.filter(Exists(seen) | ~Exists(any_ticket))


def contact_search(
    user: Any, text: str, *, exclude: int | None = None, limit: int = 10
) -> list[Contact]:
    """Contacts the agent may see whose name or any identity holds `text`. Digits typed with
    spaces or dashes ("(202) 555-0143") still find the E.164 number."""
    text = text.strip()
    if not text:
        return []
    found = Identity.objects.filter(contact=OuterRef("pk"), value__icontains=text)
    match = Q(name__icontains=text) | Q(Exists(found))
    digits = re.sub(r"\D", "", text)
    if len(digits) >= 6 and digits != text:
        same_number = Identity.objects.filter(contact=OuterRef("pk"), value__contains=digits)
        match |= Q(Exists(same_number))
    qs = visible_contacts(user).filter(match)
    if exclude is not None:
        qs = qs.exclude(pk=exclude)
    return list(
        qs.select_related("organisation")
        .prefetch_related("identities")
        .order_by("name", "id")[:limit]
    )


def contact_for_page(user: Any, contact: Contact) -> Contact:
    """The contact with its organisation, identities and how many of its tickets this agent
    sees, in two queries."""
    return (
        Contact.objects.select_related("organisation")
        .prefetch_related(Prefetch("identities", queryset=Identity.objects.order_by("kind", "id")))
        .annotate(
            visible_ticket_count=Count(
                "tickets", filter=Q(tickets__in=agent_tickets(user).values("id")), distinct=True
            ),
            # "known since" is when they first wrote, not when the row was made (an import
            # or a merge makes rows long after the first ticket)
            first_ticket_at=Min("tickets__created_at"),
        )
        .get(pk=contact.pk)
    )


def contact_timeline(user: Any, contact: Contact) -> QuerySet[Message]:
    """Every message of every ticket of the contact that the agent may see, whatever channel,
    newest first. One query a page (the ticket comes joined); the HTML body is left unread:
    the timeline shows a snippet of the text."""
    tickets = agent_tickets(user).filter(contact=contact).values("id")
    return (
        Message.objects.filter(ticket_id__in=tickets)
        .select_related("ticket", "author_user__agent_profile", "author_contact")
        .defer("html", "recipients")
        .order_by("-created_at", "-id")
    )


@dataclass(frozen=True)
class TimelineEntry:
    message: Message
    author: str
    snippet: str
    call: str


def timeline_entries(messages: Any) -> list[TimelineEntry]:
    entries = []
    for m in messages:
        call = call_summary(m)
        text = call_notes(m) if call else m.text
        snippet = " ".join(text.split())
        entries.append(
            TimelineEntry(m, _author(m), snippet[:240] + ("…" if len(snippet) > 240 else ""), call)
        )
    return entries


# --- portal ------------------------------------------------------------------------------------


def portal_contact(user: Any) -> Contact | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return Contact.objects.filter(user=user).prefetch_related("identities").first()


def portal_tickets(user: Any) -> QuerySet[Ticket]:
    return visible_tickets(user).select_related("contact").order_by("-updated_at", "-id")


def attachment_for_agent(user: Any, attachment_id: int) -> Attachment | None:
    return Attachment.objects.filter(
        pk=attachment_id, message__ticket__in=agent_tickets(user)
    ).first()


def attachment_for_customer(user: Any, attachment_id: int) -> Attachment | None:
    return Attachment.objects.filter(
        pk=attachment_id,
        message__ticket__in=visible_tickets(user),
        message__kind__in=[Message.Kind.CUSTOMER, Message.Kind.REPLY],
    ).first()


def thread_last_message_id(thread: list[ThreadItem]) -> int:
    """The newest message id a page shows: a reply form carries it as what its agent saw."""
    return max((item.message.pk for item in thread), default=0)


def ticket_news_since(ticket: Ticket, *, seen_message_id: int, viewer: Any) -> list[ThreadItem]:
    """What arrived after the agent's page was drawn and should be read before replying:
    the customer's messages and other people's public replies (not the agent's own, not
    internal notes or system lines)."""
    news = (
        _messages(ticket)
        .filter(pk__gt=seen_message_id)
        .filter(
            Q(kind=Message.Kind.CUSTOMER)
            | (Q(kind=Message.Kind.REPLY) & ~Q(author_user_id=getattr(viewer, "pk", None)))
        )
    )
    return [_thread_item(m) for m in news]


def unread_notification_count(user: Any) -> int:
    from .models import Notification

    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def recent_notifications(user: Any, *, limit: int) -> list[Any]:
    from .models import Notification

    return list(
        Notification.objects.filter(recipient=user)
        .select_related("ticket", "actor")
        .order_by("-created_at", "-id")[:limit]
    )


def is_following(user: Any, ticket: Ticket) -> bool:
    from .models import TicketFollower

    return TicketFollower.objects.filter(ticket=ticket, user=user).exists()


def mentionable_agents(ticket: Ticket, *, query: str = "", limit: int = 8) -> list[Any]:
    """Agents who can see the ticket, matching the start of their username or a name."""
    from .services.notifications import ticket_audience

    people = ticket_audience(ticket)
    query = query.strip().lstrip("@")
    if query:
        people = people.filter(
            Q(username__istartswith=query)
            | Q(first_name__istartswith=query)
            | Q(last_name__istartswith=query)
        )
    return list(people.order_by("username")[:limit])
