"""Tickets: create (the single path for GUI, CLI and CSV import), read, list, update, status.

One job per module: ``create`` (the creation plan: validate, read the context, build the
insert plan, execute), ``reads`` (lists, counts, details, history, pickers), ``changes``
(edits and status changes), ``fields`` (the input rules), ``types`` (results, errors and
limits). Callers use this package: ``from desk_desktop.services import tickets``.
"""

from desk_desktop.domain.enums import Priority, TicketStatus
from desk_desktop.services.tickets.changes import allowed_status_changes, change_ticket_status, update_ticket
from desk_desktop.services.tickets.create import create_ticket
from desk_desktop.services.tickets.fields import NEW_TICKET_FIELDS, RowProblem, clean_tags, validate_new_tickets
from desk_desktop.services.tickets.reads import (
    count_tickets,
    get_ticket_or_raise,
    list_customers,
    list_sites,
    list_tickets,
    normalize_number,
    ticket_history,
)
from desk_desktop.services.tickets.types import (
    DESCRIPTION_MAX,
    LIST_LIMIT_MAX,
    REF_MAX,
    SORTS,
    SUBJECT_MAX,
    TAG_MAX,
    TAGS_MAX,
    AuditItem,
    CustomerInfo,
    InvalidStatusTransition,
    SiteInfo,
    TicketCreated,
    TicketDetail,
    TicketFilter,
    TicketHasOpenWorkOrders,
    TicketInvalid,
    TicketNotFound,
    TicketPage,
    TicketSummary,
    WorkOrderDetail,
)

__all__ = [
    "DESCRIPTION_MAX", "LIST_LIMIT_MAX", "NEW_TICKET_FIELDS", "REF_MAX", "SORTS", "SUBJECT_MAX", "TAGS_MAX", "TAG_MAX",
    "AuditItem", "CustomerInfo", "InvalidStatusTransition", "Priority", "RowProblem", "SiteInfo",
    "TicketCreated", "TicketHasOpenWorkOrders", "TicketDetail", "TicketFilter", "TicketInvalid", "TicketNotFound", "TicketPage", "TicketStatus",
    "TicketSummary", "WorkOrderDetail", "allowed_status_changes", "change_ticket_status", "clean_tags",
    "count_tickets", "create_ticket", "get_ticket_or_raise", "list_customers", "list_sites", "list_tickets",
    "normalize_number", "ticket_history", "update_ticket", "validate_new_tickets",
]
