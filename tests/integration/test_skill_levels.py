"""A technician's skills as the candidate queries read them (``technicians.skill_levels``,
kept by triggers on ``technician_skills``) follow every change of the skill rows at once;
so does the home base each skill row carries for the nearest walk (migration 0009), for
any skill of the organization's catalog, including one added a moment ago."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from desk_desktop.db.models import Technician
from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from desk_desktop.domain.catalogs import SKILLS
from desk_desktop.services.assignment import fetch_candidates
from desk_desktop.services.catalogs import add_entry
from tests.conftest import make_org
from tests.integration.workorder_helpers import add_technician, point

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
    have it, migration 0009) finds the ten that ranking every technician with the skill by
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


FRESH = NOW.replace(hour=8)  # a current location reported an hour ago is where the technician is

# Brute force, from the technicians table alone (not the skill rows' copy of the home base):
# every eligible technician placed where they are (current location when fresh, else home
# base), ranked by the sphere distance the nearest walk orders by.
_PLACE = ("(CASE WHEN t.current_location IS NOT NULL AND (t.location_updated_at >= :fresh OR t.home_base IS NULL) "
          "THEN t.current_location ELSE t.home_base END)")
_PT = "CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography)"
_BRUTE = f"""
    SELECT t.id FROM technicians t
     WHERE t.organization_id = :o AND t.active AND t.skill_levels ?& CAST(:req AS text[])
       AND t.max_open_work_orders > 0 AND {_PLACE} <-> {_PT} <= :radius
     ORDER BY {_PLACE} <-> {_PT}, t.id
     LIMIT 10"""


def _nearest_ids(uow_factory, org, lat, lon, req, radius_km=40) -> list[int]:
    with uow_factory() as uow:
        facts = fetch_candidates(uow, organization_id=org.organization_id, location=(lat, lon),
                                 required_skills=req, strategy="nearest", now=NOW, radius_km=radius_km, k=10)
    return sorted(f.technician_id for f in facts)


def _brute_ids(uow_factory, org, lat, lon, req, radius_km=40) -> list[int]:
    with uow_factory() as uow:
        return sorted(uow.session.execute(text(_BRUTE), {
            "o": org.organization_id, "lat": lat, "lon": lon, "req": req, "radius": radius_km * 1000,
            "fresh": NOW - timedelta(hours=12)}).scalars().all())


def _copies_off(uow_factory, org) -> int:
    """Skill rows whose home base is not their technician's."""
    with uow_factory() as uow:
        return uow.session.execute(text(
            "SELECT count(*) FROM technician_skills s JOIN technicians t ON t.id = s.technician_id "
            "WHERE s.organization_id = :o AND s.home_base IS DISTINCT FROM t.home_base"),
            {"o": org.organization_id}).scalar_one()


def test_forty_catalog_skills_nearest_equals_brute_force(uow_factory, org):
    """An organization with 40 skills (28 added to its catalog at run time, no migration),
    technicians with one to four of them, some at a fresh current location, some inactive,
    some full: for skills old and new the nearest query finds the ten brute force finds."""
    for i in range(13, 41):
        add_entry(uow=uow_factory(), actor=org, catalog=SKILLS, name=f"Custom skill {i}")
    with uow_factory() as uow:
        keys = uow.session.execute(text("SELECT key FROM skills WHERE organization_id = :o ORDER BY position"),
                                   {"o": org.organization_id}).scalars().all()
        assert len(keys) == 40 and "custom_skill_40" in keys
        uow.session.execute(text("""
            INSERT INTO technicians (organization_id, name, active, home_base, current_location,
                                     location_updated_at, max_open_work_orders)
            SELECT :o, 'T' || g, g % 31 <> 0,
                   CAST(ST_SetSRID(ST_MakePoint(2 + ((g * 7919) % 10007) / 10007.0,
                                                48 + ((g * 104729) % 10009) / 10009.0), 4326) AS geography),
                   CASE WHEN g % 5 = 0 THEN CAST(ST_SetSRID(ST_MakePoint(2 + ((g * 3571) % 10037) / 10037.0,
                                                 48 + ((g * 6007) % 10039) / 10039.0), 4326) AS geography) END,
                   CASE WHEN g % 5 = 0 THEN CAST(:fresh AS timestamptz) END,
                   CASE WHEN g % 23 = 0 THEN 0 ELSE 5 END
              FROM generate_series(1, 3000) g"""), {"o": org.organization_id, "fresh": FRESH})
        uow.session.execute(text("""
            INSERT INTO technician_skills (organization_id, technician_id, skill, proficiency)
            SELECT :o, t.id, (CAST(:keys AS text[]))[1 + (t.n * 7 + j * 13) % 40], 1 + (t.n + j) % 5
              FROM (SELECT id, CAST(substr(name, 2) AS int) AS n FROM technicians WHERE organization_id = :o) t,
                   generate_series(0, 3) j
             WHERE j <= t.n % 4"""), {"o": org.organization_id, "keys": keys})
        uow.commit()
    assert _copies_off(uow_factory, org) == 0
    asked = 0
    for i in range(8):
        lat, lon = 48.1 + i * 0.1, 2.1 + i * 0.1
        for req in ([keys[i]], [keys[20 + i]], [keys[39 - i]], [keys[i], keys[25 + i]]):
            got = _nearest_ids(uow_factory, org, lat, lon, req)
            assert got == _brute_ids(uow_factory, org, lat, lon, req), (lat, lon, req)
            asked += bool(got)
    assert asked >= 24  # most questions have answers: the comparison is not between empty lists


