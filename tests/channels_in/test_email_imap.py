"""IMAP polling against a real Dovecot on loopback: store before acknowledging, dedupe on
re-poll and UIDVALIDITY change, size limits, broken messages, the advisory lock, OAuth2."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import responses
from django.db import DatabaseError, connection
from django.test import override_settings
from imapclient import IMAPClient

from channels_in.email.check import check_mailbox
from channels_in.email.config import parse_email_config
from channels_in.email.imap import (
    LOCK_CLASS,
    SEEN,
    ImapError,
    mailbox_poll,
    oauth2_access_token,
)
from channels_in.models import ChannelAccount, InboundMessage, MailboxState
from channels_in.services import inbound_process
from tests.channels_in.dovecot import Dovecot, run_dovecot
from tests.channels_in.mailtools import email_account, make_mail
from tickets.models import Message

pytestmark = [pytest.mark.imap, pytest.mark.django_db]


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    yield from run_dovecot()


LOCMEM_CACHE = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


class Mailbox:
    """One fresh IMAP user on the shared Dovecot, and an email account reading it."""

    def __init__(self, server: Dovecot, monkeypatch: pytest.MonkeyPatch) -> None:
        self.server = server
        self.user, self.password = server.take_user()
        self.env = f"IMAP_PW_{uuid.uuid4().hex[:8].upper()}"
        monkeypatch.setenv(self.env, self.password)

    def config(self, **imap: Any) -> dict[str, Any]:
        return {
            "imap": {
                "host": self.server.host,
                "port": self.server.port,
                "ssl": False,
                "username": self.user,
                "password_env": self.env,
                **imap,
            }
        }

    def account(self, name: str = "support", **imap: Any) -> ChannelAccount:
        return email_account(name=name, address=self.user, config=self.config(**imap))

    def client(self) -> IMAPClient:
        client = IMAPClient(self.server.host, port=self.server.port, ssl=False, timeout=10)
        client.login(self.user, self.password)
        return client

    def append(self, *messages: bytes, folder: str = "INBOX") -> None:
        with self.client() as client:
            for raw in messages:
                client.append(folder, raw)

    def flags(self, folder: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            return {
                uid: data[b"FLAGS"]
                for uid, data in client.fetch(client.search("ALL"), ["FLAGS"]).items()
            }

    def count(self, folder: str = "INBOX") -> int:
        with self.client() as client:
            return int(client.select_folder(folder, readonly=True)[b"EXISTS"])

    def maildir(self) -> Path:
        return self.server.base / "mail" / self.user

    def file_of(self, uid: int) -> Path:
        """The maildir file holding one UID (from Dovecot's own UID list)."""
        self.count()  # a SELECT makes Dovecot write its UID list
        for line in (self.maildir() / "dovecot-uidlist").read_text().splitlines()[1:]:
            number, _, rest = line.partition(" ")
            if int(number) == uid:
                base = rest.rsplit(":", 1)[-1].split(":2,")[0]
                return next(p for p in self.maildir().glob(f"*/{base}*"))
        raise LookupError(uid)


@pytest.fixture
def mailbox(dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> Mailbox:
    return Mailbox(dovecot, monkeypatch)


def three() -> list[bytes]:
    return [
        make_mail(subject=f"Question {n}", message_id=f"<q{n}.{uuid.uuid4().hex}@customer.test>")
        for n in range(3)
    ]


def test_it_stores_every_message_raw_then_marks_it_seen(mailbox: Mailbox) -> None:
    account = mailbox.account()
    messages = three()
    mailbox.append(*messages)
    result = mailbox_poll(account_id=account.pk, process=False)
    assert (result.stored, result.duplicates, result.failed) == (3, 0, 0)
    stored = sorted(bytes(i.raw).replace(b"\r\n", b"\n") for i in InboundMessage.objects.all())
    assert stored == sorted(m.replace(b"\r\n", b"\n") for m in messages)
    assert all(b"\\Seen" in flags for flags in mailbox.flags().values())
    state = MailboxState.objects.get(account=account)
    assert state.last_uid == 3 and state.uidvalidity and state.last_error == ""
    assert mailbox_poll(account_id=account.pk, process=False).stored == 0
    for inbound in InboundMessage.objects.all():
        assert inbound_process(inbound_id=inbound.pk).status == InboundMessage.Status.PROCESSED
    assert Message.objects.count() == 3


def test_it_leaves_the_server_untouched_when_the_database_refuses_the_message(
    mailbox: Mailbox,
) -> None:
    account = mailbox.account()
    mailbox.append(make_mail(subject="REFUSE-ME", message_id="<refuse@customer.test>"))
    with (
        connection.cursor() as cursor
    ):  # a real database error on insert, rolled back with the test
        cursor.execute("""
            CREATE FUNCTION refuse_inbound() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql;
            CREATE TRIGGER refuse_inbound BEFORE INSERT ON channels_in_inboundmessage
            FOR EACH ROW EXECUTE FUNCTION refuse_inbound();
        """)
    with pytest.raises(DatabaseError):
        mailbox_poll(account_id=account.pk, process=False)
    assert all(b"\\Seen" not in flags for flags in mailbox.flags().values())
    assert MailboxState.objects.get(account=account).last_uid == 0
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER refuse_inbound ON channels_in_inboundmessage")
    assert mailbox_poll(account_id=account.pk, process=False).stored == 1


def test_it_moves_fetched_mail_to_a_folder(mailbox: Mailbox) -> None:
    account = mailbox.account(after_fetch="move:Processed")
    mailbox.append(*three())
    assert mailbox_poll(account_id=account.pk, process=False).stored == 3
    assert mailbox.count("INBOX") == 0
    assert mailbox.count("Processed") == 3


def test_it_deletes_fetched_mail_when_told_to(mailbox: Mailbox) -> None:
    account = mailbox.account(after_fetch="delete")
    mailbox.append(*three())
    assert mailbox_poll(account_id=account.pk, process=False).stored == 3
    assert mailbox.count("INBOX") == 0
    assert InboundMessage.objects.count() == 3


def test_a_repoll_after_a_crash_stores_nothing_twice(mailbox: Mailbox) -> None:
    account = mailbox.account()
    messages = three()
    mailbox.append(*messages)
    mailbox_poll(account_id=account.pk, process=False)
    # the worker died after storing, before the server was told and the state saved
    MailboxState.objects.filter(account=account).update(last_uid=0)
    with mailbox.client() as client:
        client.select_folder("INBOX")
        client.remove_flags([1, 2, 3], [b"\\Seen"])
    # and the same message was delivered to the mailbox a second time
    mailbox.append(messages[0])
    result = mailbox_poll(account_id=account.pk, process=False)
    assert (result.stored, result.duplicates) == (0, 4)
    assert InboundMessage.objects.count() == 3
    for inbound in InboundMessage.objects.all():
        inbound_process(inbound_id=inbound.pk)
    assert Message.objects.count() == 3


def test_a_uidvalidity_change_rescans_and_dedupes_by_message_id_and_bytes(
    mailbox: Mailbox,
) -> None:
    account = mailbox.account()
    no_id = make_mail(subject="No Message-ID here", message_id=None)
    mailbox.append(*three(), no_id)
    assert mailbox_poll(account_id=account.pk, process=False).stored == 4
    old = MailboxState.objects.get(account=account).uidvalidity
    # Dovecot renumbers the folder when its UID list and index are lost; its new UIDVALIDITY
    # is the current time in seconds, so let one pass
    time.sleep(1.1)
    for path in mailbox.maildir().glob("dovecot*"):
        path.unlink()
    mailbox.append(make_mail(subject="Arrived after the renumbering", message_id="<late@c.test>"))
    result = mailbox_poll(account_id=account.pk, process=False)
    state = MailboxState.objects.get(account=account)
    assert state.uidvalidity != old
    assert (result.stored, result.duplicates) == (1, 4)
    assert InboundMessage.objects.count() == 5
    assert InboundMessage.objects.filter(external_id__startswith="sha256:").count() == 1


def test_an_oversized_message_is_recorded_with_its_headers_and_blocks_nothing(
    mailbox: Mailbox,
) -> None:
    account = mailbox.account()
    account.config["max_message_bytes"] = 4096
    account.save()
    big = make_mail(subject="Huge scan", message_id="<huge@customer.test>", body="x" * 20000)
    small = make_mail(subject="Small question", message_id="<small@customer.test>")
    mailbox.append(big, small)
    result = mailbox_poll(account_id=account.pk, process=False)
    assert (result.stored, result.failed) == (1, 1)
    failed = InboundMessage.objects.get(external_id="<huge@customer.test>")
    assert failed.status == InboundMessage.Status.FAILED
    assert "over this mailbox's limit of 4096" in failed.reason
    assert b"Subject: Huge scan" in bytes(failed.raw) and b"xxxx" not in bytes(failed.raw)
    stored = InboundMessage.objects.get(external_id="<small@customer.test>")
    assert inbound_process(inbound_id=stored.pk).status == InboundMessage.Status.PROCESSED
    assert MailboxState.objects.get(account=account).last_uid == 2
    assert b"\\Seen" not in mailbox.flags()[1]  # left as it was, for a person to look at


def test_a_message_the_server_cannot_read_is_recorded_and_skipped(mailbox: Mailbox) -> None:
    account = mailbox.account()
    messages = three()
    mailbox.append(*messages)
    mailbox.file_of(2).chmod(0)  # Dovecot fails the FETCH and drops the connection, every time
    errors = 0
    for _ in range(6):
        result = mailbox_poll(account_id=account.pk, process=False)
        errors += bool(result.error)
        if InboundMessage.objects.filter(status=InboundMessage.Status.RECEIVED).count() == 2:
            break
    assert errors <= 4
    failed = InboundMessage.objects.get(status=InboundMessage.Status.FAILED)
    assert "failed 3 times to deliver UID 2" in failed.reason
    assert InboundMessage.objects.filter(status=InboundMessage.Status.RECEIVED).count() == 2
    assert MailboxState.objects.get(account=account).last_uid == 3


def test_two_workers_never_poll_one_mailbox(mailbox: Mailbox) -> None:
    account = mailbox.account()
    mailbox.append(*three())
    settings_dict = connection.settings_dict
    with psycopg.connect(
        dbname=settings_dict["NAME"],
        user=settings_dict["USER"],
        host=settings_dict["HOST"],
        port=settings_dict["PORT"] or 5432,
        password=settings_dict["PASSWORD"] or None,
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_CLASS, account.pk))
        result = mailbox_poll(account_id=account.pk, process=False)
        assert result.locked and InboundMessage.objects.count() == 0
        other.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_CLASS, account.pk))
    assert mailbox_poll(account_id=account.pk, process=False).stored == 3


