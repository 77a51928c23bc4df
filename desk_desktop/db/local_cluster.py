"""The private PostGIS cluster: the embedded default when no shared server is configured.

``initdb`` on first use, listening on a Unix socket in its own folder only (no TCP port),
database created, PostGIS enabled. PostgreSQL refuses to run as root, so as root the
cluster runs as an unprivileged system user (``DESK_CLUSTER_USER``, default ``postgres``)
and lives where that user can reach it.

Several app instances may share one cluster. Each instance holds a *shared* ``flock`` on
``clients.lock`` while it uses the cluster; on exit an instance stops the cluster only if
it can take that lock *exclusively* (no one else is using it) and the cluster is not pinned
by ``desk-desktop server start``. Locks die with their process, so a SIGKILLed instance
never keeps the cluster alive for ever (the next instance to exit last stops it), and a
stale ``postmaster.pid`` left by a crash is detected and removed before the next start.

Started as root, the folder belongs to the cluster user, so whoever can act as that user
could replace ``run`` or a lock file with a symbolic link (to ``/etc``…) for root to
``chown``/``chmod``/create through. Root therefore never follows a link there: folders are
opened with ``O_NOFOLLOW`` and changed through the open descriptor, files are created with
``O_NOFOLLOW``; a link is refused with an error naming it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DB_NAME = "desk"
SUPERUSER = "desk_admin"
POSTGIS_PACKAGE = "postgresql-{major}-postgis-3"
SERVER_PACKAGE = "postgresql-{major}"


class ClusterError(RuntimeError):
    """Something about the private cluster that a person can act on."""


@dataclass(frozen=True)
class ClusterStatus:
    data_dir: Path
    socket_dir: Path
    initialized: bool
    running: bool
    pid: int | None
    url: str

    def describe(self) -> str:
        state = "running" if self.running else ("stopped" if self.initialized else "not initialized")
        lines = [f"Private cluster: {state}", f"  data folder : {self.data_dir}", f"  socket      : {self.socket_dir}"]
        if self.pid:
            lines.append(f"  pid         : {self.pid}")
        lines.append(f"  url         : {self.url}")
        return "\n".join(lines)


def find_bindir(preferred: str | None = None) -> Path:
    """The PostgreSQL server binaries (newest version with PostGIS installed)."""
    if preferred:
        p = Path(preferred)
        if (p / "postgres").exists() and (p / "initdb").exists():
            return p
        raise ClusterError(f"DESK_PG_BINDIR={preferred} does not contain initdb and postgres.")
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _version_key(p.parent.name), reverse=True)
    with_server = [c for c in candidates if (c / "postgres").exists() and (c / "initdb").exists()]
    if not with_server:
        raise ClusterError(
            "PostgreSQL server binaries not found. Install them with: "
            "sudo apt-get install postgresql-15 postgresql-15-postgis-3 (or set DESK_DATABASE_URL to a shared server)."
        )
    for c in with_server:
        if _postgis_available(c.parent.name):
            return c
    major = with_server[0].parent.name
    raise ClusterError(
        f"PostGIS is not installed for PostgreSQL {major}. Install it with: "
        f"sudo apt-get install {POSTGIS_PACKAGE.format(major=major)}"
    )


def _version_key(name: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in name.split("."))
    except ValueError:
        return (0,)


def _postgis_available(major: str) -> bool:
    return any(Path(f"/usr/share/postgresql/{major}/extension").glob("postgis.control"))


def _running_as_root() -> bool:
    return os.geteuid() == 0


class LocalCluster:
    """A PostgreSQL cluster in a folder of ours, reachable only through its Unix socket."""

    def __init__(self, base_dir: Path, *, cluster_user: str = "postgres", bindir: str | None = None,
                 db_name: str = DB_NAME) -> None:
        base_dir = Path(base_dir).resolve()
        self.as_root = _running_as_root()
        self.cluster_user = cluster_user
        if self.as_root and not _reachable_by(base_dir, cluster_user):
            # /root is not traversable by the cluster user: keep the cluster in /var/lib.
            digest = hashlib.sha256(str(base_dir).encode()).hexdigest()[:10]
            base_dir = Path("/var/lib/desk-desktop") / f"cluster-{digest}"
        self.base_dir = base_dir
        self.data_dir = base_dir / "pgdata"
        self.socket_dir = base_dir / "run"
        self.log_file = base_dir / "postgres.log"
        self.db_name = db_name
        self._bindir_pref = bindir
        self._bindir: Path | None = None
        self._lease_fd: int | None = None
        self.started_by_us = False

    # ----------------------------------------------------------------- helpers
    @property
    def bindir(self) -> Path:
        if self._bindir is None:
            self._bindir = find_bindir(self._bindir_pref)
        return self._bindir

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@/{self.db_name}?host={self.socket_dir}"

    def url_for(self, db_name: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@/{db_name}?host={self.socket_dir}"

    def _run(self, args: list[str], *, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        kw: dict = {"capture_output": True, "text": True, "timeout": timeout, "cwd": str(self.base_dir)}
        if self.as_root:
            pw = pwd.getpwnam(self.cluster_user)
            kw.update(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[], env=_clean_env(pw.pw_dir))
        else:
            kw["env"] = _clean_env(os.environ.get("HOME", "/tmp"))
        proc = subprocess.run(args, **kw)
        if check and proc.returncode != 0:
            raise ClusterError(f"{Path(args[0]).name} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def _prepare_dirs(self) -> None:
        self.base_dir.parent.mkdir(parents=True, exist_ok=True)
        owner: tuple[int, int] | None = None
        if self.as_root:
            try:
                pw = pwd.getpwnam(self.cluster_user)
            except KeyError as exc:
                raise ClusterError(
                    f"Running as root, the private cluster needs the unprivileged system user "
                    f"'{self.cluster_user}' (created by the postgresql package), or set DESK_CLUSTER_USER."
                ) from exc
            owner = (pw.pw_uid, pw.pw_gid)
        base = _own_dir(self.base_dir, owner)
        try:
            os.close(_own_dir(Path(self.socket_dir.name), owner, parent_fd=base))
        finally:
            os.close(base)

    # ----------------------------------------------------------------- state
    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def _pid_from_file(self) -> int | None:
        try:
            first = (self.data_dir / "postmaster.pid").read_text().splitlines()[0]
            return int(first.strip())
        except (FileNotFoundError, IndexError, ValueError, PermissionError):
            return None

    def is_running(self) -> bool:
        if not self.initialized:
            return False
        pid = self._pid_from_file()
        if pid is None or not _is_postgres_process(pid):
            return False
        return self._ready()

    def _ready(self) -> bool:
        proc = subprocess.run(
            [str(self.bindir / "pg_isready"), "-h", str(self.socket_dir), "-q", "-t", "2"],
            capture_output=True,
        )
        return proc.returncode == 0

    def status(self) -> ClusterStatus:
        running = self.is_running()
        return ClusterStatus(self.data_dir, self.socket_dir, self.initialized, running,
                             self._pid_from_file() if running else None, self.url)

    # ----------------------------------------------------------------- lifecycle
    def _remove_stale_pid(self) -> bool:
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return False
        pid = self._pid_from_file()
        if pid is not None and _is_postgres_process(pid):
            return False
        pid_file.unlink()
        for sock in self.socket_dir.glob(".s.PGSQL.*"):
            sock.unlink(missing_ok=True)
        return True

    def initdb(self) -> None:
        self._prepare_dirs()
        self._run([
            str(self.bindir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
            "--auth-local=trust", "--auth-host=reject", "-E", "UTF8", "--locale=C.UTF-8",
        ])
        conf = os.open(self.data_dir / "postgresql.conf", os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(conf, "a") as fh:
            fh.write(
                "\n# Desk Dispatcher private cluster: Unix socket only.\n"
                "listen_addresses = ''\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                "unix_socket_permissions = 0700\n"
                "max_connections = 200\n"
                "shared_buffers = 256MB\n"
                "fsync = on\n"
            )

    def start(self, timeout: float = 60) -> bool:
        """Start the cluster if needed. Returns True if this call started it."""
        self._prepare_dirs()
        with self._start_lock():
            if not self.initialized:
                self.initdb()
            if self.is_running():
                return False
            self._remove_stale_pid()
            self._run([
                str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
                "-w", "-t", str(int(timeout)), "start",
            ], timeout=timeout + 10)
            deadline = time.monotonic() + timeout
            while not self._ready():
                if time.monotonic() > deadline:
                    raise ClusterError(f"The private cluster did not become ready; see {self.log_file}")
                time.sleep(0.1)
            self._ensure_database()
            self.started_by_us = True
            return True

    def stop(self, mode: str = "fast") -> bool:
        if not self.is_running():
            self._remove_stale_pid() if self.initialized else None
            return False
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"])
        return True

    def _ensure_database(self) -> None:
        psql = str(self.bindir / "psql")
        exists = self._run([psql, "-h", str(self.socket_dir), "-U", SUPERUSER, "-d", "postgres", "-tAc",
                            f"SELECT 1 FROM pg_database WHERE datname = '{self.db_name}'"]).stdout.strip()
        if exists != "1":
            self._run([psql, "-h", str(self.socket_dir), "-U", SUPERUSER, "-d", "postgres", "-c",
                       f'CREATE DATABASE "{self.db_name}"'])
        self._run([psql, "-h", str(self.socket_dir), "-U", SUPERUSER, "-d", self.db_name, "-c",
                   "CREATE EXTENSION IF NOT EXISTS postgis; CREATE EXTENSION IF NOT EXISTS pg_trgm;"])

    def create_database(self, name: str, template: str | None = None) -> str:
        psql = str(self.bindir / "psql")
        tmpl = f' TEMPLATE "{template}"' if template else ""
        self._run([psql, "-h", str(self.socket_dir), "-U", SUPERUSER, "-d", "postgres", "-c",
                   f'CREATE DATABASE "{name}"{tmpl}'])
        if not template:
            self._run([psql, "-h", str(self.socket_dir), "-U", SUPERUSER, "-d", name, "-c",
                       "CREATE EXTENSION IF NOT EXISTS postgis; CREATE EXTENSION IF NOT EXISTS pg_trgm;"])
        return self.url_for(name)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.base_dir, ignore_errors=True)

    # ----------------------------------------------------------------- sharing
    def _start_lock(self):
        return _FileLock(self.base_dir / "start.lock", fcntl.LOCK_EX)

    def acquire_lease(self) -> None:
        """Mark this process as a user of the cluster (shared lock, released by the kernel on death)."""
        if self._lease_fd is not None:
            return
        fd = _open_no_follow(self.base_dir / "clients.lock")
        fcntl.flock(fd, fcntl.LOCK_SH)
        self._lease_fd = fd

    @property
    def pin_file(self) -> Path:
        return self.base_dir / "keep-running"

    def pin(self) -> None:
        """Keep the cluster running after the last app exits (``server start``)."""
        os.close(_open_no_follow(self.pin_file))

    def unpin(self) -> None:
        self.pin_file.unlink(missing_ok=True)

    def release_lease_and_stop_if_last(self) -> bool:
        """Drop our lease; the last user out stops the cluster — unless an administrator
        started it with ``server start`` (pinned), or it was running before we came and
        nobody ever used it through us. A cluster orphaned by a killed app is stopped by
        the next app that exits last."""
        fd = self._lease_fd
        self._lease_fd = None
        if fd is None:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # another instance still uses the cluster
            if self.pin_file.exists():
                return False
            return self.stop()
        finally:
            os.close(fd)


class _FileLock:
    def __init__(self, path: Path, mode: int) -> None:
        self.path, self.mode, self.fd = path, mode, None

    def __enter__(self):
        self.fd = _open_no_follow(self.path)
        fcntl.flock(self.fd, self.mode)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _open_no_follow(path: Path) -> int:
    """Open (creating it if needed) a file of the cluster folder, never through a link."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if path.is_symlink():
            raise ClusterError(f"{path} is a symbolic link; the cluster folder must not contain links "
                               "(remove it).") from exc
        raise


