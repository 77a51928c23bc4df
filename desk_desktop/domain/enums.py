"""The closed vocabularies of the product, in one place.

Stored as text in the database (easy to read in SQL, easy to extend with a migration);
checked here and by CHECK constraints.
"""

from __future__ import annotations

from enum import StrEnum


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


PRIORITY_RANK = {Priority.LOW: 0, Priority.MEDIUM: 1, Priority.HIGH: 2, Priority.URGENT: 3}


class TicketStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


class WorkOrderStatus(StrEnum):
    UNASSIGNED = "unassigned"
    ASSIGNED = "assigned"
    SCHEDULED = "scheduled"
    TRAVELLING = "travelling"
    ON_SITE = "on_site"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


# "Open" work orders count toward a technician's load and the max-open limit.
# This is the one place that defines it.
OPEN_WORK_ORDER_STATUSES: tuple[str, ...] = (
    WorkOrderStatus.ASSIGNED,
    WorkOrderStatus.SCHEDULED,
    WorkOrderStatus.TRAVELLING,
    WorkOrderStatus.ON_SITE,
    WorkOrderStatus.ON_HOLD,
)


class WorkOrderSource(StrEnum):
    MANUAL = "manual"
    AUTO_RULE = "auto_rule"
    IMPORT = "import"


class AssignmentLogic(StrEnum):
    NEAREST = "nearest"
    SKILL_MATCH = "skill_match"
    WORKLOAD = "workload"
    ROUND_ROBIN = "round_robin"


ASSIGNMENT_LOGIC_HELP = {
    AssignmentLogic.NEAREST: "Closest eligible technician to the ticket's site (PostGIS distance).",
    AssignmentLogic.SKILL_MATCH: "Most proficient in the required skills; ties go to the closest.",
    AssignmentLogic.WORKLOAD: "Fewest open work orders; ties go to the closest.",
    AssignmentLogic.ROUND_ROBIN: "Takes turns fairly among eligible technicians.",
}


class ResetPolicy(StrEnum):
    NEVER = "never"
    YEARLY = "yearly"
    MONTHLY = "monthly"


class AttachmentCategory(StrEnum):
    IMAGE = "image"
    DOCUMENT = "document"
    VIDEO = "video"
    AUDIO = "audio"
    ARCHIVE = "archive"
    OTHER = "other"


class ScanStatus(StrEnum):
    PENDING = "pending"
    CLEAN = "clean"
    INFECTED = "infected"
    NOT_SCANNED = "not_scanned"


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    SKIPPED = "skipped"
    DEAD = "dead"


class NotificationChannel(StrEnum):
    EMAIL = "email"
    INBOX = "inbox"


def values(enum_cls) -> list[str]:
    return [m.value for m in enum_cls]
