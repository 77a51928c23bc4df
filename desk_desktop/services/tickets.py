"""Tickets: create (the single path for GUI, CLI and CSV import), read, list, update, status.

``create_ticket`` runs in one transaction: validate → read what the ticket needs (format,
customer, site, the rules' fingerprint) and reserve its id → automation decides the work
order (rules, cached per process) → ONE last statement takes the number from the
organization's counter and inserts the ticket with it, its audit row, the work order and
its audit row → commit. When the unit of work owns the transaction that statement, the
change notifications and COMMIT go to the server together. A failure anywhere rolls back
everything, number included (no gap).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import fields as dc_fields
from datetime import datetime
from typing import Any

from geoalchemy2 import WKTElement
from sqlalchemy import func, or_, select

from desk_desktop.db import sql
from desk_desktop.db.models import Customer, Ticket
from desk_desktop.db.models.workorders import work_order_number
from desk_desktop.db.session import NOTIFY_CHANNEL, NOTIFY_SQL, Change, UnitOfWork
from desk_desktop.domain.enums import Category, Priority, TicketStatus, WorkOrderStatus
from desk_desktop.domain.rules import TicketFacts
from desk_desktop.services import automation, numbering
from desk_desktop.services.audit import INSERT_AUDIT_ROWS, audit, audit_row, audit_rows_json
from desk_desktop.services.common import Actor, DeskError, NotFound, ValidationFailed

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


# --------------------------------------------------------------------------- validation


def _clean_subject(subject: Any) -> str:
    if not isinstance(subject, str) or not subject.strip():
        raise TicketInvalid("The subject must not be empty.", "subject")
    subject = " ".join(subject.split())
    if len(subject) > SUBJECT_MAX:
        raise TicketInvalid(f"The subject is {len(subject)} characters long; at most {SUBJECT_MAX} are allowed.", "subject")
    return subject


def _clean_description(description: Any) -> str:
    if description is None:
        return ""
    if not isinstance(description, str):
        raise TicketInvalid("The description must be text.", "description")
    description = description.strip()
    if len(description) > DESCRIPTION_MAX:
        raise TicketInvalid(
            f"The description is {len(description)} characters long; at most {DESCRIPTION_MAX} are allowed.",
            "description",
        )
    return description


@functools.cache
def _enum_values(enum_cls) -> tuple[str, ...]:
    return tuple(m.value for m in enum_cls)


def _clean_enum(value: Any, enum_cls, field_name: str, label: str) -> str:
    allowed = _enum_values(enum_cls)
    v = str(value).strip().lower() if value is not None else ""
    if v not in allowed:
        shown = f"'{value}'" if value not in (None, "") else "nothing"
        raise TicketInvalid(f"Unknown {label} {shown}; choose one of: {', '.join(allowed)}.", field_name)
    return v


def clean_tags(tags: Iterable[str] | str | None) -> tuple[str, ...]:
    """Tags are trimmed, lower-cased and de-duplicated (order kept)."""
    if tags is None:
        return ()
    if isinstance(tags, str):
        tags = [t for t in tags.replace(";", ",").split(",")]
    out: list[str] = []
    for raw in tags:
        if not isinstance(raw, str):
            raise TicketInvalid("Tags must be text.", "tags")
        tag = raw.strip().lower()
        if not tag:
            continue
        if len(tag) > TAG_MAX:
            raise TicketInvalid(f"The tag '{tag[:20]}…' is longer than {TAG_MAX} characters.", "tags")
        if tag not in out:
            out.append(tag)
    if len(out) > TAGS_MAX:
        raise TicketInvalid(f"A ticket can have at most {TAGS_MAX} tags.", "tags")
    return tuple(out)


def _clean_coords(lat: Any, lon: Any) -> tuple[float, float] | None:
    if lat is None and lon is None:
        return None
    if lat is None or lon is None:
        raise TicketInvalid("Give both latitude and longitude, or neither.", "lat" if lat is None else "lon")
    try:
        la, lo = float(lat), float(lon)
    except (TypeError, ValueError) as exc:
        raise TicketInvalid("Latitude and longitude must be numbers.", "lat") from exc
    if not (-90.0 <= la <= 90.0) or la != la:
        raise TicketInvalid(f"Latitude {lat} is outside -90…90.", "lat")
    if not (-180.0 <= lo <= 180.0) or lo != lo:
        raise TicketInvalid(f"Longitude {lon} is outside -180…180.", "lon")
    return la, lo


def _point(lat: float, lon: float) -> WKTElement:
    return WKTElement(f"POINT({lon!r} {lat!r})", srid=4326)


# --------------------------------------------------------------------------- create
#
# create_ticket is a plan of four steps in one transaction:
#   1. validate the input (no database);
#   2. read the context: ONE statement that writes nothing — the organization's number
#      format, the customer, the site, the rules' fingerprint (automation's cache check) and,
#      only when the customer (and the site, if one is asked for) exist and belong together,
#      the new ticket's id (``nextval``: ids may have gaps, numbers never do). Automation then
#      decides the work order (rules cached per process; its id is reserved the same way);
#   3. build the insert plan: every row to write and every change to announce, as values;
#   4. execute it: ONE last statement writes the audit rows, takes the number from the
#      counter (its row lock is held until COMMIT, so it is taken last), inserts the ticket
#      and the work order and sends the change notifications. Then COMMIT.
# Nothing is written before that statement, so a failure anywhere leaves nothing behind and
# gives the number back (no gap).

_CONTEXT_SQL = f"""
SELECT o.timezone,
       s.organization_id IS NOT NULL AS has_format, s.prefix, s.include_year, s.include_month,
       s.padding, s.separator, s.reset_policy,
       c.id AS customer_id, c.ref AS customer_ref, c.name AS customer_name, c.customer_type,
       st.id AS site_id, st.customer_id AS site_customer_id, st.address AS site_address,
       ST_Y(st.location::geometry) AS site_lat, ST_X(st.location::geometry) AS site_lon,
       {automation.RULES_FINGERPRINT_SQL} AS rules_fp,
       CASE WHEN c.id IS NOT NULL AND s.organization_id IS NOT NULL
                 AND (NOT CAST(:site_wanted AS boolean) OR st.customer_id = c.id)
            THEN nextval(pg_get_serial_sequence('tickets', 'id')) END AS ticket_id
  FROM organizations o
  LEFT JOIN ticket_number_sequences s ON s.organization_id = o.id
  LEFT JOIN customers c ON c.organization_id = o.id AND (c.id = :customer_id OR c.ref = :customer_ref)
  LEFT JOIN sites st ON st.organization_id = o.id AND (st.id = :site_id OR st.ref = :site_ref)
 WHERE o.id = :org