def test_the_connection_check_says_what_is_wrong(mailbox: Mailbox, monkeypatch: Any) -> None:
    account = mailbox.account()
    ok = check_mailbox(account)
    assert ok.ok, ok.message
    assert f"logged in to 127.0.0.1 as {mailbox.user}" in ok.message

    monkeypatch.setenv(mailbox.env, "wrong-password")
    bad = check_mailbox(account)
    assert not bad.ok
    assert f"IMAP login failed for {mailbox.user}: [AUTHENTICATIONFAILED]" in bad.message

    account.config["imap"]["folder"] = "Nope"
    monkeypatch.setenv(mailbox.env, mailbox.password)
    account.save()
    assert "IMAP folder 'Nope' cannot be opened" in check_mailbox(account).message

    monkeypatch.delenv(mailbox.env)
    unset = check_mailbox(account)
    assert f"environment variable {mailbox.env} (imap.password_env) is not set" in unset.message


def test_it_polls_over_implicit_tls_and_starttls_and_refuses_an_untrusted_certificate(
    mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = mailbox.server
    if not server.tls_port or server.cert is None:
        reason = "no openssl command to make the test server's certificate"
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI's Debian has openssl: a TLS test that skips there hides
        pytest.skip(reason)
    mailbox.append(*three())
    imaps = mailbox.account(name="imaps", port=server.tls_port, ssl=True)
    starttls = mailbox.account(name="starttls", starttls=True, after_fetch="delete")

    # a certificate nobody vouches for is refused, in words, before the password is sent
    for account in (imaps, starttls):
        refused = check_mailbox(account)
        assert not refused.ok
        assert "TLS with 127.0.0.1:" in refused.message, refused.message
        assert "CERTIFICATE_VERIFY_FAILED" in refused.message
    assert mailbox_poll(account_id=imaps.pk, process=False).error.startswith("TLS with")
    assert InboundMessage.objects.count() == 0 and mailbox.count() == 3

    monkeypatch.setenv("SSL_CERT_FILE", str(server.cert))  # as if a CA had signed it
    assert check_mailbox(imaps).ok and check_mailbox(starttls).ok
    assert mailbox_poll(account_id=imaps.pk, process=False).stored == 3
    assert all(SEEN in flags for flags in mailbox.flags().values())
    second = mailbox_poll(account_id=starttls.pk, process=False)
    assert second.stored == 3 and mailbox.count() == 0  # another account: its own rows


def test_the_connection_check_reports_unreachable_and_silent_servers() -> None:
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]
    account = email_account(
        config={
            "imap": {
                "host": "127.0.0.1",
                "port": dead_port,
                "ssl": False,
                "password_env": "UNUSED_PW",
            }
        }
    )
    refused = check_mailbox(account)
    assert not refused.ok
    assert f"cannot reach 127.0.0.1:{dead_port}: Connection refused" in refused.message

    with socket.socket() as silent:  # accepts the connection, never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        account.config["imap"].update(port=silent.getsockname()[1], timeout=1)
        account.save()
        timed_out = check_mailbox(account)
    assert (
        f"cannot reach 127.0.0.1:{account.config['imap']['port']}: timed out" in timed_out.message
    )


