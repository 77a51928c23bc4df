"""Calendar invitations in the technicians' e-mails, through the real SMTP server (aiosmtpd):
one UID per work order, a SEQUENCE that rises with each change, REQUEST and CANCEL — and the
same invitation saved from the command line."""

from __future__ import annotations

from datetime import timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import select, text

from desk_desktop.cli import main
from desk_desktop.config import Settings
from desk_desktop.db.models import Notification, Organization, WorkOrder
from desk_desktop.jobs.scheduler import AppScheduler
from desk_desktop.services import lifecycle, notifications
from desk_desktop.services.assignment import assign_work_order, reschedule_work_order, unassign_work_order
from desk_desktop.services.tickets import create_ticket
from tests.conftest import registry, url_as
from tests.notify_seed import assigned_order, seed

ZONE = "America/Chicago"
ADDRESS = "100 N Clark St, Chicago, IL 60602"
TECH0, TECH1 = "tech0@techs.example", "tech1@techs.example"


def set_zone(uow_factory, sd, zone=ZONE) -> None:
    with uow_factory() as uow:
        uow.session.get(Organization, sd.actor.organization_id).timezone = zone
        uow.commit()


def new_order(uow_factory, sd, subject="Air conditioning is down, again") -> int:
    """A ticket whose rule makes an order; the assign job assigns (and schedules) it."""
    created = create_ticket(uow=uow_factory(), actor=sd.actor, subject=subject, category="hvac", priority="high",
                            customer_ref=sd.customer_refs[0], site_ref=sd.site_refs[0])
    return created.work_order.work_order_id


def run_jobs(uow_factory, smtp) -> None:
    scheduler = AppScheduler(uow_factory, Settings(), channel_registry=registry(smtp.port), jobs=("assign", "notify"))
    results = scheduler.run_once()
    assert all(r.ok for r in results.values()), {k: r.error for k, r in results.items()}


def send(uow_factory, smtp) -> None:
    notifications.send_due(uow_factory=uow_factory, channel_registry=registry(smtp.port))


def order(uow_factory, wo_id) -> WorkOrder:
    with uow_factory() as uow:
        wo = uow.session.get(WorkOrder, wo_id)
        uow.session.expunge(wo)
        return wo


