"""Polling one IMAP mailbox: fetch → store raw → commit → only then flag, move or delete.

Guarantees:
- Two workers never poll one mailbox: a Postgres advisory lock keyed on the account id.
- Nothing is lost and nothing is stored twice: messages are stored (and committed) before the
  server is told anything; `MailboxState.last_uid` advances only after the server action, so a
  crash anywhere replays the batch, and the replay dedupes by Message-ID (or raw SHA-256).
- A UIDVALIDITY change rescans the folder from UID 1 with the same dedupe.
- One message never blocks the rest: one over the size limit is recorded (headers only) as
  failed; one the server cannot deliver is recorded after three tries and skipped.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import requests
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from ..models import ChannelAccount, InboundMessage, MailboxState
from .config import ConfigError, EmailAccountConfig, ImapConfig, OAuth2Config, load_email_config
from .store import message_id_of, store_email, store_failed

log = logging.getLogger(__name__)

LOCK_CLASS = 0x6D61696C  # "mail": the advisory-lock namespace of mailbox polls
MAX_FETCH_BYTES = 32 * 1024 * 1024  # per FETCH of bodies, so a batch never holds gigabytes
GIVE_UP_AFTER = 3  # failed downloads of one UID before it is recorded and skipped
SEEN = b"\\Seen"


class ImapError(Exception):
    """A mailbox problem, worded for the admin who has to fix it."""


@dataclass(frozen=True, slots=True)
class PollResult:
    stored: int = 0
    duplicates: int = 0
    failed: int = 0
    locked: bool = False
    error: str = ""

    def __str__(self) -> str:
        if self.locked:
            return "skipped: another worker is polling this mailbox"
        if self.error:
            return f"error: {self.error}"
        return f"{self.stored} stored, {self.duplicates} duplicates, {self.failed} failed"


@contextmanager
def mailbox_lock(account_id: int) -> Iterator[bool]:
    """Session-level advisory lock (held across the commits a poll makes); yields whether this
    process got it. Released on exit, or by Postgres if the process dies."""
    key = (LOCK_CLASS, account_id % 2**31)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        got = bool(cursor.fetchone()[0])
    try:
        yield got
    finally:
        if got:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)


# --- connecting ------------------------------------------------------------------------------


def _token_cache_key(oauth: OAuth2Config, refresh_token: str) -> str:
    digest = hashlib.sha256(f"{oauth.token_url}|{oauth.client_id}|{refresh_token}".encode())
    return "email:oauth2:" + digest.hexdigest()


def oauth2_access_token(oauth: OAuth2Config, *, fresh: bool = False) -> str:
    """A valid access token, refreshed at the provider's token endpoint when the cached one
    is missing or about to expire."""
    refresh_token = oauth.refresh_token()
    key = _token_cache_key(oauth, refresh_token)
    if not fresh:
        cached = cache.get(key)
        if cached:
            return str(cached)
    data = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": oauth.client_id,
        "client_secret": oauth.client_secret(),
    }
    if oauth.scope:
        data["scope"] = oauth.scope
    try:
        response = requests.post(oauth.token_url, data=data, timeout=20)
    except requests.RequestException as exc:
        raise ImapError(f"cannot reach the {oauth.provider} token endpoint: {exc}") from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or not body.get("access_token"):
        detail = body.get("error_description") or body.get("error") or response.text[:200]
        raise ImapError(
            f"{oauth.provider} OAuth2 token refresh failed (HTTP {response.status_code}): {detail}"
        )
    token = str(body["access_token"])
    lifetime = int(body.get("expires_in") or 3600)
    cache.set(key, token, timeout=max(30, lifetime - 120))
    return token


def _where(imap: ImapConfig) -> str:
    return f"{imap.host}:{imap.port}"


def connect(imap: ImapConfig) -> IMAPClient:
    """A logged-in client; every failure becomes an ImapError with a message an admin can act
    on (which host, which account, what the server said)."""
    context = ssl.create_default_context()
    try:
        client = IMAPClient(
            imap.host, port=imap.port, ssl=imap.ssl, ssl_context=context, timeout=imap.timeout
        )
        if imap.starttls:
            client.starttls(context)
    except TimeoutError as exc:
        raise ImapError(f"cannot reach {_where(imap)}: timed out") from exc
    except ssl.SSLError as exc:
        raise ImapError(f"TLS with {_where(imap)} failed: {exc.reason or exc}") from exc
    except OSError as exc:
        raise ImapError(f"cannot reach {_where(imap)}: {exc.strerror or exc}") from exc
    except IMAPClientError as exc:
        raise ImapError(f"{_where(imap)} refused the session: {_text(exc)}") from exc
    try:
        _login(client, imap)
    except BaseException:
        disconnect(client)
        raise
    return client


def _login(client: IMAPClient, imap: ImapConfig) -> None:
    try:
        if imap.oauth2 is None:
            client.login(imap.username, imap.password())
            return
        try:
            client.oauth2_login(imap.username, oauth2_access_token(imap.oauth2))
        except LoginError:
            # the cached token may have been revoked early: one retry with a fresh one
            client.oauth2_login(imap.username, oauth2_access_token(imap.oauth2, fresh=True))
    except LoginError as exc:
        raise ImapError(f"IMAP login failed for {imap.username}: {_text(exc)}") from exc
    except ConfigError as exc:
        raise ImapError(str(exc)) from exc
    except TimeoutError as exc:
        raise ImapError(f"{_where(imap)} stopped answering during login: timed out") from exc
    except (IMAPClientError, OSError) as exc:
        raise ImapError(f"IMAP login failed for {imap.username}: {_text(exc)}") from exc


def _text(exc: BaseException) -> str:
    text = str(exc)
    if text.startswith(("b'", 'b"')):  # imapclient wraps the server's bytes in str()
        text = text[2:-1]
    return text.strip() or type(exc).__name__


def disconnect(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # the connection may already be gone; nothing left to release
        try:
            client.shutdown()
        except Exception:  # noqa: S110 - closing a dead socket cannot fail in a useful way
            pass


def select(client: IMAPClient, imap: ImapConfig, *, readonly: bool = False) -> dict[bytes, object]:
    try:
        return client.select_folder(imap.folder, readonly=readonly)
    except IMAPClientError as exc:
        raise ImapError(
            f"IMAP folder {imap.folder!r} cannot be opened for {imap.username}: {_text(exc)}"
        ) from exc


# --- polling ---------------------------------------------------------------------------------


def mailbox_poll(*, account_id: int, process: bool = True) -> PollResult:
    """Poll one account's IMAP folder once. Safe to call from any number of workers at once."""
    account = ChannelAccount.objects.get(pk=account_id)
    config = load_email_config(account)
    if config.imap is None or not account.active:
        return PollResult(error="no IMAP settings" if config.imap is None else "account inactive")
    with mailbox_lock(account.pk) as got:
        if not got:
            return PollResult(locked=True)
        state, _ = MailboxState.objects.get_or_create(account=account, folder=config.imap.folder)
        try:
            client = connect(config.imap)
            try:
                result = _Poll(client, account, config, state, process=process).run()
            finally:
                disconnect(client)
        except (ImapError, IMAPClientError, OSError) as exc:
            message = _text(exc) if not isinstance(exc, ImapError) else str(exc)
            state.last_error = message[:2000]
            state.last_error_at = state.last_polled_at = timezone.now()
            state.save(update_fields=["last_error", "last_error_at", "last_polled_at"])
            log.warning("polling %s failed: %s", account.name, message)
            return PollResult(error=message)
        state.last_error = ""
        state.last_polled_at = timezone.now()
        state.save(update_fields=["last_error", "last_polled_at"])
        return result


