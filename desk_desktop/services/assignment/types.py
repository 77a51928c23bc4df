"""What the assignment service hands out: its errors and its result types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from desk_desktop.services.common import DeskError, NotFound


class WorkOrderNotFound(NotFound):
    pass


class TechnicianNotFound(NotFound):
    pass


class TechnicianNotEligible(DeskError):
    pass


class WorkOrderClosed(DeskError):
    pass


class NotAssigned(DeskError):
    pass


class VisitClash(DeskError):
    """The technician already has a visit at that time (no double booking)."""


@dataclass(frozen=True)
class Candidate:
    technician_id: int
    name: str
    rank: int | None
    distance_m: float | None
    matched_skills: dict[str, int]
    open_jobs: int
    max_open: int
    eligible: bool
    reason: str
    lat: float | None
    lon: float | None
    off_shift: bool = False  # outside working hours now, for work due now (a manual choice, with a warning)
    absent: bool = False  # in an absence now, for work due now (a manual choice, with a warning)
    absence_reason: str | None = None


@dataclass(frozen=True)
class CandidateList:
    work_order_id: int
    strategy: str
    candidates: tuple[Candidate, ...]
    explanation: str


@dataclass(frozen=True)
class WorkOrderView:
    id: int
    number: str
    status: str
    work_type: str
    priority: str
    duration_minutes: int
    technician_id: int | None
    technician_name: str | None
    scheduled_start: datetime | None
    scheduled_end: datetime | None
    assignment_logic: str | None
    required_skills: tuple[str, ...]
    needs_assignment: bool
    assign_attempts: int
    next_assign_at: datetime | None
    unassigned_reason: str | None
    assignment_explanation: dict | None
    assigned_at: datetime | None
    source: str
    rule_id: int | None
    ticket_id: int | None
    ticket_number: str | None
    ticket_subject: str | None
    customer_name: str | None
    lat: float | None
    lon: float | None
    created_at: datetime | None = None


@dataclass(frozen=True)
class AssignBatchResult:
    assigned: int = 0
    unassigned: int = 0
    errors: int = 0
    work_order_ids: tuple[int, ...] = field(default_factory=tuple)
