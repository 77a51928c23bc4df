"""`desk-desktop technician|customer list|show|add|update`, run as a person would (in-process, real database)."""

from __future__ import annotations

import json

import pytest

from desk_desktop.cli import main
from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from desk_desktop.domain.catalogs import SKILLS
from desk_desktop.services import catalogs
from tests.conftest import make_org, url_as


@pytest.fixture
def acme(fresh_db):
    engine = make_engine(fresh_db)
    actor = make_org(UnitOfWorkFactory(engine)(), slug="acme")
    catalogs.add_entry(uow=UnitOfWorkFactory(engine)(), actor=actor, catalog=SKILLS, name="Fibre splicing")
    yield url_as(fresh_db, actor)
    engine.dispose()


def run(capsys, url, *argv):
    code = main([*argv, "--database-url", url])
    out, err = capsys.readouterr()
    return code, out, err


def test_technician_add_show_update_list(acme, capsys):
    code, out, err = run(capsys, acme, "technician", "add", "--name", "Ada King", "--email", "ada@example.com",
                         "--skill", "networking=4", "--skill", "Fibre splicing=3", "--hours", "mon=08:00-12:00,13:00-17:00",
                         "--hours", "tue=09:00-17:00", "--home", "52.52,13.40", "--max-open", "5", "--json")
    assert code == 0, err
    tid = json.loads(out)["id"]
    code, out, err = run(capsys, acme, "technician", "show", str(tid), "--json")
    shown = json.loads(out)
    assert shown["skills"] == {"networking": 4, "fibre_splicing": 3}
    assert shown["working_hours"] == {"mon": [["08:00", "12:00"], ["13:00", "17:00"]], "tue": [["09:00", "17:00"]]}
    assert shown["home_base"] == pytest.approx([52.52, 13.40]) and shown["max_open_work_orders"] == 5

    code, out, err = run(capsys, acme, "technician", "update", str(tid), "--remove-skill", "networking",
                         "--skill", "hvac=2", "--hours", "mon=off", "--inactive", "--json")
    assert code == 0, err
    updated = json.loads(out)
    assert updated["skills"] == {"fibre_splicing": 3, "hvac": 2}
    assert updated["working_hours"] == {"tue": [["09:00", "17:00"]]}
    assert (updated["active"], updated["name"], updated["email"]) == (False, "Ada King", "ada@example.com")

    code, out, _ = run(capsys, acme, "technician", "list", "--json")
    assert json.loads(out)["technicians"] == []  # inactive ones only with --all
    code, out, _ = run(capsys, acme, "technician", "list", "--all", "--search", "fibre")
    assert code == 0 and "Ada King (inactive) — Fibre splicing, HVAC; 0 open" in out


def test_bad_technician_options_give_one_line_per_problem_and_write_nothing(acme, capsys):
    code, out, err = run(capsys, acme, "technician", "add", "--name", "Bad", "--skill", "juggling=3",
                         "--skill", "networking=9", "--hours", "mon=09:00-08:00", "--home", "100,0")
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert "error: skills.juggling: There is no skill 'juggling'. See: desk-desktop catalog list skills" in lines
    assert any(line.startswith("error: skills.networking: ") and "1 to 5" in line for line in lines)
    assert any(line.startswith("error: hours.mon: ") for line in lines)
    assert any(line.startswith("error: home_base: ") for line in lines)
    code, out, err = run(capsys, acme, "technician", "add", "--name", "Bad", "--hours", "funday=09:00-10:00")
    assert code == 1 and "error: --hours: 'funday' is not a day" in err
    code, out, _ = run(capsys, acme, "technician", "list", "--all", "--json")
    assert json.loads(out)["technicians"] == []
    code, out, err = run(capsys, acme, "technician", "show", "424242")
    assert code == 1 and "There is no technician 424242" in err


def test_customer_add_update_with_sites(acme, capsys):
    code, out, err = run(capsys, acme, "customer", "add", "--ref", "C-100", "--name", "Müller GmbH",
                         "--type", "Business", "--site", "S-100|Head office|Hauptstr. 1, Berlin|52.52,13.40",
                         "--site", "S-101|Depot|Lagerweg 2, Potsdam", "--json")
    assert code == 0, err
    cid = json.loads(out)["id"]
    code, out, err = run(capsys, acme, "customer", "update", str(cid), "--type", "enterprise",
                         "--site", "S-101|Depot|Neuer Weg 3, Potsdam|52.39,13.06", "--site", "S-102|Shop|Markt 1",
                         "--json")
    assert code == 0, err
    c = json.loads(out)
    assert c["customer_type"] == "enterprise" and c["name"] == "Müller GmbH"
    assert [(s["ref"], s["address"]) for s in c["sites"]] == [
        ("S-100", "Hauptstr. 1, Berlin"), ("S-101", "Neuer Weg 3, Potsdam"), ("S-102", "Markt 1")]
    code, out, _ = run(capsys, acme, "customer", "list", "--search", "neuer weg")
    assert code == 0 and "C-100  Müller GmbH (Enterprise) — 3 site(s)" in out

    code, out, err = run(capsys, acme, "customer", "add", "--ref", "C-100", "--name", "Twin", "--type", "alien",
                         "--site", "S-100|Again|Street 1")
    assert code == 1
    assert "error: ref: The customer ref 'C-100' is taken by another customer." in err
    assert "error: customer_type: There is no customer type 'alien'." in err
    assert "error: sites[0].ref: The site ref 'S-100' is taken by another site." in err
    code, out, err = run(capsys, acme, "customer", "add", "--ref", "C-9", "--name", "X", "--type", "business",
                         "--site", "only-a-ref")
    assert code == 1 and "error: --site: 'only-a-ref' is not REF|NAME|ADDRESS" in err
