"""Technicians' absences (time off) from CSV and back: one row per absence."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

from desk_desktop.db import sql
from desk_desktop.db.models.people import NO_OVERLAPPING_ABSENCES
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain import absences as absence_rules
from desk_desktop.services import absences
from desk_desktop.services.assignment.job import organization_timezone
from desk_desktop.services.common import Actor, ValidationFailed, audit
from desk_desktop.services.importing.files import (
    BATCH,
    FALSE,
    TRUE,
    Checked,
    Opened,
    Progress,
    Reading,
    open_file,
    records,
    require_ok,
    write_rows,
)

COLUMNS = ("technician", "from", "to", "all_day", "reason")


@dataclass(frozen=True)
class _AbsenceRow:
    technician_id: int
    start: datetime
    end: datetime
    all_day: bool
    reason: str


def _technician_keys(uow: UnitOfWork, org: int) -> tuple[dict[str, int], dict[str, list[int]], dict[int, str]]:
    """(lower-case e-mail → id, lower-case name → ids, id → name) of the organization's technicians."""
    emails: dict[str, int] = {}
    names: dict[str, list[int]] = {}
    shown: dict[int, str] = {}
    for r in sql.stream(uow, "SELECT id, name, email FROM technicians WHERE organization_id = :org ORDER BY id",
                        {"org": org}, batch=BATCH):
        if r.email:
            emails.setdefault(r.email.lower(), r.id)
        names.setdefault(r.name.strip().lower(), []).append(r.id)
        shown[r.id] = r.name
    return emails, names, shown


def _absence(row: dict[str, str], keys, tz: str) -> _AbsenceRow:
    """A row as an absence (``ValueError``: the row's problems joined by "; ")."""
    emails, names, _ = keys
    problems = []
    who = row["technician"].strip()
    tech = None
    if not who:
        problems.append("technician: give the technician's e-mail address or name")
    elif "@" in who:
        tech = emails.get(who.lower())
        if tech is None:
            problems.append(f"no technician has the e-mail address '{who}'")
    else:
        found = names.get(who.lower(), [])
        if len(found) > 1:
            problems.append(f"{len(found)} technicians are called '{who}'; use the e-mail address")
        elif found:
            tech = found[0]
        else:
            problems.append(f"there is no technician '{who}'")
    flag = row["all_day"].lower()
    all_day = None if not flag else flag in TRUE
    if flag and flag not in TRUE | FALSE:
        problems.append(f"all_day '{row['all_day']}' is not yes or no")
    start = end = None
    try:
        period = absences.Period.parse(row["from"], row["to"], all_day)
        start, end, found_problems = absences.resolve(period, tz)
        problems += found_problems.values()
    except ValueError as exc:
        problems.append(f"from/to: {exc}")
    reason = row["reason"].strip()
    if (problem := absence_rules.reason_problem(reason)) is not None:
        problems.append(f"reason: {problem}")
    if problems:
        raise ValueError("; ".join(problems))
    return _AbsenceRow(tech, start, end, period.all_day, reason)


def _absence_overlaps(uow: UnitOfWork, found: list[tuple[int, _AbsenceRow]], shown: dict[int, str],
                      tz: str) -> list[tuple[int, str]]:
    """(line, problem) for each absence overlapping another of its technician: in the file, or stored."""
    problems = []
    by_tech: dict[int, list[tuple[int, _AbsenceRow]]] = {}
    for line, a in found:
        by_tech.setdefault(a.technician_id, []).append((line, a))
    for items in by_tech.values():
        items.sort(key=lambda p: p[1].start)
        for (line_a, a), (line_b, b) in zip(items, items[1:], strict=False):
            if b.start < a.end:
                problems.append((line_b, f"it overlaps the absence of {shown[b.technician_id]} on line {line_a}"))
    stored = sql.rows(uow, """
        SELECT r.line, a.reason, a.starts_at, a.ends_at
          FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(line int, tech bigint, starts timestamptz, ends timestamptz)
          JOIN technician_absences a ON a.technician_id = r.tech
           AND tstzrange(a.starts_at, a.ends_at) && tstzrange(r.starts, r.ends)""",
                      {"rows": json.dumps([{"line": line, "tech": a.technician_id, "starts": a.start.isoformat(),
                                            "ends": a.end.isoformat()} for line, a in found])})
    for r in stored:
        tech = next(a.technician_id for line, a in found if line == r.line)
        problems.append((r.line, absence_rules.away_text(shown[tech], r.reason, r.starts_at, r.ends_at, tz)
                         + " already; absences cannot overlap"))
    return problems


