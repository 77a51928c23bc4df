"""The nearest walks per skill follow a technician's position as the database changes it:
a position update (as a GPS feed writes it) moves the technician's skill rows with it, a
skill added later takes the current place, and a cleared position sends them home
(migration 0017; real PostGIS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from desk_desktop.services.assignment import candidates
from tests.integration.workorder_helpers import add_technician

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
PARIS = (48.8566, 2.3522)
LYON = (45.7640, 4.8357)


def _nearest(uow_factory, org, skill: str, at=PARIS) -> list[str]:
    with uow_factory() as uow:
        facts = candidates.fetch_candidates(uow, organization_id=org.organization_id, location=at,
                                            required_skills=[skill], strategy="nearest", now=NOW,
                                            radius_km=100, k=10)
    return [f.name for f in facts]


def _report_position(uow_factory, tech_id: int, where, at=NOW - timedelta(minutes=5)) -> None:
    """What a GPS feed does: one plain UPDATE of the technician row."""
    with uow_factory() as uow:
        uow.session.execute(text(
            "UPDATE technicians SET location_updated_at = :at, current_location = "
            "CASE WHEN CAST(:lat AS float8) IS NULL THEN NULL "
            "ELSE CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography) END WHERE id = :id"),
            {"id": tech_id, "lat": where[0] if where else None, "lon": where[1] if where else None, "at": at})
        uow.commit()


def _copies_agree(uow_factory) -> bool:
    with uow_factory() as uow:
        return uow.session.execute(text(
            "SELECT bool_and(CAST(s.current_location AS bytea) IS NOT DISTINCT FROM CAST(t.current_location AS bytea)) "
            "FROM technician_skills s JOIN technicians t ON t.id = s.technician_id")).scalar_one()


def test_a_position_update_moves_the_skill_rows_and_the_nearest_answer(uow_factory, org):
    mover = add_technician(uow_factory(), org, name="mover", lat=LYON[0], lon=LYON[1],
                           skills={"hvac": 3, "gas": 2})
    add_technician(uow_factory(), org, name="resident", lat=48.95, lon=2.45, skills={"hvac": 4})
    add_technician(uow_factory(), org, name="no hvac", lat=PARIS[0], lon=PARIS[1], skills={"gas": 5},
                   current=PARIS, location_updated_at=NOW - timedelta(minutes=1))
    assert _nearest(uow_factory, org, "hvac") == ["resident"]  # the mover is at home in Lyon

    _report_position(uow_factory, mover, (48.8570, 2.3530))
    assert _nearest(uow_factory, org, "hvac") == ["mover", "resident"]
    assert _nearest(uow_factory, org, "gas") == ["no hvac", "mover"]
    assert _copies_agree(uow_factory)
    with uow_factory() as uow:
        levels = uow.session.execute(text("SELECT skill_levels FROM technicians WHERE id = :id"),
                                     {"id": mover}).scalar_one()
    assert levels == {"hvac": 3, "gas": 2}

    _report_position(uow_factory, mover, None)  # the feed lost them: back to their home base
    assert _nearest(uow_factory, org, "hvac") == ["resident"]
    assert _copies_agree(uow_factory)


def test_a_skill_added_later_takes_the_current_place_and_a_stale_one_is_not_used(uow_factory, org):
    tech = add_technician(uow_factory(), org, name="newcomer", lat=LYON[0], lon=LYON[1],
                          current=(48.86, 2.36), location_updated_at=NOW - timedelta(minutes=10))
    assert _nearest(uow_factory, org, "plumbing") == []
    with uow_factory() as uow:
        uow.session.execute(text("INSERT INTO technician_skills (organization_id, technician_id, skill, proficiency) "
                                 "VALUES (:o, :t, 'plumbing', 2)"), {"o": org.organization_id, "t": tech})
        uow.commit()
    assert _copies_agree(uow_factory)
    assert _nearest(uow_factory, org, "plumbing") == ["newcomer"]

    _report_position(uow_factory, tech, (48.86, 2.36), at=NOW - timedelta(days=1))  # stale: at home in Lyon
    assert _nearest(uow_factory, org, "plumbing") == []
    assert _nearest(uow_factory, org, "plumbing", at=LYON) == ["newcomer"]
