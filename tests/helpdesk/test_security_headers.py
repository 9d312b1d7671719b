"""What every response promises a browser: stored files only through the gate, a strict
Content-Security-Policy on every page, HSTS behind TLS, and styled error pages."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.loader import render_to_string
from django.test import Client, override_settings

from channels_in.models import ChannelAccount
from tests.channels_in.chat_support import SITE, clear_presence, go_online, make_chat_account, start
from tests.conftest import client_for
from tests.factories import make_ticket
from tests.helpdesk.child import run_django
from tickets.models import Attachment, Message
from tickets.remote_images import remote_image_sources
from tickets.types import IncomingAttachment

ROOT = Path(__file__).resolve().parents[2]

HOSTILE_FILES = [
    ("invoice.html", "text/html", b"<script>parent.stolen = document.cookie</script>"),
    ("logo.svg", "image/svg+xml", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
    ("feed.xml", "application/xml", b"<x:script xmlns:x='http://www.w3.org/1999/xhtml'/>"),
    ("run.js", "text/javascript", b"alert(document.domain)"),
]


def policy(response: Any) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_strict_page_policy(response: Any) -> None:
    csp = policy(response)
    html = response.content.decode()
    nonces = [v for v in csp["script-src"] if v.startswith("'nonce-")]
    assert csp["script-src"][0] == "'self'" and len(nonces) == 1, csp["script-src"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]
    assert csp["img-src"] == ["'self'", "data:"]
    assert csp["style-src"] == ["'self'"]
    assert csp["connect-src"] == ["'self'"]
    nonce = nonces[0][len("'nonce-") : -1]
    tags = re.findall(r"<script\b[^>]*>", html)
    assert tags, "the page loads its scripts"
    for tag in tags:
        assert f'nonce="{nonce}"' in tag and " src=" in tag, tag


# --- stored files -----------------------------------------------------------------------------


def test_nothing_maps_the_media_url_with_debug_on_or_off() -> None:
    code = (
        "from django.urls import Resolver404, resolve\n"
        "from django.conf import settings\n"
        "try:\n"
        "    resolve('/media/attachments/ab12/page.html')\n"
        "    print('served')\n"
        "except Resolver404:\n"
        "    print('not served', settings.DEBUG)\n"
    )
    for debug, expected in (("1", "not served True"), ("0", "not served False")):
        result = run_django(code, env={"DEBUG": debug, "SECRET_KEY": "k" * 50})
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == expected


def test_settings_refuse_a_media_root_where_static_files_are_served(tmp_path: Path) -> None:
    base = {"SECRET_KEY": "k" * 50, "STATIC_ROOT": str(tmp_path / "static")}
    for media in (tmp_path / "static" / "uploads", ROOT / "static", tmp_path):
        result = run_django("", env={**base, "MEDIA_ROOT": str(media)})
        assert result.returncode != 0 and "MEDIA_ROOT" in result.stderr, media
    assert run_django("", env={**base, "MEDIA_ROOT": str(tmp_path / "media")}).returncode == 0


@pytest.mark.django_db
def test_a_stored_file_is_not_reachable_by_its_media_path(
    agent: Any, support: Any, tmp_path: Path
) -> None:
    with override_settings(MEDIA_ROOT=tmp_path):
        ticket = make_ticket(group=support, attachments=[IncomingAttachment(*HOSTILE_FILES[0])])
        stored = Attachment.objects.get(message__ticket=ticket)
        assert (tmp_path / stored.file.name).exists()
        for client in (Client(), client_for(agent)):
            assert client.get(f"/media/{stored.file.name}").status_code == 404


def _assert_inert_download(response: Any, filename: str, content_type: str, body: bytes) -> None:
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert f'filename="{filename}"' in response["Content-Disposition"]
    assert response["Content-Type"] == content_type
    assert response["X-Content-Type-Options"] == "nosniff"
    csp = policy(response)
    assert "sandbox" in csp and csp["default-src"] == ["'none'"]
    assert b"".join(response.streaming_content) == body


@pytest.mark.django_db
@pytest.mark.parametrize(("filename", "content_type", "body"), HOSTILE_FILES)
def test_desk_and_portal_serve_risky_files_as_inert_downloads(
    filename: str,
    content_type: str,
    body: bytes,
    agent: Any,
    other_agent: Any,
    support: Any,
    customer: Any,
    customer_contact: Any,
    other_customer: Any,
    tmp_path: Path,
) -> None:
    with override_settings(MEDIA_ROOT=tmp_path):
        ticket = make_ticket(
            group=support,
            contact=customer_contact,
            attachments=[IncomingAttachment(filename, content_type, body)],
        )
        pk = Attachment.objects.get(message__ticket=ticket).pk
        desk = client_for(agent).get(f"/desk/attachments/{pk}/")
        _assert_inert_download(desk, filename, content_type, body)
        portal = client_for(customer).get(f"/portal/attachments/{pk}/")
        _assert_inert_download(portal, filename, content_type, body)
        # never in place, not even through the inline-image views
        assert client_for(agent).get(f"/desk/attachments/{pk}/inline/").status_code == 404
        assert client_for(customer).get(f"/portal/attachments/{pk}/inline/").status_code == 404
        assert client_for(other_agent).get(f"/desk/attachments/{pk}/").status_code == 404
        assert client_for(other_customer).get(f"/portal/attachments/{pk}/").status_code == 404


@pytest.mark.django_db
def test_a_chat_file_is_an_inert_download_too(support: Any, agent: Any, tmp_path: Path) -> None:
    from channels_in.chat.selectors import lines_after

    clear_presence()
    account = make_chat_account(group=support, title="Acme help")
    go_online(agent)
    try:
        with override_settings(MEDIA_ROOT=tmp_path):
            session = start(account)
            name, content_type, body = HOSTILE_FILES[1]
            upload = SimpleUploadedFile(name, body, content_type=content_type)
            posted = Client().post(
                "/channels/chat/web/upload/",
                {"token": session.token, "client_id": "f1", "file": upload},
                HTTP_ORIGIN=SITE,
            )
            assert posted.status_code == 200
            [line] = lines_after(session.conversation.pk, 0)
            download = Client().get(line["attachments"][0]["url"])
            _assert_inert_download(download, name, content_type, body)
    finally:
        clear_presence()


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00"
    b"\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.mark.django_db
def test_the_portal_shows_a_public_messages_inline_image_through_its_own_gate(
    support: Any, customer: Any, customer_contact: Any, other_customer: Any, tmp_path: Path
) -> None:
    with override_settings(MEDIA_ROOT=tmp_path):
        ticket = make_ticket(
            group=support,
            contact=customer_contact,
            attachments=[
                IncomingAttachment("logo.png", "image/png", PNG, content_id="logo1", inline=True)
            ],
        )
        image = Attachment.objects.get(message__ticket=ticket)
        Message.objects.filter(ticket=ticket).update(
            html=f'<p>Our logo:</p><img src="/desk/attachments/{image.pk}/inline/" alt="logo">'
        )
        page = client_for(customer).get(f"/portal/tickets/{ticket.number}/")
        assert f'src="/portal/attachments/{image.pk}/inline/"' in page.content.decode()
        shown = client_for(customer).get(f"/portal/attachments/{image.pk}/inline/")
        assert shown.status_code == 200 and shown["Content-Type"] == "image/png"
        assert "attachment" not in shown.get("Content-Disposition", "")
        assert "sandbox" in policy(shown)
        assert b"".join(shown.streaming_content) == PNG
        url = f"/portal/attachments/{image.pk}/inline/"
        assert client_for(other_customer).get(url).status_code == 404


# --- Content-Security-Policy ------------------------------------------------------------------


@pytest.mark.django_db
def test_every_kind_of_page_carries_the_strict_policy(
    agent: Any, admin_user: Any, customer: Any, customer_contact: Any, support: Any
) -> None:
    ticket = make_ticket(group=support, contact=customer_contact)
    ChannelAccount.objects.create(kind="chat", name="web", group=support, config={})
    pages = [
        (Client(), "/accounts/login/"),
        (Client(), "/accounts/signup/"),
        (Client(), "/channels/chat/demo/"),
        (client_for(agent), "/desk/"),
        (client_for(agent), f"/desk/tickets/{ticket.number}/"),
        (client_for(agent), "/channels/chat/inbox/"),
        (client_for(agent), "/api/docs/"),
        (client_for(customer), "/portal/"),
        (client_for(customer), f"/portal/tickets/{ticket.number}/"),
        (client_for(customer), "/portal/new/"),
        (client_for(admin_user), "/admin/"),
        (client_for(admin_user), "/channels/email/accounts/"),
    ]
    for client, url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        if url.startswith("/admin/"):
            # Django's admin tags carry no nonce, and need none: 'self' admits them
            csp = policy(response)
            assert csp["object-src"] == ["'none'"] and csp["script-src"][0] == "'self'"
            assert "'unsafe-inline'" not in response["Content-Security-Policy"]
            continue
        assert_strict_page_policy(response)


@pytest.mark.django_db
def test_each_response_has_its_own_nonce(agent: Any) -> None:
    client = client_for(agent)
    first = policy(client.get("/desk/"))["script-src"][1]
    second = policy(client.get("/desk/"))["script-src"][1]
    assert first != second


def test_no_template_has_inline_script_or_event_handlers() -> None:
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
    handler = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.IGNORECASE)
    js_url = re.compile(r"""(href|src|action)\s*=\s*["']\s*javascript:""", re.IGNORECASE)
    style_attr = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.IGNORECASE)
    checked = 0
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        checked += 1
        for pattern in (inline_script, handler, js_url, style_attr):
            assert not pattern.search(text), f"{path.relative_to(ROOT)}: {pattern.pattern}"
        # a {# #} comment is one line only: a longer one is printed into the page as text
        for number, line in enumerate(text.splitlines(), 1):
            assert line.count("{#") == line.count("#}"), f"{path.relative_to(ROOT)}:{number}"
    assert checked > 20