def check_absences(*, uow: UnitOfWork, actor: Actor, path: Path) -> Checked:
    opened = open_file(path, COLUMNS)
    org = actor.organization_id
    reading = Reading(path, opened)
    found: list[tuple[int, _AbsenceRow]] = []
    with uow:
        tz = organization_timezone(uow, org)
        keys = _technician_keys(uow, org)
        for line, row in reading.rows():
            try:
                found.append((line, _absence(row, keys, tz)))
            except ValueError as exc:
                reading.problems.append((line, str(exc)))
        reading.problems += _absence_overlaps(uow, found, keys[2], tz) if found else []
        uow.commit()
    return reading.result("absences")


_INSERT_ABSENCES = """
    INSERT INTO technician_absences (organization_id, technician_id, starts_at, ends_at, all_day, reason, created_by)
    SELECT :org, r.tech, r.starts, r.ends, r.all_day, r.reason, :by
      FROM jsonb_to_recordset(CAST(:rows AS jsonb))
           AS r(tech bigint, starts timestamptz, ends timestamptz, all_day boolean, reason text)"""


def _overlap_meanwhile() -> ValidationFailed:
    return ValidationFailed("An absence in the file overlaps one added meanwhile by someone else; "
                            "nothing was imported. Check the file again.")


def run_absences(*, uow: UnitOfWork, actor: Actor, checked: Checked, progress: Progress | None = None) -> int:
    """Import a checked absences file in one transaction; returns how many were added."""
    require_ok(checked, "absences")
    opened = Opened(checked.encoding, checked.delimiter, checked.columns)
    org = actor.organization_id

    def insert(uow: UnitOfWork, org: int, batch: list[dict], first: bool) -> None:
        sql.execute(uow, _INSERT_ABSENCES, {"org": org, "by": actor.name, "rows": json.dumps(batch)},
                    violations={NO_OVERLAPPING_ABSENCES: _overlap_meanwhile})

    with uow:
        tz = organization_timezone(uow, org)
        keys = _technician_keys(uow, org)
        absences = (_absence(row, keys, tz) for _line, row in records(checked.path, opened))  # type: ignore[arg-type]
        done = write_rows(uow, insert, org, ({"tech": a.technician_id, "starts": a.start.isoformat(),
                                          "ends": a.end.isoformat(), "all_day": a.all_day, "reason": a.reason}
                                         for a in absences), checked.rows, progress)
        audit(uow, actor=actor, action="technician.absences_imported", entity="technician", entity_id=None,
              summary=f"{done} absences imported from {checked.path.name}", details={"rows": done})
        uow.record_change("technician", None, org, "updated")
        uow.commit()
    return done


def export_absences(*, uow: UnitOfWork, actor: Actor, out: TextIO) -> int:
    """Write every absence of the organization in the import format (technician by e-mail
    when it has one, else by name; days or times in the organization's time zone)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    n = 0
    with uow:
        tz = organization_timezone(uow, actor.organization_id)
        for r in sql.stream(uow, """
                SELECT coalesce(t.email, t.name) AS who, a.starts_at, a.ends_at, a.all_day, a.reason
                  FROM technician_absences a JOIN technicians t ON t.id = a.technician_id
                 WHERE a.organization_id = :org ORDER BY a.starts_at, a.id""", {"org": actor.organization_id},
                            batch=BATCH):
            p = absences.Period.of(r.starts_at, r.ends_at, r.all_day, tz)
            if p.all_day:
                writer.writerow([r.who, p.first_day.isoformat(), p.last_day.isoformat(), "yes", r.reason])
            else:
                writer.writerow([r.who, f"{p.start:%Y-%m-%d %H:%M}", f"{p.end:%Y-%m-%d %H:%M}", "no", r.reason])
            n += 1
        uow.commit()
    return n


