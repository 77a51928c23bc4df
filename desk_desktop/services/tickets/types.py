"""Tickets: the results the ticket services return, their errors and input limits."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import fields as dc_fields
from datetime import datetime
from typing import Any

from desk_desktop.services.common import DeskError, NotFound, ValidationFailed

SUBJECT_MAX = 200
DESCRIPTION_MAX = 20_000
TAG_MAX = 40
TAGS_MAX = 20
REF_MAX = 40
LIST_LIMIT_MAX = 1000

SORTS = ("created_desc", "created_asc", "number_asc", "number_desc")


# --------------------------------------------------------------------------- errors


class TicketNotFound(NotFound):
    pass


class TicketInvalid(ValidationFailed):
    """Bad ticket input; ``field`` names the offending field."""


class InvalidStatusTransition(DeskError):
    def __init__(self, message: str, current: str, requested: str) -> None:
        super().__init__(message)
        self.current = current
        self.requested = requested


class TicketHasOpenWorkOrders(DeskError):
    """Resolving or closing a ticket whose work orders are not finished, without saying what
    to do with them (``open_orders="cancel"`` with a reason, or ``"leave"``)."""

    def __init__(self, message: str, work_order_ids: tuple[int, ...]) -> None:
        super().__init__(message)
        self.work_order_ids = work_order_ids


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class TicketSummary:
    id: int
    number: str
    subject: str
    customer_id: int
    customer_name: str
    category: str
    priority: str
    status: str
    tags: tuple[str, ...]
    site_id: int | None
    site_address: str | None
    lat: float | None
    lon: float | None
    technician_name: str | None
    work_order_id: int | None
    work_order_status: str | None
    scheduled_start: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class WorkOrderDetail:
    id: int
    number: str
    source: str
    status: str
    work_type: str
    priority: str
    technician_id: int | None
    technician_name: str | None
    scheduled_start: datetime | None
    scheduled_end: datetime | None
    duration_minutes: int
    assignment_logic: str | None
    required_skills: tuple[str, ...]
    needs_assignment: bool
    unassigned_reason: str | None
    assignment_explanation: dict | None
    assigned_at: datetime | None
    rule_id: int | None
    rule_name: str | None
    # The lifecycle (services/lifecycle.py).
    hold_reason: str | None = None
    on_site_at: datetime | None = None
    actual_start: datetime | None = None
    actual_end: datetime | None = None
    resolution_note: str | None = None
    cancel_reason: str | None = None
    auto_resolve_tickets: bool = False  # the organization's setting
    # The customer's booked window (the visit starts inside it), in the organization's time zone.
    window_start: datetime | None = None
    window_end: datetime | None = None
    timezone: str = "UTC"


@dataclass(frozen=True)
class TicketDetail(TicketSummary):
    description: str = ""
    customer_ref: str = ""
    customer_type: str = ""
    customer_email: str | None = None
    customer_phone: str | None = None
    site_ref: str | None = None
    site_name: str | None = None
    created_by: str = ""
    organization_id: int = 0
    work_order: WorkOrderDetail | None = None

    def summary(self) -> TicketSummary:
        return TicketSummary(**{f.name: getattr(self, f.name) for f in dc_fields(TicketSummary)})


@dataclass(frozen=True)
class TicketCreated:
    ticket: TicketSummary
    work_order: Any | None  # automation.WorkOrderCreated


@dataclass(frozen=True)
class TicketFilter:
    status: tuple[str, ...] | None = None
    priority: tuple[str, ...] | None = None
    category: tuple[str, ...] | None = None
    tag: str | None = None
    customer_id: int | None = None
    technician_id: int | None = None
    unassigned_only: bool = False
    text: str | None = None


@dataclass(frozen=True)
class TicketPage:
    rows: tuple[TicketSummary, ...]
    next_cursor: object | None


@dataclass(frozen=True)
class AuditItem:
    at: datetime
    actor: str
    action: str
    summary: str
    details: dict | None
    entity: str = "ticket"


@dataclass(frozen=True)
class CustomerInfo:
    id: int
    ref: str
    name: str
    customer_type: str
    email: str | None
    phone: str | None


@dataclass(frozen=True)
class SiteInfo:
    id: int
    ref: str
    customer_id: int
    name: str
    address: str
    lat: float | None
    lon: float | None
