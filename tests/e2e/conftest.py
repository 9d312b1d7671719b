"""Browser tests: Debian's Chromium driven by Playwright, against a live server.

pytest-django's `live_server` serves HTTP only; the live-update test also needs websockets, so
`asgi_server` runs the real ASGI application under daphne in a subprocess, pointed at the test
database. Run this directory in its own pytest process (see STACK-NOTES: Channels' test
communicator and Playwright cannot share one).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

# Playwright's sync API keeps an event loop in this thread; Django's ORM must still be allowed
# to run here (only in this directory's process).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PASSWORD = "pw-for-tests-123"  # what tests.factories.UserFactory sets


@pytest.fixture(autouse=True)
def _roles_exist(transactional_db: Any) -> None:
    """Browser tests commit for real, and each ends with a flush that also drops the role
    groups the migration created: put them back before the personas need them."""
    from django.contrib.auth.models import Group as AuthGroup

    from tickets.roles import Role

    for role in Role:
        AuthGroup.objects.get_or_create(name=role.value)


@pytest.fixture(autouse=True)
def _media_root(tmp_path: Path) -> Iterator[None]:
    from django.test import override_settings

    with override_settings(MEDIA_ROOT=tmp_path / "media"):
        yield


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        reason = "Debian's chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


# Every Content-Security-Policy violation any page reports, in any context of the test; the
# autouse fixture below fails the test that caused one.
CSP_VIOLATIONS: list[str] = []

CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", function (e) {
  window.__hdCspViolation(
    e.effectiveDirective + " blocked " + (e.blockedURI || "inline") + " on " + e.documentURI +
    (e.sourceFile ? " (" + e.sourceFile + ":" + e.lineNumber + ")" : "")
  );
}, true);
"""


def watch_csp(context: Any) -> None:
    """Collect CSP violations of every page of `context`: the DOM's
    `securitypolicyviolation` events and the console errors Chromium writes for them."""

    def report(_source: Any, text: str) -> None:
        CSP_VIOLATIONS.append(text)

    def console(message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            CSP_VIOLATIONS.append(f"console: {message.text}")

    context.expose_binding("__hdCspViolation", report)
    context.add_init_script(CSP_LISTENER)
    context.on("console", console)


class CspCheckedBrowser:
    """The browser, with every new context watched for CSP violations."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser

    def new_context(self, **kwargs: Any) -> Any:
        context = self._browser.new_context(**kwargs)
        watch_csp(context)
        return context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        yield CspCheckedBrowser(browser)
        browser.close()


@pytest.fixture(autouse=True)
def _no_csp_violations() -> Iterator[None]:
    """A page that breaks our Content-Security-Policy fails its test."""
    CSP_VIOLATIONS.clear()
    yield
    found = list(CSP_VIOLATIONS)
    CSP_VIOLATIONS.clear()
    assert not found, "Content-Security-Policy violations:\n" + "\n".join(found)


def local_only(context: Any) -> list[str]:
    """Every script, style, font and image must come from the app itself (no CDN): collect
    each request the pages of `context` make to any other host."""
    foreign: list[str] = []

    def check(request: Any) -> None:
        host = urlsplit(request.url).hostname
        if request.url.startswith(("http:", "https:", "ws:", "wss:")) and host not in {
            "127.0.0.1",
            "localhost",
        }:
            foreign.append(request.url)

    context.on("request", check)
    return foreign


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 860}, locale="en-GB")
    context.set_default_timeout(10_000)
    foreign = local_only(context)
    page = context.new_page()
    yield page
    context.close()
    assert not foreign, f"pages loaded from another host: {foreign}"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _database_url_for(name: str) -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
def asgi_server(transactional_db: Any, tmp_path: Path) -> Iterator[str]:
    """The whole ASGI app (HTTP + websockets) under daphne, on the test database."""
    with run_asgi_server(tmp_path) as url:
        yield url


@contextmanager
def run_asgi_server(tmp_path: Path, **extra_env: str) -> Iterator[str]:
    """Daphne serving the project in a child process (`extra_env`, e.g. DEBUG="1", on top of
    the test environment); stopped on exit."""
    from django.conf import settings

    port = _free_port()
    env = dict(
        os.environ,
        DATABASE_URL=_database_url_for(settings.DATABASES["default"]["NAME"]),
        HELPDESK_TESTING="1",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        PYTHONUNBUFFERED="1",
        **extra_env,
    )
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    log_path = tmp_path / f"daphne-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "helpdesk.asgi:application",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"daphne exited at start:\n{log_path.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"daphne did not listen in 30s:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def login(page: Any, base_url: str, email: str, *, screenshot: Path | None = None) -> None:
    """Sign in through the real login form, as a person would."""
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    if screenshot is not None:
        page.screenshot(path=str(screenshot), full_page=True)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
