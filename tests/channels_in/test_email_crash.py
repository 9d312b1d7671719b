"""Workers die. A process SIGKILLed in the middle of threading a message, or of polling a
mailbox, leaves exactly one stored message and one ticket message once work resumes."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from imapclient import IMAPClient

from channels_in.email.imap import mailbox_poll
from channels_in.models import InboundMessage, MailboxState
from channels_in.services import inbound_process, inbound_store
from tests.channels_in.dovecot import Dovecot, run_dovecot
from tests.channels_in.mailtools import email_account, make_mail, subprocess_env
from tests.conftest import ROOT
from tickets.models import Message, Ticket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    yield from run_dovecot()


SETUP = """
import os, signal, sys
import django
django.setup()
import channels_in.email.adapter  # the email normaliser

def die_after(module, name):
    original = getattr(module, name)
    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return result
    setattr(module, name, wrapper)
"""


def run_until_killed(script: str, *args: str) -> None:
    process = subprocess.run(
        [sys.executable, "-c", SETUP + textwrap.dedent(script), *args],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        timeout=120,
    )
    assert process.returncode == -signal.SIGKILL, process.stderr.decode()[-3000:]


def test_a_worker_killed_mid_ingest_leaves_exactly_one_message(support: Any) -> None:
    box = email_account(group=support)
    stored = inbound_store(account=box, external_id="", raw=make_mail(), process=False)
    # killed after the message row is written, before its transaction commits
    run_until_killed(
        """
        import tickets.services.messages
        die_after(tickets.services.messages, "_message_extras")
        from channels_in.services import inbound_process
        inbound_process(inbound_id=int(sys.argv[1]))
    """,
        str(stored.inbound.pk),
    )
    stored.inbound.refresh_from_db()
    assert stored.inbound.status == InboundMessage.Status.RECEIVED
    assert Message.objects.count() == 0 and Ticket.objects.count() == 0
    # the broker hands the task to another worker
    assert inbound_process(inbound_id=stored.inbound.pk).status == InboundMessage.Status.PROCESSED
    assert Message.objects.count() == 1 and Ticket.objects.count() == 1


def test_a_worker_killed_after_commit_changes_nothing_when_the_task_runs_again(
    support: Any,
) -> None:
    box = email_account(group=support)
    stored = inbound_store(account=box, external_id="", raw=make_mail(), process=False)
    # killed after the commit, before the task was acknowledged to the broker
    run_until_killed(
        """
        import channels_in.services
        die_after(channels_in.services, "inbound_process")
        channels_in.services.inbound_process(inbound_id=int(sys.argv[1]))
    """,
        str(stored.inbound.pk),
    )
    assert Message.objects.count() == 1
    again = inbound_process(inbound_id=stored.inbound.pk)
    assert again.status == InboundMessage.Status.PROCESSED
    assert Message.objects.count() == 1 and Ticket.objects.count() == 1


@pytest.mark.imap
def test_a_poller_killed_between_storing_and_flagging_leaves_one_of_each(
    support: Any,
    dovecot: Dovecot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user, password = dovecot.take_user()
    monkeypatch.setenv("CRASH_IMAP_PW", password)
    box = email_account(
        group=support,
        address=user,
        config={
            "imap": {
                "host": dovecot.host,
                "port": dovecot.port,
                "ssl": False,
                "username": user,
                "password_env": "CRASH_IMAP_PW",
                "batch_size": 2,
            }
        },
    )
    messages = [
        make_mail(subject=f"Crash {n}", message_id=f"<c{n}.{uuid.uuid4().hex}@c.test>")
        for n in range(3)
    ]
    with IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=10) as client:
        client.login(user, password)
        for raw in messages:
            client.append("INBOX", raw)
    # killed right after the first message is committed: nothing flagged, no state saved
    run_until_killed(
        """
        import channels_in.email.imap as imap
        die_after(imap, "store_email")
        imap.mailbox_poll(account_id=int(sys.argv[1]), process=False)
    """,
        str(box.pk),
    )
    assert InboundMessage.objects.count() == 1
    assert MailboxState.objects.get(account=box).last_uid == 0
    # the next beat polls again (the dead process's advisory lock died with it)
    result = mailbox_poll(account_id=box.pk, process=False)
    assert (result.stored, result.duplicates) == (2, 1), result
    assert InboundMessage.objects.count() == 3
    for inbound in InboundMessage.objects.all():
        inbound_process(inbound_id=inbound.pk)
        inbound_process(inbound_id=inbound.pk)
    assert Message.objects.count() == 3 and Ticket.objects.count() == 3
