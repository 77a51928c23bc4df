"""Two workstations apply a plan of the same day at the same moment (real processes, real
database): exactly one plan is written, the other is refused as outdated, and the day is
written once — no visit twice, no overlap."""

from __future__ import annotations

from sqlalchemy import text

from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from desk_desktop.services.dayplan import optimize_day
from tests.conftest import run_together
from tests.integration.test_dayplan_cli import at, crossed  # noqa: F401 - the fixture


def _applier(url, org_id, proposal, start, out):
    from desk_desktop.services.common import Actor
    from desk_desktop.services.dayplan import PlanOutdated, apply_proposal

    engine = make_engine(url, pool_size=1)
    try:
        start.wait(30)
        try:
            out.put(("applied", apply_proposal(uow=UnitOfWorkFactory(engine)(), actor=Actor.system(org_id),
                                               proposal=proposal).changed))
        except PlanOutdated as exc:
            out.put(("outdated", str(exc)))
    except Exception as exc:  # reported to the test
        out.put(("error", repr(exc)))
    finally:
        engine.dispose()


def test_two_workstations_applying_at_once_one_plan_is_written(crossed):  # noqa: F811
    url, factory, (west, east), ids = crossed
    with factory() as uow:
        org_id = uow.session.execute(text("SELECT organization_id FROM work_orders WHERE id = :i"),
                                     {"i": ids[0]}).scalar_one()
    from desk_desktop.services.common import Actor

    actor = Actor.system(org_id)
    day = at(9).date()
    proposals = [optimize_day(uow=factory(), actor=actor, day=day, seconds=1) for _ in range(2)]
    assert all(len(p.changes) == 2 for p in proposals)
    results = run_together(_applier, [(url, org_id, p) for p in proposals])
    assert sorted(kind for kind, _ in results) == ["applied", "outdated"], results
    refused = next(message for kind, message in results if kind == "outdated")
    assert refused.startswith("Since this plan was made,") and "optimize again" in refused
    with factory() as uow:
        rows = uow.session.execute(text("SELECT technician_id FROM work_orders WHERE id = ANY(:ids) ORDER BY id"),
                                   {"ids": ids}).scalars().all()
        applied = uow.session.execute(text("SELECT count(*) FROM audit_log WHERE action = 'day_plan.applied'")
                                      ).scalar_one()
        assigned = uow.session.execute(text("SELECT count(*) FROM audit_log WHERE action = 'work_order.assigned'")
                                       ).scalar_one()
    assert rows == [west, east] and applied == 1 and assigned == 2
