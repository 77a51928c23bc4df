"""desk-desktop scheduler [--once] — the background jobs, headless.

Without ``--once`` it runs until SIGTERM/SIGINT: the same ``AppScheduler`` a workstation
runs, plus a change listener so other workstations' commits kick the ``assign`` job at
once. With ``--once`` it processes the pending work (assign, notify, rescan,
housekeeping) and exits: 0 if every job succeeded, 1 otherwise (the failures are printed).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from desk_desktop.cli import CliContext, CliError


def register(sub, common) -> None:
    p = sub.add_parser("scheduler", parents=[common], help="run the background jobs headless")
    p.add_argument("--once", action="store_true", help="process pending work once and exit")
    p.add_argument("--jobs", default="assign,notify,rescan,housekeeping",
                   help="comma-separated jobs to run (default: all)")
    p.add_argument("--interval", type=float, default=None,
                   help="seconds between sweeps of the assign and notify jobs (default 30 / 15)")
    p.add_argument("--lease-seconds", type=float, default=None,
                   help="how long a claimed notification stays reserved for this process (default 300)")
    p.add_argument("--worker-id", default=None, help="name of this process in claims (default host:pid)")
    p.set_defaults(func=run)


def _build(ctx: CliContext):
    from desk_desktop.jobs.scheduler import DEFAULT_INTERVALS, JOB_NAMES, AppScheduler
    from desk_desktop.services.notifications import DEFAULT_LEASE_SECONDS

    args = ctx.args
    jobs = tuple(j.strip() for j in args.jobs.split(",") if j.strip())
    unknown = [j for j in jobs if j not in JOB_NAMES]
    if unknown:
        raise CliError(f"unknown job(s): {', '.join(unknown)}; choose from {', '.join(JOB_NAMES)}")
    intervals = dict(DEFAULT_INTERVALS)
    if args.interval is not None:
        if args.interval <= 0:
            raise CliError("--interval must be positive")
        intervals.update(assign=args.interval, notify=args.interval)
    db = ctx.database()
    scheduler = AppScheduler(
        db.uow_factory, ctx.settings, intervals=intervals, worker_id=args.worker_id,
        notify_lease_seconds=args.lease_seconds or DEFAULT_LEASE_SECONDS, jobs=jobs,
    )
    return db, scheduler, jobs


def run(ctx: CliContext) -> int:
    default_level = "WARNING" if ctx.args.once else "INFO"
    logging.basicConfig(level=os.environ.get("DESK_LOG_LEVEL", default_level),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if logging.getLogger().level > logging.DEBUG:
        # APScheduler logs every tick at INFO; our jobs log what matters.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    db, scheduler, jobs = _build(ctx)
    if ctx.args.once:
        results = scheduler.run_once()
        ok = all(r.ok for r in results.values())
        data = {
            "ok": ok,
            "worker_id": scheduler.worker_id,
            "jobs": {name: {"ok": r.ok, "summary": r.summary, "error": r.error, "counts": r.counts,
                            "seconds": round(r.duration_seconds, 3)} for name, r in results.items()},
        }
        lines = [f"{name:13} {'ok    ' if r.ok else 'FAILED'} {r.error or r.summary}" for name, r in results.items()]
        ctx.emit(data, "\n".join(lines))
        if not ok and not ctx.json:
            for name, r in results.items():
                if not r.ok:
                    print(f"error: {name}: {r.error}", file=sys.stderr)
        return 0 if ok else 1

    from desk_desktop.db.listen import ChangeListener

    stop = threading.Event()

    def _on_signal(signum, frame):  # noqa: ARG001
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    listener = ChangeListener(db.url, on_change=scheduler.on_change, on_reconnect=lambda: scheduler.kick("assign"))
    db.uow_factory.add_commit_listener(scheduler.on_commit)
    scheduler.start()
    listener.start()
    print(f"scheduler {scheduler.worker_id} running jobs: {', '.join(jobs)} (Ctrl+C to stop)", file=sys.stderr,
          flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        listener.stop()
        db.uow_factory.remove_commit_listener(scheduler.on_commit)
        scheduler.shutdown(wait=True)
        print("scheduler stopped", file=sys.stderr, flush=True)
    return 0
