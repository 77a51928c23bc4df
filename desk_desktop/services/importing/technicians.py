"""Technicians from CSV and back: one row per technician, with skills and weekly hours."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TextIO

from desk_desktop.db import sql
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain import people as rules
from desk_desktop.services import people
from desk_desktop.services.common import Actor, audit
from desk_desktop.services.importing.files import (
    BATCH,
    FALSE,
    TRUE,
    Checked,
    Opened,
    Progress,
    Reading,
    analyze,
    coordinate,
    open_file,
    point,
    read_catalog,
    records,
    require_ok,
    write_rows,
)

COLUMNS = ("name", "email", "phone", "active", "skills", "hours", "home_lat", "home_lon", "max_open")


def _technician(row: dict[str, str], skills_catalog: dict[str, bool], names: dict[str, str]) -> people.TechnicianData:
    """A row as TechnicianData (``ValueError``: the row's problems joined by "; ")."""
    problems = []
    try:
        skills = {names.get(k.lower(), k): v for k, v in rules.parse_skills(row["skills"]).items()}
    except ValueError as exc:
        problems.append(f"skills: {exc}")
        skills = {}
    try:
        hours = rules.parse_hours(row["hours"])
    except ValueError as exc:
        problems.append(f"hours: {exc}")
        hours = None
    try:
        home = point(row["home_lat"], row["home_lon"], "home")
    except ValueError as exc:
        problems.append(str(exc))
        home = None
    active = row["active"].lower()
    if active not in TRUE | FALSE:
        problems.append(f"active '{row['active']}' is not yes or no")
    max_open = 8
    if row["max_open"]:
        if row["max_open"].isdigit():
            max_open = int(row["max_open"])
        else:
            problems.append(f"max_open '{row['max_open']}' is not a whole number")
    data = people.TechnicianData(name=row["name"], email=row["email"] or None, phone=row["phone"] or None,
                                 active=active not in FALSE, skills=skills, working_hours=hours, home_base=home,
                                 max_open_work_orders=max_open)
    found = people.technician_problems(data)
    found.update(people.skill_problems(skills, skills_catalog))
    problems += list(found.values())
    if problems:
        raise ValueError("; ".join(problems))
    return data


def check_technicians(*, uow: UnitOfWork, actor: Actor, path: Path) -> Checked:
    opened = open_file(path, COLUMNS)
    with uow:
        catalog, names = read_catalog(uow, "skills", actor.organization_id)
        uow.commit()
    reading = Reading(path, opened)
    for line, row in reading.rows():
        try:
            _technician(row, catalog, names)
        except ValueError as exc:
            reading.problems.append((line, str(exc)))
    return reading.result("technicians")


# Two statements per batch: a technician's skills refer to it, and the same-organization
# trigger on technician_skills (migration 0002) must see the technician inserted already.
# The first gives each technician its id and hands back the skills to insert, with those ids.
_INSERT_TECHNICIANS = """
    WITH src AS MATERIALIZED (
        SELECT r.*, nextval(pg_get_serial_sequence('technicians', 'id')) AS id
          FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(name text, email text, phone text, active boolean,
               working_hours jsonb, weekly_hours int, max_open int, lat float8, lon float8, skills jsonb)),
    technician AS (
        INSERT INTO technicians (id, organization_id, name, email, phone, active, working_hours, weekly_hours,
                                 max_open_work_orders, home_base)
        SELECT id, :org, name, email, phone, active, working_hours, weekly_hours, max_open,
               CASE WHEN lat IS NULL THEN NULL ELSE CAST(ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS geography) END
          FROM src
        RETURNING id)
    SELECT CAST(jsonb_agg(jsonb_build_object('id', src.id, 'skill', s.key, 'level', CAST(s.value AS int))) AS text)
      FROM technician JOIN src USING (id), jsonb_each_text(src.skills) AS s"""
_INSERT_SKILLS = """
    INSERT INTO technician_skills (organization_id, technician_id, skill, proficiency)
    SELECT :org, r.id, r.skill, r.level FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(id bigint, skill text, level int)"""


def _insert_technicians(uow: UnitOfWork, org: int, batch: list[dict], first: bool) -> None:
    skills = sql.scalar(uow, _INSERT_TECHNICIANS, {"org": org, "rows": json.dumps(batch)})
    if first:
        analyze(uow, "technicians")
    if skills is not None:
        sql.execute(uow, _INSERT_SKILLS, {"org": org, "rows": skills})


def _technician_json(data: people.TechnicianData) -> dict:
    return {"name": data.name.strip(), "email": data.email, "phone": data.phone, "active": data.active,
            "working_hours": rules.hours_json(data.working_hours), "weekly_hours": rules.weekly_hours(data.working_hours),
            "max_open": data.max_open_work_orders, "lat": data.home_base[0] if data.home_base else None,
            "lon": data.home_base[1] if data.home_base else None, "skills": data.skills}


def run_technicians(*, uow: UnitOfWork, actor: Actor, checked: Checked, progress: Progress | None = None) -> int:
    """Import a checked technicians file in one transaction; returns how many were added."""
    require_ok(checked, "technicians")
    opened = Opened(checked.encoding, checked.delimiter, checked.columns)
    org = actor.organization_id
    with uow:
        catalog, names = read_catalog(uow, "skills", org)
        rows = (_technician_json(_technician(row, catalog, names))  # type: ignore[arg-type]
                for _line, row in records(checked.path, opened))
        done = write_rows(uow, _insert_technicians, org, rows, checked.rows, progress)
        audit(uow, actor=actor, action="technician.imported", entity="technician", entity_id=None,
              summary=f"{done} technicians imported from {checked.path.name}", details={"rows": done})
        uow.record_change("technician", None, org, "created")
        uow.commit()
    return done


def export_technicians(*, uow: UnitOfWork, actor: Actor, out: TextIO) -> int:
    """Write every technician of the organization in the import format; returns the count."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    n = 0
    with uow:
        for r in sql.stream(uow, """
                SELECT t.name, t.email, t.phone, t.active, t.working_hours, t.max_open_work_orders,
                       ST_Y(t.home_base::geometry) AS lat, ST_X(t.home_base::geometry) AS lon,
                       coalesce((SELECT jsonb_object_agg(s.skill, s.proficiency) FROM technician_skills s
                                  WHERE s.technician_id = t.id), '{}') AS skills
                  FROM technicians t WHERE t.organization_id = :org ORDER BY t.id""",
                            {"org": actor.organization_id}, batch=BATCH):
            writer.writerow([r.name, r.email or "", r.phone or "", "yes" if r.active else "no",
                             rules.format_skills(r.skills), rules.format_hours(rules.hours_from_json(r.working_hours)),
                             coordinate(r.lat), coordinate(r.lon), r.max_open_work_orders])
            n += 1
        uow.commit()
    return n


