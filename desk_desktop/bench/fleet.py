"""bench fleet — N simulated workstations on one server, directly or through PgBouncer.

Each workstation is what the app builds without Qt: ``bootstrap.start_workstation`` (its
own engine and pool, its in-process scheduler in stand-by) and ``bootstrap.start_listener``
(its own listening connection, which also elects the organization's scheduler leader).
They live in a few worker processes (``--processes``, default 4; this machine has 2 cores),
each hosting many. The bench starts its own throw-away PostgreSQL + PostGIS cluster (it
reads the server's CPU time from ``/proc`` and its statement counts from
``pg_stat_statements``), an SMTP server (aiosmtpd) that counts what it receives, and with
``--pgbouncer`` the system's PgBouncer (pools in transaction mode, listeners in session mode).

Measured:

- idle statements/s of the fleet's database with no load, for a small fleet (5) and for N:
  with one leader per organization they should not grow with N (within ±20 %); for
  contrast also for the small fleet without the election (every scheduler sweeps);
- then for ``--seconds`` a load from the workstations themselves: 10 new tickets/s (half
  match an auto-assigning rule) and 2 dispatcher actions/s (reassign by hand, reschedule);
  every commit's changes are timed from the commit to their arrival at every *other*
  workstation (p50/p99; the clock starts just before COMMIT is sent, from SQLAlchemy's
  engine ``commit`` event on the committing thread; the assign job commits through the
  driver first, so its changes are timed from a moment just after their COMMIT);
  changes a workstation never saw are counted;
- afterwards: work orders assigned automatically more than once, e-mails received more
  than once (by idempotency key), notifications left unsent;
- server connections (max of ``pg_stat_activity`` client backends, sampled every 0.25 s),
  server CPU seconds per ticket (postgres processes, from ``/proc``) during the load.

The schedulers run on a compressed clock (intervals and leader heartbeat shorter than the
app's defaults, see ``INTERVALS``) so that an idle window of 20 s holds enough sweeps to
compare; commit kicks, claims and the listener are the app's own.
"""

from __future__ import annotations

import email
import multiprocessing as mp
import os
import random
import shutil
import signal
import statistics
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from sqlalchemy import event

from desk_desktop.config import Settings, SmtpSettings

DEFAULT_WORKSTATIONS = 50
DEFAULT_SECONDS = 30.0
DEFAULT_PROCESSES = 4
TICKETS_PER_SECOND = 10.0
ACTIONS_PER_SECOND = 2.0
SMALL_FLEET = 5
IDLE_SECONDS = 20.0
# The app's defaults are assign 30 s, notify 15 s, rescan 120 s, housekeeping 600 s, heartbeat 5 s.
INTERVALS = {"assign": 4.0, "notify": 2.0, "rescan": 16.0, "housekeeping": 80.0}
LEADER_SECONDS = 1.0
TECHNICIANS = 40
CUSTOMERS = 50
TRANSACTION_POOL_SIZE = 20
TARGET_P99_DIRECT = 1.0
TARGET_P99_PGBOUNCER = 2.0
TARGET_SERVER_CONNECTIONS = 250
IDLE_TOLERANCE = 0.2
RULE_CATEGORY, OTHER_CATEGORY = "hvac", "plumbing"


# --------------------------------------------------------------------------- the server side


class CountingSmtp:
    """A real SMTP server (aiosmtpd, 127.0.0.1) that counts messages by idempotency key."""

    def __init__(self) -> None:
        import socket

        from aiosmtpd.controller import Controller

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.keys: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=port)
        self.url = f"smtp://127.0.0.1:{port}"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        msg = email.message_from_bytes(envelope.content, policy=default_policy)
        with self._lock:
            self.keys[str(msg["X-Desk-Idempotency-Key"]).strip()] += 1
        return "250 Message accepted for delivery"

    def start(self) -> CountingSmtp:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