"""

# The last statement. Before the counter's lock: the audit rows (``a``; the counter reads
# it so that it runs first). Then the number (``c``: the upsert waits for a concurrent
# writer's lock and holds its own until COMMIT; the zero-padding in SQL: lpad would
# truncate, hence the CASE), the ticket (``t``), the work order when a rule made one
# (``w``: it reads ``t`` so that its checks see the ticket) and the notifications (``n``).
_INSERT_SQL = f"""
WITH a AS (
{INSERT_AUDIT_ROWS}
RETURNING id
), c AS (
    INSERT INTO ticket_number_counters AS k (organization_id, period, next_value)
    SELECT :org, :period, 2 FROM (SELECT count(*) FROM a) AS audit_written
    ON CONFLICT (organization_id, period) DO UPDATE SET next_value = k.next_value + 1
    RETURNING k.next_value - 1 AS value
), t AS (
    INSERT INTO tickets (id, organization_id, number, customer_id, customer_name, site_id, location, category,
                         priority, tags, status, subject, description, created_by, created_at, updated_at)
    SELECT :ticket_id, :org,
           :head || CASE WHEN length(c.value::text) >= :pad THEN c.value::text ELSE lpad(c.value::text, :pad, '0') END,
           :customer_id, :customer_name, :site_id, ST_GeogFromText(CAST(:location AS text)),
           :category, :priority, CAST(:tags AS text[]), 'new', :subject, :description,
           :created_by, coalesce(CAST(:now AS timestamptz), now()), coalesce(CAST(:now AS timestamptz), now())
      FROM c
    RETURNING number, created_at, updated_at
), w AS (
    INSERT INTO work_orders (id, organization_id, source_ticket_id, source, rule_id, work_type, priority, status,
                             duration_minutes, assignment_logic, required_skills, auto_schedule,
                             schedule_offset_minutes, notify_customer, notify_technician, needs_assignment,
                             assign_attempts, next_assign_at, scheduled_start, scheduled_end, created_at, updated_at)
    SELECT wo.id, :wo_organization_id, :wo_source_ticket_id, :wo_source, :wo_rule_id, :wo_work_type, :wo_priority,
           :wo_status, :wo_duration_minutes, :wo_assignment_logic, CAST(:wo_required_skills AS text[]),
           :wo_auto_schedule, :wo_schedule_offset_minutes, :wo_notify_customer, :wo_notify_technician,
           :wo_needs_assignment, :wo_assign_attempts, :wo_next_assign_at, :wo_scheduled_start, :wo_scheduled_end,
           :wo_created_at, :wo_updated_at
      FROM t, (SELECT CAST(:wo_id AS bigint) AS id) AS wo
     WHERE wo.id IS NOT NULL
    RETURNING id
), n AS (
{NOTIFY_SQL}
)
SELECT t.number, t.created_at, t.updated_at, (SELECT count(*) FROM w) AS work_orders,
       (SELECT count(*) FROM n) AS notified
  FROM t
