"""`desk-desktop technician absence list|add|update|remove`, run as a person would (in-process, real database)."""

from __future__ import annotations

import json

import pytest

from desk_desktop.cli import main
from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from desk_desktop.services import people
from tests.conftest import make_org, url_as


@pytest.fixture
def acme(fresh_db):
    engine = make_engine(fresh_db)
    actor = make_org(UnitOfWorkFactory(engine)(), slug="acme", timezone="Europe/Berlin")
    tid = people.add_technician(uow=UnitOfWorkFactory(engine)(), actor=actor,
                                data=people.TechnicianData(name="Ann Lee"))
    yield url_as(fresh_db, actor), tid
    engine.dispose()


def run(capsys, url, *argv):
    code = main([*argv, "--database-url", url])
    out, err = capsys.readouterr()
    return code, out, err


def test_add_list_remove_whole_days_and_hours(acme, capsys):
    url, tid = acme
    code, out, err = run(capsys, url, "technician", "absence", "add", str(tid), "--from", "2027-03-01",
                         "--to", "2027-03-03", "--reason", "Holiday", "--json")
    assert code == 0, err
    added = json.loads(out)["absence"]
    # Whole days: Berlin midnight of the first day to midnight after the last.
    assert (added["starts_at"], added["ends_at"], added["all_day"]) == ("2027-02-28T23:00:00+00:00",
                                                                       "2027-03-03T23:00:00+00:00", True)
    code, out, err = run(capsys, url, "technician", "absence", "add", str(tid), "--from", "2027-03-08 09:00",
                         "--to", "2027-03-08 12:30", "--reason", "Doctor")
    assert code == 0, err
    assert "Ann Lee away (Doctor) on Mon 8 Mar from 09:00 to 12:30" in out
    code, out, _ = run(capsys, url, "technician", "absence", "list", str(tid))
    assert "2 upcoming absence(s)" in out
    assert "Ann Lee: Holiday from Mon 1 Mar to Wed 3 Mar" in out
    # Changed: one more day; over the doctor's morning it is refused and nothing changes.
    code, out, err = run(capsys, url, "technician", "absence", "update", str(added["id"]), "--from", "2027-03-01",
                         "--to", "2027-03-04", "--reason", "Holiday")
    assert code == 0 and f"Changed absence {added['id']}: Ann Lee away (Holiday) from Mon 1 Mar to Thu 4 Mar" in out
    code, out, err = run(capsys, url, "technician", "absence", "update", str(added["id"]), "--from", "2027-03-01",
                         "--to", "2027-03-09", "--reason", "Holiday")
    assert code != 0 and "absences cannot overlap" in err
    code, out, _ = run(capsys, url, "technician", "absence", "list", str(tid))
    assert "Ann Lee: Holiday from Mon 1 Mar to Thu 4 Mar" in out
    code, out, err = run(capsys, url, "technician", "absence", "remove", str(added["id"]))
    assert code == 0 and "Removed absence" in out
    code, out, _ = run(capsys, url, "technician", "absence", "list", "--json")
    assert [a["reason"] for a in json.loads(out)["absences"]] == ["Doctor"]


def test_errors_a_dispatcher_can_act_on(acme, capsys):
    url, tid = acme
    code, out, err = run(capsys, url, "technician", "absence", "add", str(tid), "--from", "2027-03-03",
                         "--to", "2027-03-01", "--reason", "Holiday")
    assert code == 1 and "last day is before the first day" in err
    code, out, err = run(capsys, url, "technician", "absence", "add", str(tid), "--from", "2027-03-01",
                         "--to", "2027-03-01 10:00", "--reason", "Holiday")
    assert code == 1 and "both ends as days" in err
    code, out, err = run(capsys, url, "technician", "absence", "add", "999999", "--from", "2027-03-01",
                         "--reason", "Holiday")
    assert code == 1 and "no technician 999999" in err
    assert run(capsys, url, "technician", "absence", "add", str(tid), "--from", "2027-03-01", "--reason",
               "Holiday")[0] == 0
    code, out, err = run(capsys, url, "technician", "absence", "add", str(tid), "--from", "2027-03-01 10:00",
                         "--to", "2027-03-01 11:00", "--reason", "Training")
    assert code == 1 and "Ann Lee is away (Holiday) on Mon 1 Mar already" in err


HEADER = "technician,from,to,all_day,reason\n"


