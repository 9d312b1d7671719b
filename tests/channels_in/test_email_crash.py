"""Workers die. A process SIGKILLed in the middle of threading a message, or of polling a
mailbox, leaves exactly one stored message and one ticket message once work resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from imapclient import IMAPClient

from channels_in.email.imap import mailbox_poll
from channels_in.models import InboundMessage, MailboxState
from channels_in.services import inbound_process, inbound_store
from channels_in.tasks import sweep_stuck
from helpdesk.celery import app
from tests.channels_in.dovecot import Dovecot, run_dovecot
from tests.channels_in.mailtools import email_account, make_mail, subprocess_env
from tests.conftest import ROOT
from tickets.models import Message, Ticket
from tickets.queues import Queue

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
    # the claim committed on its own; the processing rolled back whole
    assert stored.inbound.status == InboundMessage.Status.RECEIVED
    assert stored.inbound.attempts == 1 and stored.inbound.claimed_at is not None
    assert Message.objects.count() == 0 and Ticket.objects.count() == 0
    # the sweeper (or the broker) hands the task to another worker
    again = inbound_process(inbound_id=stored.inbound.pk)
    assert again.status == InboundMessage.Status.PROCESSED and again.attempts == 2
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


# --- a real worker process, killed mid-batch ----------------------------------------------


def start_worker(name: str, log: Path) -> subprocess.Popen[bytes]:
    """`celery worker` on the ingest queue, as production runs it (prefork, two children),
    in a session of its own so the whole process group can be killed at once."""
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "helpdesk",
            "worker",
            "-Q",
            Queue.INGEST.value,
            "-c",
            "2",
            "-n",
            f"{name}@%h",
            "-l",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        # persistent database connections, as production runs (tests default to none)
        env={**subprocess_env(), "CONN_MAX_AGE": "60"},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            kill_group(process)


def broker_reset() -> None:
    """Nothing of another test in the queues (nor of this one after it: the acknowledgements
    it queued), and nothing a killed worker held."""
    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        client.delete("default", *Queue, "unacked", "unacked_index", "unacked_mutex")


def in_flight() -> int:
    """Rows a worker has claimed and not finished."""
    return InboundMessage.objects.filter(
        status=InboundMessage.Status.RECEIVED, claimed_at__isnull=False
    ).count()


def processed() -> int:
    return InboundMessage.objects.filter(status=InboundMessage.Status.PROCESSED).count()


def test_500_emails_are_all_processed_once_after_the_worker_is_killed_at_a_third(
    support: Any, tmp_path: Path
) -> None:
    total = 500
    box = email_account(group=support)
    broker_reset()
    t0 = time.monotonic()
    ids = [f"<bulk{n}.{uuid.uuid4().hex}@customer.test>" for n in range(total)]
    with transaction.atomic():  # one commit; each row's task is queued after it, as live
        for n, message_id in enumerate(ids):
            raw = make_mail(
                sender=f"Customer {n} <c{n}@customer.test>",
                subject=f"Order {n} never arrived",
                message_id=message_id,
            )
            inbound_store(account=box, external_id="", raw=raw)
    log = tmp_path / "workers.log"
    print(f"stored in {time.monotonic() - t0:.1f}s", file=sys.stderr)
    started = time.monotonic()
    first = start_worker("first", log)
    try:
        deadline = time.monotonic() + 60
        # at a third, and at a moment a message is mid-ingest (claimed, not finished)
        while time.monotonic() < deadline:
            assert first.poll() is None, log.read_text()[-3000:]
            if processed() >= total // 3 and in_flight():
                break
            time.sleep(0.01)
    finally:
        kill_group(first)  # SIGKILL to the worker and its pool: mid-task, nothing acked
    done_at_kill = processed()
    print(f"killed at {done_at_kill} after {time.monotonic() - started:.1f}s", file=sys.stderr)
    assert total // 4 <= done_at_kill < total, log.read_text()[-3000:]
    with app.connection_for_write() as conn:
        waiting = conn.default_channel.client.llen(Queue.INGEST.value)
        held = conn.default_channel.client.hlen("unacked")
    dead = in_flight()
    print(f"waiting {waiting}, held {held}, dead attempts {dead}", file=sys.stderr)
    # the dead worker held messages (mid-ingest, or done and not yet acknowledged): the
    # broker gives those back only after the ingest queue's visibility timeout, minutes away
    assert held >= 1 and waiting + done_at_kill <= total

    second = start_worker("second", log)
    try:
        deadline = started + 180
        while processed() < total and time.monotonic() < deadline:
            assert second.poll() is None, log.read_text()[-3000:]
            sweep_stuck.delay(older_than=2)  # what beat does every minute, on a short fuse
            time.sleep(2)
    finally:
        stop_worker(second)
        broker_reset()
    print(f"all done after {time.monotonic() - started:.1f}s", file=sys.stderr)
    rows = InboundMessage.objects.filter(account=box)
    assert rows.count() == total
    assert processed() == total, list(rows.exclude(status="processed").values("status", "reason"))
    messages = Message.objects.filter(channel_account_id=box.pk)
    assert messages.count() == total == Ticket.objects.count()
    assert set(messages.values_list("external_id", flat=True)) == set(ids)  # no duplicate
    assert len(set(rows.values_list("message_id", flat=True))) == total
    # the attempts that died with the worker were made again, by the sweep's task
    assert rows.filter(attempts__gte=2).count() >= dead
