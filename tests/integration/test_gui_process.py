"""The real program as a user runs it: private cluster, demo data, kill -9, start again, quit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from desk_desktop.db.local_cluster import LocalCluster

pytestmark = pytest.mark.skipif(bool(os.environ.get("DESK_TEST_DATABASE_URL")),
                                reason="uses the private cluster code; DESK_TEST_DATABASE_URL given")


@pytest.fixture
def data_dir():
    base = Path(tempfile.mkdtemp(prefix="desk-gui-"))
    os.chmod(base, 0o711)
    yield base
    LocalCluster(base / "cluster").destroy()


def _env(data_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DESK_DATABASE_URL"}
    env.update(DESK_DATA_DIR=str(data_dir), DESK_CONFIG_DIR=str(data_dir / "config"),
               QT_QPA_PLATFORM="offscreen", DESK_REPORT_READY="1", XDG_CONFIG_HOME=str(data_dir / "xdg"))
    return env


def _start_until_ready(data_dir: Path, timeout: float = 240) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "desk_desktop"], env=_env(data_dir),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("desk-ready"):
            return proc, line.strip()
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise AssertionError("the main window never showed tickets")


def _status(data_dir: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "desk_desktop", "server", "status", "--json"], env=_env(data_dir),
                         capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout)


def _contents(data_dir: Path) -> dict[str, int]:
    """How many organizations, customers and tickets the private database holds."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(LocalCluster(data_dir / "cluster").url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                    for t in ("organizations", "customers", "tickets")}
    finally:
        engine.dispose()


def test_first_start_kill_restart_and_quit_stops_the_private_cluster(data_dir):
    # First start: creates the private database, loads the demo, shows the tickets.
    proc, ready = _start_until_ready(data_dir)
    assert "rows=" in ready and int(ready.split("rows=")[1].split()[0]) > 0
    assert _status(data_dir)["running"] is True
    first = _contents(data_dir)
    assert first["organizations"] == 1 and first["tickets"] > 0

    # The app is killed hard: the cluster keeps running (orphaned), nothing is corrupted...
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    # ...and the next start works, with the same data (no second demo load).
    proc, ready = _start_until_ready(data_dir, timeout=120)
    assert _status(data_dir)["running"] is True
    assert _contents(data_dir) == first

    # Quitting (SIGTERM, like closing the window) shuts down in order and stops the cluster.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    status = _status(data_dir)
    assert status["running"] is False