class FleetServer:
    """A throw-away cluster sized for the fleet, with ``pg_stat_statements``."""

    def __init__(self, *, max_connections: int, cluster_user: str = "postgres") -> None:
        from desk_desktop.db.local_cluster import LocalCluster

        self.base = Path(tempfile.mkdtemp(prefix="desk-fleet-"))
        os.chmod(self.base, 0o711)
        self.cluster = LocalCluster(self.base / "cluster", cluster_user=cluster_user)
        self.max_connections = max_connections

    def start(self, database: str = "fleet") -> str:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        from desk_desktop.db import migrate
        from desk_desktop.db.session import make_engine

        self.cluster.start()
        admin = create_engine(make_url(self.cluster.url_for("postgres")), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"ALTER SYSTEM SET max_connections = {int(self.max_connections)}"))
            conn.execute(text("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"))
        admin.dispose()
        self.cluster.stop()
        self.cluster.start()
        self.admin_url = self.cluster.url_for("postgres")
        with create_engine(self.admin_url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
        url = self.cluster.create_database(database)
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        self.database = database
        return url

    @property
    def postmaster_pid(self) -> int | None:
        return self.cluster._pid_from_file()  # noqa: SLF001 - the cluster's own pid file

    def close(self) -> None:
        self.cluster.destroy()
        shutil.rmtree(self.base, ignore_errors=True)


def server_cpu_seconds(postmaster_pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of the postmaster and each of its children, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        pid, ppid = int(entry.name), int(fields[1])
        if pid == postmaster_pid or ppid == postmaster_pid:
            out[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return out


class Monitor:
    """A direct superuser connection: connection counts (sampled in a thread) and statement counts."""

    def __init__(self, admin_url: str, database: str) -> None:
        import psycopg

        from desk_desktop.db.listen import libpq_conninfo

        self.conninfo = libpq_conninfo(admin_url)
        self.database = database
        self.conn = psycopg.connect(self.conninfo, autocommit=True)
        self.max_connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="fleet-monitor", daemon=True)

    def _sample(self) -> None:
        import psycopg

        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            while not self._stop.wait(0.25):
                n = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                                 "AND pid <> pg_backend_pid() AND pid <> %s", (self.conn.info.backend_pid,)).fetchone()[0]
                self.max_connections = max(self.max_connections, n)

    def start(self) -> Monitor:
        self._thread.start()
        return self

    def statements(self) -> int:
        """Statements run in the fleet's database so far."""
        return int(self.conn.execute(
            "SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
            "WHERE d.datname = %s", (self.database,)).fetchone()[0])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.conn.close()


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Seeded:
    organization_id: int
    technician_ids: tuple[int, ...]
    customer_refs: tuple[str, ...]
    site_refs: tuple[str, ...]


def seed(url: str, *, technicians: int = TECHNICIANS, customers: int = CUSTOMERS) -> Seeded:
    """One organization, technicians with the rule's skill and e-mail, customers with sites and
    e-mail, and the auto-assigning rule that half of the load's tickets match."""
    from geoalchemy2 import WKTElement

    from desk_desktop.db.models import Customer, Organization, Site, Technician, TechnicianSkill, TicketToWorkOrderRule
    from desk_desktop.db.session import UnitOfWorkFactory, make_engine

    engine = make_engine(url)
    uow = UnitOfWorkFactory(engine)()
    with uow:
        s = uow.session
        org = Organization(name="Fleet Field Services", slug="fleet", timezone="UTC")
        s.add(org)
        s.flush()
        o = org.id
        techs = []
        for i in range(technicians):
            where = WKTElement(f"POINT({-87.63 + (i % 7) * 0.01} {41.88 + (i // 7) * 0.01})", srid=4326)
            t = Technician(organization_id=o, name=f"Technician {i:03d}", email=f"tech{i}@techs.example",
                           home_base=where, current_location=where, max_open_work_orders=100000, active=True)
            s.add(t)
            techs.append(t)
        s.flush()
        for t in techs:
            s.add(TechnicianSkill(organization_id=o, technician_id=t.id, skill=RULE_CATEGORY, proficiency=4))
        crefs, srefs = [], []
        for i in range(customers):
            c = Customer(organization_id=o, ref=f"C{i}", name=f"Customer {i}", customer_type="business",
                         email=f"customer{i}@customers.example")
            s.add(c)
            s.flush()
            s.add(Site(organization_id=o, ref=f"S{i}", customer_id=c.id, name="Head office",
                       address=f"{100 + i} N Clark St, Chicago, IL 60602",
                       location=WKTElement(f"POINT({-87.63 + (i % 10) * 0.005} {41.88})", srid=4326)))
            crefs.append(c.ref)
            srefs.append(f"S{i}")
        s.add(TicketToWorkOrderRule(
            organization_id=o, name="HVAC repairs", description="", active=True, priority=10,
            trigger_categories=[RULE_CATEGORY], trigger_priorities=[], trigger_tags=[], trigger_customer_types=[],
            wo_type="repair", wo_priority="high", wo_duration_minutes=90, auto_assign=True,
            assignment_logic="workload", required_skills=[], auto_schedule=True, schedule_offset_minutes=120,
            notify_customer=True, notify_technician=True))
        s.flush()
        tech_ids = tuple(t.id for t in techs)
        uow.commit()
    engine.dispose()
    return Seeded(o, tech_ids, tuple(crefs), tuple(srefs))


# --------------------------------------------------------------------------- the workstations


@dataclass(frozen=True)
class FleetSpec:
    url: str
    listen_url: str | None
    smtp_url: str
    seeded: Seeded
    intervals: dict[str, float] = field(default_factory=lambda: dict(INTERVALS))
    leader_seconds: float = LEADER_SECONDS
    elect: bool = True  # False: no leader election, every scheduler sweeps (the contrast)


class Station:
    """One workstation and what it saw: commits of its own, changes that arrived."""

    def __init__(self, index: int, ws: Any, events: Any, worker: int) -> None:
        self.index = index
        self.ws = ws
        self.commits: list[tuple[tuple, float]] = []
        self.seen: list[tuple[tuple, float]] = []
        self._events = events
        self._worker = worker
        self._leading = False
        self._commit_sent = threading.local()
        event.listen(ws.db.engine, "commit", self.commit_sent)
        ws.db.uow_factory.add_commit_listener(self.committed)
        ws.scheduler.add_listener(self.scheduler_state)

    def commit_sent(self, _conn) -> None:
        """Just before COMMIT goes to the server (on the committing thread)."""
        self._commit_sent.t = time.time()

    def committed(self, changes) -> None:
        """After the unit of work committed: its changes, timed from the COMMIT."""
        t, self._commit_sent.t = getattr(self._commit_sent, "t", None) or time.time(), None
        for key in dict.fromkeys((c.entity, c.entity_id, c.action) for c in changes):
            self.commits.append((key, t))

    def arrived(self, change) -> None:
        self.seen.append(((change.entity, change.entity_id, change.action), time.time()))
        self.ws.scheduler.on_change(change)  # as the GUI's LiveBridge does

    def scheduler_state(self, state) -> None:
        if state.leading != self._leading:
            self._leading = state.leading
            self._events.put(("leader", self._worker, self.index, state.leading, time.time()))


def _settings(spec: FleetSpec, folder: str) -> Settings:
    return Settings(database_url=spec.url, listen_url=spec.listen_url, data_dir=Path(folder),
                    config_dir=Path(folder), smtp=SmtpSettings.from_url(spec.smtp_url, "dispatch@fleet.example"),
                    clamd_address="unix:/nonexistent/clamd.ctl")


def _load(stations: list[Station], spec: FleetSpec, *, start_at: float, seconds: float, tickets_per_second: float,
          actions_per_second: float, seed_value: int) -> dict[str, Any]:
    """Tickets and dispatcher actions from this process's workstations, on a fixed timetable."""
    from sqlalchemy import text

    from desk_desktop.services.assignment import VisitClash, assign_work_order, reschedule_work_order
    from desk_desktop.services.tickets import create_ticket

    rnd = random.Random(seed_value)
    sd = spec.seeded
    counts: Counter[str] = Counter()
    errors: list[str] = []
    ticket_every = 1.0 / tickets_per_second if tickets_per_second > 0 else float("inf")
    action_every = 1.0 / actions_per_second if actions_per_second > 0 else float("inf")
    next_ticket, next_action = start_at + rnd.random() * ticket_every, start_at + rnd.random() * action_every
    end = start_at + seconds
    k = a = 0
    while True:
        due = min(next_ticket, next_action)
        if due >= end:
            break
        pause = due - time.time()
        if pause > 0:
            time.sleep(pause)
        try:
            if next_ticket <= next_action:
                st = stations[k % len(stations)]
                category = RULE_CATEGORY if k % 2 == 0 else OTHER_CATEGORY
                c = rnd.randrange(len(sd.customer_refs))
                create_ticket(uow=st.ws.db.uow_factory(), actor=st.ws.actor, subject=f"Fleet ticket {seed_value}-{k}",
                              category=category, priority="high", customer_ref=sd.customer_refs[c],
                              site_ref=sd.site_refs[c])
                counts["tickets"] += 1
                counts[f"tickets_{category}"] += 1
                k += 1
                next_ticket += ticket_every
            else:
                st = stations[(a * 7 + 3) % len(stations)]
                with st.ws.db.uow_factory() as uow:
                    row = uow.session.execute(text(
                        "SELECT id, technician_id FROM work_orders WHERE technician_id IS NOT NULL "
                        "AND status IN ('assigned', 'scheduled') ORDER BY id DESC LIMIT 1 OFFSET :skip"),
                        {"skip": rnd.randrange(10)}).first()
                if row is not None and a % 2 == 0:
                    other = rnd.choice([t for t in sd.technician_ids if t != row.technician_id])
                    assign_work_order(uow=st.ws.db.uow_factory(), actor=st.ws.actor, work_order_id=row.id,
                                      technician_id=other, force=True)
                    counts["reassigned"] += 1
                elif row is not None:
                    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1, minutes=rnd.randrange(600))
                    try:
                        reschedule_work_order(uow=st.ws.db.uow_factory(), actor=st.ws.actor, work_order_id=row.id,
                                              start=start)
                        counts["rescheduled"] += 1
                    except VisitClash:  # the technician is busy then: refused, as a dispatcher would be
                        counts["reschedule_refused"] += 1
                a += 1
                next_action += action_every
        except Exception as exc:  # noqa: BLE001 - counted and reported
            counts["errors"] += 1
            if len(errors) < 5:
                errors.append(f"{type(exc).__name__}: {str(exc).strip()[:200]}")
            if next_ticket <= next_action:
                k += 1
                next_ticket += ticket_every
            else:
                a += 1
                next_action += action_every
    return {"counts": dict(counts), "errors": errors}


