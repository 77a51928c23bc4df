"""The double-clickable build: PyInstaller bundle whose frozen --self-check passes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from desk_desktop import APP_ID
from desk_desktop.db.local_cluster import LocalCluster

ROOT = Path(__file__).resolve().parents[2]

BUILD_SECONDS = 1200  # PyInstaller on a slow 2-core machine
# pytest-timeout counts the module's build (fixture set-up) against the first test: allow it.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(BUILD_SECONDS + 300)]


@pytest.fixture(scope="module")
def bundle():
    work = Path(tempfile.mkdtemp(prefix="desk-dist-"))
    pyinstaller = Path(sys.executable).parent / "pyinstaller"
    assert pyinstaller.exists(), "PyInstaller is not installed (pip install -e '.[build]')"
    proc = subprocess.run([str(pyinstaller), "--noconfirm", "--distpath", str(work / "dist"),
                           "--workpath", str(work / "build"), str(ROOT / "build.spec")],
                          cwd=ROOT, capture_output=True, text=True, timeout=BUILD_SECONDS)
    assert proc.returncode == 0, proc.stderr[-4000:]
    yield work / "dist" / APP_ID
    shutil.rmtree(work, ignore_errors=True)


def _size_mib(path: Path) -> float:
    return sum(f.lstat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20


def test_frozen_bundle_reports_its_version(bundle):
    exe = bundle / APP_ID
    proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "Desk Dispatcher 0.1.0" in proc.stdout


def test_frozen_self_check_passes_every_step(bundle, tmp_path):
    os.chmod(tmp_path, 0o711)
    env = {k: v for k, v in os.environ.items() if k not in ("DESK_DATABASE_URL",)}
    env.update(DESK_DATA_DIR=str(tmp_path), QT_QPA_PLATFORM="offscreen")
    try:
        proc = subprocess.run([str(bundle / APP_ID), "--self-check"], capture_output=True, text=True,
                              env=env, timeout=300)
        # The day planner runs in a process of its own (multiprocessing in a frozen bundle) with
        # VROOM's compiled solver: optimize the demo's next day in the bundle.
        demo = subprocess.run([str(bundle / APP_ID), "demo", "--planned", "40"], capture_output=True, text=True,
                              env=env, timeout=300)
        day = (datetime.now(UTC) + timedelta(days=1)).date()
        while day.weekday() >= 5:  # the demo's technicians work Monday to Friday
            day += timedelta(days=1)
        planned = subprocess.run([str(bundle / APP_ID), "optimize", "--date", day.isoformat(), "--seconds", "2",
                                  "--json"],
                                 capture_output=True, text=True, env=env, timeout=300)
    finally:
        cluster = LocalCluster(tmp_path / "cluster")
        cluster.destroy()
    out = proc.stdout
    print(out)
    print(f"bundle size: {_size_mib(bundle):.0f} MiB")
    assert proc.returncode == 0, out + proc.stderr[-2000:]
    for step in ("version", "resources", "database", "query", "map"):
        assert f"[ OK ] {step}:" in out
    assert "frozen bundle" in out
    assert "Self-check passed." in out
    # Lean: Qt's QML, 3D, Charts and Multimedia stay out.
    assert not (bundle / "_internal" / "PySide6" / "Qt" / "qml").exists()
    assert _size_mib(bundle) < 700
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert planned.returncode == 0, planned.stderr[-2000:]
    result = json.loads(planned.stdout)
    assert result["date"] == day.isoformat() and result["changes"]  # the waiting orders get visits
