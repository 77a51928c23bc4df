"""A technician's absences (time off): list, add, change, remove — each audited.

A period is given either as whole days (``first_day``/``last_day``, stored as local
midnight to midnight in the organization's time zone, ``domain.absences``) or as times
(``start``/``end``; a naive time is read in the organization's time zone). One
technician's absences never overlap (the exclusion constraint of migration 0012; an
overlap is refused naming the absence already there). Visits already booked inside a new
or changed absence are not moved: the result lists them so the dispatcher reschedules or
reassigns them. Problems come back all at once (``AbsenceInvalid.problems``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from desk_desktop.db import sql
from desk_desktop.db.models.people import NO_OVERLAPPING_ABSENCES
from desk_desktop.db.models.workorders import BUSY_WHERE, work_order_number
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain import absences as rules
from desk_desktop.services.common import Actor, NotFound, audit
from desk_desktop.services.people import PeopleInvalid


class AbsenceInvalid(PeopleInvalid):
    """An absence with problems: ``problems`` maps each field to a sentence."""


@dataclass(frozen=True)
class Period:
    """What a form, a command line or an import row gives: whole days or times."""

    first_day: date | None = None
    last_day: date | None = None
    start: datetime | None = None
    end: datetime | None = None

    @property
    def all_day(self) -> bool:
        return self.start is None and self.end is None

    @classmethod
    def parse(cls, start: str, end: str, all_day: bool | None = None) -> Period:
        """From text: days ('2026-12-07', '2026-12-09': the first and the last day off) or
        times ('2026-12-08 09:00'; naive times are the organization's). ``ValueError``
        with a readable message."""
        a, b = rules.parse_period(start, end, all_day)
        if isinstance(a, datetime):
            return cls(start=a, end=b)
        return cls(first_day=a, last_day=b)

    @classmethod
    def of(cls, starts_at: datetime, ends_at: datetime, all_day: bool, tz_name: str) -> Period:
        """A stored absence as a form or a file gives it (``resolve`` reads it back): its first
        and last day off, or its times, in the organization's time zone."""
        tz = rules.zone(tz_name)
        a, b = starts_at.astimezone(tz), ends_at.astimezone(tz)
        if all_day:
            return cls(first_day=a.date(), last_day=(b - timedelta(days=1)).date())
        return cls(start=a, end=b)


@dataclass(frozen=True)
class Absence:
    id: int
    technician_id: int
    technician_name: str
    starts_at: datetime
    ends_at: datetime
    all_day: bool
    reason: str
    created_by: str
    text: str  # 'from Mon 7 Dec to Wed 9 Dec' (organization time)


@dataclass(frozen=True)
class VisitInside:
    work_order_id: int
    number: str
    start: datetime
    text: str  # 'WO-000045 Tue 8 Dec 10:00' (organization time)


@dataclass(frozen=True)
class AbsenceSaved:
    absence: Absence
    visits_inside: tuple[VisitInside, ...]  # booked visits that now fall inside it (not moved)

    def warning(self) -> str | None:
        """'2 visits fall inside this absence: WO-000045 Tue 8 Dec 10:00, … — reschedule or reassign them.'"""
        n = len(self.visits_inside)
        if not n:
            return None
        return (f"{n} visit{'s fall' if n != 1 else ' falls'} inside this absence: "
                + ", ".join(v.text for v in self.visits_inside) + " — reschedule or reassign "
                + ("them." if n != 1 else "it."))


_SELECT = """SELECT a.id, a.technician_id, t.name AS technician_name, a.starts_at, a.ends_at, a.all_day, a.reason,
       a.created_by
  FROM technician_absences a JOIN technicians t ON t.id = a.technician_id
 WHERE a.organization_id = :org"""


def _timezone(uow: UnitOfWork, org: int) -> str:
    return sql.scalar(uow, "SELECT timezone FROM organizations WHERE id = :id", {"id": org}) or "UTC"


def _absence(r, tz: str) -> Absence:
    return Absence(id=r.id, technician_id=r.technician_id, technician_name=r.technician_name, starts_at=r.starts_at,
                   ends_at=r.ends_at, all_day=r.all_day, reason=r.reason, created_by=r.created_by,
                   text=rules.period_text(r.starts_at, r.ends_at, tz))


def list_absences(*, uow: UnitOfWork, actor: Actor, technician_id: int | None = None, include_past: bool = False,
                  now: datetime | None = None) -> tuple[Absence, ...]:
    """The absences of one technician (or of everyone), by start; only those not over yet
    unless ``include_past``."""
    org = actor.organization_id
    with uow:
        tz = _timezone(uow, org)
        if technician_id is not None:
            _technician_name(uow, org, technician_id)
        found = sql.rows(uow, _SELECT + """
   AND (CAST(:tech AS bigint) IS NULL OR a.technician_id = :tech) AND (:past OR a.ends_at > :now)
 ORDER BY a.starts_at, a.id""", {"org": org, "tech": technician_id, "past": include_past,
                                 "now": now or datetime.now(UTC)})
        uow.commit()
    return tuple(_absence(r, tz) for r in found)


def away_now(*, uow: UnitOfWork, actor: Actor, now: datetime | None = None) -> dict[int, str]:
    """Technician id → the reason of the absence they are in now."""
    with uow:
        found = sql.rows(uow, "SELECT technician_id, reason FROM technician_absences WHERE organization_id = :org "
                              "AND starts_at <= :now AND ends_at > :now",
                         {"org": actor.organization_id, "now": now or datetime.now(UTC)})
        uow.commit()
    return {r.technician_id: r.reason for r in found}


def _technician_name(uow: UnitOfWork, org: int, technician_id: int) -> str:
    name = sql.scalar(uow, "SELECT name FROM technicians WHERE organization_id = :org AND id = :id",
                      {"org": org, "id": technician_id})
    if name is None:
        raise NotFound(f"There is no technician {technician_id}. See: desk-desktop technician list")
    return name


def resolve(period: Period, tz: str) -> tuple[datetime | None, datetime | None, dict[str, str]]:
    """The period as aware ``[start, end)`` with its problems."""
    if period.all_day:
        if period.first_day is None:
            return None, None, {"start": "Give the first day of the absence."}
        last = period.last_day or period.first_day
        if last < period.first_day:
            return None, None, {"end": "The last day is before the first day; the absence must end after it starts."}
        start, end = rules.whole_days(period.first_day, last, tz)
    else:
        start = rules.local(period.start, tz) if period.start else None
        end = rules.local(period.end, tz) if period.end else None
    return start, end, rules.period_problems(start, end)


def _overlap(name: str):
    def make() -> AbsenceInvalid:
        return AbsenceInvalid({"end": f"{name} was given another absence overlapping this one a moment ago; "
                                      "reload and try again."})
    return {NO_OVERLAPPING_ABSENCES: make}


def _check(uow: UnitOfWork, org: int, technician_id: int, period: Period, reason: str,
           excluding: int | None) -> tuple[str, str, datetime, datetime]:
    """(technician name, time zone, start, end) of a valid absence; ``AbsenceInvalid`` otherwise."""
    tz = _timezone(uow, org)
    name = _technician_name(uow, org, technician_id)
    start, end, problems = resolve(period, tz)
    if (problem := rules.reason_problem(reason)) is not None:
        problems["reason"] = problem
    if not problems:
        other = sql.one_or_none(uow, """
            SELECT reason, starts_at, ends_at FROM technician_absences
             WHERE technician_id = :tech AND id IS DISTINCT FROM CAST(:id AS bigint)
               AND tstzrange(starts_at, ends_at) && tstzrange(CAST(:start AS timestamptz), CAST(:end AS timestamptz))
             ORDER BY starts_at LIMIT 1""", {"tech": technician_id, "id": excluding, "start": start, "end": end})
        if other is not None:
            problems["start"] = (rules.away_text(name, other.reason, other.starts_at, other.ends_at, tz)
                                 + " already; absences cannot overlap — change that one instead.")
    if problems:
        raise AbsenceInvalid(problems)
    return name, tz, start, end


def _visits_inside(uow: UnitOfWork, technician_id: int, start: datetime, end: datetime,
                   tz: str) -> tuple[VisitInside, ...]:
    found = sql.rows(uow, f"""
        SELECT id, scheduled_start FROM work_orders
         WHERE technician_id = :tech AND {BUSY_WHERE}
           AND tstzrange(scheduled_start, scheduled_end) && tstzrange(CAST(:start AS timestamptz),
                                                                    CAST(:end AS timestamptz))
         ORDER BY scheduled_start, id""", {"tech": technician_id, "start": start, "end": end})
    zone = rules.zone(tz)
    out = []
    for r in found:
        at = r.scheduled_start.astimezone(zone)
        out.append(VisitInside(r.id, work_order_number(r.id), r.scheduled_start,
                               f"{work_order_number(r.id)} {at:%a} {at.day} {at:%b} {at:%H:%M}"))
    return tuple(out)


def _saved(uow: UnitOfWork, org: int, absence_id: int, tz: str) -> AbsenceSaved:
    r = sql.one(uow, _SELECT + " AND a.id = :id", {"org": org, "id": absence_id})
    absence = _absence(r, tz)
    return AbsenceSaved(absence, _visits_inside(uow, absence.technician_id, absence.starts_at, absence.ends_at, tz))


def add_absence(*, uow: UnitOfWork, actor: Actor, technician_id: int, period: Period, reason: str) -> AbsenceSaved:
    """Add an absence; the result names the visits that now fall inside it."""
    org = actor.organization_id
    reason = (reason or "").strip()
    with uow:
        name, tz, start, end = _check(uow, org, technician_id, period, reason, None)
        absence_id = sql.scalar(uow, """
            INSERT INTO technician_absences (organization_id, technician_id, starts_at, ends_at, all_day, reason,
                                             created_by)
            VALUES (:org, :tech, :start, :end, :all_day, :reason, :by) RETURNING id""",
                                {"org": org, "tech": technician_id, "start": start, "end": end,
                                 "all_day": period.all_day, "reason": reason, "by": actor.name},
                                violations=_overlap(name))
        saved = _saved(uow, org, absence_id, tz)
        audit(uow, actor=actor, action="technician.absence_added", entity="technician", entity_id=technician_id,
              summary=f"Absence added: {rules.away_text(name, reason, start, end, tz)}",
              details=_details(saved))
        uow.record_change("technician", technician_id, org, "updated")
        uow.commit()
    return saved


def update_absence(*, uow: UnitOfWork, actor: Actor, absence_id: int, period: Period, reason: str) -> AbsenceSaved:
    """Change an absence's period and reason; the result names the visits inside it now."""
    org = actor.organization_id
    reason = (reason or "").strip()
    with uow:
        old = _locked(uow, org, absence_id)
        name, tz, start, end = _check(uow, org, old.technician_id, period, reason, absence_id)
        sql.execute(uow, "UPDATE technician_absences SET starts_at = :start, ends_at = :end, all_day = :all_day, "
                         "reason = :reason WHERE id = :id",
                    {"id": absence_id, "start": start, "end": end, "all_day": period.all_day, "reason": reason},
                    violations=_overlap(name))
        saved = _saved(uow, org, absence_id, tz)
        audit(uow, actor=actor, action="technician.absence_changed", entity="technician",
              entity_id=old.technician_id,
              summary=(f"Absence changed: {rules.away_text(name, reason, start, end, tz)} "
                       f"(was {old.reason} {rules.period_text(old.starts_at, old.ends_at, tz)})"),
              details={**_details(saved), "was": {"starts_at": old.starts_at.isoformat(),
                                                  "ends_at": old.ends_at.isoformat(), "reason": old.reason}})
        uow.record_change("technician", old.technician_id, org, "updated")
        uow.commit()
    return saved


def remove_absence(*, uow: UnitOfWork, actor: Actor, absence_id: int) -> Absence:
    """Delete an absence; returns what it was."""
    org = actor.organization_id
    with uow:
        tz = _timezone(uow, org)
        old = _absence(_locked(uow, org, absence_id), tz)
        sql.execute(uow, "DELETE FROM technician_absences WHERE id = :id", {"id": absence_id})
        audit(uow, actor=actor, action="technician.absence_removed", entity="technician",
              entity_id=old.technician_id,
              summary=(f"Absence removed: {old.technician_name} was to be away ({old.reason}) {old.text}"),
              details={"absence_id": old.id, "starts_at": old.starts_at.isoformat(),
                       "ends_at": old.ends_at.isoformat(), "reason": old.reason})
        uow.record_change("technician", old.technician_id, org, "updated")
        uow.commit()
    return old


def _locked(uow: UnitOfWork, org: int, absence_id: int):
    row = sql.one_or_none(uow, _SELECT + " AND a.id = :id FOR UPDATE OF a", {"org": org, "id": absence_id})
    if row is None:
        raise NotFound(f"There is no absence {absence_id}. See: desk-desktop technician absence list")
    return row


def _details(saved: AbsenceSaved) -> dict:
    a = saved.absence
    return {"absence_id": a.id, "starts_at": a.starts_at.isoformat(), "ends_at": a.ends_at.isoformat(),
            "all_day": a.all_day, "reason": a.reason, "visits_inside": [v.number for v in saved.visits_inside]}