class _Poll:
    def __init__(
        self,
        client: IMAPClient,
        account: ChannelAccount,
        config: EmailAccountConfig,
        state: MailboxState,
        *,
        process: bool,
    ) -> None:
        assert config.imap is not None
        self.client = client
        self.account = account
        self.imap = config.imap
        self.limit = config.max_message_bytes
        self.state = state
        self.process = process
        self.stored = self.duplicates = self.failed = 0
        self.move_ready = False
        self.current: int | None = None  # the UID being downloaded, blamed if the fetch fails

    def run(self) -> PollResult:
        info = select(self.client, self.imap)
        uidvalidity = int(info[b"UIDVALIDITY"])  # type: ignore[call-overload]
        first_poll = self.state.uidvalidity is None
        if self.state.uidvalidity != uidvalidity:
            if not first_poll:
                log.warning(
                    "%s: UIDVALIDITY changed %s -> %s, rescanning",
                    self.account.name,
                    self.state.uidvalidity,
                    uidvalidity,
                )
            self.state.uidvalidity = uidvalidity
            self.state.last_uid = 0
            self.state.failing_uid = None
            self.state.failing_count = 0
            self.state.save(
                update_fields=["uidvalidity", "last_uid", "failing_uid", "failing_count"]
            )
        if first_poll and self.imap.after_fetch == "seen":
            # A shared inbox kept after reading: its old, read mail is history, not new work.
            criteria: list[str] = ["UNSEEN"]
        else:
            criteria = ["UID", f"{self.state.last_uid + 1}:*"]
        # "N:*" always matches the newest message, even below N: filter.
        uids = sorted(u for u in self.client.search(criteria) if u > self.state.last_uid)
        uids = self._skip_hopeless(uids, uidvalidity)
        # After a failed download, go one message at a time to find the one to blame.
        size = 1 if self.state.failing_count else self.imap.batch_size
        for start in range(0, len(uids), size):
            try:
                self._batch(uids[start : start + size], uidvalidity)
            except (IMAPClientError, OSError) as exc:
                if self.current is not None:
                    self._note_failure(self.current, exc)
                raise
        return PollResult(self.stored, self.duplicates, self.failed)

    def _skip_hopeless(self, uids: list[int], uidvalidity: int) -> list[int]:
        state = self.state
        if not uids or state.failing_uid != uids[0] or state.failing_count < GIVE_UP_AFTER:
            return uids
        uid = uids[0]
        store_failed(
            account=self.account,
            external_id=f"imap:{uidvalidity}:{uid}",
            raw=b"",
            reason=f"the IMAP server failed {state.failing_count} times to deliver UID {uid} "
            f"of {self.imap.folder} (last error: {state.last_error}); skipped, left on "
            "the server",
        )
        self.failed += 1
        state.last_uid = uid
        state.failing_uid = None
        state.failing_count = 0
        state.save(update_fields=["last_uid", "failing_uid", "failing_count"])
        return uids[1:]

    def _note_failure(self, uid: int, exc: BaseException) -> None:
        state = self.state
        state.failing_count = state.failing_count + 1 if state.failing_uid == uid else 1
        state.failing_uid = uid
        state.last_error = f"fetching UID {uid}: {_text(exc)}"[:2000]
        state.save(update_fields=["failing_uid", "failing_count", "last_error"])

    def _batch(self, batch: list[int], uidvalidity: int) -> None:
        self.current = batch[0]
        meta = self.client.fetch(batch, ["RFC822.SIZE", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        ids = {uid: message_id_of(_part(meta.get(uid), b"BODY[HEADER") or b"") for uid in batch}
        known = set(
            InboundMessage.objects.filter(
                account=self.account, external_id__in=[i for i in ids.values() if i]
            ).values_list("external_id", flat=True)
        )
        done: list[int] = []  # stored (or already stored): the server may now act on these
        download: list[tuple[int, int]] = []
        for uid in batch:
            if uid not in meta:
                continue  # expunged by someone else since SEARCH
            size = int(meta[uid].get(b"RFC822.SIZE") or 0)
            if size > self.limit:
                self._store_oversized(uid, size, ids[uid], uidvalidity)
            elif ids[uid] and ids[uid] in known:
                self.duplicates += 1
                done.append(uid)
            else:
                download.append((uid, size))
        for group in _by_bytes(download):
            self.current = group[0]
            bodies = self.client.fetch(group, ["BODY.PEEK[]"])
            for uid in group:
                raw = _part(bodies.get(uid), b"BODY[]")
                if raw is None:
                    raw = _part(self.client.fetch([uid], ["BODY.PEEK[]"]).get(uid), b"BODY[]")
                if raw is None:
                    store_failed(
                        account=self.account,
                        external_id=f"imap:{uidvalidity}:{uid}",
                        raw=b"",
                        reason=f"the IMAP server returned no content for UID {uid} of "
                        f"{self.imap.folder}; left on the server",
                    )
                    self.failed += 1
                    continue
                stored = store_email(account=self.account, raw=raw, process=self.process)
                if stored.created:
                    self.stored += 1
                else:
                    self.duplicates += 1
                done.append(uid)
        self.current = None
        self._after_fetch(done)
        self.state.last_uid = max(batch)
        self.state.fetched_total += len(done)
        if self.state.failing_uid is not None and self.state.failing_uid <= self.state.last_uid:
            self.state.failing_uid = None
            self.state.failing_count = 0
        self.state.save(update_fields=["last_uid", "fetched_total", "failing_uid", "failing_count"])

    def _store_oversized(self, uid: int, size: int, message_id: str, uidvalidity: int) -> None:
        head = _part(self.client.fetch([uid], ["BODY.PEEK[HEADER]"]).get(uid), b"BODY[HEADER]")
        store_failed(
            account=self.account,
            external_id=message_id or f"imap:{uidvalidity}:{uid}",
            raw=(head or b"") + b"\r\n",
            reason=f"message is {size} bytes, over this mailbox's limit of {self.limit}; "
            f"only its headers were kept and it was left on the server (UID {uid} of "
            f"{self.imap.folder})",
        )
        self.failed += 1

    def _after_fetch(self, uids: list[int]) -> None:
        if not uids:
            return
        client = self.client
        action = self.imap.after_fetch
        if action == "seen":
            client.add_flags(uids, [SEEN])
            return
        if action == "move":
            if not self.move_ready:
                if not client.folder_exists(self.imap.move_to):
                    client.create_folder(self.imap.move_to)
                self.move_ready = True
            if client.has_capability("MOVE"):
                client.move(uids, self.imap.move_to)
                return
            client.copy(uids, self.imap.move_to)
        client.delete_messages(uids)
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)
        else:
            client.expunge()


def _part(item: dict[bytes, object] | None, prefix: bytes) -> bytes | None:
    """A FETCH item's value by key prefix (servers differ in how they echo section names)."""
    if not item:
        return None
    for key, value in item.items():
        if isinstance(key, bytes) and key.startswith(prefix) and isinstance(value, bytes):
            return value
    return None


def _by_bytes(items: list[tuple[int, int]]) -> Iterator[list[int]]:
    group: list[int] = []
    total = 0
    for uid, size in items:
        if group and total + size > MAX_FETCH_BYTES:
            yield group
            group, total = [], 0
        group.append(uid)
        total += size
    if group:
        yield group
