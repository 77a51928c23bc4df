"""Several scheduler processes on one database share the work and never do it twice.

Real processes (``python -m desk_desktop scheduler``), a real SMTP server that counts what
it receives, real tickets through ``create_ticket`` (numbering + automation) and the real
assignment service.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

from sqlalchemy import func, select, text, update

from desk_desktop.db.models import AuditEntry, Customer, Notification, WorkOrder
from desk_desktop.services.tickets import create_ticket
from tests.notify_seed import seed
from tests.smtp_recorder import SmtpRecorder


def _env(smtp: SmtpRecorder) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DESK_SMTP_URL=smtp.url, DESK_SMTP_FROM="dispatch@acme.example", DESK_LOG_LEVEL="WARNING")
    env.pop("DESK_DATABASE_URL", None)
    return env


def scheduler_cmd(url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "desk_desktop", "scheduler", "--database-url", url, "--jobs", "assign,notify",
            *extra]


def create_tickets(uow_factory, sd, n: int) -> None:
    for i in range(n):
        create_ticket(uow=uow_factory(), actor=sd.actor, subject=f"Cooling fault #{i}", category="hvac",
                      priority="high", customer_ref=sd.customer_refs[i % len(sd.customer_refs)],
                      site_ref=sd.site_refs[i % len(sd.site_refs)])


def check_everything_done_once(uow_factory, smtp: SmtpRecorder, n_orders: int) -> list:
    with uow_factory() as uow:
        s = uow.session
        orders = s.execute(select(WorkOrder.id, WorkOrder.technician_id, WorkOrder.status,
                                  WorkOrder.needs_assignment)).all()
        assert len(orders) == n_orders
        assert all(o.technician_id is not None and not o.needs_assignment for o in orders), \
            [o for o in orders if o.technician_id is None][:5]
        assert {o.status for o in orders} <= {"assigned", "scheduled"}
        # Assigned exactly once: one assignment decision in the audit trail per order.
        per_order = Counter(s.scalars(select(AuditEntry.entity_id).where(AuditEntry.action == "work_order.assigned")))
        assert set(per_order) == {o.id for o in orders}
        assert set(per_order.values()) == {1}
        rows = s.execute(select(Notification.idempotency_key, Notification.channel, Notification.status,
                                Notification.recipient_address, Notification.attempts)).all()
    # Every order told its technician (email + inbox) and its customer (email).
    assert len(rows) == 3 * n_orders
    assert Counter(r.status for r in rows) == Counter({"sent": 3 * n_orders}), Counter(r.status for r in rows)
    emails = {r.idempotency_key: r for r in rows if r.channel == "email"}
    got = smtp.received()
    keys = Counter(m.key for m in got)
    doubled = [k for k, c in keys.items() if c > 1]
    assert doubled == [], f"sent twice: {doubled[:5]}"
    assert set(keys) == set(emails), "every email row sent, nothing else"
    for m in got:
        assert m.rcpt_tos == (emails[m.key].recipient_address,)
    return rows


def test_five_scheduler_processes_share_500_tickets_exactly_once(db, smtp):
    url, uow_factory = db
    sd = seed(uow_factory, technicians=25, customers=20)
    create_tickets(uow_factory, sd, 500)
    with uow_factory() as uow:
        assert uow.session.scalar(select(func.count()).select_from(WorkOrder).where(WorkOrder.needs_assignment)) == 500

    procs = [subprocess.Popen(scheduler_cmd(url, "--once", "--json", "--worker-id", f"w{i}"), env=_env(smtp),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(5)]
    outputs = []
    for p in procs:
        out, err = p.communicate(timeout=400)
        assert p.returncode == 0, err[-3000:]
        outputs.append(json.loads(out))
    check_everything_done_once(uow_factory, smtp, 500)
    # The processes' own reports add up to exactly the work there was: nothing done twice.
    assigned = sum(o["jobs"]["assign"]["counts"].get("assigned", 0) for o in outputs)
    sent = sum(o["jobs"]["notify"]["counts"].get("sent", 0) for o in outputs)
    assert assigned == 500
    assert sent == 1500
    assert len(smtp.received()) == 1000
    print("assigned per process:", [o["jobs"]["assign"]["counts"].get("assigned", 0) for o in outputs],
          "sent per process:", [o["jobs"]["notify"]["counts"].get("sent", 0) for o in outputs])


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_killed_scheduler_loses_nothing_and_doubles_nothing(db, smtp):
    url, uow_factory = db
    sd = seed(uow_factory, technicians=3, customers=4)
    # The mail server will hang while talking about this customer's message: the sender is
    # then frozen in the middle of a delivery, holding claimed work.
    with uow_factory() as uow:
        uow.session.execute(update(Customer).where(Customer.id == sd.customer_ids[1])
                            .values(email="stall@customers.example"))
        uow.commit()
    smtp.stall("stall@customers.example")
    create_tickets(uow_factory, sd, 24)
    env = _env(smtp)
    victim = subprocess.Popen(scheduler_cmd(url, "--interval", "0.5", "--lease-seconds", "4", "--worker-id", "victim"),
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    others: list[subprocess.Popen] = []
    try:
        assert smtp.stalled.wait(60), "the victim never reached the stalled delivery"

        def victim_claims():
            with uow_factory() as uow:
                return uow.session.execute(
                    select(Notification.id, Notification.recipient_address, Notification.attempts)
                    .where(Notification.claimed_by == "victim")).all()

        held = _wait(victim_claims, 10, "the victim's claims")
        assert "stall@customers.example" in {h.recipient_address for h in held}
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        delivered_before = len(smtp.received())
        smtp.stalled_addresses.clear()  # the mail server works normally again

        others = [subprocess.Popen(scheduler_cmd(url, "--interval", "0.5", "--lease-seconds", "4",
                                                 "--worker-id", f"survivor{i}"),
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                  for i in range(2)]

        def all_sent():
            with uow_factory() as uow:
                return uow.session.scalar(text("SELECT count(*) = 72 AND bool_and(status = 'sent') "
                                               "FROM notifications"))

        _wait(all_sent, 90, "the survivors to finish the victim's work")
        rows = check_everything_done_once(uow_factory, smtp, 24)
        assert len(smtp.received()) > delivered_before
        # The stalled message was tried by the victim (killed) and delivered by a survivor.
        stalled = [r for r in rows if r.recipient_address == "stall@customers.example"]
        with uow_factory() as uow:
            attempts = dict(uow.session.execute(select(Notification.id, Notification.attempts)
                                                .where(Notification.id.in_([h.id for h in held]))).all())
        # Everything the victim held was sent by a survivor; its interrupted try is counted.
        assert set(attempts.values()) == {2}, attempts
        assert [m.rcpt_tos for m in smtp.received()].count(("stall@customers.example",)) == len(stalled)
    finally:
        if victim.poll() is None:
            victim.kill()
        for p in others:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in others:
            try:
                _, err = p.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                raise
            # SIGTERM is a clean shutdown: exit status 0.
            assert p.returncode == 0, err[-3000:]
