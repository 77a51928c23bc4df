"""The notification outbox against a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from desk_desktop.config import Settings, SmtpSettings
from desk_desktop.db.models import Notification, WorkOrder
from desk_desktop.jobs.scheduler import AppScheduler
from desk_desktop.services import attention, notifications
from desk_desktop.services.channels import ChannelRegistry, EmailChannel, InboxChannel
from desk_desktop.services.notifications import (
    EVENT_ASSIGNED,
    EVENT_RESCHEDULED,
    EVENT_UNASSIGNED,
    MAX_ATTEMPTS,
    NotificationNotRetryable,
)
from tests.conftest import acting_as
from tests.notify_seed import assigned_order, seed
from tests.smtp_recorder import SmtpRecorder, free_port


@pytest.fixture
def smtp():
    rec = SmtpRecorder().start()
    yield rec
    rec.stop()


def registry(port: int) -> ChannelRegistry:
    return ChannelRegistry([InboxChannel(), EmailChannel(SmtpSettings(host="127.0.0.1", port=port, timeout=5,
                                                                      from_address="dispatch@acme.example"))])


def db_now(uow_factory):
    with uow_factory() as uow:
        return uow.session.execute(select(func.now())).scalar_one()


def rows(uow_factory, **where):
    with uow_factory() as uow:
        q = select(Notification).order_by(Notification.id)
        for k, v in where.items():
            q = q.where(getattr(Notification, k) == v)
        found = list(uow.session.scalars(q))
        for n in found:
            uow.session.expunge(n)  # plain values after the (read-only) transaction ends
        return found


def enqueue(uow_factory, wo_id, event, **kw) -> int:
    return notifications.enqueue_work_order_event(uow=uow_factory(), work_order_id=wo_id, event=event, **kw)


# ------------------------------------------------------------------ auto-assignment end to end


def test_auto_assigned_order_sends_one_technician_and_one_customer_email(uow_factory, smtp):
    from desk_desktop.services.tickets import create_ticket

    sd = seed(uow_factory, technicians=1, customers=1)
    created = create_ticket(uow=uow_factory(), actor=sd.actor, subject="Air conditioning is down",
                            category="hvac", priority="high", customer_ref=sd.customer_refs[0],
                            site_ref=sd.site_refs[0])
    assert created.work_order is not None, "the HVAC rule should have created a work order"
    scheduler = AppScheduler(uow_factory, Settings(), channel_registry=registry(smtp.port), jobs=("assign", "notify"))
    results = scheduler.run_once()
    assert all(r.ok for r in results.values()), {k: r.error for k, r in results.items()}
    # A second pass (another workstation, a later tick) must not send anything again.
    assert all(r.ok for r in scheduler.run_once().values())

    with uow_factory() as uow:
        wo = uow.session.get(WorkOrder, created.work_order.work_order_id)
        assert wo.technician_id == sd.technician_ids[0]
        start, end = wo.scheduled_start, wo.scheduled_end
    got = smtp.received()
    assert sorted(m.to for m in got) == ["customer0@customers.example", "tech0@techs.example"]
    wo_number = created.work_order.number
    ticket_number = created.ticket.number
    window = f"{start:%H:%M}–{end:%H:%M}" if start and end and start.date() == end.date() else None
    for m in got:
        assert m.message["From"] == "dispatch@acme.example"
        for body in (m.text, m.html):
            assert wo_number in body
            assert ticket_number in body
            assert "100 N Clark St, Chicago, IL 60602" in body
            assert "Grace" in body and "Hopper" not in body.split("Hello")[-1].split("\n")[0]
            if window:
                assert window in body
    tech_mail = next(m for m in got if m.to == "tech0@techs.example")
    assert tech_mail.text.startswith("Hello Grace,")
    assert wo_number in tech_mail.subject
    customer_mail = next(m for m in got if m.to == "customer0@customers.example")
    assert customer_mail.text.startswith("Dear Ada Lovelace,")
    assert ticket_number in customer_mail.subject
    # The technician's in-app inbox got it too; every row is sent, none pending.
    statuses = sorted((n.channel, n.recipient_kind, n.status) for n in rows(uow_factory))
    assert statuses == [("email", "customer", "sent"), ("email", "technician", "sent"),
                        ("inbox", "technician", "sent")]


# ------------------------------------------------------------------ idempotency and flags


def test_same_event_is_queued_once_and_a_new_assignment_is_a_new_event(uow_factory, smtp):
    sd = seed(uow_factory, technicians=2, rule=False)
    wo_id = assigned_order(uow_factory, sd)
    assert enqueue(uow_factory, wo_id, EVENT_ASSIGNED) == 3  # tech email + inbox, customer email
    assert enqueue(uow_factory, wo_id, EVENT_ASSIGNED) == 0
    # Same visit: the customer was already told; the technician is told its time (with the
    # calendar invitation: an order assigned before it had a time got none), once.
    assert enqueue(uow_factory, wo_id, "work_order.scheduled") == 2
    assert enqueue(uow_factory, wo_id, "work_order.scheduled") == 0
    notifications.send_due(uow_factory=uow_factory, channel_registry=registry(smtp.port))
    assert len(smtp.received()) == 3

    # Unassign from Grace and give it to the second technician: both are new events.
    with uow_factory() as uow:
        wo = uow.session.get(WorkOrder, wo_id)
        old = wo.technician_id
        wo.technician_id = sd.technician_ids[1]
        wo.assigned_at = wo.assigned_at + timedelta(hours=1)
        uow.commit()
    assert enqueue(uow_factory, wo_id, EVENT_UNASSIGNED, technician_id=old) == 2
    assert enqueue(uow_factory, wo_id, EVENT_ASSIGNED) == 3
    notifications.send_due(uow_factory=uow_factory, channel_registry=registry(smtp.port))
    got = smtp.received()
    assert [m.to for m in got[3:]].count("tech0@techs.example") == 1  # the unassignment
    assert "no longer assigned" in next(m for m in got[3:] if m.to == "tech0@techs.example").text
    assert [m.to for m in got[3:]].count("tech1@techs.example") == 1
    assert [m.to for m in got[3:]].count("customer0@customers.example") == 1  # new technician for the visit
    assert len({m.key for m in got}) == len(got) == 6


def test_another_organization_cannot_block_a_notification_by_pre_inserting_its_key(uow_factory):
    """Idempotency keys are predictable; they are unique per organization, not globally."""
    sd = seed(uow_factory, technicians=1, rule=False)
    wo_id = assigned_order(uow_factory, sd)
    with uow_factory() as uow:
        wo = uow.session.get(WorkOrder, wo_id)
        key = (f"work_order.assigned:wo{wo_id}:t{wo.technician_id}@"
               f"{notifications.enqueue._iso(wo.assigned_at)}:technician{wo.technician_id}:email")
    other = seed(uow_factory, slug="rival", technicians=1, rule=False)
    rival_wo = assigned_order(uow_factory, other)
    # The rival squats on the victim's key (in a row its own organization's rules accept:
    # about its own order, to its own technician's address).
    with acting_as(uow_factory, other.actor), uow_factory() as uow:
        uow.session.add(Notification(organization_id=other.actor.organization_id, idempotency_key=key,
                                     event=EVENT_ASSIGNED, channel="email", recipient_kind="technician",
                                     recipient_id=other.technician_ids[0], recipient_address="tech0@techs.example",
                                     work_order_id=rival_wo, subject="squat", body_text="squat"))
        uow.commit()
    assert enqueue(uow_factory, wo_id, EVENT_ASSIGNED) == 3
    mine = rows(uow_factory, work_order_id=wo_id)
    assert key in {n.idempotency_key for n in mine}
    assert {n.organization_id for n in mine} == {sd.actor.organization_id}
    assert enqueue(uow_factory, wo_id, EVENT_ASSIGNED) == 0  # still idempotent within the organization


@pytest.mark.parametrize(("notify_customer", "notify_technician", "expected"), [
    (False, True, {("technician", "email"), ("technician", "inbox")}),
    (True, False, {("customer", "email")}),
    (False, False, set()),
])
def test_rule_flags_are_honoured(uow_factory, notify_customer, notify_technician, expected):
    sd = seed(uow_factory, rule=False)
    wo_id = assigned_order(uow_factory, sd, notify_customer=notify_customer, notify_technician=notify_technician)
    enqueue(uow_factory, wo_id, EVENT_ASSIGNED)
    enqueue(uow_factory, wo_id, EVENT_RESCHEDULED)
    assert {(n.recipient_kind, n.channel) for n in rows(uow_factory)} == expected


def test_recipient_without_email_is_skipped_with_the_reason(uow_factory, smtp):
    sd = seed(uow_factory, rule=False, tech_email=False, customer_email=False)
    wo_id = assigned_order(uow_factory, sd)
    assert enqueue(uow_factory, wo_id, EVENT_ASSIGNED) == 3
    report = notifications.send_due(uow_factory=uow_factory, channel_registry=registry(smtp.port))
    assert report.sent == 1  # only the technician's in-app inbox
    assert smtp.received() == []
    emails = rows(uow_factory, channel="email")
    assert {(n.recipient_kind, n.status) for n in emails} == {("technician", "skipped"), ("customer", "skipped")}
    reasons = {n.recipient_kind: n.last_error for n in emails}
    assert reasons["technician"] == "Technician Grace Hopper has no email address"
    assert reasons["customer"] == "Customer Ada Lovelace has no email address"
    # Once the address is known, a dispatcher can send it after all.
    with uow_factory() as uow:
        from desk_desktop.db.models import Technician

        uow.session.get(Technician, sd.technician_ids[0]).email = "grace@techs.example"
        uow.commit()
    tech_row = next(n for n in emails if n.recipient_kind == "technician")
    view = notifications.retry_notification(uow=uow_factory(), actor=sd.actor, notification_id=tech_row.id)
    assert (view.status, view.recipient_address) == ("pending", "grace@techs.example")
    customer_row = next(n for n in emails if n.recipient_kind == "customer")
    with pytest.raises(NotificationNotRetryable, match="still has no email address"):
        notifications.retry_notification(uow=uow_factory(), actor=sd.actor, notification_id=customer_row.id)
    notifications.send_due(uow_factory=uow_factory, channel_registry=registry(smtp.port))
    assert [m.to for m in smtp.received()] == ["grace@techs.example"]


# ------------------------------------------------------------------ retries, backoff, dead letters


def test_smtp_down_then_up_retries_with_backoff_and_delivers_exactly_once(uow_factory):
    sd = seed(uow_factory, rule=False)
    wo_id = assigned_order(uow_factory, sd, notify_customer=False)
    enqueue(uow_factory, wo_id, EVENT_ASSIGNED)
    port = free_port()  # nothing listens yet: the mail server is down
    t0 = db_now(uow_factory)

    first = notifications.send_due(uow_factory=uow_factory, channel_registry=registry(port), now=t0)
    assert (first.sent, first.failed) == (1, 1)  # inbox delivered, email failed
    [row] = notifications.list_notifications(uow=uow_factory(), actor=sd.actor, channel="email")
    assert (row.status, row.attempts) == ("pending", 1)
    assert "connection refused" in row.last_error
    assert t0 + timedelta(seconds=15) <= row.next_attempt_at <= t0 + timedelta(seconds=30)

    second = notifications.send_due(uow_factory=uow_factory, channel_registry=registry(port),
                                    now=row.next_attempt_at)
    assert second.failed == 1
    [row2] = notifications.list_notifications(uow=uow_factory(), actor=sd.actor, channel="email")
    assert row2.attempts == 2
    gap = row2.next_attempt_at - row.next_attempt_at
    assert timedelta(seconds=30) <= gap <= timedelta(seconds=60)  # it backs off exponentially

    smtp = SmtpRecorder(port=port).start()
    try:
        early = notifications.send_due(uow_factory=uow_factory, channel_registry=registry(port),
                                       now=row2.next_attempt_at - timedelta(seconds=1))
        assert early.claimed == 0  # not due yet: no retry storm
        done = notifications.send_due(uow_factory=uow_factory, channel_registry=registry(port),
                                      now=row2.next_attempt_at)
        assert done.sent == 1
        for _ in range(3):  # later ticks send nothing more
            notifications.send_due(uow_factory=uow_factory, channel_registry=registry(port),
                                   now=row2.next_attempt_at + timedelta(hours=2))
        got = smtp.received()
        assert [m.to for m in got] == ["tech0@techs.example"]
        [sent] = notifications.list_notifications(uow=uow_factory(), actor=sd.actor, channel="email")
        assert (sent.status, sent.attempts, sent.last_error) == ("sent", 3, None)
        assert sent.sent_at == row2.next_attempt_at
    finally:
        smtp.stop()


def test_after_eight_failed_attempts_the_notification_is_dead_and_can_be_retried(uow_factory):
    sd = seed(uow_factory, rule=False)
    wo_id = assigned_order(uow_factory, sd, notify_customer=False)
    enqueue(uow_factory, wo_id, EVENT_ASSIGNED)
    port = free_port()
    at = db_now(uow_factory)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        notifications.send_due(uow_factory=uow_factory, channel_registry=registry(port), now=at)
        [row] = notifications.list_notifications(uow=uow_factory(), actor=sd.actor, channel="email")
        assert row.attempts == attempt
        if attempt < MAX_ATTEMPTS:
            assert row.status == "pending"
            at = row.next_attempt_at
    assert row.status == "dead"
    assert row.last_error.startswith("gave up after 8 attempts")
    # Dead rows are never picked up again by the job...
    assert notifications.send_due(uow_factory=uow_factory, channel_registry=registry(port),
                                  now=at + timedelta(days=1)).claimed == 0
    # ...and a dispatcher sees it in the attention list.
    att = attention.list_attention(uow=uow_factory(), actor=sd.actor)
    assert [d.notification_id for d in att.dead_notifications] == [row.id]
    assert att.dead_notifications[0].work_order_number == f"WO-{wo_id:06d}"
    assert "connection refused" in att.dead_notifications[0].last_error

    smtp = SmtpRecorder(port=port).start()
    try:
        retried = notifications.retry_notification(uow=uow_factory(), actor=sd.actor, notification_id=row.id)
        assert (retried.status, retried.attempts) == ("pending", 0)
        assert notifications.send_due(uow_factory=uow_factory, channel_registry=registry(port)).sent == 1
        assert [m.to for m in smtp.received()] == ["tech0@techs.example"]
        assert attention.list_attention(uow=uow_factory(), actor=sd.actor).dead_notifications == ()
    finally:
        smtp.stop()


def test_address_refused_by_the_server_is_dead_at_once(uow_factory, smtp):
    sd = seed(uow_factory, rule=False)
    wo_id = assigned_order(uow_factory, sd, notify_customer=False)
    smtp.refuse.add("tech0@techs.example")
    enqueue(uow_factory, wo_id, EVENT_ASSIGNED)
    report = notifications.send_due(uow_factory=uow_factory, channel_registry=registry(smtp.port))
    assert report.dead == 1
    [row] = notifications.list_notifications(uow=uow_factory(), actor=sd.actor, channel="email")
    assert (row.status, row.attempts) == ("dead", 1)
    assert "550" in row.last_error and "tech0@techs.example" in row.last_error


def test_a_rolled_back_change_queues_nothing(uow_factory):
    sd = seed(uow_factory, rule=False)
    wo_id = assigned_order(uow_factory, sd)
    uow = uow_factory()
    with uow:
        notifications.enqueue_work_order_event(uow=uow, work_order_id=wo_id, event=EVENT_ASSIGNED)
        # no commit: the assignment failed later in the same transaction
    assert rows(uow_factory) == []


# ------------------------------------------------------------------ SMTP transport security


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    import subprocess

    d = tmp_path_factory.mktemp("smtp-cert")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
                   check=True, capture_output=True)
    return d / "cert.pem", d / "key.pem"


def _server_ctx(certificate):
    import ssl

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*map(str, certificate))
    return ctx


def _client_ctx(certificate):
    import ssl

    return ssl.create_default_context(cafile=str(certificate[0]))


def _message(to: str = "grace@techs.example"):
    from desk_desktop.services.channels import OutgoingMessage

    return OutgoingMessage(notification_id=1, idempotency_key="k:1", channel="email", recipient_address=to,
                           subject="New job: WO-000001", body_text="Hello Grace,", body_html="<p>Hello Grace,</p>",
                           organization_id=1)


def test_starttls_and_login_are_used_when_configured(certificate):
    from desk_desktop.services.channels import DeliveryFailed

    server = SmtpRecorder(users={"dispatch": "s3cret"}, starttls_context=_server_ctx(certificate)).start()
    try:
        settings = SmtpSettings(host="127.0.0.1", port=server.port, starttls=True, user="dispatch", password="s3cret",
                                from_address="dispatch@acme.example", timeout=5)
        channel = EmailChannel(settings, ssl_context=_client_ctx(certificate))
        channel.send(_message())
        channel.close()
        [got] = server.received()
        assert got.to == "grace@techs.example" and got.message["From"] == "dispatch@acme.example"
        assert server.logins == ["dispatch"] and server.tls_sessions == 1
        # A wrong password is reported in words, and the message is not lost (it is retried).
        bad = EmailChannel(SmtpSettings(host="127.0.0.1", port=server.port, starttls=True, user="dispatch",
                                        password="nope", timeout=5), ssl_context=_client_ctx(certificate))
        with pytest.raises(DeliveryFailed, match="refused the login") as err:
            bad.send(_message())
        assert not err.value.permanent
        # Without STARTTLS this server refuses to take mail at all.
        plain = EmailChannel(SmtpSettings(host="127.0.0.1", port=server.port, timeout=5))
        with pytest.raises(DeliveryFailed):
            plain.send(_message())
        assert len(server.received()) == 1
    finally:
        server.stop()


def test_implicit_tls_smtps(certificate):
    server = SmtpRecorder(tls_context=_server_ctx(certificate)).start()
    try:
        settings = SmtpSettings.from_url(f"smtps://127.0.0.1:{server.port}", "dispatch@acme.example")
        assert settings.use_tls
        channel = EmailChannel(settings, ssl_context=_client_ctx(certificate))
        channel.send(_message())
        channel.close()
        assert [m.to for m in server.received()] == ["grace@techs.example"]
        # The port speaks TLS only: a plain SMTP client gets nowhere.
        from desk_desktop.services.channels import DeliveryFailed

        with pytest.raises(DeliveryFailed, match="cannot reach the mail server"):
            EmailChannel(SmtpSettings(host="127.0.0.1", port=server.port, timeout=2)).send(_message())
        assert len(server.received()) == 1
    finally:
        server.stop()


def test_a_message_whose_sender_keeps_dying_ends_dead_instead_of_looping(uow_factory):
    from desk_desktop.jobs.tasks import run_housekeeping

    sd = seed(uow_factory, rule=False)
    wo_id = assigned_order(uow_factory, sd, notify_customer=False, notify_technician=True)
    enqueue(uow_factory, wo_id, EVENT_ASSIGNED)
    at = db_now(uow_factory)
    for i in range(MAX_ATTEMPTS):
        # A sender claims it and dies (its lease is never released, only expires).
        _, claimed = notifications.sending._claim(uow_factory, channels=("email",), now=at, limit=10,
                                          worker_id=f"crashing{i}", lease_seconds=60)
        assert len(claimed) == 1
        at += timedelta(seconds=61)
    assert notifications.sending._claim(uow_factory, channels=("email",), now=at, limit=10, worker_id="next",
                                lease_seconds=60)[1] == []
    result = run_housekeeping(uow_factory=uow_factory, now=at)
    assert result.counts["expired"] == 1
    [row] = notifications.list_notifications(uow=uow_factory(), actor=sd.actor, channel="email")
    assert (row.status, row.attempts) == ("dead", MAX_ATTEMPTS)
    assert "interrupted 8 times" in row.last_error
