"""A technician's skills as the candidate queries read them (``technicians.skill_levels``,
kept by triggers on ``technician_skills``) follow every change of the skill rows at once."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from desk_desktop.services.assignment import fetch_candidates
from tests.integration.workorder_helpers import add_technician

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def _levels(uow_factory, tech_id: int) -> dict:
    with uow_factory() as uow:
        return uow.session.execute(text("SELECT skill_levels FROM technicians WHERE id = :t"),
                                   {"t": tech_id}).scalar_one()


def _nearest_electricians(uow_factory, org) -> list[str]:
    with uow_factory() as uow:
        facts = fetch_candidates(uow, organization_id=org.organization_id, location=(41.88, -87.63),
                                 required_skills=["electrical"], strategy="nearest", now=NOW, radius_km=50)
    return [f.name for f in facts]


def test_skill_rows_and_the_technicians_levels_agree_after_every_change(uow_factory, org):
    ada = add_technician(uow_factory(), org, name="Ada", lat=41.88, lon=-87.63, skills={"hvac": 4})
    bo = add_technician(uow_factory(), org, name="Bo", lat=41.89, lon=-87.64)
    assert _levels(uow_factory, ada) == {"hvac": 4} and _levels(uow_factory, bo) == {}

    with uow_factory() as uow:  # one statement for several technicians
        uow.session.execute(text(
            "INSERT INTO technician_skills (organization_id, technician_id, skill, proficiency) "
            "VALUES (:o, :a, 'electrical', 2), (:o, :b, 'electrical', 5), (:o, :b, 'plumbing', 3)"),
            {"o": org.organization_id, "a": ada, "b": bo})
        uow.commit()
    assert _levels(uow_factory, ada) == {"hvac": 4, "electrical": 2}
    assert _levels(uow_factory, bo) == {"electrical": 5, "plumbing": 3}
    assert _nearest_electricians(uow_factory, org) == ["Ada", "Bo"]

    with uow_factory() as uow:
        uow.session.execute(text("UPDATE technician_skills SET proficiency = 1 WHERE technician_id = :b "
                                 "AND skill = 'plumbing'"), {"b": bo})
        uow.session.execute(text("UPDATE technician_skills SET technician_id = :b WHERE technician_id = :a "
                                 "AND skill = 'hvac'"), {"a": ada, "b": bo})  # moved to someone else
        uow.commit()
    assert _levels(uow_factory, ada) == {"electrical": 2}
    assert _levels(uow_factory, bo) == {"electrical": 5, "plumbing": 1, "hvac": 4}

    with uow_factory() as uow:
        uow.session.execute(text("DELETE FROM technician_skills WHERE technician_id = :a"), {"a": ada})
        uow.commit()
    assert _levels(uow_factory, ada) == {}
    # Ada is no electrician any more: the next candidate list says so at once.
    assert _nearest_electricians(uow_factory, org) == ["Bo"]


def test_a_rolled_back_skill_change_leaves_the_levels_as_they_were(uow_factory, org):
    ada = add_technician(uow_factory(), org, name="Ada", lat=41.88, lon=-87.63, skills={"electrical": 3})
    uow = uow_factory()
    with uow:
        uow.session.execute(text("DELETE FROM technician_skills WHERE technician_id = :a"), {"a": ada})
        # no commit: the unit of work rolls back
    assert _levels(uow_factory, ada) == {"electrical": 3}
    assert _nearest_electricians(uow_factory, org) == ["Ada"]


def test_the_nearest_technicians_with_a_skill_are_the_nearest_of_all_who_have_it(uow_factory, org):
    """The nearest query for a required skill (which walks only the home bases of those who
    have it, migration 0005) finds the ten that ranking every technician with the skill by
    distance finds."""
    with uow_factory() as uow:
        uow.session.execute(text("""
            INSERT INTO technicians (organization_id, name, home_base, max_open_work_orders)
            SELECT :o, 'T' || g, CAST(ST_SetSRID(ST_MakePoint(2 + ((g * 7919) % 10007) / 10007.0,
                                                         48 + ((g * 104729) % 10009) / 10009.0), 4326)
                                       AS geography), 5
              FROM generate_series(1, 5000) g"""), {"o": org.organization_id})
        uow.session.execute(text("""
            INSERT INTO technician_skills (organization_id, technician_id, skill, proficiency)
            SELECT :o, id, 'gas', 3 FROM technicians WHERE organization_id = :o
               AND CAST(substr(name, 2) AS int) % 3 = 0"""),
            {"o": org.organization_id})
        uow.session.execute(text("ANALYZE technicians"))
        uow.commit()
    for i in range(12):
        lat, lon = 48.05 + i * 0.08, 2.03 + i * 0.08
        with uow_factory() as uow:
            got = [f.technician_id for f in fetch_candidates(
                uow, organization_id=org.organization_id, location=(lat, lon), required_skills=["gas"],
                strategy="nearest", now=NOW, radius_km=30, k=10)]
            expected = uow.session.execute(text("""
                SELECT id FROM technicians
                 WHERE organization_id = :o AND skill_levels ? 'gas'
                   AND ST_DWithin(home_base, CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography), 30000)
                 ORDER BY home_base <-> CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography), id
                 LIMIT 10"""), {"o": org.organization_id, "lat": lat, "lon": lon}).scalars().all()
        # The same ten (chosen by the distance on the sphere the index orders by; listed by
        # the distance on the spheroid).
        assert sorted(got) == sorted(expected) and len(got) == 10
