"""The dispatchers' attention list: unassignable orders (and why), dead notifications,
quarantined files — each organization sees only its own."""

from __future__ import annotations

from sqlalchemy import func, text, update

from desk_desktop.db.models import Attachment, Blob, Notification, Ticket, WorkOrder
from desk_desktop.services import attention
from desk_desktop.services.tickets import create_ticket
from tests.conftest import acting_as, as_superuser
from tests.notify_seed import assigned_order, seed


def test_attention_lists_what_needs_a_person(uow_factory, connection):
    from desk_desktop.services.assignment import assign_pending

    sd = seed(uow_factory, technicians=0)  # nobody can take the job
    created = create_ticket(uow=uow_factory(), actor=sd.actor, subject="Chiller alarm", category="hvac",
                            priority="urgent", customer_ref=sd.customer_refs[0], site_ref=sd.site_refs[0])
    manual = create_ticket(uow=uow_factory(), actor=sd.actor, subject="Replace filter", category="general",
                           priority="low", customer_ref=sd.customer_refs[0])
    assert manual.work_order is None
    assign_pending(uow_factory=uow_factory)

    # A dead email and an infected upload. Written directly (as an administrator: a
    # dispatcher's connection may not forge a verdict or an outbox row, migration 0006).
    other = seed(uow_factory, slug="other", technicians=1)
    wo_other = assigned_order(uow_factory, other)
    with as_superuser(connection), uow_factory() as uow:
        s = uow.session
        wo_id = created.work_order.work_order_id
        s.add(Notification(organization_id=sd.actor.organization_id, idempotency_key="x:dead", event="work_order.assigned",
                           channel="email", recipient_kind="customer", recipient_address="ada@customers.example",
                           work_order_id=wo_id, subject="Your visit", body_text="…", status="dead", attempts=8,
                           last_error="gave up after 8 attempts: connection refused"))
        s.add(Notification(organization_id=sd.actor.organization_id, idempotency_key="x:waiting",
                           event="work_order.assigned", channel="email", recipient_kind="technician",
                           recipient_address="t@techs.example", work_order_id=wo_id, subject="Waiting",
                           body_text="…", created_at=func.now() - text("interval '2 hours'")))
        blob = Blob(organization_id=sd.actor.organization_id, sha256="e" * 64, size=68, chunk_count=1,
                    mime_type="text/plain", scan_status="infected", scan_signature="Eicar-Test-Signature")
        s.add(blob)
        s.flush()
        s.add(Attachment(organization_id=sd.actor.organization_id, ticket_id=created.ticket.id, blob_id=blob.id,
                         original_name="invoice.pdf.exe", mime_type="text/plain", category="other",
                         uploaded_by="dispatcher"))
        uow.commit()
    with as_superuser(connection), uow_factory() as uow:
        uow.session.add(Notification(organization_id=other.actor.organization_id, idempotency_key="y:dead",
                                     event="work_order.assigned", channel="email", recipient_kind="customer",
                                     work_order_id=wo_other, subject="Other org", body_text="…", status="dead",
                                     attempts=8))
        uow.commit()

    att = attention.list_attention(uow=uow_factory(), actor=sd.actor)
    [order] = att.unassigned
    assert order.work_order_id == wo_id
    assert order.ticket_number == created.ticket.number
    assert order.reason and "technician" in order.reason.lower()
    assert order.attempts == 1 and order.retrying
    [dead] = att.dead_notifications
    assert (dead.recipient_address, dead.attempts) == ("ada@customers.example", 8)
    assert dead.work_order_number == created.work_order.number
    [q] = att.quarantined
    assert (q.original_name, q.signature, q.ticket_number) == ("invoice.pdf.exe", "Eicar-Test-Signature",
                                                              created.ticket.number)
    assert att.total == 3
    assert att.waiting_emails == 1 and att.oldest_waiting_email_at is not None

    # An order that waits for a manual assignment is listed with that reason; a done one is not.
    with uow_factory() as uow:
        uow.session.execute(update(WorkOrder).where(WorkOrder.id == wo_id)
                            .values(needs_assignment=False, unassigned_reason=None))
        uow.commit()
    [order] = attention.list_attention(uow=uow_factory(), actor=sd.actor).unassigned
    assert order.reason == attention.MANUAL_ASSIGNMENT_REASON and not order.retrying
    with uow_factory() as uow:
        uow.session.execute(update(WorkOrder).where(WorkOrder.id == wo_id).values(status="cancelled"))
        uow.session.execute(update(Ticket).where(Ticket.id == created.ticket.id).values(status="closed"))
        uow.commit()
    assert attention.list_attention(uow=uow_factory(), actor=sd.actor).unassigned == ()
    # The other organization sees only its own dead notification.
    with acting_as(uow_factory, other.actor):
        other_att = attention.list_attention(uow=uow_factory(), actor=other.actor)
    assert [d.subject for d in other_att.dead_notifications] == ["Other org"]
    assert other_att.quarantined == () and other_att.unassigned == ()