def test_htmx_is_configured_for_the_policy() -> None:
    base = (ROOT / "templates" / "base.html").read_text()
    meta = re.search(r"""<meta name="htmx-config" content='([^']+)'>""", base)
    assert meta is not None
    config = json.loads(meta.group(1))
    assert config == {
        "includeIndicatorStyles": False,
        "allowEval": False,
        "allowScriptTags": False,
        "attributesToSettle": ["class", "width", "height"],
    }
    assert base.index('name="htmx-config"') < base.index("htmx/htmx.min.js")


# --- remote images: their own, per-message policy --------------------------------------------


def test_remote_image_sources_are_the_origins_a_policy_may_name() -> None:
    html = (
        '<img data-remote-src="https://cdn.example.com/a.png?x=1&amp;y=2">'
        '<img data-remote-src="http://Tracker.Example.NET:8080/p.gif">'
        '<img data-remote-src="https://cdn.example.com/b.png">'
        '<img data-remote-src="https://bad.example.com\';script-src *">'
        '<img data-remote-src="javascript:alert(1)">'
        '<img data-remote-src="https://[2001:db8::1]/v6.png">'
        '<img data-remote-src="https://bücher.example/i.png">'
    )
    assert remote_image_sources(html) == [
        "https://cdn.example.com",
        "http://tracker.example.net:8080",
        "https://[2001:db8::1]",
        "https://xn--bcher-kva.example",
    ]


