"""The schedule board's data: the technicians of the board's days with their working windows
and absences, their visits with the travel before each, and the orders still waiting for a slot.

A visit is a work order with a technician and a start and an end that is not cancelled
(completed ones stay on the board, drawn as done). The travel before a visit is the
straight line on the sphere (``domain.travel``, as the day planner and automatic
scheduling measure it) from where the technician was before it that day — the previous visit's
site, or the home base for the first one — at the organization's travel speed
(``Settings.travel_speed_kmh``); one query computes the distances (``lag`` over the day).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from desk_desktop.db import sql
from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.board import working_windows
from desk_desktop.domain.enums import OPEN_WORK_ORDER_STATUSES, PRIORITY_RANK
from desk_desktop.domain.scoring import parse_working_hours
from desk_desktop.domain.travel import travel_minutes
from desk_desktop.services.assignment.explanation import explain
from desk_desktop.services.assignment.job import organization_timezone
from desk_desktop.services.common import Actor


@dataclass(frozen=True)
class BoardTechnician:
    id: int
    name: str
    skills: tuple[str, ...]
    lat: float | None
    lon: float | None
    windows: tuple[tuple[datetime, datetime], ...]  # working time on the board's days; () = hours unknown
    hours_known: bool
    phone: str = ""
    open_jobs: int = 0  # open work orders, whenever they are (what the capacity limit counts)
    max_open: int = 8
    absences: tuple[tuple[datetime, datetime, str], ...] = ()  # (start, end, reason) on the board's days


@dataclass(frozen=True)
class BoardVisit:
    work_order_id: int
    number: str
    ticket_id: int
    technician_id: int
    start: datetime
    end: datetime
    status: str
    priority: str
    ticket_number: str
    subject: str
    description: str  # what the customer reported (the ticket's text)
    customer: str
    contact: str  # the customer's phone and e-mail, as far as known
    address: str | None
    lat: float | None
    lon: float | None
    required_skills: tuple[str, ...]
    travel_m: float | None  # straight line from the previous place that day
    travel_minutes: int
    booked_anyway: bool
    pinned: bool = False  # optimizing a day leaves it where it is
    window: tuple[datetime, datetime] | None = None  # the customer's booked window: the visit starts inside it


@dataclass(frozen=True)
class WaitingOrder:
    """An open order with no slot yet: no technician, or a technician and no time."""

    work_order_id: int
    number: str
    ticket_id: int
    status: str
    priority: str
    duration_minutes: int
    required_skills: tuple[str, ...]
    ticket_number: str
    subject: str
    customer: str
    technician_id: int | None
    window: tuple[datetime, datetime] | None = None  # the customer's booked window


@dataclass(frozen=True)
class BoardDay:
    first_day: date
    days: int
    timezone: str
    start: datetime  # midnight of the first day, organization time
    end: datetime
    technicians: tuple[BoardTechnician, ...]
    visits: tuple[BoardVisit, ...]
    waiting: tuple[WaitingOrder, ...]
    speed_kmh: float

    def visits_of(self, technician_id: int) -> list[BoardVisit]:
        return self.rows().get(technician_id, [])

    def rows(self) -> dict[int, list[BoardVisit]]:
        """Each technician's visits in time order (one pass over the visits)."""
        rows: dict[int, list[BoardVisit]] = {}
        for v in self.visits:
            rows.setdefault(v.technician_id, []).append(v)
        return rows

    def with_changes(self, changes: BoardChanges) -> BoardDay:
        """This board with the rows and the waiting list of ``changes``."""
        fresh = {t.id: t for t in changes.technicians}
        kept = tuple(v for v in self.visits if v.technician_id not in fresh)
        return replace(self, technicians=tuple(fresh.get(t.id, t) for t in self.technicians),
                       visits=kept + changes.visits, waiting=changes.waiting)



_TECHNICIANS = """
SELECT t.id, t.name, t.phone, t.working_hours, t.max_open_work_orders,
       ST_Y(t.home_base::geometry) AS lat, ST_X(t.home_base::geometry) AS lon,
       (SELECT count(*) FROM work_orders w WHERE w.organization_id = t.organization_id AND w.technician_id = t.id
           AND w.status = ANY(CAST(:open AS text[]))) AS open_jobs,
       array(SELECT s.skill FROM technician_skills s
              WHERE s.organization_id = t.organization_id AND s.technician_id = t.id ORDER BY s.skill) AS skills
  FROM technicians t
 WHERE t.organization_id = :org AND t.active
   AND (CAST(:skill AS text) IS NULL OR EXISTS (
        SELECT 1 FROM technician_skills s
         WHERE s.organization_id = t.organization_id AND s.technician_id = t.id AND s.skill = :skill))
   AND strpos(lower(t.name), lower(:name)) > 0
   AND (CAST(:lat AS float8) IS NULL OR ST_DWithin(
        t.home_base, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, :radius_m))
   AND (CAST(:only AS bigint[]) IS NULL OR t.id = ANY(CAST(:only AS bigint[])))
 ORDER BY t.name, t.id
"""

