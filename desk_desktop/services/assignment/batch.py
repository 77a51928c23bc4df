"""One transaction's assignment decisions and their writer: the one write path.

Every assignment — a batch of the assign job or a dispatcher's single order — is decided
against a ``Batch``. ``fetch`` answers the candidate query with the load this batch
has decided but not yet written added to what the database reports (so limits, workload
and the rotation stay exact inside a batch); each decision changes the order (an ORM
object) and leaves here its audit row, its notifications and its round-robin step.
``write`` writes all of it: the orders (the session's flush, one UPDATE per kind of
change, sent together), the round-robin pointers, the audit rows (one insert) and the
notifications (one query, one insert). The job writes a batch at its end; a manual
operation writes its one order.

The job fetches the candidates of all its located orders at the start (``prefetch``: one
query per kind of question, each technician's facts read once) and uses them while the
load the batch added since cannot have changed the answer; otherwise it asks again, after
writing what is pending when the database must see it.

Scheduling needs the winner's visits and absences (``domain.slots``): the prefetch reads
those of all the candidates in one query (converted only for the winners), the others are
read when first needed; the batch adds each visit it books, so its own orders never
overlap. Who is absent now (for work due now) is read once per batch, for the whole
organization (``away_now``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from desk_desktop.db import sql
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.enums import AssignmentLogic, values
from desk_desktop.domain.scoring import TechFacts, Windows, on_shift, parse_working_hours
from desk_desktop.domain.slots import Visit
from desk_desktop.services import notifications
from desk_desktop.services.assignment import candidates
from desk_desktop.services.assignment.candidates import (
    DEFAULT_SPEED_KMH,
    MAX_CANDIDATES,
    NEAREST_K,
    TECH_FACTS_SQL,
    fetch_candidates,
    index_skill,
    prefetch_sql,
)
from desk_desktop.services.assignment.position import fresh_after
from desk_desktop.services.assignment.visits import as_visits, visits_of, visits_of_many
from desk_desktop.services.audit import audit_row, write_audit_rows
from desk_desktop.services.common import Actor

NEAREST_SPARE = 10  # the prefetch for nearest asks for this many more, in case some fill up

_UPSERT_POINTER = """INSERT INTO assignment_state (organization_id, rule_id, last_technician_id, updated_at)
VALUES (:org, :rule, :tech, :now)
ON CONFLICT (rule_id) DO UPDATE SET last_technician_id = EXCLUDED.last_technician_id,
                                    updated_at = EXCLUDED.updated_at"""

_READ_POINTERS = """SELECT s.rule_id, s.last_technician_id, t.name
  FROM assignment_state s LEFT JOIN technicians t ON t.id = s.last_technician_id
 WHERE s.organization_id = :org AND s.rule_id = ANY(CAST(:rules AS bigint[]))"""


_AWAY_NOW = """SELECT technician_id, reason FROM technician_absences
 WHERE organization_id = :org AND starts_at <= :now AND ends_at > :now"""


def _question(kw: dict) -> tuple:
    """What a candidate query asks, as far as the prefetch is concerned."""
    return (str(kw["strategy"]) == AssignmentLogic.NEAREST, kw.get("k", MAX_CANDIDATES),
            kw.get("eligible_only", True), float(kw["radius_km"]),
            tuple(sorted(set(kw["required_skills"]))), kw.get("location"))


def _plus(f: TechFacts, extra: int) -> TechFacts:
    return replace(f, open_jobs=f.open_jobs + extra) if extra else f


@dataclass(eq=False)
class Batch:
    """What one transaction decides, until it is written. The transaction holds the
    organization's advisory lock, so nobody else changes the loads or pointers meanwhile."""

    actor: Actor
    now: datetime
    tz_name: str = "UTC"
    speed_kmh: float = DEFAULT_SPEED_KMH  # the drives around a visit (``domain.slots.with_drives``)
    places: dict[int, tuple[float, float] | None] = field(default_factory=dict)  # work order -> its place
    pointers: dict[int, tuple[int | None, str | None]] = field(default_factory=dict)  # rule -> last (id, name)
    hours: dict[int, dict | None] = field(default_factory=dict)  # working hours of the technicians seen
    load: dict[int, int] = field(default_factory=dict)  # technician -> open orders gained, not written yet
    since_start: dict[int, int] = field(default_factory=dict)  # technician -> open orders gained since prefetch
    prefetched: dict[int, tuple[tuple, list[TechFacts], int]] = field(default_factory=dict)
    audits: list[dict] = field(default_factory=list)
    notices: list[tuple[int, str, int | None]] = field(default_factory=list)  # (work order, event, technician)
    pointer_moves: dict[int, int] = field(default_factory=dict)  # rule -> technician
    # technician -> their visits from ``now`` on: read once, plus the ones this batch booked
    visits: dict[int, list[Visit]] = field(default_factory=dict)
    prefetched_visits: dict[int, tuple] = field(default_factory=dict)  # read by prefetch, not converted yet
    shifts: dict[int, bool] = field(default_factory=dict)  # technician -> on shift at ``now``
    windows: dict[int, Windows | None] = field(default_factory=dict)  # technician -> parsed working hours
    away: dict[int, str] | None = None  # technician -> the reason of the absence they are in at ``now``

    # ------------------------------------------------------------------ what decisions leave

    def add_load(self, technician_id: int, delta: int) -> None:
        self.load[technician_id] = self.load.get(technician_id, 0) + delta
        self.since_start[technician_id] = self.since_start.get(technician_id, 0) + delta

    def move_pointer(self, rule_id: int, technician_id: int, name: str) -> None:
        self.pointers[rule_id] = (technician_id, name)
        self.pointer_moves[rule_id] = technician_id

    def notify(self, work_order_id: int, event: str, technician_id: int | None = None) -> None:
        self.notices.append((work_order_id, event, technician_id))

    def audit(self, *, action: str, entity_id: int, summary: str, details: dict) -> None:
        self.audits.append(audit_row(actor=self.actor, action=action, entity="work_order", entity_id=entity_id,
                                     summary=summary, details=details))

    def book(self, uow: UnitOfWork, technician_id: int, visit: Visit) -> None:
        self.visits_for(uow, technician_id).append(visit)

    # ------------------------------------------------------------------ the one writer

    def write(self, uow: UnitOfWork) -> None:
        """Write everything decided since the last write, in the caller's transaction."""
        uow.session.flush()
        if self.pointer_moves:
            sql.execute(uow, _UPSERT_POINTER, [
                {"org": self.actor.organization_id, "rule": rule, "tech": tech, "now": self.now}
                for rule, tech in self.pointer_moves.items()])
        write_audit_rows(uow, self.audits)
        if self.notices:
            notifications.enqueue_work_order_events(uow=uow, events=self.notices, actor=self.actor)
        self.load.clear()
        self.pointer_moves.clear()
        self.audits = []
        self.notices = []

    # ------------------------------------------------------------------ reading

    def working_windows(self, technician_id: int) -> Windows | None:
        """The technician's working hours, parsed once per batch."""
        if technician_id not in self.windows:
            self.windows[technician_id] = parse_working_hours(self.hours.get(technician_id))
        return self.windows[technician_id]

    def on_shift(self, technician_id: int) -> bool:
        """Whether the technician (one whose facts were fetched) is inside their working hours now."""
        if technician_id not in self.shifts:
            self.shifts[technician_id] = on_shift(self.hours.get(technician_id), self.now, self.tz_name)
        return self.shifts[technician_id]

    def away_now(self, uow: UnitOfWork, technician_id: int) -> str | None:
        """The reason of the absence the technician is in at ``now``, or None (the
        organization's absences at ``now`` are read once per batch)."""
        if self.away is None:
            self.away = {r.technician_id: r.reason for r in sql.hot_rows(uow, _AWAY_NOW, {
                "org": self.actor.organization_id, "now": self.now})}
        return self.away.get(technician_id)

    def visits_for(self, uow: UnitOfWork, technician_id: int) -> list[Visit]:
        """The technician's visits from ``now`` on, as if this batch's bookings were written."""
        if technician_id not in self.visits:
            raw = self.prefetched_visits.pop(technician_id, None)
            self.visits[technician_id] = (as_visits(raw) if raw is not None
                                          else visits_of(uow, technician_id, start=self.now))
        return self.visits[technician_id]

    def rotation(self, uow: UnitOfWork, rule_ids: list[int]) -> None:
        """Read the round-robin pointers of these rules (once per transaction)."""
        wanted = [r for r in rule_ids if r not in self.pointers]
        if wanted:
            found = {r.rule_id: (r.last_technician_id, r.name) for r in sql.rows(
                uow, _READ_POINTERS, {"org": self.actor.organization_id, "rules": wanted})}
            self.pointers.update({r: found.get(r, (None, None)) for r in wanted})

    def fetch(self, uow: UnitOfWork, work_order_id: int | None = None, **kw: Any) -> list[TechFacts]:
        """``fetch_candidates(**kw)`` as it would answer if this batch's decisions were written."""
        k = kw.get("k", MAX_CANDIDATES)
        eligible_only = kw.get("eligible_only", True)
        pre = self.prefetched.pop(work_order_id, None) if work_order_id is not None else None
        if pre is not None and pre[0] == _question(kw) and not any(v < 0 for v in self.since_start.values()):
            _, found, limit = pre
            # Eligible now: below their limit with the load of the batch so far. Complete if the
            # query did not stop at its limit, or if enough of it is still eligible (everyone
            # beyond the limit is farther than all of them).
            facts = [_plus(f, self.since_start.get(f.technician_id, 0)) for f in found]
            facts = [f for f in facts if f.open_jobs < f.max_open]
            if len(found) < limit or len(facts) >= k:
                return facts[:k]
        if any(v < 0 for v in self.load.values()):
            self.write(uow)  # someone gave up an order: the query must see them eligible again
        facts = fetch_candidates(uow, hours_out=self.hours, **kw)
        if not self.load:
            return facts
        out = []
        dropped = changed = False
        for f in facts:
            extra = self.load.get(f.technician_id, 0)
            changed = changed or extra != 0
            f = _plus(f, extra)
            if eligible_only and f.open_jobs >= f.max_open:
                dropped = True
                continue
            out.append(f)
        # The query may have left out someone who now belongs in the answer: it returned a
        # full ``k`` rows and some were dropped, or it ordered by load. Ask again, written.
        if len(facts) >= k and (dropped or (changed and kw.get("location") is None)):
            self.write(uow)
            return fetch_candidates(uow, hours_out=self.hours, **kw)
        return out

    def prefetch(self, uow: UnitOfWork, orders: list[tuple[int, str, list[str], tuple[float, float] | None]], *,
                 radius_km: float) -> None:
        """Fetch the candidates of these orders ``(id, strategy, required skills, location)``
        together: one query per kind of question (nearest or not, skills) instead of one per
        order. ``fetch`` uses them while they are still exact."""
        groups: dict[tuple[bool, tuple[str, ...]], list[tuple[int, dict]]] = {}
        for wo_id, strategy, required, location in orders:
            if location is None or strategy not in values(AssignmentLogic):
                continue
            nearest = strategy == AssignmentLogic.NEAREST
            kw = dict(strategy=AssignmentLogic.NEAREST.value if nearest else AssignmentLogic.WORKLOAD.value,
                      k=NEAREST_K if nearest else MAX_CANDIDATES, eligible_only=True, radius_km=radius_km,
                      required_skills=required, location=location)
            groups.setdefault((nearest, tuple(sorted(set(required)))), []).append((wo_id, kw))
        radius_m = radius_km * 1000.0
        org = self.actor.organization_id
        for (nearest, req), items in groups.items():
            k = NEAREST_K + NEAREST_SPARE if nearest else MAX_CANDIDATES
            skill = index_skill(req)
            rows = sql.hot_rows(uow, prefetch_sql(nearest, skill is not None), {
                "org": org, "req": list(req), "nreq": len(req), "skill": skill, "k": k, "walk": candidates.WALK_ALL,
                "fresh": fresh_after(self.now),
                "radius": radius_m, "lats": [kw["location"][0] for _, kw in items],
                "lons": [kw["location"][1] for _, kw in items]})
            ids = sorted({r.id for r in rows})
            techs = {t.id: t for t in sql.hot_rows(uow, TECH_FACTS_SQL, {"org": org, "ids": ids})} if ids else {}
            self.hours.update((t.id, t.working_hours) for t in techs.values())
            # Their visits and absences, in one query.
            unread = [t.id for t in techs.values() if t.id not in self.visits and t.id not in self.prefetched_visits]
            found = visits_of_many(uow, unread, start=self.now) if unread else {}
            self.prefetched_visits.update((i, found.get(i, ((), (), (), ()))) for i in unread)
            per_order: dict[int, list] = {}
            for r in rows:
                per_order.setdefault(r.order_index, []).append(r)
            for i, (wo_id, kw) in enumerate(items, start=1):
                got = per_order.get(i, [])
                if nearest:
                    got = [r for r in got if r.knn_d <= radius_m]  # the rest only marked where to stop
                facts = []
                for r in got:
                    t = techs[r.id]  # one row per technician, shared by every order they are near
                    facts.append(TechFacts(technician_id=r.id, name=t.name, distance_m=r.distance_m,
                                           skills=t.skills or {}, open_jobs=t.open_jobs, max_open=t.max_open,
                                           active=t.active, within_radius=r.distance_m <= radius_m,
                                           lat=r.lat, lon=r.lon))
                self.prefetched[wo_id] = (_question(kw), facts, k)