@pytest.mark.django_db
def test_show_remote_images_relaxes_the_policy_for_that_message_only(
    agent: Any, other_agent: Any, support: Any, billing: Any
) -> None:
    ticket = make_ticket(group=support, subject="Newsletter")
    message = ticket.messages.get()
    Message.objects.filter(pk=message.pk).update(
        html='<p>Chart</p><img data-remote-src="https://img.example.com/c.png" alt="c">'
    )
    other = make_ticket(group=support, subject="Other")
    other_message = other.messages.get()
    Message.objects.filter(pk=other_message.pk).update(
        html='<img data-remote-src="https://evil.example.org/x.png">'
    )
    client = client_for(agent)
    page = client.get(f"/desk/tickets/{ticket.number}/")
    assert policy(page)["img-src"] == ["'self'", "data:"]
    html = page.content.decode()
    assert "Show remote images" in html and f'name="remote_images" value="{message.pk}"' in html

    shown = client.get(f"/desk/tickets/{ticket.number}/?remote_images={message.pk}")
    assert policy(shown)["img-src"] == ["'self'", "data:", "https://img.example.com"]
    assert f'<meta name="remote-images-message" content="{message.pk}">' in shown.content.decode()
    assert_strict_page_policy_but_images(shown)

    # another ticket's message, garbage, or a message the agent may not see: no relaxing
    for asked in (str(other_message.pk), "x", "-1", ""):
        kept = client.get(f"/desk/tickets/{ticket.number}/?remote_images={asked}")
        assert policy(kept)["img-src"] == ["'self'", "data:"], asked
        assert "remote-images-message" not in kept.content.decode()
    url = f"/desk/tickets/{ticket.number}/?remote_images={message.pk}"
    assert client_for(other_agent).get(url).status_code == 404