# Visits overlapping the board's days; the travel before each is measured from the previous
# visit's place on the same local day, or from the home base.
_VISITS = """
WITH v AS (
    SELECT wo.id, wo.source_ticket_id, wo.technician_id, wo.status, wo.priority, wo.scheduled_start,
           wo.scheduled_end, wo.booked_anyway, wo.pinned, wo.window_start, wo.window_end, wo.required_skills,
           tk.number AS ticket_number, tk.subject, tk.description, tk.customer_name, concat_ws(' · ', c.phone, c.email) AS contact,
           s.address, coalesce(tk.location, s.location) AS g
      FROM work_orders wo
      JOIN tickets tk ON tk.id = wo.source_ticket_id
      LEFT JOIN customers c ON c.id = tk.customer_id
      LEFT JOIN sites s ON s.id = tk.site_id
     WHERE wo.organization_id = :org AND wo.technician_id = ANY(CAST(:techs AS bigint[]))
       AND wo.scheduled_start IS NOT NULL AND wo.scheduled_end IS NOT NULL
       AND wo.status NOT IN ('unassigned', 'cancelled')
       AND wo.scheduled_start < :end AND wo.scheduled_end > :start
)
SELECT v.id, v.source_ticket_id, v.technician_id, v.status, v.priority, v.scheduled_start, v.scheduled_end, v.booked_anyway,
       v.pinned, v.window_start, v.window_end,
       v.required_skills, v.ticket_number, v.subject, v.description, v.customer_name, v.contact, v.address,
       ST_Y(v.g::geometry) AS lat, ST_X(v.g::geometry) AS lon,
       ST_Distance(v.g, coalesce(lag(v.g) OVER day, t.home_base), false) AS travel_m
  FROM v JOIN technicians t ON t.id = v.technician_id
WINDOW day AS (PARTITION BY v.technician_id, CAST(timezone(:tz, v.scheduled_start) AS date)
               ORDER BY v.scheduled_start, v.id)
 ORDER BY v.technician_id, v.scheduled_start, v.id
"""

_ABSENCES = """
SELECT technician_id, starts_at, ends_at, reason FROM technician_absences
 WHERE organization_id = :org AND technician_id = ANY(CAST(:techs AS bigint[]))
   AND starts_at < :end AND ends_at > :start
 ORDER BY technician_id, starts_at
"""

_WAITING = """
SELECT wo.id, wo.source_ticket_id, wo.status, wo.priority, wo.duration_minutes, wo.required_skills, wo.technician_id,
       wo.window_start, wo.window_end, tk.number AS ticket_number, tk.subject, tk.customer_name
  FROM work_orders wo JOIN tickets tk ON tk.id = wo.source_ticket_id
 WHERE wo.organization_id = :org
   AND (wo.status = 'unassigned' OR (wo.status = 'assigned' AND wo.scheduled_start IS NULL))
 ORDER BY wo.created_at, wo.id
"""


def load_board(*, uow: UnitOfWork, actor: Actor, first_day: date, days: int = 1, speed_kmh: float = 40.0,
               skill: str | None = None, name: str = "", near: tuple[float, float] | None = None,
               radius_km: float = 25.0) -> BoardDay:
    """The board of ``days`` days from ``first_day`` (organization time): the active
    technicians that match the filters (a skill key, part of the name, home base within
    ``radius_km`` of ``near`` = (lat, lon)), their visits, and every order waiting for a slot."""
    with uow:
        tz = organization_timezone(uow, actor.organization_id)
        zone = ZoneInfo(tz)
        start = datetime.combine(first_day, datetime.min.time(), zone)
        end = datetime.combine(first_day + timedelta(days=days), datetime.min.time(), zone)
        lat, lon = near if near is not None else (None, None)
        board = BoardDay(first_day=first_day, days=days, timezone=tz, start=start, end=end, technicians=(),
                         visits=(), waiting=(), speed_kmh=speed_kmh)
        techs = _technicians(uow, actor, board, {"skill": skill, "name": name.strip(), "lat": lat, "lon": lon,
                                                 "radius_m": radius_km * 1000, "only": None})
        return replace(board, technicians=techs, visits=_visits(uow, actor, board, [t.id for t in techs]),
                       waiting=_waiting(uow, actor))


