"""Tickets: ``create_ticket``, the single creation path for the GUI, the CLI and the CSV import."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from desk_desktop.db import sql
from desk_desktop.db.session import NOTIFY_CHANNEL, NOTIFY_SQL, Change, UnitOfWork
from desk_desktop.domain.enums import TicketStatus, WorkOrderStatus
from desk_desktop.domain.rules import TicketFacts
from desk_desktop.services import automation, numbering
from desk_desktop.services.audit import INSERT_AUDIT_ROWS, audit_row, audit_rows_json
from desk_desktop.services.catalogs import load_catalogs
from desk_desktop.services.common import Actor, NotFound
from desk_desktop.services.tickets.fields import CleanTicket, clean_new_ticket, unknown_category
from desk_desktop.services.tickets.types import REF_MAX, TicketCreated, TicketInvalid, TicketSummary

# --------------------------------------------------------------------------- create
#
# create_ticket is a plan of four steps in one transaction:
#   1. validate the input (no database);
#   2. read the context: ONE statement that writes nothing — the organization's number
#      format, the customer, the site, the rules' fingerprint (automation's cache check) and,
#      only when the customer (and the site, if one is asked for) exist and belong together,
#      the new ticket's id (``nextval``: ids may have gaps, numbers never do) — and the work
#      order's id too when the cached rules give a ticket like this one, for this customer's
#      type, an order. Automation then decides the work order (rules cached per process;
#      when the cache was stale it reserves the id itself, one more read);
#   3. build the insert plan: every row to write and every change to announce, as values;
#   4. execute it: ONE last statement writes the audit rows, takes the number from the
#      counter (its row lock is held until COMMIT, so it is taken last), inserts the ticket
#      and the work order and sends the change notifications. Then COMMIT.
# Nothing is written before that statement, so a failure anywhere leaves nothing behind and
# gives the number back (no gap).

_CONTEXT_SQL = f"""
SELECT x.*,
       CASE WHEN x.accepted THEN nextval(pg_get_serial_sequence('tickets', 'id')) END AS ticket_id,
       CASE WHEN x.accepted AND (x.customer_type = ANY(CAST(:work_order_for AS text[]))
                                 OR CAST(:any_customer_type AS text) = ANY(CAST(:work_order_for AS text[])))
            THEN nextval(pg_get_serial_sequence('work_orders', 'id')) END AS work_order_id
  FROM (SELECT o.timezone,
               s.organization_id IS NOT NULL AS has_format, s.prefix, s.include_year, s.include_month,
               s.padding, s.separator, s.reset_policy,
               c.id AS customer_id, c.ref AS customer_ref, c.name AS customer_name, c.customer_type,
               st.id AS site_id, st.customer_id AS site_customer_id, st.address AS site_address,
               ST_Y(st.location::geometry) AS site_lat, ST_X(st.location::geometry) AS site_lon,
               {automation.RULES_FINGERPRINT_SQL} AS rules_fp,
               cat.key AS category_key, cat.active AS category_active,
               c.id IS NOT NULL AND s.organization_id IS NOT NULL AND cat.active IS TRUE
                   AND (NOT CAST(:site_wanted AS boolean) OR st.customer_id IS NOT DISTINCT FROM c.id) AS accepted
          FROM organizations o
          LEFT JOIN ticket_number_sequences s ON s.organization_id = o.id
          LEFT JOIN customers c ON c.organization_id = o.id AND (c.id = :customer_id OR c.ref = :customer_ref)
          LEFT JOIN sites st ON st.organization_id = o.id AND (st.id = :site_id OR st.ref = :site_ref)
          LEFT JOIN LATERAL (SELECT k.key, k.active FROM ticket_categories k  -- by key, else by name
                              WHERE k.organization_id = o.id AND (k.key = CAST(:category AS text) OR lower(k.name) = lower(:category))
                              ORDER BY k.key = CAST(:category AS text) DESC LIMIT 1) AS cat ON true
         WHERE o.id = :org) AS x
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

    fields: CleanTicket
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
    category: str  # the category's key (the ticket may have named it)
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
        new = replace(new, fields=replace(new.fields, category=context.category))
        plan = _insert_plan(actor, new, context, now)
        for change in plan.changes:
            uow.record_change(change.entity, change.entity_id, change.organization_id, change.action, notified=True)
        with sql.translated({numbering.TAKEN_NUMBER_CONSTRAINT: numbering.number_taken}):
            inserted = uow.commit_with(_INSERT_SQL, plan.params)  # the last statement, then COMMIT
    return _created(new, context, inserted)


def _validate(*, subject, category, priority, customer_ref, customer_id, description, tags, site_ref, site_id,
              lat, lon) -> _NewTicket:
    """Step 1: the input, cleaned, or TicketInvalid naming the field."""
    fields = clean_new_ticket(subject=subject, description=description, category=category, priority=priority,
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
    facts = TicketFacts(category=new.fields.category, priority=new.fields.priority, tags=new.fields.tags)
    row = uow.begin_with(_CONTEXT_SQL, {  # the transaction's first statement, sent with its BEGIN
        "org": org, "customer_id": new.customer_id, "customer_ref": new.customer_ref,
        "site_id": new.site_id, "site_ref": new.site_ref, "site_wanted": new.site_wanted,
        "work_order_for": automation.customer_types_given_an_order(org, facts),
        "category": new.fields.category, "any_customer_type": automation.ANY_CUSTOMER_TYPE,
    })
    if row is None:
        raise NotFound("The organization does not exist.")
    if not row.category_active:
        raise unknown_category(load_catalogs(uow=uow, actor=actor), new.fields.category)
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
    facts = replace(facts, category=row.category_key, customer_type=customer.customer_type, ticket_id=row.ticket_id)
    work_order = automation.plan_work_order(uow=uow, actor=actor, organization_id=org, ticket=facts, now=now,
                                            rules_fingerprint=row.rules_fp, work_order_id=row.work_order_id)
    return _Context(ticket_id=row.ticket_id, category=row.category_key, numbering=ctx, customer=customer, site=site, work_order=work_order)


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
