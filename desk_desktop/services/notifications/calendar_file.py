"""Save .ics: the current calendar invitation of one work order as a file, or why it has none."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from desk_desktop.db.models import WorkOrder
from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.calendar import METHOD_REQUEST
from desk_desktop.domain.enums import WorkOrderStatus
from desk_desktop.services.common import Actor, DeskError, NotFound
from desk_desktop.services.notifications.enqueue import context_query
from desk_desktop.services.notifications.invitations import render_invitation


class NoInvitation(DeskError):
    """The order has no visit a calendar could hold (the message says why)."""


@dataclass(frozen=True)
class CalendarFile:
    work_order_number: str
    filename: str  # e.g. WO-000123.ics
    sequence: int
    content: bytes  # the VCALENDAR, METHOD:REQUEST


def calendar_file(*, uow: UnitOfWork, actor: Actor, work_order_id: int, now: datetime | None = None) -> CalendarFile:
    """The invitation the technician's calendar holds now: the same UID and the current
    SEQUENCE as the e-mails, METHOD:REQUEST. Refused (``NoInvitation``) for an order that is
    cancelled, has no technician or has no time yet."""
    with uow:
        r = uow.session.execute(context_query(None).where(
            WorkOrder.id == work_order_id, WorkOrder.organization_id == actor.organization_id)).one_or_none()
        uow.commit()
    number = work_order_number(work_order_id)
    if r is None:
        raise NotFound(f"Work order {number} does not exist in this organization.")
    if r.status == WorkOrderStatus.CANCELLED:
        raise NoInvitation(f"{number} is cancelled: there is no visit to put in a calendar "
                           "(its technician was sent the cancellation).")
    if r.tech_id is None:
        raise NoInvitation(f"{number} is not assigned to a technician: a calendar invitation needs one. "
                           "Assign it first.")
    if r.scheduled_start is None or r.scheduled_end is None:
        raise NoInvitation(f"{number} has no time yet: schedule the visit first, then save its invitation.")
    ics = render_invitation(r, METHOD_REQUEST, (now or datetime.now(UTC)))
    return CalendarFile(work_order_number=number, filename=f"{number}.ics", sequence=r.calendar_sequence,
                        content=ics.encode())
