"""CLI details a person at a terminal notices: a closed pipe, progress on a terminal, ISO dates, --help."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from desk_desktop.cli import CliContext, build_parser, main
from desk_desktop.db.models import Customer
from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from desk_desktop.domain.enums import Priority
from tests.conftest import make_org

ROOT = Path(__file__).resolve().parents[2]


def _cli_env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESK_")}
    env.update(PYTHONPATH=str(ROOT), **extra)
    return env


@pytest.fixture
def acme(fresh_db, tmp_path, capsys):
    engine = make_engine(fresh_db)
    factory = UnitOfWorkFactory(engine)
    actor = make_org(factory(), slug="acme")
    uow = factory()
    with uow:
        uow.session.add(Customer(organization_id=actor.organization_id, ref="C-1", name="Northwind",
                                 customer_type="business"))
        uow.commit()
    yield fresh_db
    engine.dispose()


def _import(url: str, tmp_path: Path, count: int) -> None:
    path = tmp_path / "tickets.csv"
    path.write_text("customer,subject,category,priority\n"
                    + "".join(f"C-1,Boiler {i} makes a knocking noise,general,low\n" for i in range(count)),
                    encoding="utf-8")
    assert main(["import", "tickets", str(path), "--org", "acme", "--database-url", url]) == 0


def test_a_closed_pipe_ends_the_command_quietly(acme, tmp_path, capsys):
    _import(acme, tmp_path, 1000)  # about 400 kB of JSON: far more than a pipe holds
    capsys.readouterr()
    proc = subprocess.run(
        ["bash", "-c", f'"{sys.executable}" -m desk_desktop ticket list --json --limit 1000 --org acme '
                       f'--database-url "{acme}" | head -c 10; echo " status=${{PIPESTATUS[0]}}"'],
        env=_cli_env(), capture_output=True, text=True, timeout=120)
    assert proc.stdout == '{\n  "organ status=141\n'  # ten bytes, then the exit status of SIGPIPE
    assert proc.stderr == ""


def test_attachment_add_shows_progress_on_a_terminal(acme, tmp_path, capsys):
    _import(acme, tmp_path, 1)
    capsys.readouterr()
    number = _first_number(acme, capsys)
    big = tmp_path / "survey.bin"
    big.write_bytes(os.urandom(3 * 2**20))
    master, slave = pty.openpty()
    proc = subprocess.run(
        [sys.executable, "-m", "desk_desktop", "attachment", "add", "--ticket", number, "--org", "acme",
         str(big), "--database-url", acme],
        stdout=subprocess.PIPE, stderr=slave, timeout=120, env=_cli_env(DESK_CLAMD="unix:/nonexistent/clamd.ctl"))
    os.close(slave)
    tty_err = _drain(master)
    assert proc.returncode == 0, tty_err
    assert "3.0/3.0 MiB  survey.bin" in tty_err and "[" + "#" * 30 + "]" in tty_err
    assert "survey.bin" in proc.stdout.decode()


def _first_number(url: str, capsys) -> str:
    assert main(["ticket", "list", "--json", "--org", "acme", "--database-url", url]) == 0
    return json.loads(capsys.readouterr().out)["tickets"][0]["number"]


def _drain(fd: int) -> str:
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(fd)
    return b"".join(chunks).decode()


def test_json_dates_are_iso_8601(capsys):
    ctx = CliContext(build_parser().parse_args(["ticket", "list", "--json"]))
    ctx.emit({"at": datetime(2026, 12, 6, 8, 5, tzinfo=UTC), "day": date(2026, 12, 6), "priority": Priority.HIGH})
    assert json.loads(capsys.readouterr().out) == {"at": "2026-12-06T08:05:00+00:00", "day": "2026-12-06",
                                                    "priority": "high"}


def test_help_lists_the_gui_and_self_check():
    proc = subprocess.run([sys.executable, "-m", "desk_desktop", "--help"], env=_cli_env(), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0
    assert "With no command, desk-desktop starts the desktop application (the GUI)" in proc.stdout
    assert "--self-check" in proc.stdout
    assert ".md" not in proc.stdout


def test_a_password_never_goes_on_the_command_line(capsys, monkeypatch):
    with pytest.raises(SystemExit):
        main(["admin", "set-password", "--login", "jane", "--password", "hunter2"])
    assert "unrecognized arguments: --password hunter2" in capsys.readouterr().err
    from desk_desktop.cli import read_password

    monkeypatch.setattr(sys, "stdin", io.StringIO("correct horse 42\nignored\n"))
    args = build_parser().parse_args(["admin", "set-password", "--login", "jane", "--password-stdin"])
    assert read_password(args) == "correct horse 42"
