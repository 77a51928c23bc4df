"""The in-process scheduler every workstation (and ``desk-desktop scheduler``) runs.

APScheduler 3.x is used as a local clock only: a ``BackgroundScheduler`` with an in-memory
job store ticks five jobs — ``assign``, ``notify``, ``rescan``, ``housekeeping`` and ``plan`` (the
evening's plan of the next day, for the organizations that asked for it). The durable
work lives in database rows that the services claim with ``FOR UPDATE SKIP LOCKED`` (and
leases where a claim spans transactions), so any number of processes share the work and a
crashed process's work is picked up by another. Jobs coalesce and never overlap
(``max_instances=1``). ``kick(name)`` runs a job now; a kick that arrives while the job runs
makes it run once more when it finishes, so no change is missed.

Many workstations, one leader: built with ``standby=True`` (a workstation), the scheduler
leaves the periodic sweeps to the organization's leader — ``set_leader(True)`` is called
by the change listener while it holds the leader lock (``db.listen``) — and only runs a job
when kicked by a commit of its own process, which stays immediate and is safe anywhere
(claims with ``SKIP LOCKED``). Other workstations' changes kick the leader only. Idle
polling therefore does not grow with the number of seats; when the leader goes away
another workstation takes the lock and catches up at once.

Jobs run on the scheduler's thread pool: they never touch widgets. ``state`` is a snapshot
for the status bar (running or stopped, the last error of any job whose latest run failed).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from desk_desktop.config import Settings
from desk_desktop.db.session import Change, UnitOfWorkFactory
from desk_desktop.jobs import tasks
from desk_desktop.services import notifications
from desk_desktop.services.channels import ChannelRegistry, channels_from_settings

log = logging.getLogger(__name__)

JOB_NAMES = ("assign", "notify", "rescan", "housekeeping", "plan")

DEFAULT_INTERVALS = {"assign": 30.0, "notify": 15.0, "rescan": 120.0, "housekeeping": 600.0, "plan": 900.0}

# Entities whose commits may create assignment work.
ASSIGN_ENTITIES = frozenset({"work_order", "ticket", "technician", "rule"})
MAX_RERUNS = 5
# Counts that describe a level (not work done): when two passes are merged, the last one wins.
GAUGES = frozenset({"email_waiting", "waiting"})


@dataclass(frozen=True)
class JobRun:
    name: str
    started_at: datetime
    finished_at: datetime
    ok: bool
    summary: str
    error: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class SchedulerState:
    running: bool
    last_runs: dict[str, JobRun]
    last_error: str | None = None
    last_error_job: str | None = None
    last_error_at: datetime | None = None
    busy: tuple[str, ...] = ()
    leading: bool = True

    def describe(self) -> str:
        text = "Background jobs: running" if self.running else "Background jobs: stopped"
        if self.running and not self.leading:
            text += ", standing by"
        if self.busy:
            text += f" ({', '.join(self.busy)})"
        if self.last_error:
            text += f" · last error in {self.last_error_job}: {self.last_error}"
        return text


class AppScheduler:
    """Clock + job runner. Build it in the composition root; ``start()`` and ``shutdown()``."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        settings: Settings,
        *,
        scanner: Any = None,
        channel_registry: ChannelRegistry | None = None,
        intervals: dict[str, float] | None = None,
        worker_id: str | None = None,
        notify_lease_seconds: float = notifications.DEFAULT_LEASE_SECONDS,
        assign_limit: int = 200,
        notify_limit: int = 50,
        rescan_limit: int = 20,
        jobs: Iterable[str] = JOB_NAMES,
        standby: bool = False,
    ) -> None:
        self.uow_factory = uow_factory
        self.settings = settings
        self.scanner = scanner
        self.channel_registry = channel_registry if channel_registry is not None else channels_from_settings(settings)
        self.intervals = {**DEFAULT_INTERVALS, **(intervals or {})}
        self.worker_id = worker_id or notifications.default_worker_id()
        self.notify_lease_seconds = notify_lease_seconds
        self.assign_limit = assign_limit
        self.notify_limit = notify_limit
        self.rescan_limit = rescan_limit
        self.jobs = tuple(jobs)
        unknown = set(self.jobs) - set(JOB_NAMES)
        if unknown:
            raise ValueError(f"unknown job(s) {sorted(unknown)}; expected some of {JOB_NAMES}")
        self._scheduler = None  # built in start(): nothing happens at construction
        self._lock = threading.Lock()
        self._runs: dict[str, JobRun] = {}
        self._running_jobs: set[str] = set()
        self._job_locks = {name: threading.Lock() for name in JOB_NAMES}
        self._dirty = {name: threading.Event() for name in JOB_NAMES}
        self._stopping = threading.Event()
        self._in_job = threading.local()
        self._listeners: list[Callable[[SchedulerState], None]] = []
        self._leading = threading.Event()
        if not standby:
            self._leading.set()

    # ------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    def start(self) -> None:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        if self.running:
            return
        self._stopping.clear()
        sched = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=len(JOB_NAMES))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        )
        now = datetime.now(UTC)
        for i, name in enumerate(self.jobs):
            sched.add_job(
                self._run_job, IntervalTrigger(seconds=self.intervals[name], jitter=min(2.0, self.intervals[name] / 10)),
                args=(name,), id=name, name=name, replace_existing=True,
                # First pass shortly after start, staggered so the jobs don't all hit the database at once.
                next_run_time=now + timedelta(seconds=0.2 * i),
            )
        sched.start()
        self._scheduler = sched
        log.info("scheduler %s started", self.worker_id)
        self._notify_listeners()

    def shutdown(self, wait: bool = True) -> None:
        """Stop ticking; running jobs finish their current batch (``wait``) and stop."""
        self._stopping.set()
        sched, self._scheduler = self._scheduler, None
        if sched is not None and sched.running:
            sched.shutdown(wait=wait)
        self.channel_registry.close()
        log.info("scheduler %s stopped", self.worker_id)
        self._notify_listeners()

    # ------------------------------------------------------------ leadership
    @property
    def leading(self) -> bool:
        return self._leading.is_set()

    def set_leader(self, leading: bool) -> None:
        """Take over (or give up) the periodic work; a new leader catches up at once."""
        if leading == self._leading.is_set():
            return
        if leading:
            self._leading.set()
            log.info("scheduler %s leads the periodic work", self.worker_id)
            for name in self.jobs:
                self.kick(name)
        else:
            self._leading.clear()
            log.info("scheduler %s stands by", self.worker_id)
        self._notify_listeners()

    # ------------------------------------------------------------ triggers
    def kick(self, name: str) -> None:
        """Run ``name`` as soon as possible (again after the current run, if it is running)."""
        if name not in JOB_NAMES:
            raise ValueError(f"unknown job {name!r}; expected one of {', '.join(JOB_NAMES)}")
        if name not in self.jobs:
            return  # not run by this process
        self._dirty[name].set()
        sched = self._scheduler
        if sched is None or not sched.running or self._stopping.is_set():
            return
        with self._lock:
            if name in self._running_jobs:
                return  # the running job sees the flag and runs once more
        try:
            sched.modify_job(name, next_run_time=datetime.now(UTC))
        except Exception:  # noqa: BLE001 - shutting down concurrently
            log.debug("kick(%s) ignored", name, exc_info=True)

    def on_commit(self, changes: Iterable[Change]) -> None:
        """Commit listener (``UnitOfWorkFactory.add_commit_listener``): kick the jobs the change feeds."""
        current = getattr(self._in_job, "name", None)
        wanted: set[str] = set()
        for change in changes:
            if change.entity in ASSIGN_ENTITIES and current != "assign":
                wanted.add("assign")
            if change.entity == "notification" and change.action in ("queued", "retry") and current != "notify":
                wanted.add("notify")
            if change.entity in ("attachment", "blob") and current != "rescan":
                wanted.add("rescan")
        for name in sorted(wanted):
            self.kick(name)

    def on_change(self, change: Change) -> None:
        """For the change listener (another workstation's commit): the leader's business."""
        if self._leading.is_set():
            self.on_commit((change,))

    # ------------------------------------------------------------ state
    @property
    def state(self) -> SchedulerState:
        with self._lock:
            runs = dict(self._runs)
            busy = tuple(sorted(self._running_jobs))
        failed = [r for r in runs.values() if not r.ok]
        latest = max(failed, key=lambda r: r.finished_at) if failed else None
        return SchedulerState(
            running=self.running,
            last_runs=runs,
            last_error=latest.error if latest else None,
            last_error_job=latest.name if latest else None,
            last_error_at=latest.finished_at if latest else None,
            busy=busy,
            leading=self._leading.is_set(),
        )

    def add_listener(self, callback: Callable[[SchedulerState], None]) -> None:
        """Called (on a job thread) whenever a job finishes or the scheduler starts/stops."""
        self._listeners.append(callback)

    def _notify_listeners(self) -> None:
        if not self._listeners:
            return
        st = self.state
        for cb in list(self._listeners):
            try:
                cb(st)
            except Exception:  # noqa: BLE001
                log.exception("scheduler state listener failed")

    # ------------------------------------------------------------ running
    def run_job(self, name: str) -> JobRun:
        """Run one job now on this thread (used by ``run_once`` and tests)."""
        if name not in JOB_NAMES:
            raise ValueError(f"unknown job {name!r}")
        with self._job_locks[name]:
            return self._execute(name)

    def run_once(self, jobs: Iterable[str] | None = None) -> dict[str, JobRun]:
        """Process all pending work once, in order, and return each job's outcome."""
        results: dict[str, JobRun] = {}
        jobs = tuple(jobs) if jobs is not None else self.jobs
        for name in jobs:
            results[name] = self.run_job(name)
        # Assignment queues notifications: send what it queued in the same pass.
        if "assign" in results and "notify" in jobs and results["assign"].ok and results["assign"].counts.get("assigned"):
            second = self.run_job("notify")
            first = results["notify"]
            results["notify"] = replace(
                second,
                started_at=first.started_at,
                counts={k: second.counts.get(k, 0) if k in GAUGES else first.counts.get(k, 0) + second.counts.get(k, 0)
                        for k in set(first.counts) | set(second.counts)},
                summary=f"{first.summary}; then {second.summary}" if first.ok else second.summary,
                ok=first.ok and second.ok,
                error=second.error or first.error,
            )
        return results

    def _run_job(self, name: str) -> None:
        if not self._leading.is_set() and not self._dirty[name].is_set():
            return  # a periodic tick on a standby: the leader sweeps
        if not self._job_locks[name].acquire(blocking=False):
            self._dirty[name].set()
            return
        try:
            for _ in range(MAX_RERUNS):
                self._dirty[name].clear()
                self._execute(name)
                if self._stopping.is_set() or not self._dirty[name].is_set():
                    break
        finally:
            self._job_locks[name].release()

    def _execute(self, name: str) -> JobRun:
        started = datetime.now(UTC)
        t0 = time.monotonic()
        with self._lock:
            self._running_jobs.add(name)
        self._in_job.name = name
        try:
            result = self._dispatch(name)
            run = JobRun(name, started, datetime.now(UTC), True, result.summary, None, dict(result.counts))
            if result.did_work:
                log.info("%s: %s", name, result.summary)
            if name == "assign" and result.counts.get("assigned"):
                self.kick("notify")
        except Exception as exc:  # noqa: BLE001 - a failed job is reported, never fatal
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if not isinstance(exc, (tasks.JobUnavailable, tasks.JobFailedPartly)):
                log.exception("job %s failed", name)
            else:
                log.warning("job %s: %s", name, message)
            counts = dict(getattr(exc, "counts", {}) or {})
            run = JobRun(name, started, datetime.now(UTC), False, "failed", message, counts)
        finally:
            self._in_job.name = None
            with self._lock:
                self._running_jobs.discard(name)
        with self._lock:
            self._runs[name] = run
        log.debug("job %s finished in %.3fs: %s", name, time.monotonic() - t0, run.summary)
        self._notify_listeners()
        return run

    def _dispatch(self, name: str) -> tasks.TaskResult:
        stop = self._stopping.is_set
        if name == "assign":
            return tasks.run_assign(uow_factory=self.uow_factory, limit=self.assign_limit,
                                    speed_kmh=self.settings.travel_speed_kmh, should_stop=stop)
        if name == "notify":
            return tasks.run_notify(uow_factory=self.uow_factory, channel_registry=self.channel_registry,
                                    limit=self.notify_limit, worker_id=self.worker_id,
                                    lease_seconds=self.notify_lease_seconds, should_stop=stop)
        if name == "rescan":
            return tasks.run_rescan(uow_factory=self.uow_factory, scanner=self._scanner(), limit=self.rescan_limit,
                                    should_stop=stop)
        if name == "plan":
            return tasks.run_plan(uow_factory=self.uow_factory, settings=self.settings)
        return tasks.run_housekeeping(uow_factory=self.uow_factory)

    def _scanner(self) -> Any:
        if self.scanner is None:
            from desk_desktop.services.scanning import scanner_from_settings

            self.scanner = scanner_from_settings(self.settings)
        return self.scanner