"""


@dataclass(frozen=True)
class _NewTicket:
    """Validated input of create_ticket: the ticket's fields and how its customer and site
    were named (by id or by reference)."""

    fields: _CleanTicket
    customer_id: int | None
    customer_ref: str | None
    site_id: int | None
    site_ref: str | None

    @property
    def customer_label(self) -> str:
        return f"#{self.customer_id}" if self.customer_id is not None else f"'{self.customer_ref}'"

    @property
    def site_label(self) -> str:
        return f"#{self.site_id}" if self.site_id is not None else f"'{self.site_ref}'"

    @property
    def site_wanted(self) -> bool:
        return self.site_id is not None or self.site_ref is not None


@dataclass(frozen=True)
class _Context:
    """What the database said about a new ticket (step 2)."""

    ticket_id: int
    numbering: numbering.NumberingContext
    customer: _CustomerRow
    site: _SiteRow | None
    work_order: automation.PlannedWorkOrder | None


@dataclass(frozen=True)
class _InsertPlan:
    """Everything the last statement writes and announces (step 3)."""

    params: dict[str, Any]
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class _SiteRow:
    id: int
    address: str
    lat: float | None
    lon: float | None


@dataclass(frozen=True)
class _CustomerRow:
    id: int
    ref: str
    name: str
    customer_type: str


_SITE_SQL = """SELECT id, ref, customer_id, name, address, ST_Y(location::geometry) AS lat,
       ST_X(location::geometry) AS lon
  FROM sites WHERE organization_id = :org AND (id = :site_id OR ref = :site_ref)"""


def _find_site(uow: UnitOfWork, org: int, customer, site_id: int | None, site_ref: str | None):
    if site_id is None and (site_ref is None or not str(site_ref).strip()):
        return None
    ref = str(site_ref).strip() if site_id is None else None
    label = f"#{site_id}" if site_id is not None else f"'{ref}'"
    row = sql.one_or_none(uow, _SITE_SQL, {"org": org, "site_id": site_id, "site_ref": ref})
    if row is None:
        raise TicketInvalid(f"No site {label} in this organization.", "site")
    if row.customer_id != customer.id:
        raise TicketInvalid(f"Site {label} belongs to another customer, not {customer.name}.", "site")
    return row


@dataclass(frozen=True)
class _CleanTicket:
    subject: str
    description: str
    category: str
    priority: str
    tags: tuple[str, ...]
    coords: tuple[float, float] | None


def _clean_new_ticket(*, subject, description, category, priority, tags, lat, lon, site_id, site_ref) -> _CleanTicket:
    clean = _CleanTicket(
        subject=_clean_subject(subject),
        description=_clean_description(description),
        category=_clean_enum(category, Category, "category", "category"),
        priority=_clean_enum(priority, Priority, "priority", "priority"),
        tags=clean_tags(tags),
        coords=_clean_coords(lat, lon),
    )
    if clean.coords is not None and (site_id is not None or (site_ref or "").strip()):
        raise TicketInvalid("Give either a site or a map position, not both.", "site")
    return clean


NEW_TICKET_FIELDS = ("customer_ref", "subject", "category", "priority", "description", "tags", "site_ref", "lat", "lon")


@dataclass(frozen=True)
class RowProblem:
    index: int  # position in the rows given (0-based)
    field: str | None
    message: str


def validate_new_tickets(
    *, uow: UnitOfWork, actor: Actor, rows: list[dict[str, Any]]
) -> tuple[RowProblem, ...]:
    """Check many would-be tickets at once (for imports) without writing anything.

    Each row holds ``create_ticket`` keyword arguments (``NEW_TICKET_FIELDS``). Returns
    every problem found; empty means every row would be accepted by ``create_ticket``."""
    problems: list[RowProblem] = []
    for i, row in enumerate(rows):
        try:
            _clean_new_ticket(
                subject=row.get("subject"), description=row.get("description") or "",
                category=row.get("category"), priority=row.get("priority"), tags=row.get("tags") or (),
                lat=row.get("lat"), lon=row.get("lon"), site_id=None, site_ref=row.get("site_ref"),
            )
        except TicketInvalid as exc:
            problems.append(RowProblem(i, exc.field, str(exc)))
        ref = (row.get("customer_ref") or "").strip()
        if not ref:
            problems.append(RowProblem(i, "customer", "A customer is required."))
        elif len(ref) > REF_MAX:
            problems.append(RowProblem(i, "customer", f"The customer reference is longer than {REF_MAX} characters."))
    refs = sorted({(r.get("customer_ref") or "").strip() for r in rows} - {""})
    site_refs = sorted({(r.get("site_ref") or "").strip() for r in rows} - {""})
    with uow:
        customers = dict(
            sql.rows(uow, "SELECT ref, id FROM customers WHERE organization_id = :org AND ref = ANY(:refs)",
                     {"org": actor.organization_id, "refs": refs})
        ) if refs else {}
        sites = dict(
            sql.rows(uow, "SELECT ref, customer_id FROM sites WHERE organization_id = :org AND ref = ANY(:refs)",
                     {"org": actor.organization_id, "refs": site_refs})
        ) if site_refs else {}
        uow.commit()
    for i, row in enumerate(rows):
        ref = (row.get("customer_ref") or "").strip()
        if ref and len(ref) <= REF_MAX and ref not in customers:
            problems.append(RowProblem(i, "customer", f"No customer '{ref}' in this organization."))
        sref = (row.get("site_ref") or "").strip()
        if sref:
            if sref not in sites:
                problems.append(RowProblem(i, "site", f"No site '{sref}' in this organization."))
            elif ref in customers and sites[sref] != customers[ref]:
                problems.append(RowProblem(i, "site", f"Site '{sref}' belongs to another customer, not '{ref}'."))
    problems.sort(key=lambda p: p.index)
    return tuple(problems)



def create_ticket(
    *,
    uow: UnitOfWork,
    actor: Actor,
    subject: str,
    category: str,
    priority: str,
    customer_ref: str | None = None,
    customer_id: int | None = None,
    description: str = "",
    tags: Iterable[str] = (),
    site_ref: str | None = None,
    site_id: int | None = None,
    lat: float | None = None,
    lon: float | None = None,
    now: datetime | None = None,
) -> TicketCreated:
    """Create a ticket, run automation, and give it the next number — all in one transaction
    whose only writing statement is its last one (see the plan above)."""
    new = _validate(subject=subject, category=category, priority=priority, customer_ref=customer_ref,
                    customer_id=customer_id, description=description, tags=tags, site_ref=site_ref,
                    site_id=site_id, lat=lat, lon=lon)
    with uow:
        uow.flush()  # a caller's pending changes (nested in its transaction) are its own writes
        context = _read_context(uow, actor, new, now)
        plan = _insert_plan(actor, new, context, now)
        for change in plan.changes:
            uow.record_change(change.entity, change.entity_id, change.organization_id, change.action, notified=True)
        with sql.translated({numbering.TAKEN_NUMBER_CONSTRAINT: numbering.number_taken}):
            inserted = uow.commit_with(_INSERT_SQL, plan.params)  # the last statement, then COMMIT
    return _created(new, context, inserted)


def _validate(*, subject, category, priority, customer_ref, customer_id, description, tags, site_ref, site_id,
              lat, lon) -> _NewTicket:
    """Step 1: the input, cleaned, or TicketInvalid naming the field."""
    fields = _clean_new_ticket(subject=subject, description=description, category=category, priority=priority,
                               tags=tags, lat=lat, lon=lon, site_id=site_id, site_ref=site_ref)
    if customer_id is None:
        customer_ref = str(customer_ref).strip() if customer_ref is not None else ""
        if not customer_ref:
            raise TicketInvalid("A customer is required.", "customer")
        if len(customer_ref) > REF_MAX:
            raise TicketInvalid(f"The customer reference is longer than {REF_MAX} characters.", "customer")
    site_ref = str(site_ref).strip() if site_id is None and site_ref is not None else None
    return _NewTicket(fields=fields, customer_id=customer_id, customer_ref=None if customer_id is not None else
                      customer_ref, site_id=site_id, site_ref=site_ref or None)


def _read_context(uow: UnitOfWork, actor: Actor, new: _NewTicket, now: datetime | None) -> _Context:
    """Step 2: what the ticket needs from the database (reads only; ids reserved)."""
    org = actor.organization_id
    row = sql.one_or_none(uow, _CONTEXT_SQL, {
        "org": org, "customer_id": new.customer_id, "customer_ref": new.customer_ref,
        "site_id": new.site_id, "site_ref": new.site_ref, "site_wanted": new.site_wanted,
    })
    if row is None:
        raise NotFound("The organization does not exist.")
    ctx = numbering.numbering_context(row, org)
    if row.customer_id is None:
        raise TicketInvalid(f"No customer {new.customer_label} in this organization.", "customer")
    site = None
    if new.site_wanted:
        if row.site_id is None:
            raise TicketInvalid(f"No site {new.site_label} in this organization.", "site")
        if row.site_customer_id != row.customer_id:
            raise TicketInvalid(f"Site {new.site_label} belongs to another customer, not {row.customer_name}.",
                                "site")
        site = _SiteRow(row.site_id, row.site_address, row.site_lat, row.site_lon)
    customer = _CustomerRow(row.customer_id, row.customer_ref, row.customer_name, row.customer_type)
    facts = TicketFacts(category=new.fields.category, priority=new.fields.priority, tags=new.fields.tags,
                        customer_type=customer.customer_type, ticket_id=row.ticket_id)
    work_order = automation.plan_work_order(uow=uow, actor=actor, organization_id=org, ticket=facts, now=now,
                                            rules_fingerprint=row.rules_fp)
    return _Context(ticket_id=row.ticket_id, numbering=ctx, customer=customer, site=site, work_order=work_order)


def _insert_plan(actor: Actor, new: _NewTicket, context: _Context, now: datetime | None) -> _InsertPlan:
    """Step 3: the rows of the last statement and the changes it announces, as values."""
    fields, customer, site, org = new.fields, context.customer, context.site, actor.organization_id
    ticket_audit = audit_row(
        actor=actor, action="ticket.created", entity="ticket", entity_id=context.ticket_id,
        summary=f"Created for {customer.name}: {fields.subject}",
        details={"category": fields.category, "priority": fields.priority, "tags": list(fields.tags),
                 "customer_ref": customer.ref, "site_id": site.id if site is not None else None},
    )
    location = fields.coords or ((site.lat, site.lon) if site is not None and site.lat is not None else None)
    changes = [Change("ticket", context.ticket_id, org, "created")]
    audit_rows = [ticket_audit]
    work_order = dict.fromkeys(automation.WORK_ORDER_COLUMNS)
    wo_id = None
    if context.work_order is not None:
        wo_id = context.work_order.id
        work_order = context.work_order.values
        audit_rows.append(context.work_order.audit)
        changes.insert(0, Change("work_order", wo_id, org, "created"))  # as before: the order first
    params = {
        **numbering.counter_params(context.numbering, now),
        "audit_rows": audit_rows_json(audit_rows),
        "ticket_id": context.ticket_id,
        "customer_id": customer.id,
        "customer_name": customer.name,
        "site_id": site.id if site is not None else None,
        "location": f"SRID=4326;POINT({location[1]!r} {location[0]!r})" if location is not None else None,
        "category": fields.category,
        "priority": fields.priority,
        "tags": list(fields.tags),
        "subject": fields.subject,
        "description": fields.description,
        "created_by": actor.name[:100],
        "now": now,
        "wo_id": wo_id,
        **{f"wo_{column}": value for column, value in work_order.items()},
        "channel": NOTIFY_CHANNEL,
        "payloads": [change.payload() for change in changes],
    }
    return _InsertPlan(params=params, changes=tuple(changes))


def _created(new: _NewTicket, context: _Context, inserted) -> TicketCreated:
    """The result, from what was decided and what the last statement returned."""
    fields, site = new.fields, context.site
    work_order = context.work_order.created() if context.work_order is not None else None
    lat, lon = fields.coords or ((site.lat, site.lon) if site is not None else (None, None))
    summary = TicketSummary(
        id=context.ticket_id,
        number=inserted.number,
        subject=fields.subject,
        customer_id=context.customer.id,
        customer_name=context.customer.name,
        category=fields.category,
        priority=fields.priority,
        status=TicketStatus.NEW.value,
        tags=fields.tags,
        site_id=site.id if site is not None else None,
        site_address=site.address if site is not None else None,
        lat=lat,
        lon=lon,
        technician_name=None,
        work_order_id=work_order.work_order_id if work_order is not None else None,
        work_order_status=WorkOrderStatus.UNASSIGNED.value if work_order is not None else None,
        scheduled_start=None,
        created_at=inserted.created_at,
        updated_at=inserted.updated_at,
    )
    return TicketCreated(ticket=summary, work_order=work_order)


# --------------------------------------------------------------------------- reading

_SUMMARY_COLUMNS = """
    t.id, t.number, t.subject, t.customer_id, t.customer_name, t.category, t.priority, t.status, t.tags,
    t.site_id, s.address AS site_address,
    ST_Y(t.location::geometry) AS lat, ST_X(t.location::geometry) AS lon,
    tech.name AS technician_name, w.id AS work_order_id, w.status AS work_order_status, w.scheduled_start,
    t.created_at, t.updated_at
