"""Numbers stay unique and gapless when parallel writers create tickets on both sides of a
yearly and a monthly reset, in the organization's own time zone (separate processes,
real commits). The clock is the one ``create_ticket`` lets a caller give (``now``)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from desk_desktop.db.models import Customer
from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from desk_desktop.services import numbering
from desk_desktop.services import tickets as svc
from desk_desktop.services.common import Actor
from tests.conftest import make_org, run_together

WRITERS = 4
PER_WRITER = 40


def _moments(boundary: datetime, writer: int) -> list[datetime]:
    """Alternately just before and just after ``boundary`` (within an hour of it)."""
    out = []
    for i in range(PER_WRITER):
        seconds = 1 + (i * WRITERS + writer) * 7 % 3600
        out.append(boundary - timedelta(seconds=seconds) if (i + writer) % 2 else boundary + timedelta(seconds=seconds))
    return out


def _writer(url: str, org_id: int, writer: int, boundary_iso: str, start_evt, out_q) -> None:
    """A separate process creating tickets through the public service at given moments."""
    engine = make_engine(url, pool_size=1, max_overflow=0)
    factory = UnitOfWorkFactory(engine)
    actor = Actor(organization_id=org_id, name=f"writer-{writer}")
    made, errors = [], []
    start_evt.wait(60)
    for now in _moments(datetime.fromisoformat(boundary_iso), writer):
        try:
            res = svc.create_ticket(uow=factory(), actor=actor, subject="Across the reset", customer_ref="C-1",
                                    category="general", priority="low", now=now)
            made.append((res.ticket.number, now.isoformat()))
        except Exception as exc:  # reported to the parent, which fails the test
            errors.append(repr(exc))
    engine.dispose()
    out_q.put((made, errors))


CASES = {
    # Auckland (UTC+13 in summer): the new year starts at 11:00 UTC on 31 December, so the
    # tickets just after it are still "2026" by the UTC calendar.
    "yearly": dict(timezone="Pacific/Auckland", local_boundary=datetime(2027, 1, 1), format={},
                   head=lambda local: f"TK-{local:%Y}-"),
    # Chicago (UTC-6 in winter): March starts at 06:00 UTC, so the tickets just before it
    # are already "March" by the UTC calendar.
    "monthly": dict(timezone="America/Chicago", local_boundary=datetime(2027, 3, 1),
                    format=dict(include_month=True, reset_policy="monthly"),
                    head=lambda local: f"TK-{local:%Y}-{local:%m}-"),
}


@pytest.mark.parametrize("reset", sorted(CASES))
def test_parallel_writers_across_a_reset_get_unique_gapless_numbers_of_the_local_period(fresh_db, reset):
    case = CASES[reset]
    zone = ZoneInfo(case["timezone"])
    boundary = case["local_boundary"].replace(tzinfo=zone).astimezone(UTC)
    engine = make_engine(fresh_db)
    factory = UnitOfWorkFactory(engine)
    try:
        actor = make_org(factory(), slug=f"tz-{reset}", timezone=case["timezone"])
        with factory() as uow:
            uow.session.add(Customer(organization_id=actor.organization_id, ref="C-1", name="Harbour Cafe",
                                     customer_type="business"))
            uow.commit()
        if case["format"]:
            numbering.update_number_format(uow=factory(), actor=actor, now=boundary - timedelta(days=1),
                                           **case["format"])

        results = run_together(_writer, [(fresh_db, actor.organization_id, w, boundary.isoformat())
                                         for w in range(WRITERS)])
        assert [e for _, errors in results for e in errors] == []

        made = [m for batch, _ in results for m in batch]
        numbers = [n for n, _ in made]
        assert len(numbers) == len(set(numbers)) == WRITERS * PER_WRITER
        # Each ticket is numbered in the period of its moment on the organization's clock.
        for number, moment in made:
            assert number.startswith(case["head"](datetime.fromisoformat(moment).astimezone(zone))), (number, moment)
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT number FROM tickets WHERE organization_id = :o"),
                                  {"o": actor.organization_id}).scalars().all()
        assert sorted(stored) == sorted(numbers)
        # Both periods were written to concurrently; each one is 1..n, no gaps, no repeats.
        heads = Counter(re.fullmatch(r"(.*-)\d+", n).group(1) for n in stored)
        before = case["head"]((boundary - timedelta(seconds=1)).astimezone(zone))
        after = case["head"](boundary.astimezone(zone))
        assert set(heads) == {before, after}
        assert heads[before] == heads[after] == WRITERS * PER_WRITER // 2
        for head, count in heads.items():
            values = sorted(int(n[len(head):]) for n in stored if n.startswith(head))
            assert values == list(range(1, count + 1)), head
    finally:
        engine.dispose()