@pytest.fixture
def oauth_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GOOGLE_SECRET", "client-secret")
    monkeypatch.setenv("GOOGLE_REFRESH", f"refresh-{uuid.uuid4().hex}")
    with override_settings(CACHES=LOCMEM_CACHE):
        yield


def oauth_config(port: int = 993, user: str = "support@desk.test") -> Any:
    return parse_email_config(
        {
            "imap": {
                "host": "127.0.0.1",
                "port": port,
                "ssl": False,
                "username": user,
                "oauth2": {
                    "provider": "google",
                    "client_id": "cid.apps.googleusercontent.com",
                    "client_secret_env": "GOOGLE_SECRET",
                    "refresh_token_env": "GOOGLE_REFRESH",
                },
            }
        },
        address=user,
    )


@responses.activate
def test_it_refreshes_an_oauth2_token_once_and_caches_it(oauth_env: None) -> None:
    responses.post(
        "https://oauth2.googleapis.com/token",
        json={"access_token": "ya29.first", "expires_in": 3599, "token_type": "Bearer"},
    )
    oauth = oauth_config().imap.oauth2
    assert oauth2_access_token(oauth) == "ya29.first"
    assert oauth2_access_token(oauth) == "ya29.first"
    assert len(responses.calls) == 1
    sent = responses.calls[0].request.body
    assert "grant_type=refresh_token" in sent and "client_secret=client-secret" in sent
    assert f"refresh_token={os.environ['GOOGLE_REFRESH']}" in sent