def _worker(spec: FleetSpec, worker: int, indexes: list[int], folder: str, commands: Any, events: Any) -> None:
    import logging

    logging.basicConfig(level=os.environ.get("DESK_LOG_LEVEL", "WARNING"))
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # "skipped: already running" is the design
    from desk_desktop.bootstrap import listen_url, start_listener, start_workstation
    from desk_desktop.db.listen import ChangeListener

    stations: list[Station] = []
    try:
        settings = _settings(spec, folder)
        for i in indexes:
            ws = start_workstation(settings, intervals=spec.intervals, with_listener=spec.elect)
            st = Station(i, ws, events, worker)
            if spec.elect:
                start_listener(ws, on_change=st.arrived, leader_seconds=spec.leader_seconds)
            else:
                ws.listener = ChangeListener(listen_url(settings, ws.db), on_change=st.arrived)
                ws.listener.start()
            stations.append(st)
        for st in stations:
            st.ws.listener.wait_connected(30)
        events.put(("ready", worker, os.getpid(), len(stations)))
        while True:
            command, arg = commands.get()
            if command == "load":
                events.put(("loaded", worker, _load(stations, spec, **arg)))
            elif command == "report":
                events.put(("report", worker, {st.index: (st.commits, st.seen) for st in stations}))
            elif command == "stop":
                break
    except Exception as exc:  # noqa: BLE001 - the parent reports it
        events.put(("failed", worker, f"{type(exc).__name__}: {exc}"))
    finally:
        for st in stations:
            st.ws.shutdown()
        events.put(("stopped", worker))


