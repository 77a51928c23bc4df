"""`desk-desktop optimize` and `workorder pin|unpin|window`, run as a person would (in-process,
real database): a preview writes nothing, --apply writes the plan, a pinned visit stays."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from desk_desktop.cli import main
from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from tests.conftest import make_org, url_as
from tests.integration.workorder_helpers import add_customer, add_technician, insert_ticket

BERLIN = ZoneInfo("Europe/Berlin")
DAY = "2027-03-02"  # a Tuesday
HOURS = {d: [["08:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


def at(h: int) -> datetime:
    return datetime(2027, 3, 2, h, tzinfo=BERLIN)


@pytest.fixture
def crossed(fresh_db):
    """Two technicians each booked at the other's end of town."""
    engine = make_engine(fresh_db)
    factory = UnitOfWorkFactory(engine)
    org = make_org(factory(), slug="acme", timezone="Europe/Berlin")
    west = add_technician(factory(), org, name="Wes West", lat=52.52, lon=13.30, working_hours=HOURS)
    east = add_technician(factory(), org, name="Eve East", lat=52.52, lon=13.50, working_hours=HOURS)
    ids = []
    for tech, (lat, lon) in ((east, (52.52, 13.31)), (west, (52.52, 13.49))):
        ticket = insert_ticket(factory(), org, customer_id=add_customer(factory(), org), lat=lat, lon=lon)
        with factory() as uow:
            ids.append(uow.session.execute(text(
                "INSERT INTO work_orders (organization_id, source_ticket_id, source, work_type, priority, status, "
                "technician_id, scheduled_start, scheduled_end) VALUES (:o, :t, 'manual', 'repair', 'medium', "
                "'scheduled', :tech, :a, :b) RETURNING id"),
                {"o": org.organization_id, "t": ticket, "tech": tech, "a": at(9), "b": at(10)}).scalar_one())
            uow.commit()
    yield url_as(fresh_db, org), factory, (west, east), ids
    engine.dispose()


def run(capsys, url, *argv):
    code = main([*argv, "--database-url", url])
    out, err = capsys.readouterr()
    return code, out, err


def technicians_of(factory, ids):
    with factory() as uow:
        return [uow.session.execute(text("SELECT technician_id FROM work_orders WHERE id = :i"), {"i": i}).scalar_one()
                for i in ids]


def test_a_preview_writes_nothing_and_apply_writes_the_plan(crossed, capsys):
    url, factory, (west, east), ids = crossed
    code, out, err = run(capsys, url, "optimize", "--date", DAY, "--seconds", "1")
    assert code == 0, err
    assert "2 changes" in out and "Nothing was written; add --apply" in out
    assert f"WO-{ids[0]:06d} (Customer " in out and ")  Eve East 09:00 → Wes West" in out
    assert out.startswith("acme, Tue 2 Mar 2027: 2 changes")
    assert technicians_of(factory, ids) == [east, west]

    code, out, err = run(capsys, url, "optimize", "--date", DAY, "--seconds", "1", "--apply", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["applied"] is True and result["km_after"] < result["km_before"]
    assert [c["technician"] for c in result["changes"]] == ["Wes West", "Eve East"]
    assert technicians_of(factory, ids) == [west, east]


def test_a_pinned_visit_stays_and_a_booked_window_is_kept(crossed, capsys):
    url, factory, (west, east), ids = crossed
    code, out, err = run(capsys, url, "workorder", "pin", f"WO-{ids[0]:06d}")
    assert code == 0, err
    assert "pinned" in out
    code, out, err = run(capsys, url, "workorder", "window", f"WO-{ids[1]:06d}", "--from", "2027-03-02T13:00+01:00",
                         "--to", "2027-03-02T14:00+01:00")
    assert code == 0, err
    code, out, err = run(capsys, url, "optimize", "--date", DAY, "--seconds", "1", "--apply", "--json")
    assert code == 0, err
    assert technicians_of(factory, ids) == [east, east]  # the pinned one stayed; East is nearest to the other
    with factory() as uow:
        start = uow.session.execute(text("SELECT scheduled_start FROM work_orders WHERE id = :i"),
                                    {"i": ids[1]}).scalar_one()
    assert at(13) <= start <= at(14)

    code, out, err = run(capsys, url, "workorder", "unpin", f"WO-{ids[0]:06d}")
    assert code == 0, err
    code, out, err = run(capsys, url, "workorder", "window", f"WO-{ids[1]:06d}", "--from", "2027-03-02T15:00+01:00")
    assert code == 1 and "both ends" in err


def test_bad_input_is_refused_plainly(crossed, capsys):
    url, *_ = crossed
    code, out, err = run(capsys, url, "optimize", "--date", "tuesday")
    assert code == 1 and "--date: 'tuesday' is not a day (YYYY-MM-DD)" in err
    code, out, err = run(capsys, url, "optimize", "--date", DAY, "--seconds", "0.5")
    assert code == 1 and "between 1 and 600 seconds" in err
    code, out, err = run(capsys, url, "optimize", "--date", "2020-01-07")
    assert code == 1 and "is over" in err
