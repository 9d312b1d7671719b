"""The desk page where admins see email accounts and test their connections."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.test import RequestFactory

from channels_in.email.admin_actions import check_mailboxes
from channels_in.models import ChannelAccount
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
