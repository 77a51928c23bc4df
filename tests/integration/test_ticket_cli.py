"""The ticket and import commands, run as a person would (in-process and in a terminal)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from desk_desktop.cli import main
from desk_desktop.db.models import Customer, Site
from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from desk_desktop.services.rules import RuleDraft, create_rule
from tests.conftest import connected_as_dispatcher, make_org


@pytest.fixture
def db(fresh_db):
    from geoalchemy2 import WKTElement

    engine = make_engine(fresh_db)
    factory = UnitOfWorkFactory(engine)
    actor = make_org(factory(), slug="acme")
    make_org(factory(), slug="globex", name="Globex")
    uow = factory()
    with uow:
        c = Customer(organization_id=actor.organization_id, ref="C-1", name="Northwind", customer_type="business")
        uow.session.add(c)
        uow.session.add(Customer(organization_id=actor.organization_id, ref="C-2", name="Contoso",
                                 customer_type="residential"))
        uow.session.flush()
        uow.session.add(Site(organization_id=actor.organization_id, ref="S-1", customer_id=c.id, name="HQ",
                             address="1 Main St", location=WKTElement("POINT(13.4 52.5)", srid=4326)))
        uow.commit()
    create_rule(uow=factory(), actor=actor, draft=RuleDraft(
        name="Urgent HVAC", trigger_categories=("hvac",), trigger_priorities=("urgent",), wo_type="emergency",
        wo_priority="urgent"))
    yield fresh_db, engine
    engine.dispose()


def run(capsys, url, *argv):
    code = main([*argv, "--database-url", url])
    out, err = capsys.readouterr()
    return code, out, err


def ticket_count(engine):
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM tickets")).scalar_one()


def test_create_show_list(db, capsys):
    url, engine = db
    code, out, _ = run(capsys, url, "ticket", "create", "--org", "acme", "--customer", "C-1", "--category", "hvac",
                       "--priority", "urgent", "--tag", "VIP", "--tag", "boiler", "--subject", "No heat",
                       "--site", "S-1", "--json")
    assert code == 0
    created = json.loads(out)
    assert created["number"].startswith("TK-") and created["number"].endswith("-00001")
    assert created["organization"] == "acme"
    assert created["status"] == "new"
    assert created["tags"] == ["vip", "boiler"]
    assert created["site"]["address"] == "1 Main St"
    assert created["work_order"]["rule"] == "Urgent HVAC"
    assert created["work_order"]["type"] == "emergency"
    assert created["work_order"]["number"].startswith("WO-")

    code, out, _ = run(capsys, url, "ticket", "create", "--org", "acme", "--customer", "C-2", "--category",
                       "plumbing", "--priority", "low", "--subject", "Dripping tap", "--lat", "48.1", "--lon", "11.5")
    assert code == 0
    assert "Created TK-" in out and "no rule matched" in out

    code, out, _ = run(capsys, url, "ticket", "show", created["number"], "--json")
    shown = json.loads(out)
    assert (shown["number"], shown["organization"], shown["status"]) == (created["number"], "acme", "new")
    assert shown["work_order"]["id"] == created["work_order"]["id"]

    code, out, _ = run(capsys, url, "ticket", "show", created["number"].lower())
    assert code == 0
    assert "Urgent HVAC" in out and "No heat" in out and "Northwind" in out

    code, out, _ = run(capsys, url, "ticket", "list", "--org", "acme", "--json")
    listed = json.loads(out)
    assert [t["subject"] for t in listed["tickets"]] == ["Dripping tap", "No heat"]
    assert listed["total"] == 2
    code, out, _ = run(capsys, url, "ticket", "list", "--org", "acme", "--status", "new", "--limit", "1")
    assert code == 0 and "Dripping tap" in out and "showing 1 of 2" in out
    code, out, _ = run(capsys, url, "ticket", "list", "--org", "acme", "--status", "closed", "--json")
    assert json.loads(out)["tickets"] == []


def test_cli_errors_are_clear_and_write_nothing(db, capsys):
    url, engine = db
    code, _, err = run(capsys, url, "ticket", "create", "--org", "acme", "--customer", "NOPE", "--category", "hvac",
                       "--priority", "low", "--subject", "x")
    assert code == 1 and "No customer 'NOPE'" in err
    code, _, err = run(capsys, url, "ticket", "create", "--org", "acme", "--customer", "C-1", "--category",
                       "gardening", "--priority", "low", "--subject", "x")
    assert code == 1 and "Unknown category 'gardening'" in err
    code, _, err = run(capsys, url, "ticket", "create", "--org", "nowhere", "--customer", "C-1", "--category",
                       "hvac", "--priority", "low", "--subject", "x")
    if connected_as_dispatcher():  # a dispatcher's login belongs to exactly one organization
        assert code == 1 and "You are a dispatcher of 'acme', not of 'nowhere'" in err
        code, out, err = run(capsys, url, "ticket", "list")
        assert code == 0 and "No tickets match" in out
    else:
        assert code == 1 and "no organization 'nowhere'" in err
        code, _, err = run(capsys, url, "ticket", "list")
        assert code == 1 and "--org" in err  # an administrator sees two organizations: say which
    code, _, err = run(capsys, url, "ticket", "show", "TK-2026-99999", "--org", "acme")
    assert code == 1 and "TK-2026-99999 was not found" in err
    assert ticket_count(engine) == 0


def write_csv(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "tickets.csv"
    p.write_text(body, encoding="utf-8")
    return p


GOOD = (
    "customer,subject,category,priority,tags,site,description\n"
    "C-1,Boiler down,hvac,urgent,vip;boiler,S-1,\n"
    'C-2,"Leak, kitchen",plumbing,medium,,,"multi\nline"\n'
    "C-1,Printer jam,hardware,low,,,\n"
)


def test_import_creates_all_rows_with_summary(db, capsys, tmp_path):
    url, engine = db
    code, out, _ = run(capsys, url, "import", "tickets", str(write_csv(tmp_path, GOOD)), "--org", "acme", "--json")
    assert code == 0
    summary = json.loads(out)
    assert (summary["rows"], summary["created"], summary["work_orders"]) == (3, 3, 1)
    assert summary["first_number"].endswith("-00001") and summary["last_number"].endswith("-00003")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT number, subject, description, tags FROM tickets ORDER BY number")).all()
    assert [r.subject for r in rows] == ["Boiler down", "Leak, kitchen", "Printer jam"]
    assert rows[1].description == "multi\nline"
    assert rows[0].tags == ["vip", "boiler"]


def test_import_with_bad_rows_reports_lines_and_creates_nothing(db, capsys, tmp_path):
    url, engine = db
    body = (
        "customer,subject,category,priority,site,lat,lon\n"
        "C-1,Fine row,hvac,low,,,\n"
        "C-404,Unknown customer,hvac,low,,,\n"
        'C-1,"multi\nline subject is fine",plumbing,high,,,\n'
        "C-1,,hvac,low,,,\n"
        "C-1,Bad priority,hvac,whenever,,,\n"
        "C-2,Wrong site,hvac,low,S-1,,\n"
        "C-1,Bad position,hvac,low,,95,10\n"
    )
    code, _, err = run(capsys, url, "import", "tickets", str(write_csv(tmp_path, body)), "--org", "acme")
    assert code == 1
    assert "line 3: customer: No customer 'C-404'" in err
    assert "line 6: subject: The subject must not be empty." in err
    assert "line 7: priority: Unknown priority 'whenever'" in err
    assert "line 8: site: Site 'S-1' belongs to another customer" in err
    assert "line 9: lat: Latitude 95" in err
    assert "line 2:" not in err and "line 4:" not in err
    assert "5 of 7 rows are not valid; nothing was imported" in err
    assert ticket_count(engine) == 0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ticket_number_counters")).scalar_one() == 0
    # JSON callers get the same list.
    code, out, _ = run(capsys, url, "import", "tickets", str(write_csv(tmp_path, body)), "--org", "acme", "--json")
    report = json.loads(out)
    assert report["created"] == 0 and [e["line"] for e in report["errors"]] == [3, 6, 7, 8, 9]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("", "is empty"),
        ("customer,subject,category,priority\n", "no tickets"),
        ("customer,subject,category\nC-1,x,hvac\n", "missing required column(s) priority"),
        ("customer,subject,category,priority,colour\nC-1,x,hvac,low,red\n", "unknown column(s) colour"),
        ("customer,subject,category,priority\nC-1,x,hvac,low,extra\n", "line 2: the row has more fields"),
    ],
)
def test_import_file_problems(db, capsys, tmp_path, body, needle):
    url, engine = db
    code, _, err = run(capsys, url, "import", "tickets", str(write_csv(tmp_path, body)), "--org", "acme")
    assert code == 1 and needle in err
    assert ticket_count(engine) == 0


def test_import_shows_a_progress_bar_on_a_terminal(db, tmp_path):
    url, engine = db
    rows = "".join(f"C-1,Ticket {i},general,low\n" for i in range(30))
    path = write_csv(tmp_path, "customer,subject,category,priority\n" + rows)
    master, slave = pty.openpty()
    proc = subprocess.run(
        [sys.executable, "-m", "desk_desktop", "import", "tickets", str(path), "--org", "acme",
         "--database-url", url],
        stdout=subprocess.PIPE, stderr=slave, timeout=120, cwd=Path(__file__).resolve().parents[2],
        env={**os.environ},
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    tty_err = b"".join(chunks).decode()
    assert proc.returncode == 0, tty_err
    assert "30/30 tickets" in tty_err and "[######" in tty_err
    assert "Imported 30 tickets into 'acme'" in proc.stdout.decode()
    assert ticket_count(engine) == 30


def test_numbering_command(db, capsys):
    url, engine = db
    code, out, _ = run(capsys, url, "ticket", "numbering", "--org", "acme", "--json")
    assert code == 0 and json.loads(out)["next_number"].endswith("-00001")
    code, out, _ = run(capsys, url, "ticket", "numbering", "--org", "acme", "--prefix", "SR", "--no-year",
                       "--reset", "never", "--padding", "3", "--next", "42", "--json")
    data = json.loads(out)
    assert code == 0 and data["next_number"] == "SR-042" and data["changed"]
    code, out, _ = run(capsys, url, "ticket", "create", "--org", "acme", "--customer", "C-1", "--category",
                       "general", "--priority", "low", "--subject", "x", "--json")
    assert json.loads(out)["number"] == "SR-042"
    code, _, err = run(capsys, url, "ticket", "numbering", "--org", "acme", "--next", "10")
    assert code == 1 and "SR-042 already exists" in err
    code, _, err = run(capsys, url, "ticket", "numbering", "--org", "acme", "--month")
    assert code == 1 and "needs the year" in err
