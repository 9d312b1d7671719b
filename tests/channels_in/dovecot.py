"""A private Dovecot IMAP server on loopback for the email tests (Debian's dovecot-imapd).

Started in a temp dir with its own config, users and maildirs; stopped by the pid in its
`master.pid`. Skips (with the reason) when Dovecot is missing, unless CI is set: there it fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

POOL_SIZE = 60


@dataclass
class Dovecot:
    host: str
    port: int
    base: Path
    accounts: list[tuple[str, str]]
    tls_port: int = 0  # IMAPS (implicit TLS); the plain port offers STARTTLS with the same cert
    cert: Path | None = None  # self-signed for 127.0.0.1: trust it with SSL_CERT_FILE

    def take_user(self) -> tuple[str, str]:
        """A fresh (user, password): Dovecot rereads its users file only when its mtime
        changes, so the users are all written before it starts."""
        if not self.accounts:
            raise RuntimeError(f"more than {POOL_SIZE} IMAP users wanted; raise POOL_SIZE")
        return self.accounts.pop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                if sock.recv(100).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"Dovecot did not answer on port {port}")


def _require_binary() -> str:
    binary = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
    )
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("dovecot is not installed (apt-get install dovecot-imapd); required on CI")
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd) and CI is unset")
    return binary


def _self_signed_cert(base: Path) -> tuple[Path, Path] | None:
    """A certificate for 127.0.0.1 (and localhost), or None without the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = base / "cert.pem", base / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    cert.chmod(0o644)
    return cert, key


def run_dovecot() -> Iterator[Dovecot]:
    """Body of a session fixture (each test module declares `dovecot` with it)."""
    binary = _require_binary()
    base = Path(tempfile.mkdtemp(prefix="hd-dovecot-"))
    base.chmod(0o755)
    mail = base / "mail"
    mail.mkdir()
    users = base / "users"
    accounts = [
        (f"u{n}.{uuid.uuid4().hex[:8]}@desk.test", uuid.uuid4().hex) for n in range(POOL_SIZE)
    ]
    users.write_text("".join(f"{user}:{{PLAIN}}{password}\n" for user, password in accounts))
    users.chmod(0o644)
    if os.geteuid() == 0:
        shutil.chown(mail, "dovecot", "dovecot")
    port = _free_port()
    pair = _self_signed_cert(base)
    tls_port = _free_port() if pair else 0
    tls = (
        f"ssl = yes\nssl_cert = <{pair[0]}\nssl_key = <{pair[1]}\nssl_min_protocol = TLSv1.2\n"
        if pair
        else "ssl = no\n"
    )
    run_as = (
        "default_internal_user = dovecot\ndefault_internal_group = dovecot\n"
        "default_login_user = dovenull\n"
        if os.geteuid() == 0
        else ""
    )
    user_ids = (
        "uid=dovecot gid=dovecot" if os.geteuid() == 0 else f"uid={os.getuid()} gid={os.getgid()}"
    )
    conf = base / "dovecot.conf"
    conf.write_text(
        f"""protocols = imap
listen = 127.0.0.1
{tls}disable_plaintext_auth = no
auth_mechanisms = plain login
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
info_log_path = {base}/dovecot.log
mail_location = maildir:{mail}/%u
{run_as}first_valid_uid = 100
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users}
}}
userdb {{
  driver = static
  args = {user_ids} home={mail}/%u
}}
"""
    )
    # Dovecot daemonises; its children keep inherited pipes open, so give it none.
    subprocess.run(
        [binary, "-c", str(conf)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=30,
    )
    try:
        _wait_for(port)
        yield Dovecot(
            host="127.0.0.1",
            port=port,
            base=base,
            accounts=accounts,
            tls_port=tls_port,
            cert=pair[0] if pair else None,
        )
    finally:
        pid_file = base / "run" / "master.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().strip())
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
        shutil.rmtree(base, ignore_errors=True)
