"""A PgBouncer in front of a PostgreSQL server, started from the system binary (bench and tests).

One database is offered twice: under its own name in **transaction** mode (the app's
connection pools; the URL carries ``?pooler=transaction``) and as ``NAME_listen`` in
**session** mode (the change listeners: LISTEN and the scheduler's leader lock need a
session). PgBouncer listens only on a Unix socket in its own folder and connects to the
server's socket; like the private cluster it runs as an unprivileged user when started
as root (PgBouncer refuses to run as root). Clients are trusted by name (``auth_type =
trust`` with the users listed), which is right for a private socket only — the README
shows a production configuration.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from desk_desktop.db.local_cluster import ClusterError

PORT = 6432


def find_pgbouncer() -> str:
    path = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)
    if path is None:
        raise ClusterError("PgBouncer is not installed. Install it with: sudo apt-get install pgbouncer")
    return path


class PgBouncer:
    """``start()`` a PgBouncer for ``database`` on the server at ``server_socket_dir``; ``stop()``."""

    def __init__(self, *, server_socket_dir: Path, database: str, users: list[str], pool_size: int = 20,
                 listeners: int = 100, max_client_conn: int = 4000, run_as: str = "postgres",
                 server_port: int = 5432) -> None:
        self.server_socket_dir = Path(server_socket_dir)
        self.server_port = server_port
        self.database = database
        self.users = list(users)
        self.pool_size = pool_size
        self.listeners = listeners
        self.max_client_conn = max_client_conn
        self.run_as = run_as if os.geteuid() == 0 else None
        self.base_dir: Path | None = None
        self._proc: subprocess.Popen | None = None

    @property
    def socket_dir(self) -> Path:
        assert self.base_dir is not None, "start() first"
        return self.base_dir / "run"

    @property
    def log_file(self) -> Path:
        assert self.base_dir is not None, "start() first"
        return self.base_dir / "pgbouncer.log"

    def url(self, user: str) -> str:
        """The transaction pool, as the app's database URL."""
        return (f"postgresql+psycopg://{user}@/{self.database}?host={self.socket_dir}&port={PORT}"
                "&pooler=transaction")

    def listen_url(self, user: str) -> str:
        """The session pool, for ``DESK_LISTEN_URL``."""
        return f"postgresql+psycopg://{user}@/{self.database}_listen?host={self.socket_dir}&port={PORT}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _config(self) -> str:
        server = f"host={self.server_socket_dir} port={self.server_port} dbname={self.database}"
        return "\n".join([
            "[databases]",
            f"{self.database} = {server} pool_mode=transaction pool_size={self.pool_size}",
            f"{self.database}_listen = {server} pool_mode=session pool_size={self.listeners}",
            "",
            "[pgbouncer]",
            "listen_addr =",
            f"listen_port = {PORT}",
            f"unix_socket_dir = {self.socket_dir}",
            "unix_socket_mode = 0777",
            "auth_type = trust",
            f"auth_file = {self.base_dir / 'users.txt'}",
            "pool_mode = transaction",
            f"max_client_conn = {self.max_client_conn}",
            f"default_pool_size = {self.pool_size}",
            "server_reset_query = DISCARD ALL",
            f"logfile = {self.log_file}",
            "log_connections = 0",
            "log_disconnections = 0",
            "",
        ])

    def start(self, timeout: float = 20.0) -> PgBouncer:
        binary = find_pgbouncer()
        self.base_dir = Path(tempfile.mkdtemp(prefix="desk-pgbouncer-"))
        self.socket_dir.mkdir()
        (self.base_dir / "users.txt").write_text("".join(f'"{u}" ""\n' for u in self.users))
        ini = self.base_dir / "pgbouncer.ini"
        ini.write_text(self._config())
        kw: dict = {}
        if self.run_as is not None:
            pw = pwd.getpwnam(self.run_as)
            for p in (self.base_dir, self.socket_dir, ini, self.base_dir / "users.txt"):
                os.chown(p, pw.pw_uid, pw.pw_gid)
            kw.update(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
        os.chmod(self.base_dir, 0o755)
        with (self.base_dir / "stderr.log").open("wb") as err_file:  # the child keeps its own descriptor
            self._proc = subprocess.Popen([binary, str(ini)], stdout=subprocess.DEVNULL, stderr=err_file,
                                          cwd=str(self.base_dir), **kw)
        sock = self.socket_dir / f".s.PGSQL.{PORT}"
        deadline = time.monotonic() + timeout
        while not sock.exists():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                err = (self.base_dir / "stderr.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise ClusterError(f"PgBouncer did not start: {err.strip() or 'no socket'}; see {self.log_file}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # immediate shutdown: clients are gone or do not matter
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