@responses.activate
def test_a_refused_oauth2_refresh_names_the_reason(oauth_env: None) -> None:
    responses.post(
        "https://oauth2.googleapis.com/token",
        status=400,
        json={"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
    )
    with pytest.raises(
        ImapError, match=r"google OAuth2 token refresh failed \(HTTP 400\): Token has"
    ):
        oauth2_access_token(oauth_config().imap.oauth2)


@responses.activate
def test_xoauth2_login_retries_once_with_a_fresh_token(mailbox: Mailbox, oauth_env: None) -> None:
    # This Dovecot offers no XOAUTH2: the login fails, is retried with a fresh token, then the
    # failure is reported the way an admin needs to read it.
    responses.post(
        "https://oauth2.googleapis.com/token",
        json={"access_token": "ya29.token", "expires_in": 3599},
    )
    account = email_account(
        address=mailbox.user,
        config={
            "imap": {
                "host": mailbox.server.host,
                "port": mailbox.server.port,
                "ssl": False,
                "oauth2": {
                    "provider": "google",
                    "client_id": "cid",
                    "client_secret_env": "GOOGLE_SECRET",
                    "refresh_token_env": "GOOGLE_REFRESH",
                },
            }
        },
    )
    result = check_mailbox(account)
    assert not result.ok
    assert f"IMAP login failed for {mailbox.user}:" in result.message
    assert len(responses.calls) == 2
