"""The typed event log: occurred_at apart from recorded_at, actor_kind, a typed payload in place
of old/new, snapshots of the ticket's status/priority/group/assignee after each event, and a
unique dedupe_key.

Existing rows are filled by `fill_ticket` (a pure function, tested directly): occurred_at is
the old created_at, the actor kind is inferred from actor/actor_contact, the payload is
rebuilt from old/new, and snapshots are replayed from the ticket's own change events (the
ticket's current value where the log says nothing). A ticket's first customer message and the
desk's automatic messages, which used to write no event, get theirs.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

AGENT_ROLES = ("Admin", "Supervisor", "Agent")
# event kind -> the ticket field its old/new values are
CHANGE_FIELDS = {"status": "status", "priority": "priority", "group": "group", "assignee": "assignee"}
SNAPSHOT_FIELDS = ("status", "priority", "group", "assignee")


def infer_actor_kind(actor_id: int | None, actor_contact_id: int | None, agent_ids: set[int]) -> str:
    if actor_id is not None:
        return "agent" if actor_id in agent_ids else "customer"
    if actor_contact_id is not None:
        return "customer"
    return "system"


def convert_payload(
    kind: str, old: Any, new: Any, ticket: dict[str, Any], messages: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    """The typed payload (as stored) for an event written before payloads were typed."""
    new_d = new if isinstance(new, dict) else {}
    old_d = old if isinstance(old, dict) else {}

    def channel_of(message_id: Any) -> str:
        found = messages.get(message_id) if isinstance(message_id, int) else None
        return (found or {}).get("channel") or ticket["channel"]

    if kind == "created":
        first = ticket.get("first_message_id")
        return {
            "channel": new_d.get("channel") or ticket["channel"],
            "subject": new_d.get("subject") or ticket["subject"],
            "message": first,
        }
    if kind == "message":
        return {
            "message": new_d.get("message"),
            "channel": new_d.get("channel") or channel_of(new_d.get("message")),
            "flag": new_d.get("flag") or "",
            "automatic": False,
        }
    if kind == "reply":
        return {"message": new_d.get("message"), "channel": channel_of(new_d.get("message"))}
    if kind == "note":
        return {"message": new_d.get("message"), "call": new_d.get("call")}
    if kind == "status":
        return {"old": old, "new": new, "reason": ""}
    if kind in ("priority", "assignee", "group", "subject"):
        return {"old": old, "new": new}
    if kind == "tags":
        return {"old": list(old or []), "new": list(new or [])}
    if kind == "merged":
        if "into" in new_d:
            return {"source": ticket["number"], "target": new_d["into"], "messages": 0}
        return {
            "source": new_d.get("from"),
            "target": ticket["number"],
            "messages": new_d.get("messages", 0),
        }
    if kind == "contact":
        return {
            "old": old_d.get("contact"),
            "new": new_d.get("contact"),
            "reason": new_d.get("reason", ""),
        }
    if kind == "delivery":
        return {
            "message": new_d.get("message"),
            "status": new_d.get("status", ""),
            "detail": new_d.get("detail", ""),
        }
    return new_d


def fill_ticket(
    ticket: dict[str, Any],
    events: list[dict[str, Any]],
    messages: list[dict[str, Any]],
    agent_ids: set[int],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """New column values for one ticket's old events, and the events it lacked.

    `ticket`: id, number, channel, subject, status, priority, group_id, assignee_id.
    `events`: id, kind, actor_id, actor_contact_id, old, new, created_at (any order).
    `messages`: id, kind, channel, author_contact_id, is_automatic, metadata, created_at.
    Returns (updates, created): dicts of column values (`id` set on updates)."""
    events = sorted(events, key=lambda e: (e["created_at"], e["id"]))
    messages = sorted(messages, key=lambda m: (m["created_at"], m["id"]))
    by_id = {m["id"]: m for m in messages}
    customer = [m for m in messages if m["kind"] == "customer"]
    ticket = {**ticket, "first_message_id": customer[0]["id"] if customer else None}
    noted = {
        e["new"].get("message")
        for e in events
        if e["kind"] in ("message", "reply", "note") and isinstance(e["new"], dict)
    }
    timeline: list[tuple[Any, int, dict[str, Any], bool]] = []
    for event in events:
        timeline.append((event["created_at"], 0, event, False))
    if customer and customer[0]["id"] not in noted:
        first = customer[0]
        timeline.append(
            (
                first["created_at"],
                1,
                {
                    "kind": "message",
                    "actor_id": None,
                    "actor_contact_id": first["author_contact_id"],
                    "payload": {
                        "message": first["id"],
                        "channel": first["channel"],
                        "flag": "",
                        "automatic": bool(first["is_automatic"]),
                    },
                    "occurred_at": first["created_at"],
                },
                True,
            )
        )
    for message in messages:
        if message["kind"] == "system" and message["is_automatic"] and message["id"] not in noted:
            timeline.append(
                (
                    message["created_at"],
                    1,
                    {
                        "kind": "auto_message",
                        "actor_id": None,
                        "actor_contact_id": None,
                        "payload": {
                            "message": message["id"],
                            "channel": message["channel"],
                            "purpose": str((message["metadata"] or {}).get("purpose", "")),
                        },
                        "occurred_at": message["created_at"],
                    },
                    True,
                )
            )
    timeline.sort(key=lambda row: (row[0], row[1]))

    state = {f: ticket[f"{f}_id" if f in ("group", "assignee") else f] for f in SNAPSHOT_FIELDS}
    for field in SNAPSHOT_FIELDS:  # before the first change the field had its first `old`
        first_change = next((e for e in events if e["kind"] == field), None)
        if first_change is not None:
            state[field] = first_change["old"]
    updates, created = [], []
    for _, _, event, is_new in timeline:
        if not is_new and event["kind"] in CHANGE_FIELDS:
            state[CHANGE_FIELDS[event["kind"]]] = event["new"]
        snapshot = {
            "status": state["status"] or "new",
            "priority": state["priority"] or 2,
            "group_id": state["group"],
            "assignee_id": state["assignee"],
        }
        if is_new:
            created.append(
                {
                    "ticket_id": ticket["id"],
                    "kind": event["kind"],
                    "actor_id": event["actor_id"],
                    "actor_contact_id": event["actor_contact_id"],
                    "actor_kind": infer_actor_kind(
                        event["actor_id"], event["actor_contact_id"], agent_ids
                    )
                    if event["kind"] == "message"
                    else "system",
                    "payload": event["payload"],
                    "occurred_at": event["occurred_at"],
                    "recorded_at": event["occurred_at"],
                    **snapshot,
                }
            )
            continue
        updates.append(
            {
                "id": event["id"],
                "occurred_at": event["created_at"],
                "actor_kind": infer_actor_kind(
                    event["actor_id"], event["actor_contact_id"], agent_ids
                ),
                "payload": convert_payload(
                    event["kind"], event["old"], event["new"], ticket, by_id
                ),
                **snapshot,
            }
        )
    return updates, created


def fill(apps: Any, schema_editor: Any) -> None:
    Ticket = apps.get_model("tickets", "Ticket")
    TicketEvent = apps.get_model("tickets", "TicketEvent")
    Message = apps.get_model("tickets", "Message")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    agent_ids = set(
        User.objects.filter(models.Q(is_superuser=True) | models.Q(groups__name__in=AGENT_ROLES))
        .values_list("id", flat=True)
        .distinct()
    )
    ticket_fields = ["id", "number", "channel", "subject", "status", "priority"]
    last = 0
    while True:
        tickets = list(
            Ticket.objects.filter(id__gt=last)
            .order_by("id")
            .values(*ticket_fields, "group_id", "assignee_id")[:500]
        )
        if not tickets:
            break
        last = tickets[-1]["id"]
        ids = [t["id"] for t in tickets]
        events: dict[int, list[dict[str, Any]]] = defaultdict(list)
        # explicit order: the model's Meta still names created_at at this point
        for row in (
            TicketEvent.objects.filter(ticket_id__in=ids)
            .order_by("id")
            .values(
                "id",
                "ticket_id",
                "kind",
                "actor_id",
                "actor_contact_id",
                "old",
                "new",
                "recorded_at",
            )
        ):
            row["created_at"] = row.pop("recorded_at")
            events[row["ticket_id"]].append(row)
        messages: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in Message.objects.filter(ticket_id__in=ids).order_by("id").values(
            "id",
            "ticket_id",
            "kind",
            "channel",
            "author_contact_id",
            "is_automatic",
            "metadata",
            "created_at",
        ):
            messages[row["ticket_id"]].append(row)
        changed, added = [], []
        for ticket in tickets:
            updates, created = fill_ticket(
                ticket, events[ticket["id"]], messages[ticket["id"]], agent_ids
            )
            changed += [TicketEvent(**u) for u in updates]
            added += [TicketEvent(**c) for c in created]
        TicketEvent.objects.bulk_update(
            changed,
            ["occurred_at", "actor_kind", "payload", *SNAPSHOT_FIELDS],
            batch_size=500,
        )
        TicketEvent.objects.bulk_create(added, batch_size=500)
    # run the deferred foreign-key checks now: the columns are altered next, in this transaction
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0003_ticket_updated_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(model_name="ticketevent", name="event_ticket_created"),
        migrations.RemoveIndex(model_name="ticketevent", name="event_kind_created"),
        migrations.RenameField(model_name="ticketevent", old_name="created_at", new_name="recorded_at"),
        migrations.AddField(
            model_name="ticketevent",
            name="occurred_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name="ticketevent",
            name="actor_kind",
            field=models.CharField(default="system", max_length=16),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="ticketevent", name="payload", field=models.JSONField(default=dict)
        ),
        migrations.AddField(
            model_name="ticketevent",
            name="status",
            field=models.CharField(max_length=16, null=True),
        ),
        migrations.AddField(
            model_name="ticketevent",
            name="priority",
            field=models.PositiveSmallIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="ticketevent",
            name="group",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="tickets.group",
            ),
        ),
        migrations.AddField(
            model_name="ticketevent",
            name="assignee",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="ticketevent",
            name="dedupe_key",
            field=models.CharField(blank=True, max_length=200, null=True, unique=True),
        ),
        migrations.AlterField(
            model_name="ticketevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("created", "Created"),
                    ("message", "Customer message"),
                    ("reply", "Agent replied"),
                    ("bot_reply", "Bot replied"),
                    ("auto_message", "Automatic message"),
                    ("note", "Note added"),
                    ("status", "Status changed"),
                    ("priority", "Priority changed"),
                    ("assignee", "Assignee changed"),
                    ("group", "Group changed"),
                    ("tags", "Tags changed"),
                    ("subject", "Subject changed"),
                    ("merged", "Merged"),
                    ("contact", "Contact changed"),
                    ("delivery", "Delivery"),
                    ("follow_up", "Follow-up"),
                    ("csat", "Satisfaction rating"),
                ],
                max_length=32,
            ),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="ticketevent",
            name="occurred_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AlterField(
            model_name="ticketevent",
            name="actor_kind",
            field=models.CharField(
                choices=[
                    ("agent", "Agent"),
                    ("customer", "Customer"),
                    ("system", "System"),
                    ("automation", "Automation"),
                    ("bot", "Bot"),
                    ("import", "Import"),
                ],
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="ticketevent",
            name="status",
            field=models.CharField(
                choices=[
                    ("new", "New"),
                    ("open", "Open"),
                    ("pending", "Pending"),
                    ("on_hold", "On hold"),
                    ("solved", "Solved"),
                    ("closed", "Closed"),
                ],
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="ticketevent",
            name="priority",
            field=models.PositiveSmallIntegerField(
                choices=[(1, "Low"), (2, "Normal"), (3, "High"), (4, "Urgent")]
            ),
        ),
        migrations.RemoveField(model_name="ticketevent", name="old"),
        migrations.RemoveField(model_name="ticketevent", name="new"),
        migrations.AlterModelOptions(name="ticketevent", options={"ordering": ["occurred_at", "id"]}),
        migrations.AddIndex(
            model_name="ticketevent",
            index=models.Index(fields=["ticket", "occurred_at"], name="event_ticket_occurred"),
        ),
        migrations.AddIndex(
            model_name="ticketevent",
            index=models.Index(fields=["kind", "occurred_at"], name="event_kind_occurred"),
        ),
    ]
