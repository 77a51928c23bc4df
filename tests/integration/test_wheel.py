"""A wheel built from the source tree carries its data: installed into a fresh venv, --self-check passes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Not the package's: version control, builds, tests, and what running the app or the tools
# leaves in a working tree (a private cluster with a live socket, a web profile, caches).
SKIP = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "tests", ".ci",
                              "cluster", "web", "web-cache", ".*_cache", ".hypothesis")


def test_wheel_in_a_fresh_venv_passes_self_check(tmp_path, test_server):
    # Build from a copy, so no stale build/ folder of the working tree can slip files into the wheel.
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=SKIP)
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(src)],
                   check=True, timeout=300)
    (wheel,) = wheels.glob("desk_desktop-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    site = next((venv / "lib").glob("python*/site-packages"))
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index", "--no-deps", str(wheel)],
                   check=True, timeout=300, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    # The dependencies (Qt, SQLAlchemy …) come from the test's own environment, added after the
    # venv's own site-packages; its .pth files (an editable install of this tree) are not run.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")

    url = test_server.create_database("desk_wheel")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DESK_", "PYTHON"))}
    env.update(DESK_DATABASE_URL=url, DESK_CONFIG_DIR=str(tmp_path / "config"), QT_QPA_PLATFORM="offscreen")
    try:
        proc = subprocess.run([str(venv / "bin" / "desk-desktop"), "--self-check"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
    finally:
        test_server.drop_database(url)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr[-2000:]
    assert f"[ OK ] resources: bundled files found under {site / 'desk_desktop' / 'resources'}" in out
    for step in ("database", "query", "map"):
        assert f"[ OK ] {step}:" in out
    assert "Self-check passed." in out
