"""CSV import and export of technicians and customers (and the ticket import's single transaction),
run as a person would: files on disk, the real commands, a real database."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from desk_desktop.cli import main
from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from desk_desktop.services import admin, people
from desk_desktop.services.common import Actor
from desk_desktop.services.people import CustomerData, SiteData, TechnicianData
from tests.conftest import make_org, url_as

TECH_HEADER = "name,email,phone,active,skills,hours,home_lat,home_lon,max_open\n"
CUSTOMER_HEADER = "customer_ref,customer_name,customer_type,email,phone,site_ref,site_name,address,lat,lon\n"


@pytest.fixture
def db(fresh_db):
    engine = make_engine(fresh_db)
    factory = UnitOfWorkFactory(engine)
    acme = make_org(factory(), slug="acme")
    globex = make_org(factory(), slug="globex", name="Globex")
    globex_engine = make_engine(url_as(fresh_db, globex))
    yield fresh_db, engine, factory, acme, globex, UnitOfWorkFactory(globex_engine)
    globex_engine.dispose()
    engine.dispose()


def run(capsys, url, *argv):
    code = main([*argv, "--database-url", url])
    out, err = capsys.readouterr()
    return code, out, err


def counts(engine) -> tuple[int, int, int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(text("SELECT (SELECT count(*) FROM technicians), (SELECT count(*) FROM "
                                       "technician_skills), (SELECT count(*) FROM customers), "
                                       "(SELECT count(*) FROM sites)")).one())


def test_one_bad_row_among_1000_creates_nothing_and_names_its_line(db, capsys, tmp_path):
    url, engine, _, acme, _, _ = db
    rows = [f"Tech {i},t{i}@example.com,,yes,networking:{1 + i % 5} hvac:2,mon 08:00-12:00 13:00-17:00,52.{i},13.4,8\n"
            for i in range(1000)]
    rows[736] = "Tech 736,t736@example.com,,yes,networking:9 juggling:2,mon 17:00-08:00,52.1,13.4,8\n"
    path = tmp_path / "technicians.csv"
    path.write_text(TECH_HEADER + "".join(rows), encoding="utf-8")
    code, out, err = run(capsys, url_as(url, acme), "import", "technicians", str(path), "--org", "acme", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["created"] == 0 and report["rows"] == 1000
    assert len(report["errors"]) == 1
    problem = report["errors"][0]
    assert problem.startswith("line 738: ")  # header = line 1, row 736 (0-based) is line 738
    assert "1 to 5" in problem and "no skill 'juggling'" in problem and "before the end" in problem
    assert f"{path}, line 738: " in err and "nothing was imported" in err
    assert counts(engine) == (0, 0, 0, 0)

    path.write_text(TECH_HEADER + "".join(rows[:736] + rows[737:]), encoding="utf-8")
    code, out, err = run(capsys, url_as(url, acme), "import", "technicians", str(path), "--org", "acme", "--json")
    assert code == 0, err
    assert json.loads(out)["created"] == 999
    assert counts(engine)[:2] == (999, 1998)
    with engine.connect() as conn:
        levels = conn.execute(text("SELECT skill_levels, weekly_hours FROM technicians WHERE name = 'Tech 3'")).one()
    assert levels == ({"networking": 4, "hvac": 2}, 8)


def test_a_semicolon_separated_windows_1252_customer_file_imports(db, capsys, tmp_path):
    url, engine, factory, acme, _, _ = db
    body = (CUSTOMER_HEADER.replace(",", ";")
            + "C-1;Müller GmbH;Business;info@mueller.example;030 1;S-1;Zentrale;Hauptstraße 1, Berlin;52,52;13,40\n"
            + "C-1;;;;;S-2;Lager Zoë;Lagerweg 2, Potsdam;;\n"
            + "C-2;Café Noël;residential;;;S-3;Café;Rue de l'Église 3, Paris;48.85;2.35\n"
            + "C-3;Ñandú SA;enterprise;;;;;;;\n")
    path = tmp_path / "kunden.csv"
    path.write_bytes(body.encode("cp1252"))
    code, out, err = run(capsys, url_as(url, acme), "import", "customers", str(path), "--org", "acme", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["encoding"], report["delimiter"], report["created"]) == ("cp1252", ";", 3)
    found = {r.ref: r for r in people.search_customers(uow=factory(), actor=acme)}
    assert {r: (c.name, c.customer_type, c.sites) for r, c in found.items()} == {
        "C-1": ("Müller GmbH", "business", 2), "C-2": ("Café Noël", "residential", 1), "C-3": ("Ñandú SA", "enterprise", 0)}
    mueller = people.get_customer(uow=factory(), actor=acme, customer_id=found["C-1"].id).data
    assert [(s.ref, s.name, s.address, s.location) for s in mueller.sites] == [
        ("S-1", "Zentrale", "Hauptstraße 1, Berlin", pytest.approx((52.52, 13.40))),
        ("S-2", "Lager Zoë", "Lagerweg 2, Potsdam", None)]

    # Importing again: the refs exist, so nothing is added and every such line is named.
    code, out, err = run(capsys, url_as(url, acme), "import", "customers", str(path), "--org", "acme")
    assert code == 1
    assert "line 2: the organization already has a customer ref 'C-1'" in err
    assert "line 3: the organization already has a site ref 'S-2'" in err
    assert counts(engine)[2:] == (3, 3)


def test_customer_rows_that_disagree_are_reported(db, capsys, tmp_path):
    url, engine, _, acme, _, _ = db
    path = tmp_path / "c.csv"
    path.write_text(CUSTOMER_HEADER + "C-1,One,business,,,S-1,HQ,Street 1,,\n"
                    + "C-1,Another name,business,,,S-1,Twin,Street 2,95,0\n"
                    + "C-2,Two,martian,,,S-2,HQ,Street 3,1\n", encoding="utf-8")
    code, _, err = run(capsys, url_as(url, acme), "import", "customers", str(path), "--org", "acme")
    assert code == 1
    assert "line 3: customer C-1 has another customer_name on line 2 than 'Another name' here" in err
    assert "site ref 'S-1' is also on line 2" in err and "-90..90" in err
    assert "line 4: 9 fields where the header has 10" in err
    assert counts(engine) == (0, 0, 0, 0)


def test_a_utf8_file_with_bom_imports(db, capsys, tmp_path):
    url, engine, factory, acme, _, _ = db
    path = tmp_path / "t.csv"
    path.write_bytes(("\ufeff" + TECH_HEADER + "Zoë Müller,,,no,Networking:3 Security systems:2,,,,4\n")
                     .replace("Security systems:2", "security_systems:2").encode("utf-8"))
    code, out, err = run(capsys, url_as(url, acme), "import", "technicians", str(path), "--org", "acme", "--json")
    assert code == 0, err
    assert json.loads(out)["encoding"] == "utf-8-sig"
    (row,) = people.search_technicians(uow=factory(), actor=acme)
    got = people.get_technician(uow=factory(), actor=acme, technician_id=row.id).data
    assert got == TechnicianData(name="Zoë Müller", active=False, skills={"networking": 3, "security_systems": 2},
                                 max_open_work_orders=4)


def test_export_then_import_gives_the_same_people(db, capsys, tmp_path):
    url, engine, factory, acme, globex, globex_uows = db
    techs = [TechnicianData(name="Ada King", email="ada@example.com", phone="+49 30 1, ext. 2",
                            skills={"networking": 4, "hvac": 2},
                            working_hours={"mon": [("08:00", "12:00"), ("13:00", "17:00")], "sat": [("09:00", "13:00")]},
                            home_base=(52.5200066, 13.404954), max_open_work_orders=5),
             TechnicianData(name="Bo \"the fixer\" Lee", active=False)]
    for t in techs:
        people.add_technician(uow=factory(), actor=acme, data=t)
    customers = [CustomerData(ref="C-1", name="Müller; Söhne", customer_type="business", email="m@example.com",
                              sites=(SiteData("S-1", "HQ", "Hauptstr. 1, Berlin", (52.52, 13.4)),
                                     SiteData("S-2", "Depot", "Lagerweg 2"))),
                 CustomerData(ref="C-2", name="No sites yet", customer_type="government", phone="110")]
    for c in customers:
        people.add_customer(uow=factory(), actor=acme, data=c)
    tech_file, cust_file = tmp_path / "t.csv", tmp_path / "c.csv"
    assert run(capsys, url_as(url, acme), "export", "technicians", str(tech_file), "--org", "acme")[0] == 0
    assert run(capsys, url_as(url, acme), "export", "customers", str(cust_file), "--org", "acme")[0] == 0
    code, out, _ = run(capsys, url_as(url, acme), "export", "technicians", "-", "--org", "acme")
    assert out.splitlines()[0] == TECH_HEADER.strip()
    for kind, path in (("technicians", tech_file), ("customers", cust_file)):
        code, _, err = run(capsys, url_as(url, globex), "import", kind, str(path), "--org", "globex")
        assert code == 0, err
    got_techs = [people.get_technician(uow=globex_uows(), actor=globex, technician_id=r.id).data
                 for r in people.search_technicians(uow=globex_uows(), actor=globex)]
    assert sorted(got_techs, key=lambda t: t.name) == sorted(techs, key=lambda t: t.name)
    got_customers = [people.get_customer(uow=globex_uows(), actor=globex, customer_id=r.id).data
                     for r in people.search_customers(uow=globex_uows(), actor=globex)]
    strip_ids = [CustomerData(**{**c.__dict__, "sites": tuple(SiteData(s.ref, s.name, s.address, s.location)
                                                                for s in c.sites)}) for c in got_customers]
    assert sorted(strip_ids, key=lambda c: c.ref) == customers


def test_check_only_shows_a_preview_and_writes_nothing(db, capsys, tmp_path):
    url, engine, _, acme, _, _ = db
    path = tmp_path / "t.csv"
    path.write_text(TECH_HEADER + "Ada,,,yes,hvac:3,,,,\nBo,,,yes,,,,,\n", encoding="utf-8")
    code, out, err = run(capsys, url_as(url, acme), "import", "technicians", str(path), "--org", "acme",
                         "--check", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert [r["name"] for r in report["preview"]] == ["Ada", "Bo"] and report["created"] == 0
    assert counts(engine) == (0, 0, 0, 0)


def test_wrong_header_is_reported_on_line_1(db, capsys, tmp_path):
    url, _, _, acme, _, _ = db
    path = tmp_path / "t.csv"
    path.write_text("name,mail\nAda,a@b.c\n", encoding="utf-8")
    code, _, err = run(capsys, url_as(url, acme), "import", "technicians", str(path), "--org", "acme")
    assert code == 1 and "line 1: unknown column(s) mail; missing column(s) email, phone" in err


@pytest.mark.parametrize(("kind", "header"), [("technicians", TECH_HEADER), ("customers", CUSTOMER_HEADER)])
def test_a_file_with_only_its_header_is_refused_on_line_1(db, capsys, tmp_path, kind, header):
    url, engine, _, acme, _, _ = db
    path = tmp_path / f"{kind}.csv"
    path.write_text(header, encoding="utf-8")
    code, _, err = run(capsys, url_as(url, acme), "import", kind, str(path), "--org", "acme")
    assert code == 1 and f"line 1: the file has a header but no {kind}" in err
    assert counts(engine) == (0, 0, 0, 0)


def test_a_ticket_import_failing_part_way_leaves_no_ticket(test_server, capsys, tmp_path):
    # Its own database: the failure is a trigger, which only the owner can add.
    url = test_server.create_database("desk_ticket_import")
    engine = make_engine(url)
    try:
        factory = UnitOfWorkFactory(engine)
        acme = admin.add_organization(uow=factory(), slug="acme", name="Acme")
        actor = Actor(organization_id=acme.id, name="test", is_admin=True)
        people.add_customer(uow=factory(), actor=actor, data=CustomerData(ref="C-1", name="N", customer_type="business"))
        with engine.begin() as conn:  # the 40th insert fails inside the database, after 39 went through
            conn.execute(text("""
                CREATE FUNCTION fail_on_boom() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN IF NEW.subject = 'boom' THEN RAISE EXCEPTION 'disk full (simulated)'; END IF; RETURN NEW; END $$;
                CREATE TRIGGER fail_on_boom BEFORE INSERT ON tickets FOR EACH ROW EXECUTE FUNCTION fail_on_boom()"""))
        rows = [f"C-1,Problem {i},hvac,low\n" for i in range(60)]
        rows[39] = "C-1,boom,hvac,low\n"
        path = tmp_path / "tickets.csv"
        path.write_text("customer,subject,category,priority\n" + "".join(rows), encoding="utf-8")
        code, _, err = run(capsys, url, "import", "tickets", str(path), "--org", "acme")
        assert code == 1 and "line 41" in err and "Nothing was imported" in err
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM tickets")).scalar_one() == 0
        rows[39] = "C-1,Problem 39,hvac,low\n"
        path.write_text("customer,subject,category,priority\n" + "".join(rows), encoding="utf-8")
        code, _, err = run(capsys, url, "import", "tickets", str(path), "--org", "acme")
        assert code == 0, err
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM tickets")).scalar_one() == 60
    finally:
        engine.dispose()
        test_server.drop_database(url)


def test_ctrl_c_during_an_import_leaves_nothing(db, tmp_path):
    """A real process on a terminal, interrupted once its first batch is in the database."""
    import os
    import pty
    import signal
    import subprocess
    import sys
    from pathlib import Path

    url, engine, _, acme, _, _ = db
    path = tmp_path / "customers.csv"
    with path.open("w", encoding="utf-8") as f:
        f.write(CUSTOMER_HEADER)
        for i in range(60_000):
            f.write(f"C{i},Customer {i},business,,,S{i},HQ,Street {i},52.5,13.4\n")
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "desk_desktop", "import", "customers", str(path), "--org", "acme",
                             "--database-url", url_as(url, acme)], stdout=subprocess.PIPE, stderr=slave,
                            cwd=Path(__file__).resolve().parents[2])
    os.close(slave)
    seen = b""
    while b"rows" not in seen:  # the progress bar: a batch has been inserted
        data = os.read(master, 4096)
        assert data, seen
        seen += data
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    os.close(master)
    assert "/60000 rows" in seen.decode() and "60000/60000" not in seen.decode()
    assert counts(engine) == (0, 0, 0, 0)
