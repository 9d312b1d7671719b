"""The desk page where admins see email accounts and test their connections."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.test import Client, RequestFactory

from channels_in.email.admin_actions import check_mailboxes
from channels_in.email.config import load_email_config
from channels_in.email.imap import mailbox_poll
from channels_in.models import ChannelAccount
from tests.channels_in.dovecot import Dovecot, run_dovecot
from tests.channels_in.mailtools import email_account, mount_email_urls
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
PAGE = "/channels/email/accounts/"


@pytest.fixture(autouse=True)
def urls() -> Iterator[None]:
    with mount_email_urls():
        yield


@pytest.fixture
def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def mailbox(support: Any, dead_port: int) -> ChannelAccount:
    return email_account(
        group=support,
        config={
            "imap": {
                "host": "127.0.0.1",
                "port": dead_port,
                "ssl": False,
                "password_env": "NOT_SET_PW",
            }
        },
    )


def test_an_admin_sees_the_accounts_and_what_is_wrong_with_them(
    admin_user: Any, mailbox: ChannelAccount
) -> None:
    email_account(name="broken", address="broken@desk.test", config={"imap": {"host": ""}})
    response = client_for(admin_user).get(PAGE)
    assert response.status_code == 200
    page = response.content.decode()
    assert "support@desk.test" in page and "IMAP 127.0.0.1 (INBOX)" in page
    assert "email account &#x27;broken&#x27;: imap.host: required" in page
    assert "Test connection" in page and "<script>" not in page


def test_the_test_button_reports_the_failure_in_words(
    admin_user: Any, mailbox: ChannelAccount, dead_port: int
) -> None:
    url = f"/channels/email/accounts/{mailbox.pk}/check/"
    response = client_for(admin_user).post(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    fragment = response.content.decode()
    assert "Connection failed" in fragment
    assert f"cannot reach 127.0.0.1:{dead_port}: Connection refused" in fragment
    assert "<html" not in fragment  # a fragment for htmx
    full = client_for(admin_user).post(url)
    assert "<html" in full.content.decode() and "Connection failed" in full.content.decode()


@pytest.mark.parametrize("who", ["agent", "supervisor", "customer"])
def test_only_admins_may_see_or_test_mailboxes(
    request: pytest.FixtureRequest, mailbox: ChannelAccount, who: str
) -> None:
    client = client_for(request.getfixturevalue(who))
    assert client.get(PAGE).status_code == 403
    assert client.post(f"/channels/email/accounts/{mailbox.pk}/check/").status_code == 403


def test_strangers_are_sent_to_log_in(client: Any, mailbox: ChannelAccount) -> None:
    response = client.get(PAGE)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_admin_action_reports_each_account(
    admin_user: Any, mailbox: ChannelAccount, dead_port: int
) -> None:
    request = RequestFactory().post("/admin/")
    request.user = admin_user
    request.session = {}  # type: ignore[assignment]
    from django.contrib.messages.storage.fallback import FallbackStorage

    request._messages = FallbackStorage(request)  # type: ignore[attr-defined]
    model_admin = admin.ModelAdmin(ChannelAccount, admin.site)
    check_mailboxes(model_admin, request, ChannelAccount.objects.filter(pk=mailbox.pk))
    [message] = list(get_messages(request))
    assert message.level_tag == "error"
    assert f"support: cannot reach 127.0.0.1:{dead_port}: Connection refused" in str(message)


# --- adding a mailbox from the desk -----------------------------------------------------------

NEW = "/channels/email/accounts/new/"


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    yield from run_dovecot()


def new_mailbox_form(dovecot: Dovecot, user: str, **changes: str) -> dict[str, str]:
    form = {
        "name": "sales",
        "address": user,
        "imap_host": dovecot.host,
        "imap_port": str(dovecot.port),
        "imap_security": "none",
        "imap_username": user,
        "imap_password_env": "SALES_IMAP_PW",
        "imap_folder": "INBOX",
        "after_fetch": "move",
        "move_to": "Done",
        "smtp_host": "",
        "smtp_security": "starttls",
    }
    form.update(changes)
    return form


@pytest.mark.imap
def test_an_admin_tests_a_new_mailbox_against_a_real_server_then_saves_it(
    admin_user: Any, support: Any, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, password = dovecot.take_user()
    monkeypatch.setenv("SALES_IMAP_PW", password)
    client = client_for(admin_user)
    assert "Add a mailbox" in client.get(PAGE).content.decode()
    form = new_mailbox_form(dovecot, user, group=str(support.pk))

    tested = client.post(NEW, {**form, "test": "1"})
    page = tested.content.decode()
    assert tested.status_code == 200 and "Connection works" in page
    assert f"IMAP: logged in to {dovecot.host} as {user}; INBOX holds 0 messages" in page
    assert not ChannelAccount.objects.filter(name="sales").exists()  # a test saves nothing

    saved = client.post(NEW, {**form, "save": "1"})
    assert saved.status_code == 302 and saved["Location"] == PAGE
    account = ChannelAccount.objects.get(name="sales")
    assert (account.kind, account.address, account.group_id) == ("email", user, support.pk)
    config = load_email_config(account)
    assert config.imap is not None and (config.imap.after_fetch, config.imap.move_to) == (
        "move",
        "Done",
    )
    assert config.smtp is None and config.ack_enabled is False
    assert "SALES_IMAP_PW" in str(account.config) and password not in str(account.config)
    # the poller reads the mailbox with what the form saved
    assert mailbox_poll(account_id=account.pk, process=False).error == ""
    listing = client.get(PAGE).content.decode()
    assert "Mailbox sales added." in listing and f"IMAP {dovecot.host} (INBOX)" in listing


@pytest.mark.imap
def test_testing_a_new_mailbox_with_a_wrong_password_says_so(
    admin_user: Any, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, _ = dovecot.take_user()
    monkeypatch.setenv("SALES_IMAP_PW", "not-the-password")
    response = client_for(admin_user).post(NEW, {**new_mailbox_form(dovecot, user), "test": "1"})
    page = response.content.decode()
    assert "Connection failed" in page
    assert f"IMAP login failed for {user}: [AUTHENTICATIONFAILED]" in page
    assert not ChannelAccount.objects.exists()


def test_a_new_mailbox_that_would_not_load_is_refused_with_the_reason(
    admin_user: Any, dead_port: int
) -> None:
    client = client_for(admin_user)
    form = {
        "name": "sales",
        "address": "sales@desk.test",
        "imap_host": "127.0.0.1",
        "imap_port": str(dead_port),
        "imap_security": "ssl",
        "after_fetch": "seen",
        "smtp_security": "starttls",
        "save": "1",
    }
    no_secret = client.post(NEW, form)
    assert no_secret.status_code == 200
    assert "imap: needs password_env (a password) or oauth2" in no_secret.content.decode()
    a_password = client.post(NEW, {**form, "imap_password_env": "hunter2!"})
    assert "must name an environment variable" in a_password.content.decode()
    no_folder = client.post(
        NEW, {**form, "imap_password_env": "PW", "after_fetch": "move", "move_to": ""}
    )
    assert "imap.after_fetch: must be seen, delete or move:&lt;folder&gt;" in (
        no_folder.content.decode()
    )
    assert not ChannelAccount.objects.exists()
    email_account(name="sales", address="other@desk.test")
    taken = client.post(NEW, {**form, "imap_password_env": "PW"})
    assert "An account with this name exists already." in taken.content.decode()
    assert ChannelAccount.objects.count() == 1


@pytest.mark.parametrize("who", ["agent", "supervisor", "customer"])
def test_only_admins_may_add_mailboxes(request: pytest.FixtureRequest, who: str) -> None:
    client = client_for(request.getfixturevalue(who))
    assert client.get(NEW).status_code == 403
    assert client.post(NEW, {"name": "x", "address": "x@desk.test"}).status_code == 403
    assert not ChannelAccount.objects.exists()
    assert Client().get(NEW).status_code == 302


def test_the_django_admin_refuses_an_email_config_that_would_not_load(
    admin_user: Any, dead_port: int
) -> None:
    admin_user.is_staff = admin_user.is_superuser = True  # as seed_demo makes its admin
    admin_user.save(update_fields=["is_staff", "is_superuser"])
    client = client_for(admin_user)
    form = {
        "kind": "email",
        "name": "sales",
        "address": "sales@desk.test",
        "config": '{"imap": {"host": "imap.desk.test", "password_env": "hunter2!"}}',
        "active": "on",
        "created_at_0": "2026-11-23",
        "created_at_1": "10:00:00",
    }
    response = client.post("/admin/channels_in/channelaccount/add/", form)
    assert response.status_code == 200
    assert "imap.password_env: must name an environment variable" in response.content.decode()
    assert not ChannelAccount.objects.exists()
    imap = {"host": "127.0.0.1", "port": dead_port, "ssl": False, "password_env": "SALES_PW"}
    form["config"] = json.dumps({"imap": imap})
    assert client.post("/admin/channels_in/channelaccount/add/", form).status_code == 302
    account = ChannelAccount.objects.get(name="sales")
    # the connection test is an action of the account list, reporting each account
    listing = client.post(
        "/admin/channels_in/channelaccount/",
        {"action": "check_mailboxes", "_selected_action": [account.pk]},
        follow=True,
    )
    page = listing.content.decode()  # (the admin capitalises the message's first letter)
    assert f'class="error">Sales: cannot reach 127.0.0.1:{dead_port}: Connection refused' in page


def test_a_new_mailbox_keeps_its_acknowledgement_trust_settings(admin_user: Any) -> None:
    client = client_for(admin_user)
    page = client.get(NEW).content.decode()
    assert 'name="ack_requires_auth"' in page and 'name="trusted_authserv_ids"' in page
    assert "checked" in page.split('name="ack_requires_auth"')[1].split(">")[0]  # on by default
    form = {
        "name": "sales",
        "address": "sales@desk.test",
        "imap_security": "ssl",
        "after_fetch": "seen",
        "smtp_security": "starttls",
        "ack_enabled": "on",
        "ack_requires_auth": "on",
        "trusted_authserv_ids": "mx1.desk.test, MX2.desk.test",
        "save": "1",
    }
    assert client.post(NEW, form).status_code == 302
    config = load_email_config(ChannelAccount.objects.get(name="sales"))
    assert config.ack_enabled and config.ack_requires_auth
    assert config.trusted_authserv_ids == ("mx1.desk.test", "mx2.desk.test")
    bad = client.post(NEW, {**form, "name": "sales2", "trusted_authserv_ids": "mx;evil"})
    assert bad.status_code == 200 and "trusted_authserv_ids[0]: must be a server name" in (
        bad.content.decode()
    )
    off = {key: value for key, value in form.items() if key != "ack_requires_auth"}
    assert client.post(NEW, {**off, "name": "sales3"}).status_code == 302
    assert load_email_config(ChannelAccount.objects.get(name="sales3")).ack_requires_auth is False
