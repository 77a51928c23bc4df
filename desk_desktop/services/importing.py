"""CSV import and export of technicians, of their absences and of customers with their sites (all rows or none).

One format each, written by ``export_*`` and read by ``check_*``/``run_*`` (a round trip
gives the same people):

technicians, one row per technician::

    name,email,phone,active,skills,hours,home_lat,home_lon,max_open
    Ada King,ada@example.com,+49 30 1,yes,networking:4 hvac:2,mon 08:00-12:00 13:00-17:00; tue 09:00-17:00,52.52,13.40,8

customers, one row per SITE (rows with the same customer_ref are one customer; the
customer columns may be left blank after its first row, and must not differ)::

    customer_ref,customer_name,customer_type,email,phone,site_ref,site_name,address,lat,lon

absences, one row per absence of a technician (time off)::

    technician,from,to,all_day,reason
    ada@example.com,2026-12-07,2026-12-09,yes,Holiday
    Ada King,2026-12-10 09:00,2026-12-10 12:00,no,Doctor

The technician is found by e-mail address when the value has an ``@`` (case-insensitive),
else by name (exactly one active or inactive technician of that name, case-insensitive).
``from``/``to`` are days (whole days, ``to`` the last day off; ``to`` blank = one day) or
times (``YYYY-MM-DD HH:MM``) in the organization's time zone; ``all_day`` yes/no, blank =
as written. An absence overlapping another (in the file or already stored) is an error.

Every row adds a technician (there is no key to match existing ones); a customer_ref or
site_ref the organization already has is an error (nothing is updated). Skills and
customer types may be keys or display names. Files may be separated by ``,`` or ``;`` and
encoded in UTF-8 (with or without BOM) or Windows-1252.

``check_*`` reads the whole file and returns every problem (``line N: …``, the header is
line 1) and a preview of the first rows; ``run_*`` imports a checked file in ONE
transaction with set-based inserts, ``BATCH`` rows per statement, reading the file again
as it goes (memory stays the same whatever the file's size). Nothing is written if any
row is bad, or if the run is interrupted.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from desk_desktop.db import sql
from desk_desktop.db.models.people import NO_OVERLAPPING_ABSENCES
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain import absences as absence_rules
from desk_desktop.domain import people as rules
from desk_desktop.services import absences, people
from desk_desktop.services.common import Actor, ValidationFailed, audit

TECHNICIAN_COLUMNS = ("name", "email", "phone", "active", "skills", "hours", "home_lat", "home_lon", "max_open")
CUSTOMER_COLUMNS = ("customer_ref", "customer_name", "customer_type", "email", "phone", "site_ref", "site_name",
                    "address", "lat", "lon")
ABSENCE_COLUMNS = ("technician", "from", "to", "all_day", "reason")
CUSTOMER_FIELDS = ("customer_name", "customer_type", "email", "phone")
BATCH = 2000
PREVIEW_ROWS = 20
TRUE = {"", "yes", "y", "true", "1", "active", "ja", "oui"}
FALSE = {"no", "n", "false", "0", "inactive", "nein", "non"}

Progress = Callable[[int, int], None]


class ImportFileError(ValidationFailed):
    """The file as a whole cannot be read (missing, empty, wrong header, not a text encoding)."""


@dataclass(frozen=True)
class Checked:
    """What ``check_*`` found: ``problems`` empty means ``run_*`` may import the file."""

    path: Path
    kind: str  # "technicians", "absences" or "customers"
    encoding: str
    delimiter: str
    columns: tuple[str, ...]  # the header as written
    rows: int  # data rows (blank lines not counted)
    problems: tuple[str, ...]  # "line N: what is wrong", in line order
    preview: tuple[dict[str, str], ...]  # the first rows, column → text

    @property
    def ok(self) -> bool:
        return not self.problems


# ---- reading files ---------------------------------------------------------------------------

def detect_encoding(path: Path) -> str:
    """``utf-8-sig`` when the whole file is UTF-8 (BOM or not), else ``cp1252`` when it decodes
    as Windows-1252; ``ImportFileError`` otherwise. Reads the file in chunks."""
    utf8 = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                utf8.decode(chunk)
            utf8.decode(b"", final=True)
        return "utf-8-sig"
    except UnicodeDecodeError:
        pass
    except FileNotFoundError as exc:
        raise ImportFileError(f"{path}: no such file.") from exc
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot be read ({exc.strerror}).") from exc
    cp1252 = codecs.getincrementaldecoder("cp1252")()
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                cp1252.decode(chunk)
        return "cp1252"
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path} is neither UTF-8 nor Windows-1252 text; save it as CSV UTF-8.") from exc


def _delimiter(header: str) -> str:
    return ";" if header.count(";") > header.count(",") else ","


@dataclass(frozen=True)
class _Opened:
    encoding: str
    delimiter: str
    columns: tuple[str, ...]


def _open(path: Path, expected: tuple[str, ...]) -> _Opened:
    encoding = detect_encoding(path)
    with path.open(encoding=encoding, newline="") as f:
        header = f.readline()
    if not header.strip():
        raise ImportFileError(f"{path} is empty: it needs a header row ({','.join(expected)}).")
    delimiter = _delimiter(header)
    columns = tuple(next(csv.reader([header], delimiter=delimiter)))
    names = [c.strip().lower() for c in columns]
    unknown = [c for c in names if c and c not in expected]
    missing = [c for c in expected if c not in names]
    twice = sorted({c for c in names if c and names.count(c) > 1})
    problems = []
    if unknown:
        problems.append(f"unknown column(s) {', '.join(unknown)}")
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if twice:
        problems.append(f"column(s) given twice: {', '.join(twice)}")
    if problems:
        raise ImportFileError(f"{path}, line 1: {'; '.join(problems)}. The columns are: {','.join(expected)}.")
    return _Opened(encoding, delimiter, columns)


def _records(path: Path, opened: _Opened) -> Iterator[tuple[int, dict[str, str] | str]]:
    """(line number, row by lower-case column) for each non-blank data row, or (line, problem)."""
    names = [c.strip().lower() for c in opened.columns]
    with path.open(encoding=opened.encoding, newline="") as f:
        reader = csv.reader(f, delimiter=opened.delimiter)
        next(reader)
        while True:
            line = reader.line_num + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield line, f"not readable as CSV ({exc})"
                continue
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(names):
                yield line, (f"{len(values)} fields where the header has {len(names)}"
                             + (" (a value with the separator in it needs quotes)" if len(values) > len(names) else ""))
                continue
            yield line, {n: v.strip() for n, v in zip(names, values, strict=True)}


def _number(text: str, what: str) -> float | None:
    if not text:
        return None
    try:
        return float(text.replace(",", ".") if text.count(",") == 1 and "." not in text else text)
    except ValueError:
        raise ValueError(f"{what} '{text}' is not a number") from None


def _point(lat: str, lon: str, what: str) -> tuple[float, float] | None:
    a, b = _number(lat, f"{what} latitude"), _number(lon, f"{what} longitude")
    if (a is None) != (b is None):
        raise ValueError(f"give both {what} latitude and longitude, or neither")
    return None if a is None else (a, b)


# ---- technicians -----------------------------------------------------------------------------

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
        home = _point(row["home_lat"], row["home_lon"], "home")
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


def _catalog(uow: UnitOfWork, table: str, org: int) -> tuple[dict[str, bool], dict[str, str]]:
    """(key → active, lower-case key or name → key) of one catalog."""
    found = sql.rows(uow, f"SELECT key, name, active FROM {table} WHERE organization_id = :org", {"org": org})
    names = {r.name.lower(): r.key for r in found} | {r.key: r.key for r in found}
    return {r.key: r.active for r in found}, names


def _checked(path: Path, kind: str, opened: _Opened, count: int, problems: list[tuple[int, str]],
             preview: list[tuple[int, dict | str]]) -> Checked:
    """The result of checking a file of ``kind``: its problems by line, in line order."""
    if not count:
        problems.append((1, f"the file has a header but no {kind}"))
    problems.sort(key=lambda p: p[0])
    return Checked(path, kind, opened.encoding, opened.delimiter, opened.columns, count,
                   tuple(f"line {ln}: {m}" for ln, m in problems), _preview(preview))


def _preview(rows: list[tuple[int, dict | str]]) -> tuple[dict[str, str], ...]:
    return tuple(r for _, r in rows if isinstance(r, dict))


def check_technicians(*, uow: UnitOfWork, actor: Actor, path: Path) -> Checked:
    opened = _open(path, TECHNICIAN_COLUMNS)
    with uow:
        catalog, names = _catalog(uow, "skills", actor.organization_id)
        uow.commit()
    problems: list[tuple[int, str]] = []
    preview: list = []
    count = 0
    for line, row in _records(path, opened):
        count += 1
        if len(preview) < PREVIEW_ROWS:
            preview.append((line, row))
        if isinstance(row, str):
            problems.append((line, row))
            continue
        try:
            _technician(row, catalog, names)
        except ValueError as exc:
            problems.append((line, str(exc)))
    return _checked(path, "technicians", opened, count, problems, preview)


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
        _analyze(uow, "technicians")
    if skills is not None:
        sql.execute(uow, _INSERT_SKILLS, {"org": org, "rows": skills})


def _technician_json(data: people.TechnicianData) -> dict:
    return {"name": data.name.strip(), "email": data.email, "phone": data.phone, "active": data.active,
            "working_hours": rules.hours_json(data.working_hours), "weekly_hours": rules.weekly_hours(data.working_hours),
            "max_open": data.max_open_work_orders, "lat": data.home_base[0] if data.home_base else None,
            "lon": data.home_base[1] if data.home_base else None, "skills": data.skills}


def run_technicians(*, uow: UnitOfWork, actor: Actor, checked: Checked, progress: Progress | None = None) -> int:
    """Import a checked technicians file in one transaction; returns how many were added."""
    _require_ok(checked, "technicians")
    opened = _Opened(checked.encoding, checked.delimiter, checked.columns)
    org = actor.organization_id
    with uow:
        catalog, names = _catalog(uow, "skills", org)
        rows = (_technician_json(_technician(row, catalog, names))  # type: ignore[arg-type]
                for _line, row in _records(checked.path, opened))
        done = _write(uow, _insert_technicians, org, rows, checked.rows, progress)
        audit(uow, actor=actor, action="technician.imported", entity="technician", entity_id=None,
              summary=f"{done} technicians imported from {checked.path.name}", details={"rows": done})
        uow.record_change("technician", None, org, "created")
        uow.commit()
    return done


def _analyze(uow: UnitOfWork, table: str) -> None:
    """Refresh the planner's statistics of ``table`` after the first batch of a big import.

    The same-organization trigger on the child rows (migration 0002) looks its parent up by
    id and organization; with statistics from before the import the planner may walk every
    row of the organization instead of the primary key, which makes a large import
    quadratic (measured: 1.3 s for the 5th batch of 2,000 sites, growing with every batch).
    ANALYZE sees this transaction's own rows. A dispatcher who does not own the table gets
    a warning from the server and the import goes on with the old statistics."""
    sql.execute(uow, f"ANALYZE {table}")


def _write(uow: UnitOfWork, insert: Callable[[UnitOfWork, int, list[dict], bool], None], org: int,
           rows: Iterable[dict], total: int, progress: Progress | None) -> int:
    """Insert ``rows`` through ``insert`` in batches of ``BATCH`` (it is told which batch is
    the first), reporting progress after each; returns how many rows were written."""
    done, batch = 0, []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            done = _flush(uow, insert, org, batch, done, total, progress)
    return _flush(uow, insert, org, batch, done, total, progress)


def _flush(uow: UnitOfWork, insert: Callable[[UnitOfWork, int, list[dict], bool], None], org: int,
           batch: list[dict], done: int, total: int, progress: Progress | None) -> int:
    if batch:
        insert(uow, org, batch, done == 0)
        done += len(batch)
        batch.clear()
        if progress is not None:
            progress(done, total)
    return done


def _require_ok(checked: Checked, kind: str) -> None:
    if checked.kind != kind:
        raise ValueError(f"a {checked.kind} file checked, not {kind}")
    if not checked.ok:
        raise ValidationFailed(f"{checked.path} has {len(checked.problems)} problem(s); nothing was imported.")


# ---- absences --------------------------------------------------------------------------------

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
    opened = _open(path, ABSENCE_COLUMNS)
    org = actor.organization_id
    problems: list[tuple[int, str]] = []
    preview: list = []
    found: list[tuple[int, _AbsenceRow]] = []
    count = 0
    with uow:
        tz = sql.scalar(uow, "SELECT timezone FROM organizations WHERE id = :org", {"org": org}) or "UTC"
        keys = _technician_keys(uow, org)
        for line, row in _records(path, opened):
            count += 1
            if len(preview) < PREVIEW_ROWS:
                preview.append((line, row))
            if isinstance(row, str):
                problems.append((line, row))
                continue
            try:
                found.append((line, _absence(row, keys, tz)))
            except ValueError as exc:
                problems.append((line, str(exc)))
        problems += _absence_overlaps(uow, found, keys[2], tz) if found else []
        uow.commit()
    return _checked(path, "absences", opened, count, problems, preview)


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
    _require_ok(checked, "absences")
    opened = _Opened(checked.encoding, checked.delimiter, checked.columns)
    org = actor.organization_id

    def insert(uow: UnitOfWork, org: int, batch: list[dict], first: bool) -> None:
        sql.execute(uow, _INSERT_ABSENCES, {"org": org, "by": actor.name, "rows": json.dumps(batch)},
                    violations={NO_OVERLAPPING_ABSENCES: _overlap_meanwhile})

    with uow:
        tz = sql.scalar(uow, "SELECT timezone FROM organizations WHERE id = :org", {"org": org}) or "UTC"
        keys = _technician_keys(uow, org)
        absences = (_absence(row, keys, tz) for _line, row in _records(checked.path, opened))  # type: ignore[arg-type]
        done = _write(uow, insert, org, ({"tech": a.technician_id, "starts": a.start.isoformat(),
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
    writer.writerow(ABSENCE_COLUMNS)
    n = 0
    with uow:
        tz = absence_rules.zone(sql.scalar(uow, "SELECT timezone FROM organizations WHERE id = :org",
                                           {"org": actor.organization_id}))
        for r in sql.stream(uow, """
                SELECT coalesce(t.email, t.name) AS who, a.starts_at, a.ends_at, a.all_day, a.reason
                  FROM technician_absences a JOIN technicians t ON t.id = a.technician_id
                 WHERE a.organization_id = :org ORDER BY a.starts_at, a.id""", {"org": actor.organization_id},
                            batch=BATCH):
            a, b = r.starts_at.astimezone(tz), r.ends_at.astimezone(tz)
            if r.all_day:
                writer.writerow([r.who, a.date().isoformat(), (b - timedelta(days=1)).date().isoformat(), "yes",
                                 r.reason])
            else:
                writer.writerow([r.who, f"{a:%Y-%m-%d %H:%M}", f"{b:%Y-%m-%d %H:%M}", "no", r.reason])
            n += 1
        uow.commit()
    return n


# ---- customers -------------------------------------------------------------------------------

def _site(row: dict[str, str]) -> people.SiteData | None:
    if not any(row[c] for c in ("site_ref", "site_name", "address", "lat", "lon")):
        return None
    return people.SiteData(ref=row["site_ref"], name=row["site_name"], address=row["address"],
                           location=_point(row["lat"], row["lon"], "site"))


def check_customers(*, uow: UnitOfWork, actor: Actor, path: Path) -> Checked:
    opened = _open(path, CUSTOMER_COLUMNS)
    org = actor.organization_id
    with uow:
        catalog, names = _catalog(uow, "customer_types", org)
        uow.commit()
    problems: list[tuple[int, str]] = []
    preview: list = []
    # customer_ref → (its first line, a hash of each customer column there): hashes, not the
    # texts, so that memory stays small for a file of 100,000 customers.
    first: dict[str, tuple[int, tuple[int, ...]]] = {}
    site_lines: dict[str, int] = {}
    count = 0
    for line, row in _records(path, opened):
        count += 1
        if len(preview) < PREVIEW_ROWS:
            preview.append((line, row))
        if isinstance(row, str):
            problems.append((line, row))
            continue
        found: list[str] = []
        ref = row["customer_ref"]
        earlier = first.get(ref)
        if earlier is None:
            key = names.get(row["customer_type"].lower(), row["customer_type"])
            data = people.CustomerData(ref=ref, name=row["customer_name"], customer_type=key,
                                       email=row["email"] or None, phone=row["phone"] or None)
            found += people.customer_problems(data).values()
            if key and (type_problem := people.customer_type_problem(key, catalog)):
                found.append(type_problem)
            if ref:
                first[ref] = (line, tuple(hash(row[f]) for f in CUSTOMER_FIELDS))
        else:
            for f, seen in zip(CUSTOMER_FIELDS, earlier[1], strict=True):
                if row[f] and hash(row[f]) != seen:
                    found.append(f"customer {ref} has another {f} on line {earlier[0]} than '{row[f]}' here "
                                 "(leave it blank or repeat it)")
        try:
            site = _site(row)
        except ValueError as exc:
            found.append(str(exc))
            site = None
        if site is not None:
            site_problems = people.customer_problems(people.CustomerData(ref="x", name="x", customer_type="x",
                                                                         sites=(site,)))
            found += [m for m in site_problems.values()]
            if site.ref in site_lines:
                found.append(f"site ref '{site.ref}' is also on line {site_lines[site.ref]}")
            elif site.ref:
                site_lines[site.ref] = line
        if found:
            problems.append((line, "; ".join(found)))
    with uow:
        for table, refs, word in (("customers", list(first), "customer ref"), ("sites", list(site_lines), "site ref")):
            for ref in sql.scalars(uow, f"SELECT ref FROM {table} WHERE organization_id = :org "
                                        "AND ref = ANY(CAST(:refs AS text[]))", {"org": org, "refs": refs}):
                line = first[ref][0] if table == "customers" else site_lines[ref]
                problems.append((line, f"the organization already has a {word} '{ref}' (an import only adds)"))
        uow.commit()
    return _checked(path, "customers", opened, count, problems, preview)


# Two statements per batch: the customers (each from its first row), then the sites, which find their
# customer by ref (the same-organization trigger on sites must see it inserted already).
_INSERT_CUSTOMERS = """
    INSERT INTO customers (organization_id, ref, name, customer_type, email, phone)
    SELECT :org, r.ref, r.name, r.type, r.email, r.phone
      FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(ref text, name text, type text, email text, phone text)"""
_INSERT_SITES = """
    INSERT INTO sites (organization_id, customer_id, ref, name, address, location)
    SELECT :org, c.id, r.site_ref, r.site_name, r.address,
           CASE WHEN r.lat IS NULL THEN NULL ELSE CAST(ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4326) AS geography) END
      FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(ref text, site_ref text, site_name text, address text,
                                                          lat float8, lon float8)
      JOIN customers c ON c.organization_id = :org AND c.ref = r.ref"""


def _insert_customers(uow: UnitOfWork, org: int, batch: list[dict], first: bool) -> None:
    sql.execute(uow, _INSERT_CUSTOMERS, {"org": org, "rows": json.dumps([r for r in batch if r["first"]])})
    if first:
        _analyze(uow, "customers")
    sql.execute(uow, _INSERT_SITES, {"org": org, "rows": json.dumps([r for r in batch if r["site_ref"] is not None])})


def run_customers(*, uow: UnitOfWork, actor: Actor, checked: Checked, progress: Progress | None = None) -> int:
    """Import a checked customers file in one transaction; returns how many customers were added."""
    _require_ok(checked, "customers")
    opened = _Opened(checked.encoding, checked.delimiter, checked.columns)
    org = actor.organization_id
    seen: set[str] = set()  # customer refs so far: a customer is inserted from its first row

    def rows(names: dict[str, str]) -> Iterator[dict]:
        for _line, row in _records(checked.path, opened):
            ref = row["customer_ref"]  # type: ignore[index]
            is_first = ref not in seen
            seen.add(ref)
            site = _site(row)  # type: ignore[arg-type]
            yield {"first": is_first, "ref": ref, "name": row["customer_name"],  # type: ignore[index]
                   "type": names.get(row["customer_type"].lower(), row["customer_type"]),  # type: ignore[index]
                   "email": row["email"] or None, "phone": row["phone"] or None,  # type: ignore[index]
                   "site_ref": site.ref if site else None, "site_name": site.name if site else None,
                   "address": site.address if site else None,
                   "lat": site.location[0] if site and site.location else None,
                   "lon": site.location[1] if site and site.location else None}

    with uow:
        _, names = _catalog(uow, "customer_types", org)
        done = _write(uow, _insert_customers, org, rows(names), checked.rows, progress)
        customers = len(seen)
        audit(uow, actor=actor, action="customer.imported", entity="customer", entity_id=None,
              summary=f"{customers} customers imported from {checked.path.name}",
              details={"customers": customers, "rows": done})
        uow.record_change("customer", None, org, "created")
        uow.commit()
    return customers


# ---- export ----------------------------------------------------------------------------------

def export_technicians(*, uow: UnitOfWork, actor: Actor, out: TextIO) -> int:
    """Write every technician of the organization in the import format; returns the count."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TECHNICIAN_COLUMNS)
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
                             _coordinate(r.lat), _coordinate(r.lon), r.max_open_work_orders])
            n += 1
        uow.commit()
    return n