def assert_strict_page_policy_but_images(response: Any) -> None:
    csp = policy(response)
    assert csp["object-src"] == ["'none'"] and csp["script-src"][0] == "'self'"
    assert csp["default-src"] == ["'self'"] and csp["connect-src"] == ["'self'"]


# --- HSTS ------------------------------------------------------------------------------------


def test_hsts_is_on_behind_tls_with_a_configurable_max_age() -> None:
    code = (
        "from django.conf import settings as s\n"
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD)\n"
    )
    base = {"SECRET_KEY": "k" * 50, "DEBUG": "0"}
    cases = [
        ({"BEHIND_TLS": "1"}, "31536000 False False"),
        ({"BEHIND_TLS": "1", "HSTS_SECONDS": "600"}, "600 False False"),
        ({"BEHIND_TLS": "1", "HSTS_INCLUDE_SUBDOMAINS": "1"}, "31536000 True False"),
        ({"BEHIND_TLS": "0", "HSTS_SECONDS": "600"}, "0 False False"),
    ]
    for env, expected in cases:
        result = run_django(code, env={**base, **env})
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == expected, env
    refused = run_django(code, env={**base, "BEHIND_TLS": "1", "HSTS_SECONDS": "-5"})
    assert refused.returncode != 0 and "HSTS_SECONDS" in refused.stderr


@pytest.mark.django_db
def test_a_secure_request_gets_the_hsts_header() -> None:
    with override_settings(SECURE_HSTS_SECONDS=600, SECURE_HSTS_INCLUDE_SUBDOMAINS=True):
        response = Client().get("/accounts/login/", secure=True)
        assert response["Strict-Transport-Security"] == "max-age=600; includeSubDomains"
        assert "Strict-Transport-Security" not in Client().get("/accounts/login/")


def test_the_readme_documents_the_hsts_settings() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "`HSTS_SECONDS`" in readme and "`HSTS_INCLUDE_SUBDOMAINS`" in readme


# --- error pages -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_404_is_the_styled_page_under_the_policy(agent: Any) -> None:
    response = client_for(agent).get("/desk/tickets/987654/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html and 'class="error-page' in html and "Queue" in html
    assert_strict_page_policy(response)
    anonymous = Client().get("/no/such/page/")
    assert anonymous.status_code == 404 and "Page not found" in anonymous.content.decode()


@pytest.mark.django_db
def test_a_403_is_styled_and_logs_one_line_without_a_traceback(
    customer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client_for(customer).get("/desk/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "Not allowed" in html and 'class="error-page' in html and "My requests" in html
    assert_strict_page_policy(response)
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.levelname == "WARNING" and "Forbidden" in record.getMessage()
    assert record.exc_info is None and not record.exc_text
    assert "Traceback" not in caplog.text


def test_the_500_page_renders_without_a_request() -> None:
    html = render_to_string("500.html")
    assert "Something went wrong" in html and 'class="error-page' in html
    assert "/static/css/app.css" in html and "<script" not in html


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="tests.helpdesk.error_urlconf")
def test_an_unexpected_error_gets_the_500_page_and_keeps_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = Client(raise_request_exception=False)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.get("/boom/")
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()
    assert "Content-Security-Policy" in response
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.exc_info is not None  # a real error keeps its traceback


@pytest.mark.django_db
def test_a_failed_csrf_check_is_the_styled_form_expired_page() -> None:
    response = Client(enforce_csrf_checks=True).post(
        "/accounts/login/", {"login": "a@b.test", "password": "x"}
    )
    assert response.status_code == 403
    html = response.content.decode()
    assert "This form has expired" in html and 'class="error-page' in html
    assert_strict_page_policy(response)