"""

_FROM = """
    FROM tickets t
    LEFT JOIN sites s ON s.id = t.site_id AND s.organization_id = t.organization_id
    LEFT JOIN work_orders w ON w.source_ticket_id = t.id AND w.organization_id = t.organization_id
    LEFT JOIN technicians tech ON tech.id = w.technician_id AND tech.organization_id = t.organization_id
"""


def _summary(row) -> TicketSummary:
    return TicketSummary(
        id=row.id,
        number=row.number,
        subject=row.subject,
        customer_id=row.customer_id,
        customer_name=row.customer_name,
        category=row.category,
        priority=row.priority,
        status=row.status,
        tags=tuple(row.tags or ()),
        site_id=row.site_id,
        site_address=row.site_address,
        lat=row.lat,
        lon=row.lon,
        technician_name=row.technician_name,
        work_order_id=row.work_order_id,
        work_order_status=row.work_order_status,
        scheduled_start=row.scheduled_start,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _like_pattern(needle: str) -> str:
    esc = needle.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{esc}%"


def _as_tuple(v) -> tuple | None:
    if v is None:
        return None
    if isinstance(v, str):
        return (v,)
    return tuple(v)


def _where(actor: Actor, filters: TicketFilter) -> tuple[list[str], dict[str, Any]]:
    clauses = ["t.organization_id = :org"]
    params: dict[str, Any] = {"org": actor.organization_id}
    for name in ("status", "priority", "category"):
        values = _as_tuple(getattr(filters, name))
        if values:
            clauses.append(f"t.{name} = ANY(:{name})")
            params[name] = [str(v) for v in values]
    if filters.tag:
        clauses.append("t.tags @> ARRAY[CAST(:tag AS text)]")
        params["tag"] = filters.tag.strip().lower()
    if filters.customer_id is not None:
        clauses.append("t.customer_id = :customer_id")
        params["customer_id"] = filters.customer_id
    if filters.technician_id is not None:
        clauses.append("w.technician_id = :technician_id")
        params["technician_id"] = filters.technician_id
    if filters.unassigned_only:
        clauses.append("w.id IS NOT NULL AND w.technician_id IS NULL AND w.status NOT IN ('completed','cancelled')")
    if filters.text and filters.text.strip():
        clauses.append("t.search_text ILIKE :pattern")
        params["pattern"] = _like_pattern(" ".join(filters.text.split()))
    return clauses, params


_SORT_SQL = {
    "created_desc": ("t.created_at DESC, t.id DESC", "(t.created_at, t.id) < (:k1, :k2)", "created_at"),
    "created_asc": ("t.created_at ASC, t.id ASC", "(t.created_at, t.id) > (:k1, :k2)", "created_at"),
    "number_asc": ("t.number ASC, t.id ASC", "(t.number, t.id) > (:k1, :k2)", "number"),
    "number_desc": ("t.number DESC, t.id DESC", "(t.number, t.id) < (:k1, :k2)", "number"),
}


def list_tickets(
    *,
    uow: UnitOfWork,
    actor: Actor,
    filters: TicketFilter = TicketFilter(),
    sort: str = "created_desc",
    after: object | None = None,
    limit: int = 200,
) -> TicketPage:
    """One page of tickets. Pass the returned ``next_cursor`` as ``after`` for the next page."""
    if sort not in _SORT_SQL:
        raise ValidationFailed(f"Unknown sort '{sort}'; choose one of: {', '.join(SORTS)}.", "sort")
    limit = max(1, min(int(limit), LIST_LIMIT_MAX))
    order, keyset, key_attr = _SORT_SQL[sort]
    clauses, params = _where(actor, filters)
    if after is not None:
        try:
            cursor_sort, k1, k2 = after  # type: ignore[misc]
        except (TypeError, ValueError) as exc:
            raise ValidationFailed("That page cursor is not valid.", "after") from exc
        if cursor_sort != sort:
            raise ValidationFailed("The page cursor belongs to another sort order.", "after")
        clauses.append(keyset)
        params.update(k1=k1, k2=k2)
    params["limit"] = limit + 1
    statement = f"SELECT {_SUMMARY_COLUMNS} {_FROM} WHERE {' AND '.join(clauses)} ORDER BY {order} LIMIT :limit"
    with uow:
        rows = sql.rows(uow, statement, params)
        uow.commit()
    items = tuple(_summary(r) for r in rows[:limit])
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = (sort, getattr(last, key_attr), last.id)
    return TicketPage(rows=items, next_cursor=next_cursor)


def count_tickets(*, uow: UnitOfWork, actor: Actor, filters: TicketFilter = TicketFilter()) -> int:
    clauses, params = _where(actor, filters)
    needs_wo = filters.technician_id is not None or filters.unassigned_only
    from_sql = (
        "FROM tickets t LEFT JOIN work_orders w ON w.source_ticket_id = t.id AND w.organization_id = t.organization_id"
        if needs_wo
        else "FROM tickets t"
    )
    with uow:
        n = sql.scalar(uow, f"SELECT count(*) {from_sql} WHERE {' AND '.join(clauses)}", params)
        uow.commit()
    return int(n)


def normalize_number(number: str) -> str:
    return "".join(str(number).split()).upper()


_DETAIL_SQL = f"""
    SELECT {_SUMMARY_COLUMNS}, t.description, t.created_by, t.organization_id,
           c.ref AS customer_ref, c.customer_type, c.email AS customer_email, c.phone AS customer_phone,
           s.ref AS site_ref, s.name AS site_name,
           w.source AS wo_source, w.work_type, w.priority AS wo_priority, w.technician_id, w.scheduled_end,
           w.duration_minutes, w.assignment_logic, w.required_skills, w.needs_assignment, w.unassigned_reason,
           w.assignment_explanation, w.assigned_at, w.rule_id, r.name AS rule_name
    {_FROM}
    JOIN customers c ON c.id = t.customer_id
    LEFT JOIN ticket_work_order_rules r ON r.id = w.rule_id
    WHERE t.organization_id = :org AND (t.id = :ticket_id OR t.number = :number)
