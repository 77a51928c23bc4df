"""`desk-desktop rules test|replay|list`, run as a person would (in-process, real database)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from desk_desktop.cli import main
from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from desk_desktop.services.rules import RuleDraft, create_rule
from tests.conftest import connected_as_dispatcher, make_org, url_as
from tests.integration.workorder_helpers import add_customer, insert_ticket
from tests.numbers import number_of


@pytest.fixture
def db(fresh_db):
    engine = make_engine(fresh_db)
    factory = UnitOfWorkFactory(engine)
    acme = make_org(factory(), slug="acme")
    make_org(factory(), slug="globex", name="Globex")
    create_rule(uow=factory(), actor=acme, draft=RuleDraft(
        name="Urgent HVAC", trigger_categories=("hvac",), trigger_priorities=("urgent",), wo_type="emergency",
        wo_priority="urgent"))
    create_rule(uow=factory(), actor=acme, draft=RuleDraft(
        name="Government", trigger_customer_types=("government",), wo_type="inspection", wo_priority="high"))
    cust = add_customer(factory(), acme, customer_type="business")
    now = datetime.now(UTC)
    made = [insert_ticket(factory(), acme, customer_id=cust, category="hvac", priority="urgent",
                          created_at=now - timedelta(days=1)),
            insert_ticket(factory(), acme, customer_id=cust, category="plumbing", priority="low",
                          created_at=now - timedelta(days=3)),
            insert_ticket(factory(), acme, customer_id=cust, category="hvac", priority="urgent",
                          created_at=now - timedelta(days=20))]
    yield fresh_db, engine, [number_of(factory(), t) for t in made]
    engine.dispose()


def run(capsys, url, *argv):
    code = main([*argv, "--database-url", url])
    out, err = capsys.readouterr()
    return code, out, err


def counts(engine):
    with engine.connect() as conn:
        return conn.execute(text("SELECT (SELECT count(*) FROM work_orders), (SELECT count(*) FROM audit_log), "
                                 "(SELECT count(*) FROM tickets)")).one()


def test_rules_test_json(db, capsys):
    url, engine, numbers = db
    before = counts(engine)
    code, out, err = run(capsys, url, "rules", "test", numbers[0].lower(), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["ticket"] == numbers[0] and data["organization"] == "acme"
    assert data["matched_rule_name"] == "Urgent HVAC"
    gov = next(r for r in data["rules"] if r["name"] == "Government")
    assert gov["matched"] is False
    assert gov["failed_condition"] == "customer type is 'business', rule wants government"
    assert counts(engine) == before


def test_rules_test_human_output_for_unmatched_ticket(db, capsys):
    url, _, numbers = db
    code, out, _ = run(capsys, url, "rules", "test", numbers[1], "--org", "acme")
    assert code == 0
    assert "matches no rule" in out
    assert "✗ Urgent HVAC — category is 'plumbing', rule wants hvac" in out


def test_rules_test_unknown_ticket_is_an_error(db, capsys):
    url, _, numbers = db
    code, _, err = run(capsys, url, "rules", "test", "TK-0000", "--org", "acme")
    assert code == 1 and "TK-0000" in err and "does not exist" in err


def test_rules_replay_json_writes_nothing(db, capsys):
    url, engine, numbers = db
    before = counts(engine)
    code, out, err = run(capsys, url, "rules", "replay", "--org", "acme", "--days", "7", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["tickets_considered"] == 2 and data["unmatched"] == 1
    rows = {r["name"]: r for r in data["rules"]}
    assert rows["Urgent HVAC"]["would_create"] == 1 and rows["Urgent HVAC"]["sample_numbers"] == [numbers[0]]
    assert rows["Government"]["would_create"] == 0
    code, out, _ = run(capsys, url, "rules", "replay", "--org", "acme", "--days", "30", "--json")
    assert json.loads(out)["tickets_considered"] == 3
    assert counts(engine) == before


def test_rules_replay_human_and_other_org(db, capsys):
    url, _, numbers = db
    code, out, _ = run(capsys, url, "rules", "replay", "--org", "acme", "--days", "30")
    assert code == 0 and "Replay of 3 ticket(s)" in out and "nothing was written" in out
    code, out, _ = run(capsys, url_as(url, "globex"), "rules", "replay", "--org", "globex", "--days", "30", "--json")
    assert code == 0 and json.loads(out)["tickets_considered"] == 0
    code, _, err = run(capsys, url, "rules", "replay", "--org", "nope", "--days", "30")
    if connected_as_dispatcher():  # a dispatcher's login belongs to one organization
        assert code == 1 and "You are a dispatcher of 'acme', not of 'nope'" in err
        code, _, err = run(capsys, url, "rules", "replay", "--org", "globex", "--days", "30")
        assert code == 1 and "not of 'globex'" in err
    else:
        assert code == 1 and "no organization 'nope'" in err


def test_rules_list(db, capsys):
    url, _, numbers = db
    code, out, _ = run(capsys, url, "rules", "list", "--org", "acme", "--json")
    assert code == 0
    assert [r["name"] for r in json.loads(out)["rules"]] == ["Urgent HVAC", "Government"]


def test_rules_command_in_a_real_process(db):
    url, _, numbers = db
    proc = subprocess.run([sys.executable, "-m", "desk_desktop", "rules", "test", numbers[0], "--json",
                           "--database-url", url], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["matched_rule_name"] == "Urgent HVAC"