@dataclass(frozen=True)
class BoardChanges:
    """The board's rows read again after orders changed elsewhere."""

    technicians: tuple[BoardTechnician, ...]  # read again (their load changed); all their visits are in ``visits``
    visits: tuple[BoardVisit, ...]
    waiting: tuple[WaitingOrder, ...]


def load_changes(*, uow: UnitOfWork, actor: Actor, board: BoardDay, work_order_ids: Iterable[int]) -> BoardChanges:
    """What the board shows differently after ``work_order_ids`` changed: the visits of every
    technician on the board who had one of them or has it now (their travel changes too),
    and the waiting list."""
    ids = list(work_order_ids)
    shown = {t.id for t in board.technicians}
    with uow:
        now = set(sql.scalars(uow, "SELECT technician_id FROM work_orders WHERE id = ANY(CAST(:ids AS bigint[])) "
                                   "AND organization_id = :org AND technician_id IS NOT NULL",
                              {"ids": ids, "org": actor.organization_id}))
        wanted = set(ids)
        before = {v.technician_id for v in board.visits if v.work_order_id in wanted}
        ids = sorted((now | before) & shown)
        techs = _technicians(uow, actor, board, {"skill": None, "name": "", "lat": None, "lon": None, "radius_m": 0,
                                                 "only": ids})
        return BoardChanges(techs, _visits(uow, actor, board, ids), _waiting(uow, actor))


def _technicians(uow: UnitOfWork, actor: Actor, board: BoardDay, filters: dict) -> tuple[BoardTechnician, ...]:
    out = []
    rows = sql.rows(uow, _TECHNICIANS, {"org": actor.organization_id, "open": list(OPEN_WORK_ORDER_STATUSES),
                                       **filters})
    away: dict[int, list[tuple[datetime, datetime, str]]] = {}
    for a in sql.rows(uow, _ABSENCES, {"org": actor.organization_id, "techs": [r.id for r in rows],
                                       "start": board.start, "end": board.end}):
        away.setdefault(a.technician_id, []).append((a.starts_at, a.ends_at, a.reason))
    for r in rows:
        hours = parse_working_hours(r.working_hours)
        out.append(BoardTechnician(
            id=r.id, name=r.name, skills=tuple(r.skills), lat=r.lat, lon=r.lon,
            windows=tuple(working_windows(hours, board.timezone, board.first_day, board.days)),
            hours_known=hours is not None, phone=r.phone or "", open_jobs=r.open_jobs,
            max_open=r.max_open_work_orders,
            absences=tuple(away.get(r.id, ()))))
    return tuple(out)


def _visits(uow: UnitOfWork, actor: Actor, board: BoardDay, technician_ids: list[int]) -> tuple[BoardVisit, ...]:
    return tuple(
        BoardVisit(
            work_order_id=r.id, number=work_order_number(r.id), ticket_id=r.source_ticket_id,
            technician_id=r.technician_id,
            start=r.scheduled_start, end=r.scheduled_end, status=r.status, priority=r.priority,
            ticket_number=r.ticket_number, subject=r.subject, description=r.description or "",
            customer=r.customer_name, contact=r.contact or "", address=r.address,
            lat=r.lat, lon=r.lon, required_skills=tuple(r.required_skills or ()), travel_m=r.travel_m,
            travel_minutes=travel_minutes(r.travel_m, board.speed_kmh), booked_anyway=r.booked_anyway,
            pinned=r.pinned, window=(r.window_start, r.window_end) if r.window_start is not None else None)
        for r in sql.rows(uow, _VISITS, {"org": actor.organization_id, "techs": technician_ids,
                                         "start": board.start, "end": board.end, "tz": board.timezone})
    )


def _waiting(uow: UnitOfWork, actor: Actor) -> tuple[WaitingOrder, ...]:
    waiting = (WaitingOrder(work_order_id=r.id, number=work_order_number(r.id), ticket_id=r.source_ticket_id,
                            status=r.status, priority=r.priority, duration_minutes=r.duration_minutes,
                            required_skills=tuple(r.required_skills or ()), ticket_number=r.ticket_number,
                            subject=r.subject, customer=r.customer_name, technician_id=r.technician_id,
                            window=(r.window_start, r.window_end) if r.window_start is not None else None)
               for r in sql.rows(uow, _WAITING, {"org": actor.organization_id}))
    return tuple(sorted(waiting, key=lambda w: -PRIORITY_RANK.get(w.priority, 0)))  # stable: oldest first within


def explanation_of(*, uow: UnitOfWork, actor: Actor, work_order_id: int) -> str:
    """Why the order's technician was chosen, in words (the stored assignment explanation)."""
    with uow:
        stored = sql.scalar(uow, "SELECT assignment_explanation FROM work_orders WHERE id = :w AND organization_id = :o",
                            {"w": work_order_id, "o": actor.organization_id})
    return explain(stored)