def invitation(mail):
    """(METHOD of the text/calendar part, its VEVENT) of a received e-mail; the attached
    .ics must be the same bytes."""
    parts = [p for p in mail.message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1, f"{mail.subject}: expected one text/calendar part"
    ics = parts[0].get_content()
    attached = [p for p in mail.message.walk() if p.get_filename() in ("invite.ics", "cancel.ics")]
    assert len(attached) == 1 and attached[0].get_content().decode() == ics
    cal = Calendar.from_ical(ics)
    assert str(cal["METHOD"]) == parts[0].get_param("method")
    (event,) = cal.walk("VEVENT")
    return str(cal["METHOD"]), event


def mails_to(smtp, address, since=0):
    return [m for m in smtp.received()[since:] if m.to == address]


def test_assign_reschedule_reassign_unassign_carry_one_uid_and_a_rising_sequence(uow_factory, smtp):
    sd = seed(uow_factory, technicians=2)
    set_zone(uow_factory, sd)
    wo_id = new_order(uow_factory, sd)
    run_jobs(uow_factory, smtp)
    wo = order(uow_factory, wo_id)
    assert wo.technician_id is not None and wo.scheduled_start is not None
    first_tech = TECH0 if wo.technician_id == sd.technician_ids[0] else TECH1
    other_tech, other_id = ((TECH1, sd.technician_ids[1]) if first_tech == TECH0 else (TECH0, sd.technician_ids[0]))

    # Assigned and scheduled: the technician's e-mail invites them; the customer's has none.
    (mail,) = mails_to(smtp, first_tech)
    method, ev = invitation(mail)
    uid = str(ev["UID"])
    assert method == "REQUEST" and str(ev["STATUS"]) == "CONFIRMED"
    assert uid == f"wo-{wo_id}@acme.desk-dispatcher"
    first_seq = ev.decoded("SEQUENCE")
    assert first_seq == wo.calendar_sequence >= 1
    start = ev.decoded("DTSTART")
    # (iCalendar times have whole seconds.)
    assert start.tzinfo.key == ZONE and start == wo.scheduled_start.replace(microsecond=0)
    assert ev.decoded("DTEND") == wo.scheduled_end.replace(microsecond=0)
    assert str(ev["LOCATION"]) == ADDRESS
    assert ev.decoded("GEO") == pytest.approx((41.8837, -87.6289))
    assert f"WO-{wo_id:06d}" in str(ev["SUMMARY"]) and "Air conditioning is down, again" in str(ev["SUMMARY"])
    assert str(ev["ATTENDEE"]) == f"mailto:{first_tech}"
    assert "the e-mail carries an invitation" in mail.text
    (customer_mail,) = mails_to(smtp, "customer0@customers.example")
    assert not [p for p in customer_mail.message.walk() if p.get_content_type() == "text/calendar"]
    # The outbox row holds the very bytes that were sent (a retry sends them again).
    with uow_factory() as uow:
        stored = uow.session.scalar(select(Notification.calendar_ics).where(
            Notification.work_order_id == wo_id, Notification.channel == "email",
            Notification.recipient_kind == "technician"))
    assert Calendar.from_ical(stored).walk("VEVENT")[0]["UID"] == uid
    assert stored == [p for p in mail.message.walk() if p.get_content_type() == "text/calendar"][0].get_content()

    # Rescheduled: the same UID, a higher SEQUENCE, the new time.
    seen = len(smtp.received())
    later = wo.scheduled_start.replace(microsecond=0) + timedelta(days=1, hours=2)
    reschedule_work_order(uow=uow_factory(), actor=sd.actor, work_order_id=wo_id, start=later)
    send(uow_factory, smtp)
    (mail,) = mails_to(smtp, first_tech, seen)
    method, ev = invitation(mail)
    assert (method, str(ev["UID"])) == ("REQUEST", uid)
    second_seq = ev.decoded("SEQUENCE")
    assert second_seq > first_seq
    assert ev.decoded("DTSTART") == later and ev.decoded("DTSTART").tzinfo.key == ZONE

    # Given to the other technician: the first one gets the CANCEL, the new one the REQUEST.
    seen = len(smtp.received())
    assign_work_order(uow=uow_factory(), actor=sd.actor, work_order_id=wo_id, technician_id=other_id, schedule=False)
    send(uow_factory, smtp)
    (cancel_mail,) = mails_to(smtp, first_tech, seen)
    method, ev = invitation(cancel_mail)
    assert (method, str(ev["UID"]), str(ev["STATUS"])) == ("CANCEL", uid, "CANCELLED")
    third_seq = ev.decoded("SEQUENCE")
    assert third_seq > second_seq
    assert "the e-mail carries a cancellation" in cancel_mail.text
    (request_mail,) = mails_to(smtp, other_tech, seen)
    method, ev = invitation(request_mail)
    assert (method, str(ev["UID"]), ev.decoded("SEQUENCE")) == ("REQUEST", uid, third_seq)
    assert str(ev["ATTENDEE"]) == f"mailto:{other_tech}"

    # Unassigned: CANCEL to the technician who had it, higher again.
    seen = len(smtp.received())
    unassign_work_order(uow=uow_factory(), actor=sd.actor, work_order_id=wo_id, reason="customer away")
    send(uow_factory, smtp)
    (mail,) = mails_to(smtp, other_tech, seen)
    method, ev = invitation(mail)
    assert (method, str(ev["UID"])) == ("CANCEL", uid)
    assert ev.decoded("SEQUENCE") > third_seq


def test_cancelling_through_the_lifecycle_sends_the_technician_a_cancel(uow_factory, smtp):
    sd = seed(uow_factory, technicians=1)
    set_zone(uow_factory, sd)
    wo_id = new_order(uow_factory, sd)
    run_jobs(uow_factory, smtp)
    _, ev = invitation(mails_to(smtp, TECH0)[0])
    seen = len(smtp.received())
    lifecycle.transition(uow=uow_factory(), actor=sd.actor, work_order_id=wo_id, action="cancel",
                         reason="The customer fixed it")
    send(uow_factory, smtp)
    (mail,) = mails_to(smtp, TECH0, seen)
    assert mail.subject.startswith("Cancelled:")
    method, cancelled = invitation(mail)
    assert (method, str(cancelled["STATUS"]), str(cancelled["UID"])) == ("CANCEL", "CANCELLED", str(ev["UID"]))
    assert cancelled.decoded("SEQUENCE") > ev.decoded("SEQUENCE")
    assert not mails_to(smtp, "customer0@customers.example", seen)  # the customer's cancel is not this change
    with pytest.raises(notifications.NoInvitation, match="is cancelled"):
        notifications.calendar_file(uow=uow_factory(), actor=sd.actor, work_order_id=wo_id)
    # Reopened at its old time: the visit goes back into the technician's calendar.
    seen = len(smtp.received())
    lifecycle.transition(uow=uow_factory(), actor=sd.actor, work_order_id=wo_id, action="reopen",
                         reason="The fault came back")
    send(uow_factory, smtp)
    (mail,) = mails_to(smtp, TECH0, seen)
    method, back = invitation(mail)
    assert (method, str(back["STATUS"]), str(back["UID"])) == ("REQUEST", "CONFIRMED", str(ev["UID"]))
    assert back.decoded("SEQUENCE") > cancelled.decoded("SEQUENCE")
    assert back.decoded("DTSTART") == ev.decoded("DTSTART")


def test_an_order_without_a_time_gets_no_invitation_until_it_is_scheduled(uow_factory, smtp):
    sd = seed(uow_factory, technicians=1, auto_schedule=False)
    set_zone(uow_factory, sd)
    wo_id = new_order(uow_factory, sd)
    run_jobs(uow_factory, smtp)
    assert order(uow_factory, wo_id).scheduled_start is None
    (mail,) = mails_to(smtp, TECH0)
    assert not [p for p in mail.message.walk() if p.get_content_type() == "text/calendar"]
    assert "no invitation yet" in mail.text
    with pytest.raises(notifications.NoInvitation, match="has no time yet"):
        notifications.calendar_file(uow=uow_factory(), actor=sd.actor, work_order_id=wo_id)

    seen = len(smtp.received())
    start = order(uow_factory, wo_id).created_at.replace(microsecond=0) + timedelta(days=2)
    reschedule_work_order(uow=uow_factory(), actor=sd.actor, work_order_id=wo_id, start=start)
    send(uow_factory, smtp)
    (mail,) = mails_to(smtp, TECH0, seen)
    method, ev = invitation(mail)
    assert method == "REQUEST" and ev.decoded("DTSTART") == start


def test_the_command_line_writes_the_current_invitation(db, capsys, tmp_path):
    url, factory = db
    sd = seed(factory, technicians=1)
    set_zone(factory, sd)
    wo_id = new_order(factory, sd)
    AppScheduler(factory, Settings(), channel_registry=registry(1), jobs=("assign",)).run_once()
    wo = order(factory, wo_id)
    url = url_as(url, sd.actor)

    target = tmp_path / "visit.ics"
    assert main(["workorder", "ics", f"WO-{wo_id:06d}", "-o", str(target), "--database-url", url]) == 0
    out, _ = capsys.readouterr()
    assert out == f"WO-{wo_id:06d}: calendar invitation (sequence {wo.calendar_sequence}) written to {target}.\n"
    cal = Calendar.from_ical(target.read_bytes())
    (ev,) = cal.walk("VEVENT")
    assert str(cal["METHOD"]) == "REQUEST"
    assert (str(ev["UID"]), ev.decoded("SEQUENCE")) == (f"wo-{wo_id}@acme.desk-dispatcher", wo.calendar_sequence)
    assert ev.decoded("DTSTART") == wo.scheduled_start.replace(microsecond=0)
    assert ev.decoded("DTSTART").tzinfo.key == ZONE

    lifecycle.transition(uow=factory(), actor=sd.actor, work_order_id=wo_id, action="cancel", reason="duplicate")
    assert main(["workorder", "ics", f"WO-{wo_id:06d}", "--database-url", url]) == 1
    _, err = capsys.readouterr()
    assert err.startswith(f"error: WO-{wo_id:06d} is cancelled: there is no visit to put in a calendar")


# ------------------------------------------------------------------ the sequence is the database's


def test_the_database_raises_the_sequence_for_calendar_changes_only(uow_factory):
    sd = seed(uow_factory, technicians=2, rule=False)
    wo_id = assigned_order(uow_factory, sd)
    seq = order(uow_factory, wo_id).calendar_sequence

    def update(sql):
        with uow_factory() as uow:
            uow.session.execute(text(sql), {"id": wo_id, "other": sd.technician_ids[1]})
            uow.commit()
        return order(uow_factory, wo_id).calendar_sequence

    assert update("UPDATE work_orders SET priority = 'low', needs_assignment = false WHERE id = :id") == seq
    assert update("UPDATE work_orders SET status = 'travelling' WHERE id = :id") == seq  # not the calendar's
    assert update("UPDATE work_orders SET scheduled_start = scheduled_start WHERE id = :id") == seq  # unchanged
    assert update("UPDATE work_orders SET scheduled_start = scheduled_start + interval '1 hour', "
                  "scheduled_end = scheduled_end + interval '1 hour' WHERE id = :id") == seq + 1  # one statement
    assert update("UPDATE work_orders SET technician_id = :other WHERE id = :id") == seq + 2
    assert update("UPDATE work_orders SET status = 'cancelled' WHERE id = :id") == seq + 3
    assert update("UPDATE work_orders SET status = 'scheduled' WHERE id = :id") == seq + 4  # reopened


def _reschedule_many(url, actor, wo_id, starts, go, out):
    from desk_desktop.db.session import UnitOfWorkFactory, make_engine

    engine = make_engine(url)
    try:
        go.wait(30)
        factory = UnitOfWorkFactory(engine)
        for start in starts:
            reschedule_work_order(uow=factory(), actor=actor, work_order_id=wo_id, start=start)
        out.put(("ok", len(starts)))
    except Exception as exc:  # noqa: BLE001 - reported to the test
        out.put(("error", repr(exc)))
    finally:
        engine.dispose()


def test_two_workstations_rescheduling_at_once_never_send_the_same_sequence_twice(db):
    import multiprocessing as mp

    url, factory = db
    sd = seed(factory, technicians=1, rule=False)
    wo_id = assigned_order(factory, sd)
    first = order(factory, wo_id)
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    base = first.scheduled_start.replace(hour=0, minute=0, second=0, microsecond=0)
    plans = [[base + timedelta(days=d, hours=h) for d in range(1, 7)] for h in (8, 14)]
    procs = [ctx.Process(target=_reschedule_many, args=(url_as(url, sd.actor), sd.actor, wo_id, plan, go, out))
             for plan in plans]
    for p in procs:
        p.start()
    go.set()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert results == [("ok", 6), ("ok", 6)]
    with factory() as uow:
        sent = list(uow.session.scalars(select(Notification.calendar_ics).where(
            Notification.work_order_id == wo_id, Notification.channel == "email",
            Notification.recipient_kind == "technician", Notification.event == "work_order.rescheduled")
            .order_by(Notification.id)))
    sequences = [Calendar.from_ical(ics).walk("VEVENT")[0].decoded("SEQUENCE") for ics in sent]
    # Twelve moves, twelve invitations, each one higher than the one before (in the order queued).
    assert sequences == list(range(first.calendar_sequence + 1, first.calendar_sequence + 13))
    assert order(factory, wo_id).calendar_sequence == first.calendar_sequence + 12
