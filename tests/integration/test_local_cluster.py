"""The private cluster: start, status, stop, reuse by a second instance, stale pid recovery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from desk_desktop.db.local_cluster import ClusterError, LocalCluster, find_bindir

pytestmark = pytest.mark.skipif(bool(os.environ.get("DESK_TEST_DATABASE_URL")),
                                reason="uses the private cluster code; DESK_TEST_DATABASE_URL given")


@pytest.fixture
def data_dir():
    base = Path(tempfile.mkdtemp(prefix="desk-cluster-"))
    os.chmod(base, 0o711)
    yield base
    c = LocalCluster(base / "cluster")
    c.destroy()


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DESK_DATABASE_URL"}
    env["DESK_DATA_DIR"] = str(data_dir)
    return subprocess.run([sys.executable, "-m", "desk_desktop", *args], capture_output=True, text=True,
                          env=env, timeout=180)


def test_server_start_status_stop_via_cli(data_dir):
    st = _cli(data_dir, "server", "status")
    assert st.returncode != 0 and "not initialized" in st.stdout

    started = _cli(data_dir, "server", "start", "--json")
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout)
    assert info["running"] is True and info["started"] is True

    st = _cli(data_dir, "server", "status", "--json")
    assert st.returncode == 0
    status = json.loads(st.stdout)
    assert status["running"] and status["pid"]
    # Unix socket only: no TCP port.
    sock_dir = Path(status["socket_dir"])
    assert (sock_dir / ".s.PGSQL.5432").exists()
    with psycopg.connect(host=str(sock_dir), user="desk_admin", dbname="desk") as conn:
        assert conn.execute("SHOW listen_addresses").fetchone()[0] == ""
        assert conn.execute("SELECT extname FROM pg_extension WHERE extname='postgis'").fetchone()
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()

    again = _cli(data_dir, "server", "start")
    assert again.returncode == 0 and "Already running" in again.stdout

    stopped = _cli(data_dir, "server", "stop")
    assert stopped.returncode == 0 and "Stopped" in stopped.stdout
    st = _cli(data_dir, "server", "status")
    assert st.returncode != 0 and "stopped" in st.stdout


def test_stale_postmaster_pid_after_a_crash_is_recovered(data_dir):
    cluster = LocalCluster(data_dir / "cluster")
    assert cluster.start() is True
    pid = cluster.status().pid
    # Simulate a crash: kill the postmaster hard, then make the pid file point at a live
    # process that is not PostgreSQL (as after a reboot with pid reuse).
    os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        if not Path(f"/proc/{pid}").exists():
            break
        import time

        time.sleep(0.05)
    pid_file = cluster.data_dir / "postmaster.pid"
    assert pid_file.exists()
    lines = pid_file.read_text().splitlines()
    lines[0] = str(os.getpid())
    pid_file.write_text("\n".join(lines) + "\n")
    assert cluster.is_running() is False

    assert cluster.start() is True
    assert cluster.is_running()
    with psycopg.connect(host=str(cluster.socket_dir), user="desk_admin", dbname="desk") as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1
    cluster.stop()


def test_second_instance_reuses_the_running_cluster_and_last_one_out_stops_it(data_dir):
    first = LocalCluster(data_dir / "cluster")
    second = LocalCluster(data_dir / "cluster")
    assert first.start() is True
    first.acquire_lease()
    assert second.start() is False  # reused, not failed
    second.acquire_lease()
    # The first instance exits while the second still works: the cluster stays up.
    assert first.release_lease_and_stop_if_last() is False
    assert second.is_running()
    # The second exits last: it stops the cluster, although it did not start it.
    assert second.release_lease_and_stop_if_last() is True
    assert not second.is_running()


def test_a_cluster_started_with_server_start_stays_up_when_apps_exit(data_dir):
    admin = LocalCluster(data_dir / "cluster")
    admin.start()
    admin.pin()
    app = LocalCluster(data_dir / "cluster")
    assert app.start() is False
    app.acquire_lease()
    assert app.release_lease_and_stop_if_last() is False
    assert app.is_running()
    admin.unpin()
    admin.stop()


def test_missing_binaries_give_a_clear_message(tmp_path):
    with pytest.raises(ClusterError, match="does not contain initdb"):
        find_bindir(str(tmp_path))