class Fleet:
    """``workstations`` simulated workstations in ``processes`` worker processes."""

    def __init__(self, spec: FleetSpec, *, workstations: int, processes: int) -> None:
        self.spec = spec
        self.workstations = workstations
        self.processes = max(1, min(processes, workstations))
        ctx = mp.get_context("spawn")
        self.folder = tempfile.mkdtemp(prefix="desk-fleet-ws-")  # the workstations' data folder
        self._events = ctx.Queue()
        self._commands = [ctx.Queue() for _ in range(self.processes)]
        self._procs = [ctx.Process(target=_worker, name=f"fleet-worker-{w}", daemon=True,
                                   args=(spec, w, list(range(w, workstations, self.processes)), self.folder,
                                         self._commands[w], self._events))
                       for w in range(self.processes)]
        self.pids: dict[int, int] = {}
        self.leaders: list[tuple[int, int, bool, float]] = []  # (worker, workstation, leading, time)
        self.dead: set[int] = set()
        self._backlog: list[tuple] = []

    # ---------------------------------------------------------------- messages
    def _next(self, timeout: float) -> tuple:
        import queue

        try:
            msg = self._events.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError("the fleet's workers did not answer in time") from None
        if msg[0] == "leader":
            self.leaders.append(msg[1:])
        elif msg[0] == "failed":
            raise RuntimeError(f"fleet worker {msg[1]} failed: {msg[2]}")
        return msg

    def _collect(self, kind: str, timeout: float) -> dict[int, Any]:
        got: dict[int, Any] = {}
        deadline = time.monotonic() + timeout
        alive = set(range(self.processes)) - self.dead
        for msg in [m for m in self._backlog if m[0] == kind]:
            self._backlog.remove(msg)
            got[msg[1]] = msg[2:]
        while set(got) != alive:
            msg = self._next(max(0.1, deadline - time.monotonic()))
            if msg[0] == kind:
                got[msg[1]] = msg[2:]
        return got

    def poll(self, seconds: float = 0.0) -> None:
        """Take in leadership events for up to ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                msg = self._next(max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                return
            if msg[0] != "leader":
                self._backlog.append(msg)
            if time.monotonic() >= deadline:
                return

    def current_leader(self) -> tuple[int, int] | None:
        """(worker, workstation) of the latest leader still leading, by the events so far."""
        state: dict[tuple[int, int], bool] = {}
        for worker, index, leading, _t in self.leaders:
            state[(worker, index)] = leading
        live = [k for k, v in state.items() if v and k[0] not in self.dead]
        return live[-1] if live else None

    # ---------------------------------------------------------------- life
    def start(self, timeout: float = 300.0) -> Fleet:
        for p in self._procs:
            p.start()
        for worker, (pid, _n) in self._collect("ready", timeout).items():
            self.pids[worker] = pid
        return self

    def load(self, *, seconds: float, tickets_per_second: float, actions_per_second: float) -> dict[str, Any]:
        alive = [w for w in range(self.processes) if w not in self.dead]
        start_at = time.time() + 1.0
        for w in alive:
            self._commands[w].put(("load", {"start_at": start_at, "seconds": seconds,
                                            "tickets_per_second": tickets_per_second / len(alive),
                                            "actions_per_second": actions_per_second / len(alive),
                                            "seed_value": w}))
        done = self._collect("loaded", seconds + 120)
        counts: Counter[str] = Counter()
        errors: list[str] = []
        for (result,) in done.values():
            counts.update(result["counts"])
            errors += result["errors"]
        return {"counts": dict(counts), "errors": errors[:5]}

    def report(self) -> dict[int, tuple[list, list]]:
        for w in range(self.processes):
            if w not in self.dead:
                self._commands[w].put(("report", None))
        merged: dict[int, tuple[list, list]] = {}
        for (stations,) in self._collect("report", 120).values():
            merged.update(stations)
        return merged

    def kill(self, worker: int) -> None:
        """SIGKILL a worker process (and so its workstations)."""
        os.kill(self.pids[worker], signal.SIGKILL)
        self._procs[worker].join(10)
        self.dead.add(worker)

    def stop(self) -> None:
        for w in range(self.processes):
            if w not in self.dead and self._procs[w].is_alive():
                self._commands[w].put(("stop", None))
        for p in self._procs:
            p.join(60)
            if p.is_alive():
                p.kill()
                p.join(10)
        shutil.rmtree(self.folder, ignore_errors=True)


# --------------------------------------------------------------------------- analysis


def latencies(stations: dict[int, tuple[list, list]]) -> dict[str, Any]:
    """Commit-to-seen times at every other workstation. The i-th commit of a change key is
    matched with the i-th arrival of that key at each workstation (notifications arrive in
    commit order); a commit with fewer arrivals somewhere is a missed change."""
    commits: dict[tuple, list[tuple[float, int]]] = defaultdict(list)
    for index, (own, _seen) in stations.items():
        for key, t in own:
            commits[key].append((t, index))
    samples: list[float] = []
    missed = 0
    missed_examples: list[str] = []
    for index, (_own, seen) in stations.items():
        arrivals: dict[tuple, list[float]] = defaultdict(list)
        for key, t in seen:
            arrivals[key].append(t)
        for key, made in commits.items():
            got = sorted(arrivals.get(key, ()))
            for i, (t_commit, by) in enumerate(sorted(made)):
                if i >= len(got):
                    missed += 1
                    if len(missed_examples) < 5:
                        missed_examples.append(f"workstation {index} never saw {key}")
                elif by != index:
                    samples.append(got[i] - t_commit)
    return {"samples": samples, "missed": missed, "missed_examples": missed_examples,
            "changes": sum(len(v) for v in commits.values())}


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def outcome(url: str) -> dict[str, Any]:
    """Work orders assigned automatically more than once, and the state of the outbox."""
    from sqlalchemy import text

    from desk_desktop.db.session import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        doubled = conn.execute(text(
            "SELECT count(*) FROM (SELECT entity_id FROM audit_log WHERE action = 'work_order.assigned' "
            "AND coalesce(details->'explanation'->>'manual', 'false') <> 'true' "
            "GROUP BY entity_id HAVING count(*) > 1) d")).scalar_one()
        auto = conn.execute(text(
            "SELECT count(DISTINCT entity_id) FROM audit_log WHERE action = 'work_order.assigned' "
            "AND coalesce(details->'explanation'->>'manual', 'false') <> 'true'")).scalar_one()
        waiting = conn.execute(text("SELECT count(*) FROM work_orders WHERE needs_assignment")).scalar_one()
        outbox = dict(conn.execute(text("SELECT status, count(*) FROM notifications GROUP BY status")).all())
        emails = conn.execute(text("SELECT count(*) FROM notifications WHERE channel = 'email' "
                                   "AND status = 'sent'")).scalar_one()
    engine.dispose()
    return {"double_assignments": doubled, "auto_assigned_orders": auto, "orders_waiting": waiting,
            "outbox": outbox, "emails_sent": emails}


def wait_quiet(url: str, timeout: float = 90.0) -> bool:
    """Until no order waits for assignment and no notification waits to be sent."""
    from sqlalchemy import text

    from desk_desktop.db.session import make_engine

    engine = make_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                busy = conn.execute(text(
                    "SELECT (SELECT count(*) FROM work_orders WHERE needs_assignment) + "
                    "(SELECT count(*) FROM notifications WHERE status = 'pending')")).scalar_one()
            if not busy:
                return True
            time.sleep(0.5)
        return False
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- the bench


def _idle_rate(monitor: Monitor, fleet: Fleet, seconds: float) -> float:
    fleet.poll(3 * LEADER_SECONDS + 1.0)  # the election settles; first sweeps done
    before = monitor.statements()
    fleet.poll(seconds)
    return (monitor.statements() - before) / seconds


def run(settings: Settings, args) -> dict[str, Any]:
    from desk_desktop.db.pgbouncer import PgBouncer
    from desk_desktop.services.common import DeskError

    if settings.database_url:
        raise DeskError("bench fleet starts its own server (it reads the server's CPU time from /proc): "
                        "run it without --database-url / DESK_DATABASE_URL")
    n = int(getattr(args, "workstations", None) or DEFAULT_WORKSTATIONS)
    seconds = float(getattr(args, "seconds", None) or DEFAULT_SECONDS)
    through_bouncer = bool(getattr(args, "pgbouncer", False))
    processes = int(getattr(args, "processes", None) or DEFAULT_PROCESSES)
    if getattr(args, "quick", False):
        n, seconds = min(n, 10), min(seconds, 10.0)
    # Direct: every workstation's pool holds its own server connections.
    server = FleetServer(max_connections=(n + 60 if through_bouncer else 6 * n + 60),
                         cluster_user=settings.cluster_user)
    smtp = CountingSmtp().start()
    bouncer = None
    monitor = None
    try:
        url = server.start()
        sd = seed(url)
        listen = None
        app_url = url
        if through_bouncer:
            from sqlalchemy.engine import make_url

            u = make_url(url)
            bouncer = PgBouncer(server_socket_dir=Path(u.query["host"]), database=u.database, users=[u.username],
                                pool_size=TRANSACTION_POOL_SIZE, listeners=n + SMALL_FLEET + 10,
                                run_as=settings.cluster_user).start()
            app_url, listen = bouncer.url(u.username), bouncer.listen_url(u.username)
        spec = FleetSpec(url=app_url, listen_url=listen, smtp_url=smtp.url, seeded=sd)
        monitor = Monitor(server.admin_url, server.database).start()

        everyone = Fleet(replace(spec, elect=False), workstations=SMALL_FLEET, processes=1).start()
        try:
            idle_small_unelected = _idle_rate(monitor, everyone, IDLE_SECONDS)
        finally:
            everyone.stop()
        small = Fleet(spec, workstations=SMALL_FLEET, processes=1).start()
        try:
            idle_small = _idle_rate(monitor, small, IDLE_SECONDS)
        finally:
            small.stop()

        t_start = time.monotonic()
        fleet = Fleet(spec, workstations=n, processes=processes).start()
        startup_seconds = time.monotonic() - t_start
        try:
            idle_n = _idle_rate(monitor, fleet, IDLE_SECONDS)
            cpu_before = server_cpu_seconds(server.postmaster_pid)
            load = fleet.load(seconds=seconds, tickets_per_second=TICKETS_PER_SECOND,
                              actions_per_second=ACTIONS_PER_SECOND)
            cpu_after = server_cpu_seconds(server.postmaster_pid)
            quiet = wait_quiet(url)
            fleet.poll(2.0)  # the last notifications arrive
            stations = fleet.report()
            leaders = sorted({(w, i) for w, i, leading, _t in fleet.leaders if leading})
        finally:
            fleet.stop()
        seen = latencies(stations)
        result = outcome(url)
    finally:
        if monitor is not None:
            monitor.close()
        if bouncer is not None:
            bouncer.stop()
        smtp.stop()
        server.close()

    tickets = load["counts"].get("tickets", 0)
    cpu = sum(t - cpu_before.get(pid, 0.0) for pid, t in cpu_after.items())
    p50, p99 = percentile(seen["samples"], 0.50), percentile(seen["samples"], 0.99)
    doubled_emails = sum(1 for c in smtp.keys.values() if c > 1)
    idle_ratio = idle_n / idle_small if idle_small else None
    target_p99 = TARGET_P99_PGBOUNCER if through_bouncer else TARGET_P99_DIRECT
    checks = {
        "p99": p99 is not None and p99 <= target_p99,
        "missed": seen["missed"] == 0,
        "double_assignments": result["double_assignments"] == 0,
        "double_emails": doubled_emails == 0,
        "idle_flat": idle_ratio is not None and abs(idle_ratio - 1.0) <= IDLE_TOLERANCE,
        "load_errors": load["counts"].get("errors", 0) == 0,
        "drained": quiet,
    }
    if through_bouncer:
        checks["server_connections"] = monitor.max_connections <= TARGET_SERVER_CONNECTIONS
    target = (f"p99 <= {target_p99} s" + (f", <= {TARGET_SERVER_CONNECTIONS} server connections" if through_bouncer
                                          else "")
              + ", 0 missed, 0 double assignments or e-mails, idle statements/s flat (±20 %) from "
              f"{SMALL_FLEET} to N workstations")
    return {
        "name": "fleet",
        "value": round(p99, 3) if p99 is not None else None,
        "unit": "s p99 commit-to-seen",
        "baseline": None,
        "ratio": None,
        "target": target,
        "ok": all(checks.values()),
        "details": {
            "workstations": n,
            "processes": processes,
            "pgbouncer": through_bouncer,
            "seconds": seconds,
            "startup_seconds": round(startup_seconds, 1),
            "p50_seconds": round(p50, 4) if p50 is not None else None,
            "p99_seconds": round(p99, 4) if p99 is not None else None,
            "max_seconds": round(max(seen["samples"]), 4) if seen["samples"] else None,
            "latency_samples": len(seen["samples"]),
            "changes_committed": seen["changes"],
            "missed": seen["missed"],
            "missed_examples": seen["missed_examples"],
            "load": load["counts"],
            "load_errors": load["errors"],
            "double_assignments": result["double_assignments"],
            "auto_assigned_orders": result["auto_assigned_orders"],
            "orders_waiting": result["orders_waiting"],
            "outbox": result["outbox"],
            "emails_received": sum(smtp.keys.values()),
            "emails_sent_rows": result["emails_sent"],
            "double_emails": doubled_emails,
            "server_connections_max": monitor.max_connections,
            "server_cpu_seconds": round(cpu, 2),
            "server_cpu_seconds_per_ticket": round(cpu / tickets, 4) if tickets else None,
            "idle_statements_per_s": {str(SMALL_FLEET): round(idle_small, 2), str(n): round(idle_n, 2)},
            "idle_ratio": round(idle_ratio, 3) if idle_ratio is not None else None,
            "idle_statements_per_s_without_election": {str(SMALL_FLEET): round(idle_small_unelected, 2)},
            "leaders_seen": len(leaders),
            "intervals_seconds": {**INTERVALS, "leader_heartbeat": LEADER_SECONDS},
            "checks": checks,
            "statistics": {"mean_seconds": round(statistics.fmean(seen["samples"]), 4) if seen["samples"] else None},
        },
    }
