"""All mapped classes; importing this module registers every table on ``Base.metadata``."""

from desk_desktop.db.base import Base
from desk_desktop.db.models.attachments import Attachment, Blob, BlobChunk
from desk_desktop.db.models.audit import AuditEntry
from desk_desktop.db.models.catalogs import CustomerType, Skill, TicketCategory, WorkOrderType
from desk_desktop.db.models.notifications import Notification
from desk_desktop.db.models.org import Dispatcher, Organization
from desk_desktop.db.models.people import Absence, Customer, Site, Technician, TechnicianSkill
from desk_desktop.db.models.rules import AssignmentState, TicketToWorkOrderRule
from desk_desktop.db.models.tickets import Ticket, TicketNumberCounter, TicketNumberSequence
from desk_desktop.db.models.workorders import WorkOrder

__all__ = [
    "Base",
    "Organization",
    "Dispatcher",
    "Customer",
    "Site",
    "Technician",
    "TechnicianSkill",
    "Absence",
    "Ticket",
    "TicketNumberSequence",
    "TicketNumberCounter",
    "WorkOrder",
    "TicketToWorkOrderRule",
    "AssignmentState",
    "Blob",
    "BlobChunk",
    "Attachment",
    "Notification",
    "AuditEntry",
    "TicketCategory",
    "Skill",
    "CustomerType",
    "WorkOrderType",
]