def _coordinate(value: float | None) -> str:
    return "" if value is None else f"{value:.7f}".rstrip("0").rstrip(".")


def export_customers(*, uow: UnitOfWork, actor: Actor, out: TextIO) -> int:
    """Write every customer (a row per site; one row without site columns for a customer
    without sites) in the import format; returns the number of customers."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CUSTOMER_COLUMNS)
    customers: set[int] = set()
    with uow:
        for r in sql.stream(uow, """
                SELECT c.id, c.ref, c.name, c.customer_type, c.email, c.phone, s.ref AS site_ref,
                       s.name AS site_name, s.address, ST_Y(s.location::geometry) AS lat,
                       ST_X(s.location::geometry) AS lon
                  FROM customers c LEFT JOIN sites s ON s.customer_id = c.id
                 WHERE c.organization_id = :org ORDER BY c.id, s.id""", {"org": actor.organization_id}, batch=BATCH):
            writer.writerow([r.ref, r.name, r.customer_type, r.email or "", r.phone or "", r.site_ref or "",
                             r.site_name or "", r.address or "", _coordinate(r.lat), _coordinate(r.lon)])
            customers.add(r.id)
        uow.commit()
    return len(customers)



# ---- by kind ---------------------------------------------------------------------------------

CHECK = {"technicians": check_technicians, "absences": check_absences, "customers": check_customers}
RUN = {"technicians": run_technicians, "absences": run_absences, "customers": run_customers}
EXPORT = {"technicians": export_technicians, "absences": export_absences, "customers": export_customers}
