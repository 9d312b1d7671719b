"""Domain events the core emits, so edges can react without the core importing them.

`reply_posted` is sent INSIDE the transaction that stores an agent reply: a receiver records
its outbound delivery in that same transaction, so a reply is never stored without the fact
that it must leave (nor the other way round). Receivers queue work with `on_commit`.

`ticket_changed` is sent after commit, for live updates and automation.

`event_committed` is sent after the commit of each event written by a person, a channel or
the system (not by automation, whose engine hands its events on with their chain, nor by an
import of past history): triggers.

`reply_channel_note` asks the edges, while the composer is drawn, what an agent should know
before answering by a channel (WhatsApp's 24-hour window: free text, a template, or nothing
can go). A receiver returns a short note, or "" when it has nothing to say.
"""

from __future__ import annotations

from django.dispatch import Signal

reply_posted = Signal()  # kwargs: message (tickets.Message)
ticket_changed = Signal()  # kwargs: ticket_id, number, group_id, kind
event_committed = Signal()  # kwargs: event_id, ticket_id, kind
reply_channel_note = Signal()  # kwargs: ticket (tickets.Ticket), channel (str); returns str