"""


def get_ticket_or_raise(
    *, uow: UnitOfWork, actor: Actor, number: str | None = None, ticket_id: int | None = None
) -> TicketDetail:
    if number is None and ticket_id is None:
        raise ValidationFailed("Give a ticket number or id.", "number")
    if ticket_id is not None:
        params = {"org": actor.organization_id, "ticket_id": ticket_id, "number": None}
        label = f"#{ticket_id}"
    else:
        params = {"org": actor.organization_id, "ticket_id": None, "number": normalize_number(number or "")}
        label = params["number"]
    with uow:
        row = sql.one_or_none(uow, _DETAIL_SQL, params)
        uow.commit()
    if row is None:
        raise TicketNotFound(f"Ticket {label} was not found in this organization.")
    return _detail(row)


def _detail(row) -> TicketDetail:
    wo = None
    if row.work_order_id is not None:
        wo = WorkOrderDetail(
            id=row.work_order_id,
            number=work_order_number(row.work_order_id),
            source=row.wo_source,
            status=row.work_order_status,
            work_type=row.work_type,
            priority=row.wo_priority,
            technician_id=row.technician_id,
            technician_name=row.technician_name,
            scheduled_start=row.scheduled_start,
            scheduled_end=row.scheduled_end,
            duration_minutes=row.duration_minutes,
            assignment_logic=row.assignment_logic,
            required_skills=tuple(row.required_skills or ()),
            needs_assignment=row.needs_assignment,
            unassigned_reason=row.unassigned_reason,
            assignment_explanation=row.assignment_explanation,
            assigned_at=row.assigned_at,
            rule_id=row.rule_id,
            rule_name=row.rule_name,
        )
    base = _summary(row)
    return TicketDetail(
        **{f.name: getattr(base, f.name) for f in dc_fields(TicketSummary)},
        description=row.description,
        customer_ref=row.customer_ref,
        customer_type=row.customer_type,
        customer_email=row.customer_email,
        customer_phone=row.customer_phone,
        site_ref=row.site_ref,
        site_name=row.site_name,
        created_by=row.created_by,
        organization_id=row.organization_id,
        work_order=wo,
    )


# --------------------------------------------------------------------------- changes

_UPDATABLE = {"subject", "description", "category", "priority", "tags", "site_id", "site_ref", "lat", "lon"}


def _lock_ticket(uow: UnitOfWork, actor: Actor, ticket_id: int) -> Ticket:
    ticket = uow.session.scalars(
        select(Ticket)
        .where(Ticket.organization_id == actor.organization_id, Ticket.id == ticket_id)
        .with_for_update()
    ).one_or_none()
    if ticket is None:
        raise TicketNotFound(f"Ticket #{ticket_id} was not found in this organization.")
    return ticket


def update_ticket(*, uow: UnitOfWork, actor: Actor, ticket_id: int, **fields: Any) -> TicketSummary:
    """Change subject, description, category, priority, tags, site (site_id/site_ref) or
    map position (lat/lon). Only the fields given change. Numbers never change."""
    unknown = set(fields) - _UPDATABLE
    if unknown:
        name = sorted(unknown)[0]
        raise TicketInvalid(f"'{name}' cannot be changed here.", name)
    clean: dict[str, Any] = {}
    if "subject" in fields:
        clean["subject"] = _clean_subject(fields["subject"])
    if "description" in fields:
        clean["description"] = _clean_description(fields["description"])
    if "category" in fields:
        clean["category"] = _clean_enum(fields["category"], Category, "category", "category")
    if "priority" in fields:
        clean["priority"] = _clean_enum(fields["priority"], Priority, "priority", "priority")
    if "tags" in fields:
        clean["tags"] = list(clean_tags(fields["tags"]))
    coords = _clean_coords(fields.get("lat"), fields.get("lon")) if ("lat" in fields or "lon" in fields) else None
    site_given = "site_id" in fields or "site_ref" in fields
    if coords is not None and site_given and (fields.get("site_id") is not None or fields.get("site_ref")):
        raise TicketInvalid("Give either a site or a map position, not both.", "site")

    with uow:
        ticket = _lock_ticket(uow, actor, ticket_id)
        changes: dict[str, list[Any]] = {}
        for name, value in clean.items():
            old = getattr(ticket, name)
            if (list(old) if name == "tags" else old) != value:
                changes[name] = [list(old) if name == "tags" else old, value]
                setattr(ticket, name, value)
        if site_given:
            customer = uow.session.get(Customer, ticket.customer_id)
            site = _find_site(uow, actor.organization_id, customer, fields.get("site_id"), fields.get("site_ref"))
            new_site_id = site.id if site is not None else None
            if new_site_id != ticket.site_id:
                changes["site_id"] = [ticket.site_id, new_site_id]
                ticket.site_id = new_site_id
                if coords is None:
                    ticket.location = _point(site.lat, site.lon) if site is not None and site.lat is not None else None
        if coords is not None:
            changes["location"] = [None, list(coords)]
            ticket.location = _point(*coords)
        if changes:
            ticket.updated_at = func.now()  # type: ignore[assignment]
            uow.session.flush()
            audit(
                uow,
                actor=actor,
                action="ticket.updated",
                entity="ticket",
                entity_id=ticket.id,
                summary="Changed " + ", ".join(sorted(changes)),
                details={"changes": changes},
            )
            uow.record_change("ticket", ticket.id, actor.organization_id, "updated")
        uow.commit()
    return get_ticket_or_raise(uow=uow, actor=actor, ticket_id=ticket_id).summary()


_TRANSITIONS: dict[str, tuple[str, ...]] = {
    TicketStatus.NEW: (TicketStatus.OPEN, TicketStatus.PENDING, TicketStatus.RESOLVED),
    TicketStatus.OPEN: (TicketStatus.PENDING, TicketStatus.RESOLVED),
    TicketStatus.PENDING: (TicketStatus.OPEN, TicketStatus.RESOLVED),
    TicketStatus.RESOLVED: (TicketStatus.CLOSED, TicketStatus.OPEN),
    TicketStatus.CLOSED: (TicketStatus.OPEN,),
}


def allowed_status_changes(status: str) -> tuple[str, ...]:
    """Statuses a ticket in ``status`` may move to (reopening = back to open)."""
    return tuple(s.value for s in _TRANSITIONS.get(str(status), ()))


def change_ticket_status(*, uow: UnitOfWork, actor: Actor, ticket_id: int, status: str) -> TicketSummary:
    requested = str(status).strip().lower()
    if requested not in [s.value for s in TicketStatus]:
        raise TicketInvalid(
            f"Unknown status '{status}'; choose one of: {', '.join(s.value for s in TicketStatus)}.", "status"
        )
    with uow:
        ticket = _lock_ticket(uow, actor, ticket_id)
        current = ticket.status
        if requested == current:
            raise InvalidStatusTransition(f"Ticket {ticket.number} is already {current}.", current, requested)
        allowed = allowed_status_changes(current)
        if requested not in allowed:
            raise InvalidStatusTransition(
                f"Ticket {ticket.number} is {current} and cannot become {requested}; "
                f"it can become: {', '.join(allowed) or 'nothing'}.",
                current,
                requested,
            )
        ticket.status = requested
        ticket.updated_at = func.now()  # type: ignore[assignment]
        uow.session.flush()
        reopened = current in (TicketStatus.RESOLVED, TicketStatus.CLOSED) and requested == TicketStatus.OPEN
        audit(
            uow,
            actor=actor,
            action="ticket.reopened" if reopened else "ticket.status_changed",
            entity="ticket",
            entity_id=ticket.id,
            summary=f"Status {current} → {requested}",
            details={"from": current, "to": requested},
        )
        uow.record_change("ticket", ticket.id, actor.organization_id, "updated")
        uow.commit()
    return get_ticket_or_raise(uow=uow, actor=actor, ticket_id=ticket_id).summary()


_HISTORY_SQL = """
SELECT a.at, a.actor, a.action, a.summary, a.details, a.entity FROM audit_log a
 WHERE a.organization_id = :org AND (
       (a.entity = 'ticket' AND a.entity_id = :id)
       OR (a.entity = 'work_order' AND a.entity_id IN (
           SELECT w.id FROM work_orders w WHERE w.organization_id = :org AND w.source_ticket_id = :id)))
 ORDER BY a.at, a.id
