"""Who does the job, and when: the four assignment strategies, automatic and manual.

The public operations live in their modules and are importable from here:

- ``operations``: a dispatcher's ``list_candidates``, ``assign_work_order``,
  ``unassign_work_order``, ``reschedule_work_order``;
- ``reads``: ``get_work_order_or_raise``, ``list_open_work_orders``;
- ``job``: ``assign_pending``, the assign job;
- ``explanation``: ``explain``, a stored decision in words;
- ``visits``: a technician's booked visits and a clash in words (no double booking).

Underneath: ``position`` (where a technician is: the one rule, also used by the map),
``candidates`` (the candidate queries), ``decision`` (ranking one order and applying the
outcome) and ``batch`` (what a transaction decided, and the one writer of it).
"""

from desk_desktop.services.assignment.candidates import (
    DEFAULT_RADIUS_KM,
    DEFAULT_SPEED_KMH,
    fetch_candidates,
    prepare_transaction,
)
from desk_desktop.services.assignment.explanation import explain
from desk_desktop.services.assignment.job import assign_pending
from desk_desktop.services.assignment.operations import (
    assign_work_order,
    list_candidates,
    reschedule_work_order,
    unassign_work_order,
)
from desk_desktop.services.assignment.position import FRESH_LOCATION_HOURS
from desk_desktop.services.assignment.reads import get_work_order_or_raise, list_open_work_orders
from desk_desktop.services.assignment.types import (
    AssignBatchResult,
    Candidate,
    CandidateList,
    NotAssigned,
    TechnicianNotEligible,
    TechnicianNotFound,
    VisitClash,
    WorkOrderClosed,
    WorkOrderNotFound,
    WorkOrderView,
)

__all__ = [
    "DEFAULT_RADIUS_KM", "DEFAULT_SPEED_KMH", "FRESH_LOCATION_HOURS", "AssignBatchResult", "Candidate", "CandidateList", "NotAssigned",
    "TechnicianNotEligible", "TechnicianNotFound", "VisitClash", "WorkOrderClosed", "WorkOrderNotFound", "WorkOrderView",
    "assign_pending", "assign_work_order", "explain", "fetch_candidates", "get_work_order_or_raise",
    "list_candidates", "list_open_work_orders", "prepare_transaction", "reschedule_work_order",
    "unassign_work_order",
]
