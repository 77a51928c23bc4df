"""The in-process scheduler of one workstation: kicks after commits, state for the status
bar, honest errors, clean shutdown."""

from __future__ import annotations

import sys
import time

import pytest
from sqlalchemy import select

from desk_desktop.config import Settings
from desk_desktop.db.models import WorkOrder
from desk_desktop.jobs.scheduler import AppScheduler
from desk_desktop.services.channels import ChannelRegistry, InboxChannel
from desk_desktop.services.tickets import create_ticket
from tests.conftest import registry
from tests.notify_seed import seed


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_new_ticket_is_assigned_and_notified_right_after_commit(db, smtp):
    _, uow_factory = db
    sd = seed(uow_factory)
    # Sweeps are far apart: only the kick after the commit can make this fast.
    sched = AppScheduler(uow_factory, Settings(), channel_registry=registry(smtp.port),
                         intervals={"assign": 3600, "notify": 3600, "rescan": 3600, "housekeeping": 3600},
                         jobs=("assign", "notify", "housekeeping"))
    uow_factory.add_commit_listener(sched.on_commit)
    sched.start()
    try:
        wait_until(lambda: {"assign", "notify", "housekeeping"} <= set(sched.state.last_runs), 10, "first runs")
        assert sched.state.running
        created = create_ticket(uow=uow_factory(), actor=sd.actor, subject="No heating", category="hvac",
                                priority="high", customer_ref=sd.customer_refs[0], site_ref=sd.site_refs[0])
        wo_id = created.work_order.work_order_id

        def technician():
            with uow_factory() as uow:
                return uow.session.scalar(select(WorkOrder.technician_id).where(WorkOrder.id == wo_id))

        assert wait_until(technician, 10, "the assignment") == sd.technician_ids[0]
        got = smtp.wait_for(2, timeout=10)
        assert sorted(m.to for m in got) == ["customer0@customers.example", "tech0@techs.example"]
        state = sched.state
        assert state.last_runs["assign"].ok and state.last_error is None
        assert "Background jobs: running" in state.describe()
    finally:
        uow_factory.remove_commit_listener(sched.on_commit)
        sched.shutdown()
    assert not sched.state.running
    assert sched.state.describe().startswith("Background jobs: stopped")
    # After shutdown, kicks are ignored rather than failing.
    sched.kick("assign")


def test_a_failing_job_reports_its_error_instead_of_success_and_clears_when_it_works(db, monkeypatch):
    from desk_desktop.services import assignment

    _, uow_factory = db
    sched = AppScheduler(uow_factory, Settings(), channel_registry=ChannelRegistry([InboxChannel()]))

    def broken(**_kw):
        raise RuntimeError("the assignment query failed")

    monkeypatch.setattr(assignment, "assign_pending", broken)
    run = sched.run_job("assign")
    assert not run.ok
    assert "the assignment query failed" in run.error
    state = sched.state
    assert state.last_error == run.error and state.last_error_job == "assign"
    assert "last error in assign" in state.describe()
    monkeypatch.undo()
    assert sched.run_job("assign").ok
    assert sched.state.last_error is None  # resolved: the status bar clears


def test_run_once_processes_pending_work(db, smtp):
    _, uow_factory = db
    sd = seed(uow_factory, technicians=2, customers=2)
    for i in range(3):
        create_ticket(uow=uow_factory(), actor=sd.actor, subject=f"Fault {i}", category="hvac", priority="high",
                      customer_ref=sd.customer_refs[i % 2], site_ref=sd.site_refs[i % 2])
    sched = AppScheduler(uow_factory, Settings(), channel_registry=registry(smtp.port), jobs=("assign", "notify"))
    results = sched.run_once()
    assert results["assign"].counts["assigned"] == 3
    assert results["notify"].counts["sent"] == 9  # 3 × (technician email + inbox, customer email)
    assert len(smtp.received()) == 6
    again = sched.run_once()
    assert again["assign"].counts["assigned"] == 0 and again["notify"].counts["sent"] == 0