"""


def ticket_history(*, uow: UnitOfWork, actor: Actor, ticket_id: int) -> tuple[AuditItem, ...]:
    """The ticket's audit trail and its work order's, oldest first."""
    with uow:
        params = {"org": actor.organization_id, "id": ticket_id}
        if sql.scalar(uow, "SELECT 1 FROM tickets WHERE organization_id = :org AND id = :id", params) is None:
            raise TicketNotFound(f"Ticket #{ticket_id} was not found in this organization.")
        rows = sql.rows(uow, _HISTORY_SQL, params)
        uow.commit()
    return tuple(
        AuditItem(at=r.at, actor=r.actor, action=r.action, summary=r.summary, details=r.details, entity=r.entity)
        for r in rows
    )


# --------------------------------------------------------------------------- pickers


def list_customers(*, uow: UnitOfWork, actor: Actor, text: str | None = None, limit: int = 50) -> tuple[CustomerInfo, ...]:
    stmt = select(Customer).where(Customer.organization_id == actor.organization_id)
    if text and text.strip():
        pattern = _like_pattern(text.strip())
        stmt = stmt.where(or_(Customer.name.ilike(pattern, escape="\\"), Customer.ref.ilike(pattern, escape="\\")))
    stmt = stmt.order_by(Customer.name, Customer.id).limit(max(1, min(int(limit), 500)))
    with uow:
        rows = uow.session.scalars(stmt).all()
        out = tuple(
            CustomerInfo(id=c.id, ref=c.ref, name=c.name, customer_type=c.customer_type, email=c.email, phone=c.phone)
            for c in rows
        )
        uow.commit()
    return out


def list_sites(*, uow: UnitOfWork, actor: Actor, customer_id: int) -> tuple[SiteInfo, ...]:
    with uow:
        rows = sql.rows(
            uow,
            "SELECT id, ref, customer_id, name, address, ST_Y(location::geometry) AS lat, "
            "ST_X(location::geometry) AS lon FROM sites "
            "WHERE organization_id = :org AND customer_id = :cid ORDER BY name, id",
            {"org": actor.organization_id, "cid": customer_id},
        )
        uow.commit()
    return tuple(
        SiteInfo(id=r.id, ref=r.ref, customer_id=r.customer_id, name=r.name, address=r.address, lat=r.lat, lon=r.lon)
        for r in rows
    )