def _count(url) -> int:
    from sqlalchemy import text

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM technician_absences")).scalar()
    finally:
        engine.dispose()


def test_csv_import_with_a_bad_row_creates_nothing_and_names_its_line(acme, capsys, tmp_path):
    url, tid = acme
    bad = tmp_path / "absences.csv"
    bad.write_text(HEADER + "Ann Lee,2027-03-01,2027-03-03,yes,Holiday\n"
                            "nobody@example.com,2027-03-05,,,Sick\n"
                            "Ann Lee,2027-03-02 10:00,2027-03-02 12:00,no,Training\n"
                            "Ann Lee,2027-03-09 12:00,2027-03-09 10:00,,Doctor\n", encoding="utf-8")
    code, out, err = run(capsys, url, "import", "absences", str(bad))
    assert code == 1
    assert "line 3: no technician has the e-mail address 'nobody@example.com'" in err
    assert "line 4: it overlaps the absence of Ann Lee on line 2" in err
    assert "line 5: The absence ends before it starts" in err
    assert "3 of 4 rows are not valid; nothing was imported" in err
    assert _count(url) == 0


def test_csv_import_then_export_round_trips(acme, capsys, tmp_path):
    url, tid = acme
    good = tmp_path / "absences.csv"
    good.write_text(HEADER + "ann lee,2027-03-01,2027-03-03,yes,Holiday\n"
                             "Ann Lee,2027-03-08 09:00,2027-03-08 12:30,,Doctor\n", encoding="utf-8")
    code, out, err = run(capsys, url, "import", "absences", str(good), "--json")
    assert code == 0, err
    assert json.loads(out)["created"] == 2
    code, out, err = run(capsys, url, "export", "absences", "-")
    assert out == HEADER + "Ann Lee,2027-03-01,2027-03-03,yes,Holiday\nAnn Lee,2027-03-08 09:00,2027-03-08 12:30,no,Doctor\n"
    # The same file again overlaps what is stored now: refused, nothing added.
    code, out, err = run(capsys, url, "import", "absences", str(good))
    assert code == 1 and "line 2: Ann Lee is away (Holiday) from Mon 1 Mar to Wed 3 Mar already" in err
    assert _count(url) == 2


def test_visits_inside_a_new_absence_are_named_or_handed_back_to_the_assign_job(fresh_db, capsys):
    from datetime import UTC, datetime

    from sqlalchemy import text

    from tests.integration.workorder_helpers import add_customer, add_rule, create_ticket_with_automation

    engine = make_engine(fresh_db)
    factory = UnitOfWorkFactory(engine)
    try:
        actor = make_org(factory(), slug="acme")
        url = url_as(fresh_db, actor)
        tid = people.add_technician(uow=factory(), actor=actor, data=people.TechnicianData(name="Ann Lee"))
        add_rule(factory(), actor)
        orders = []
        for day in (2, 3):
            cust = add_customer(factory(), actor)
            _, created = create_ticket_with_automation(factory(), actor, customer_id=cust, lat=48.85, lon=2.35)
            with factory() as uow:
                uow.session.execute(text("UPDATE work_orders SET technician_id = :t, status = 'scheduled', "
                                         "scheduled_start = :a, scheduled_end = :a + interval '1 hour' WHERE id = :id"),
                                    {"t": tid, "a": datetime(2027, 3, day, 10, tzinfo=UTC), "id": created.work_order_id})
                uow.commit()
            orders.append(created.work_order_id)
        code, out, err = run(capsys, url, "technician", "absence", "add", str(tid), "--from", "2027-03-02",
                             "--reason", "Sick")
        assert code == 0 and "1 visit falls inside this absence: WO-" in err and "Tue 2 Mar 10:00" in err
        code, out, err = run(capsys, url, "technician", "absence", "add", str(tid), "--from", "2027-03-03",
                             "--reason", "Sick", "--unassign-visits", "--json")
        assert code == 0, err
        assert len(json.loads(out)["unassigned"]) == 1
        with factory() as uow:
            got = dict(uow.session.execute(text("SELECT id, technician_id FROM work_orders WHERE id = ANY(:ids)"),
                                           {"ids": orders}).all())
            pending = uow.session.execute(text("SELECT needs_assignment FROM work_orders WHERE id = :id"),
                                          {"id": orders[1]}).scalar()
        assert got == {orders[0]: tid, orders[1]: None} and pending is True
    finally:
        engine.dispose()