def test_unknown_job_names_are_refused(db):
    _, uow_factory = db
    with pytest.raises(ValueError):
        AppScheduler(uow_factory, Settings(), jobs=("assign", "coffee"))
    sched = AppScheduler(uow_factory, Settings())
    with pytest.raises(ValueError):
        sched.kick("coffee")


def _cli(url: str, *args: str, env_extra: dict[str, str] | None = None):
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("DESK_SMTP")}
    env.update(DESK_CLAMD="unix:/nonexistent/clamd.ctl", DESK_LOG_LEVEL="WARNING", **(env_extra or {}))
    env.pop("DESK_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "desk_desktop", "scheduler", "--database-url", url, *args],
                          env=env, capture_output=True, text=True, timeout=120)


def test_cli_once_processes_pending_work_and_exits_0(db):
    import json

    url, uow_factory = db
    sd = seed(uow_factory)
    create_ticket(uow=uow_factory(), actor=sd.actor, subject="Leaking unit", category="hvac", priority="high",
                  customer_ref=sd.customer_refs[0], site_ref=sd.site_refs[0])
    # No SMTP configured on this machine: the inbox is delivered, emails wait for a process that has it.
    proc = _cli(url, "--once", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is True
    assert report["jobs"]["assign"]["counts"]["assigned"] == 1
    assert report["jobs"]["notify"]["counts"]["sent"] == 1
    assert report["jobs"]["notify"]["counts"]["email_waiting"] == 2
    assert "email is not configured here" in report["jobs"]["notify"]["summary"]
    assert set(report["jobs"]) == {"assign", "notify", "rescan", "housekeeping"}
    with uow_factory() as uow:
        from desk_desktop.db.models import Notification

        statuses = sorted(uow.session.execute(select(Notification.channel, Notification.status)).all())
    assert statuses == [("email", "pending"), ("email", "pending"), ("inbox", "sent")]


def test_cli_reports_failures_with_a_non_zero_exit(db):
    url, _ = db
    proc = _cli(url, "--once", "--jobs", "assign,coffee")
    assert proc.returncode == 1
    assert "unknown job(s): coffee" in proc.stderr


def test_headless_scheduler_assigns_another_workstations_ticket_at_once(db, smtp, tmp_path):
    """Sweeps an hour apart: only LISTEN/NOTIFY can get the new ticket's order assigned quickly."""
    import os
    import signal
    import subprocess

    from sqlalchemy import text

    url, uow_factory = db
    sd = seed(uow_factory)
    env = {k: v for k, v in os.environ.items() if k != "DESK_DATABASE_URL"}
    # DEBUG: the scheduler reports each finished job ("job assign finished in …").
    env.update(DESK_SMTP_URL=smtp.url, DESK_CLAMD="unix:/nonexistent/clamd.ctl", DESK_LOG_LEVEL="DEBUG")
    log = tmp_path / "scheduler.log"
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "desk_desktop", "scheduler", "--database-url", url,
                                 "--interval", "3600", "--jobs", "assign,notify"],
                                env=env, stdout=subprocess.DEVNULL, stderr=err, text=True)
    try:
        def listening():
            with uow_factory() as uow:
                return uow.session.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'desk-desktop listener' "
                    "AND datname = current_database()")).scalar_one()

        wait_until(listening, 60, "the scheduler's listener")
        # Its first (empty) sweep is over: from now on only a notification runs the assign job.
        wait_until(lambda: "job assign finished" in log.read_text(), 60, "the scheduler's first assign sweep")
        created = create_ticket(uow=uow_factory(), actor=sd.actor, subject="Boiler out", category="hvac",
                                priority="urgent", customer_ref=sd.customer_refs[0], site_ref=sd.site_refs[0])
        committed = time.monotonic()
        wo_id = created.work_order.work_order_id

        def technician():
            with uow_factory() as uow:
                return uow.session.scalar(select(WorkOrder.technician_id).where(WorkOrder.id == wo_id))

        assert wait_until(technician, 15, "the assignment") == sd.technician_ids[0]
        assert time.monotonic() - committed < 15
        assert len(smtp.wait_for(2, timeout=15)) == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    err = log.read_text()
    assert proc.returncode == 0, err[-2000:]
    assert "scheduler stopped" in err