def test_the_skill_rows_follow_their_technician(uow_factory, org):
    """Home-base moves, skill removal, deactivation, a proficiency change, a skill row moved
    to another technician, a direct write to the copy: after each, the skill rows carry
    their technician's home base and the nearest answer is brute force's."""
    drone = add_entry(uow=uow_factory(), actor=org, catalog=SKILLS, name="Drone survey").key
    ada = add_technician(uow_factory(), org, name="Ada", lat=41.88, lon=-87.63, skills={drone: 2, "hvac": 3})
    bo = add_technician(uow_factory(), org, name="Bo", lat=41.90, lon=-87.65, skills={drone: 4})
    cy = add_technician(uow_factory(), org, name="Cy", lat=41.95, lon=-87.70, skills={"hvac": 5})
    here = (41.88, -87.63)

    def check(expected_names):
        names = {ada: "Ada", bo: "Bo", cy: "Cy"}
        assert _copies_off(uow_factory, org) == 0
        got = _nearest_ids(uow_factory, org, *here, [drone])
        assert got == _brute_ids(uow_factory, org, *here, [drone])
        with uow_factory() as uow:
            facts = fetch_candidates(uow, organization_id=org.organization_id, location=here,
                                     required_skills=[drone], strategy="nearest", now=NOW, radius_km=40, k=10)
        assert [names[f.technician_id] for f in facts] == expected_names
        return facts

    check(["Ada", "Bo"])

    with uow_factory() as uow:  # Ada moves her home base 60 km away: out of the radius
        uow.session.get(Technician, ada).home_base = point(42.42, -87.63)
        uow.commit()
    check(["Bo"])

    with uow_factory() as uow:  # and back, closer than Bo
        uow.session.get(Technician, ada).home_base = point(41.881, -87.631)
        uow.commit()
    check(["Ada", "Bo"])

    with uow_factory() as uow:  # a direct write to the copy does not stick
        uow.session.execute(text("UPDATE technician_skills SET home_base = CAST('POINT(10 10)' AS geography) "
                                 "WHERE technician_id = :b"), {"b": bo})
        uow.commit()
    check(["Ada", "Bo"])

    with uow_factory() as uow:  # proficiency change: the facts say so
        uow.session.execute(text("UPDATE technician_skills SET proficiency = 5 WHERE technician_id = :a "
                                 "AND skill = :s"), {"a": ada, "s": drone})
        uow.commit()
    assert check(["Ada", "Bo"])[0].skills == {drone: 5, "hvac": 3}

    with uow_factory() as uow:  # Ada's drone skill row goes to Cy (farther than Bo)
        uow.session.execute(text("UPDATE technician_skills SET technician_id = :c WHERE technician_id = :a "
                                 "AND skill = :s"), {"a": ada, "c": cy, "s": drone})
        uow.commit()
    check(["Bo", "Cy"])

    with uow_factory() as uow:  # Bo is deactivated
        uow.session.get(Technician, bo).active = False
        uow.commit()
    check(["Cy"])

    with uow_factory() as uow:  # Cy loses the skill
        uow.session.execute(text("DELETE FROM technician_skills WHERE technician_id = :c AND skill = :s"),
                            {"c": cy, "s": drone})
        uow.commit()
    check([])


def test_a_skill_added_while_the_home_base_moves_waits_and_takes_the_new_place(fresh_db):
    """Two workstations: one moves a technician's home base (not committed yet), the other
    gives the technician a skill meanwhile. The skill row waits for the move instead of
    copying the old home base; once the move is committed it carries the new one."""
    engine = make_engine(fresh_db, pool_size=3)
    try:
        org = make_org(UnitOfWorkFactory(engine)())
        ada = add_technician(UnitOfWorkFactory(engine)(), org, name="Ada", lat=41.88, lon=-87.63, skills={"hvac": 3})
        params = {"o": org.organization_id, "a": ada}
        with engine.connect() as mover, engine.connect() as adder, engine.connect() as watcher:
            adder_pid = adder.execute(text("SELECT pg_backend_pid()")).scalar_one()
            adder.rollback()
            moving = mover.begin()
            mover.execute(text("UPDATE technicians SET home_base = CAST('POINT(-87.0 42.0)' AS geography) "
                               "WHERE id = :a"), params)

            def add_skill():
                with adder.begin():
                    adder.execute(text("INSERT INTO technician_skills (organization_id, technician_id, skill, "
                                       "proficiency) VALUES (:o, :a, 'gas', 2)"), params)

            other = threading.Thread(target=add_skill)
            other.start()
            deadline = time.monotonic() + 30
            while not watcher.execute(text("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = :p AND NOT granted)"),
                                      {"p": adder_pid}).scalar_one():  # the skill insert is waiting for the move
                watcher.rollback()
                assert time.monotonic() < deadline, "the skill insert never waited for the move"
            moving.commit()
            other.join(timeout=30)
            assert not other.is_alive()
            rows = watcher.execute(text(
                "SELECT s.skill, ST_AsText(s.home_base) FROM technician_skills s WHERE s.technician_id = :a "
                "ORDER BY s.skill"), params).all()
        assert [tuple(r) for r in rows] == [("gas", "POINT(-87 42)"), ("hvac", "POINT(-87 42)")]
    finally:
        engine.dispose()