def _own_dir(path: Path, owner: tuple[int, int] | None, *, parent_fd: int | None = None) -> int:
    """Create ``path`` (relative to ``parent_fd`` if given) if missing and open it without
    following a link; give it to ``owner`` and mode 0700 through the descriptor."""
    try:
        os.mkdir(path, 0o700, dir_fd=parent_fd)
    except FileExistsError:
        pass
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
    except OSError as exc:
        raise ClusterError(f"{path} in the cluster folder is a symbolic link or not a folder; the cluster "
                           "folder must not contain links (remove it).") from exc
    try:
        if owner is not None:
            os.fchown(fd, *owner)
        os.fchmod(fd, 0o700)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _clean_env(home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["HOME"] = home
    env.setdefault("LC_ALL", "C.UTF-8")
    return env


def _is_postgres_process(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, PermissionError, ProcessLookupError):
        return False
    exe = cmdline.split(b"\0", 1)[0]
    return exe.endswith(b"postgres") or exe.endswith(b"postmaster")


def _reachable_by(path: Path, user: str) -> bool:
    """Whether ``user`` can traverse every existing ancestor of ``path``."""
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        return True  # reported later with a clear message
    p = path
    while not p.exists():
        p = p.parent
    for anc in [p, *p.parents]:
        st = anc.stat()
        if st.st_uid == pw.pw_uid:
            mode_ok = st.st_mode & 0o100
        elif st.st_gid == pw.pw_gid:
            mode_ok = st.st_mode & 0o010
        else:
            mode_ok = st.st_mode & 0o001
        if not mode_ok:
            return False
    return True
