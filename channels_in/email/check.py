"""Test a mailbox's settings the way polling and sending will use them, and say what is wrong
in words an admin can act on ("IMAP login failed for support@…: [AUTHENTICATIONFAILED] …")."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass

from django.conf import settings

from ..models import ChannelAccount
from .adapter import smtp_error_text
from .config import ConfigError, SmtpConfig, load_email_config
from .imap import ImapError, connect, disconnect, select


class SmtpCheckFailed(Exception):
    pass


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    message: str


def check_mailbox(account: ChannelAccount) -> CheckResult:
    """IMAP: connect, log in, open the folder (read-only). Sending: connect and log in to the
    account's SMTP server. Every part is tried; the message has one line per part."""
    try:
        config = load_email_config(account)
    except ConfigError as exc:
        return CheckResult(False, f"configuration: {exc}")
    lines: list[str] = []
    ok = True
    if config.imap is None:
        lines.append("IMAP: not configured (mail arrives by the SMTP listener or a webhook)")
    else:
        try:
            client = connect(config.imap)
            try:
                info = select(client, config.imap, readonly=True)
            finally:
                disconnect(client)
            count = info.get(b"EXISTS", 0)
            lines.append(
                f"IMAP: logged in to {config.imap.host} as {config.imap.username}; "
                f"{config.imap.folder} holds {count} messages"
            )
        except ImapError as exc:
            ok = False
            lines.append(str(exc))
    if config.smtp is not None:
        try:
            lines.append(_check_smtp(config.smtp))
        except SmtpCheckFailed as exc:
            ok = False
            lines.append(str(exc))
    elif config.esp:
        lines.append(f"Sending: through {config.esp} (django-anymail); not contacted by this check")
    else:
        lines.append(
            f"Sending: through the site's mail server ({settings.EMAIL_HOST}:{settings.EMAIL_PORT})"
        )
    return CheckResult(ok, "\n".join(lines))


def _check_smtp(smtp: SmtpConfig) -> str:
    where = f"{smtp.host}:{smtp.port}"
    context = ssl.create_default_context()
    try:
        password = smtp.password()
        if smtp.ssl:
            server: smtplib.SMTP = smtplib.SMTP_SSL(
                smtp.host, smtp.port, timeout=smtp.timeout, context=context
            )
        else:
            server = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        try:
            server.ehlo()
            if smtp.starttls:
                server.starttls(context=context)
                server.ehlo()
            if smtp.username:
                server.login(smtp.username, password)
        finally:
            try:
                server.quit()
            except (smtplib.SMTPException, OSError):
                server.close()
    except ConfigError as exc:
        raise SmtpCheckFailed(f"SMTP: {exc}") from exc
    except smtplib.SMTPAuthenticationError as exc:
        detail = smtp_error_text(exc)
        raise SmtpCheckFailed(
            f"SMTP login failed for {smtp.username}: {exc.smtp_code} {detail}"
        ) from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise SmtpCheckFailed(f"SMTP server {where} does not support {exc}") from exc
    except smtplib.SMTPResponseException as exc:
        detail = smtp_error_text(exc)
        raise SmtpCheckFailed(f"SMTP server {where} answered {exc.smtp_code} {detail}") from exc
    except TimeoutError as exc:
        raise SmtpCheckFailed(f"cannot reach {where}: timed out") from exc
    except ssl.SSLError as exc:
        raise SmtpCheckFailed(f"TLS with {where} failed: {exc.reason or exc}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise SmtpCheckFailed(
            f"cannot reach {where}: {getattr(exc, 'strerror', None) or exc}"
        ) from exc
    login = f" as {smtp.username}" if smtp.username else ""
    return f"SMTP: connected to {where}{login}"
