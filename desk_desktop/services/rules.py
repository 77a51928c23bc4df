"""Rules that turn tickets into work orders: manage them, try them (dry-run), replay them.

Only administrators change rules. Rules are evaluated in descending ``priority`` (ties by
lowest id); the list shown to dispatchers is in that order and ``reorder_rules`` rewrites
the priorities from the order given. A rule that already created work orders is
deactivated instead of deleted, so history keeps pointing at it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from desk_desktop.db import sql
from desk_desktop.db.models import Customer, Ticket, TicketToWorkOrderRule, WorkOrder
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.catalogs import CATALOGS, CATEGORIES, CUSTOMER_TYPES, SKILLS, WORK_ORDER_TYPES
from desk_desktop.domain.enums import ASSIGNMENT_LOGIC_HELP, AssignmentLogic
from desk_desktop.domain.rules import (
    CompiledRules,
    MatchRule,
    RuleDraft,
    RuleProblem,
    TicketFacts,
    evaluate_all,
    order_rules,
    trigger_summary,
)
from desk_desktop.domain.rules import validate_rule as _validate_rule
from desk_desktop.services.automation import match_rule_from_row
from desk_desktop.services.catalogs import Catalogs, load_catalogs
from desk_desktop.services.common import Actor, DeskError, NotFound, PermissionDenied, audit

__all__ = [
    "RuleDraft",
    "RuleProblem",
    "RuleView",
    "RuleInvalid",
    "RuleNotFound",
    "RuleCheck",
    "DryRunResult",
    "ReplayRow",
    "ReplayResult",
    "validate_rule",
    "list_rules",
    "get_rule_or_raise",
    "create_rule",
    "update_rule",
    "set_rule_active",
    "reorder_rules",
    "duplicate_rule",
    "delete_rule",
    "dry_run",
    "replay",
    "known_tags",
]

PRIORITY_STEP = 10
SAMPLE_SIZE = 5

DRAFT_FIELDS = tuple(f.name for f in fields(RuleDraft))
LIST_FIELDS = ("trigger_categories", "trigger_priorities", "trigger_tags", "trigger_customer_types", "required_skills")


class RuleInvalid(DeskError):
    """The draft has problems; ``problems`` lists them per field."""

    def __init__(self, problems: list[RuleProblem]) -> None:
        self.problems = list(problems)
        super().__init__("The rule cannot be saved: " + " ".join(p.message for p in self.problems))

    @property
    def field(self) -> str | None:
        return self.problems[0].field if self.problems else None


class RuleNotFound(NotFound):
    pass


@dataclass(frozen=True)
class RuleView:
    id: int
    priority: int
    name: str
    description: str
    active: bool
    trigger_categories: tuple[str, ...]
    trigger_priorities: tuple[str, ...]
    trigger_tags: tuple[str, ...]
    trigger_customer_types: tuple[str, ...]
    wo_type: str
    wo_priority: str
    wo_duration_minutes: int
    auto_assign: bool
    assignment_logic: str
    required_skills: tuple[str, ...]
    auto_schedule: bool
    schedule_offset_minutes: int
    notify_customer: bool
    notify_technician: bool
    orders_last_30_days: int
    trigger_summary: str
    template_summary: str
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def to_draft(self) -> RuleDraft:
        return RuleDraft(**{name: getattr(self, name) for name in DRAFT_FIELDS})


@dataclass(frozen=True)
class RuleCheck:
    rule_id: int | None
    rule_name: str
    matched: bool
    failed_condition: str | None


@dataclass(frozen=True)
class DryRunResult:
    ticket_number: str
    matched_rule_id: int | None
    matched_rule_name: str | None
    results: tuple[RuleCheck, ...]


@dataclass(frozen=True)
class ReplayRow:
    rule_id: int | None
    rule_name: str
    would_create: int
    sample_numbers: tuple[str, ...]


@dataclass(frozen=True)
class ReplayResult:
    tickets_considered: int
    per_rule: tuple[ReplayRow, ...]
    unmatched: int
    days: int = 30
    since: datetime | None = None


def known_keys(catalogs: Catalogs) -> dict[str, set[str]]:
    """Catalog word → the keys the organization's catalog holds (retired ones too: a rule
    may keep an entry it already uses)."""
    return {c.word: catalogs.keys(c) for c in CATALOGS.values()}


def validate_rule(draft: RuleDraft, *, catalogs: Catalogs | None = None) -> list[RuleProblem]:
    """Validation for inline form feedback, against the organization's ``catalogs`` when
    given (name uniqueness is checked on save)."""
    return _validate_rule(draft, known_keys=None if catalogs is None else known_keys(catalogs))


def _require_admin(actor: Actor, what: str) -> None:
    if not actor.is_admin:
        raise PermissionDenied(f"Only administrators can {what}.")


def _duration_text(minutes: int) -> str:
    if minutes % 60 == 0:
        return f"{minutes // 60} h"
    if minutes > 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes} min"


def template_summary(d, catalogs: Catalogs) -> str:
    """"Repair · medium priority · 1 h · auto-assign: nearest needing HVAC" (display names)."""
    skill_names = ", ".join(catalogs.names(SKILLS, d.required_skills or ()))
    parts = [catalogs.name(WORK_ORDER_TYPES, d.wo_type), f"{d.wo_priority} priority", _duration_text(d.wo_duration_minutes)]
    if d.auto_assign:
        skills = f" needing {skill_names}" if d.required_skills else ""
        parts.append(f"auto-assign: {d.assignment_logic}{skills}")
    elif d.required_skills:
        parts.append(f"needs {skill_names}")
    if d.auto_schedule:
        parts.append("schedule " + ("at once" if d.schedule_offset_minutes == 0
                                    else f"+{_duration_text(d.schedule_offset_minutes)}"))
    notify = [w for w, on in (("customer", d.notify_customer), ("technician", d.notify_technician)) if on]
    if notify:
        parts.append("notify " + " and ".join(notify))
    return " · ".join(parts)


def _draft_of(rule: TicketToWorkOrderRule) -> RuleDraft:
    return RuleDraft(**{name: (tuple(getattr(rule, name) or ()) if name in LIST_FIELDS else getattr(rule, name))
                        for name in DRAFT_FIELDS})


def _view(rule: TicketToWorkOrderRule, orders_30d: int, catalogs: Catalogs) -> RuleView:
    return RuleView(
        id=rule.id,
        priority=rule.priority,
        name=rule.name,
        description=rule.description or "",
        active=rule.active,
        trigger_categories=tuple(rule.trigger_categories or ()),
        trigger_priorities=tuple(rule.trigger_priorities or ()),
        trigger_tags=tuple(rule.trigger_tags or ()),
        trigger_customer_types=tuple(rule.trigger_customer_types or ()),
        wo_type=rule.wo_type,
        wo_priority=rule.wo_priority,
        wo_duration_minutes=rule.wo_duration_minutes,
        auto_assign=rule.auto_assign,
        assignment_logic=rule.assignment_logic,
        required_skills=tuple(rule.required_skills or ()),
        auto_schedule=rule.auto_schedule,
        schedule_offset_minutes=rule.schedule_offset_minutes,
        notify_customer=rule.notify_customer,
        notify_technician=rule.notify_technician,
        orders_last_30_days=orders_30d,
        trigger_summary=trigger_summary(catalogs.names(CATEGORIES, rule.trigger_categories or ()),
                                        rule.trigger_priorities or (), rule.trigger_tags or (),
                                        catalogs.names(CUSTOMER_TYPES, rule.trigger_customer_types or ())),
        template_summary=template_summary(rule, catalogs),
        created_at=rule.created_at,
        updated_at=rule.updated_at,
    )


def _orders_30d(uow: UnitOfWork, org_id: int, rule_ids: list[int] | None = None) -> dict[int, int]:
    since = datetime.now(UTC) - timedelta(days=30)
    stmt = (
        select(WorkOrder.rule_id, func.count())
        .where(WorkOrder.organization_id == org_id, WorkOrder.rule_id.is_not(None), WorkOrder.created_at >= since)
        .group_by(WorkOrder.rule_id)
    )
    if rule_ids is not None:
        stmt = stmt.where(WorkOrder.rule_id.in_(rule_ids))
    return {rid: n for rid, n in uow.session.execute(stmt)}


def _rules_in_order(uow: UnitOfWork, org_id: int) -> list[TicketToWorkOrderRule]:
    return list(
        uow.session.scalars(
            select(TicketToWorkOrderRule)
            .where(TicketToWorkOrderRule.organization_id == org_id)
            .order_by(TicketToWorkOrderRule.priority.desc(), TicketToWorkOrderRule.id)
        )
    )


def _load_rule(uow: UnitOfWork, actor: Actor, rule_id: int, *, for_update: bool = False) -> TicketToWorkOrderRule:
    stmt = select(TicketToWorkOrderRule).where(
        TicketToWorkOrderRule.id == rule_id, TicketToWorkOrderRule.organization_id == actor.organization_id
    )
    if for_update:
        stmt = stmt.with_for_update()
    rule = uow.session.scalar(stmt)
    if rule is None:
        raise RuleNotFound(f"Rule {rule_id} does not exist (it may have been deleted).")
    return rule


def list_rules(*, uow: UnitOfWork, actor: Actor) -> tuple[RuleView, ...]:
    """All rules of the organization in evaluation order (highest priority first)."""
    with uow:
        rules = _rules_in_order(uow, actor.organization_id)
        counts = _orders_30d(uow, actor.organization_id)
        cats = load_catalogs(uow=uow, actor=actor)
        out = tuple(_view(r, counts.get(r.id, 0), cats) for r in rules)
        uow.commit()
        return out


def get_rule_or_raise(*, uow: UnitOfWork, actor: Actor, rule_id: int) -> RuleView:
    with uow:
        rule = _load_rule(uow, actor, rule_id)
        view = _view(rule, _orders_30d(uow, actor.organization_id, [rule.id]).get(rule.id, 0),
                     load_catalogs(uow=uow, actor=actor))
        uow.commit()
        return view


_CATALOG_FIELDS = (("trigger_categories", CATEGORIES), ("trigger_customer_types", CUSTOMER_TYPES),
                   ("required_skills", SKILLS), ("wo_type", WORK_ORDER_TYPES))


def _catalog_keys(d: RuleDraft, name: str) -> tuple[str, ...]:
    value = getattr(d, name)
    return (value,) if isinstance(value, str) else tuple(value or ())


def _retired_problems(d: RuleDraft, catalogs: Catalogs, before: RuleDraft | None) -> list[RuleProblem]:
    """A retired entry stays on a rule that already uses it, but is no new choice."""
    problems = []
    for name, catalog in _CATALOG_FIELDS:
        kept = set(_catalog_keys(before, name)) if before is not None else set()
        usable = {e.key for e in catalogs.choices(catalog, keep=kept)}
        retired = [k for k in _catalog_keys(d, name) if k in catalogs.keys(catalog) and k not in usable]
        if retired:
            problems.append(RuleProblem(name, (
                f"Retired {catalog.singular if len(retired) == 1 else catalog.plural}: "
                f"{', '.join(catalogs.names(catalog, retired))} — choose an active one, or restore it first "
                f"(desk-desktop catalog restore {catalog.word} KEY).")))
    return problems


def _check(uow: UnitOfWork, actor: Actor, draft: RuleDraft, exclude_id: int | None,
           catalogs: Catalogs, before: RuleDraft | None = None) -> RuleDraft:
    """The draft, normalized, or RuleInvalid with every problem. ``before``: the rule as
    saved (its retired entries may stay)."""
    d = draft.normalized()
    stmt = select(TicketToWorkOrderRule.name).where(TicketToWorkOrderRule.organization_id == actor.organization_id)
    if exclude_id is not None:
        stmt = stmt.where(TicketToWorkOrderRule.id != exclude_id)
    problems = _validate_rule(d, other_names=list(uow.session.scalars(stmt)), known_keys=known_keys(catalogs))
    problems += _retired_problems(d, catalogs, before)
    if problems:
        raise RuleInvalid(problems)
    return d


def _apply(rule: TicketToWorkOrderRule, d: RuleDraft) -> None:
    for name in DRAFT_FIELDS:
        value = getattr(d, name)
        if name in LIST_FIELDS:
            value = list(value)
        setattr(rule, name, value)


def _draft_dict(d: RuleDraft) -> dict:
    return {name: (list(getattr(d, name)) if name in LIST_FIELDS else getattr(d, name)) for name in DRAFT_FIELDS}


def _lock_rules(uow: UnitOfWork, organization_id: int) -> None:
    """One rule change at a time per organization (held until the transaction ends)."""
    sql.execute(uow, "SELECT pg_advisory_xact_lock(hashtext('desk.rules'), CAST(:o AS integer))",
                {"o": organization_id})


def create_rule(*, uow: UnitOfWork, actor: Actor, draft: RuleDraft, priority: int | None = None) -> RuleView:
    """Save a new rule. It goes to the bottom of the list (lowest priority) unless a
    ``priority`` is given."""
    _require_admin(actor, "create rules")
    with uow:
        _lock_rules(uow, actor.organization_id)
        cats = load_catalogs(uow=uow, actor=actor)
        d = _check(uow, actor, draft, None, cats)
        if priority is None:
            lowest = uow.session.scalar(
                select(func.min(TicketToWorkOrderRule.priority)).where(
                    TicketToWorkOrderRule.organization_id == actor.organization_id
                )
            )
            priority = 0 if lowest is None else lowest - PRIORITY_STEP
        rule = TicketToWorkOrderRule(organization_id=actor.organization_id, priority=priority)
        _apply(rule, d)
        uow.session.add(rule)
        uow.session.flush()
        audit(uow, actor=actor, action="rule.created", entity="rule", entity_id=rule.id,
              summary=f"Rule '{d.name}' created", details=_draft_dict(d) | {"priority": priority})
        uow.record_change("rule", rule.id, actor.organization_id, "created")
        uow.session.refresh(rule)
        view = _view(rule, 0, cats)
        uow.commit()
        return view


def update_rule(*, uow: UnitOfWork, actor: Actor, rule_id: int, draft: RuleDraft) -> RuleView:
    _require_admin(actor, "change rules")
    with uow:
        _lock_rules(uow, actor.organization_id)
        rule = _load_rule(uow, actor, rule_id, for_update=True)
        cats = load_catalogs(uow=uow, actor=actor)
        d = _check(uow, actor, draft, rule.id, cats, before=_draft_of(rule))
        before = _draft_dict(_draft_of(rule))
        _apply(rule, d)
        rule.updated_at = datetime.now(UTC)
        after = _draft_dict(d)
        changed = {k: {"from": before[k], "to": after[k]} for k in DRAFT_FIELDS if before[k] != after[k]}
        uow.session.flush()
        audit(uow, actor=actor, action="rule.updated", entity="rule", entity_id=rule.id,
              summary=f"Rule '{d.name}' changed: " + (", ".join(changed) or "nothing"),
              details={"changes": changed})
        uow.record_change("rule", rule.id, actor.organization_id, "updated")
        view = _view(rule, _orders_30d(uow, actor.organization_id, [rule.id]).get(rule.id, 0), cats)
        uow.commit()
        return view


def set_rule_active(*, uow: UnitOfWork, actor: Actor, rule_id: int, active: bool) -> RuleView:
    _require_admin(actor, "activate or deactivate rules")
    with uow:
        rule = _load_rule(uow, actor, rule_id, for_update=True)
        if rule.active != bool(active):
            rule.active = bool(active)
            rule.updated_at = datetime.now(UTC)
            uow.session.flush()
            word = "activated" if active else "deactivated"
            audit(uow, actor=actor, action=f"rule.{word}", entity="rule", entity_id=rule.id,
                  summary=f"Rule '{rule.name}' {word}")
            uow.record_change("rule", rule.id, actor.organization_id, "updated")
        view = _view(rule, _orders_30d(uow, actor.organization_id, [rule.id]).get(rule.id, 0),
                     load_catalogs(uow=uow, actor=actor))
        uow.commit()
        return view


def reorder_rules(*, uow: UnitOfWork, actor: Actor, rule_ids_in_order: list[int]) -> tuple[RuleView, ...]:
    """Rewrite priorities so rules are evaluated in the given order (first = highest).
    Rules not mentioned keep their relative order after the given ones."""
    _require_admin(actor, "reorder rules")
    wanted = [int(r) for r in rule_ids_in_order]
    if len(set(wanted)) != len(wanted):
        raise DeskError("The new order lists a rule twice.")
    with uow:
        _lock_rules(uow, actor.organization_id)
        rules = _rules_in_order(uow, actor.organization_id)
        by_id = {r.id: r for r in rules}
        unknown = [r for r in wanted if r not in by_id]
        if unknown:
            raise RuleNotFound(f"Rule {unknown[0]} does not exist (it may have been deleted); refresh and try again.")
        ordered = [by_id[r] for r in wanted] + [r for r in rules if r.id not in set(wanted)]
        n = len(ordered)
        before = [r.id for r in rules]
        now = datetime.now(UTC)
        for i, rule in enumerate(ordered):
            new_priority = (n - i) * PRIORITY_STEP
            if rule.priority != new_priority:
                rule.priority = new_priority
                rule.updated_at = now
        uow.session.flush()
        audit(uow, actor=actor, action="rule.reordered", entity="rule", entity_id=None,
              summary="Rules reordered", details={"before": before, "after": [r.id for r in ordered]})
        uow.record_change("rule", None, actor.organization_id, "reordered")
        counts = _orders_30d(uow, actor.organization_id)
        cats = load_catalogs(uow=uow, actor=actor)
        out = tuple(_view(r, counts.get(r.id, 0), cats) for r in ordered)
        uow.commit()
        return out


def duplicate_rule(*, uow: UnitOfWork, actor: Actor, rule_id: int) -> RuleView:
    """A copy named "<name> (copy)" (inactive, right below the original) to edit safely."""
    _require_admin(actor, "create rules")
    with uow:
        source = _load_rule(uow, actor, rule_id)
        names = {n.lower() for n in uow.session.scalars(
            select(TicketToWorkOrderRule.name).where(TicketToWorkOrderRule.organization_id == actor.organization_id))}
        base = f"{source.name} (copy)"
        name, i = base, 2
        while name.lower() in names:
            name, i = f"{source.name} (copy {i})", i + 1
        draft = replace(_draft_of(source), name=name[:120], active=False)
        src_priority, src_name = source.priority, source.name
        view = create_rule(uow=uow, actor=actor, draft=draft, priority=src_priority - 1)
        audit(uow, actor=actor, action="rule.duplicated", entity="rule", entity_id=view.id,
              summary=f"Rule '{view.name}' copied from '{src_name}'", details={"source_rule_id": rule_id})
        uow.commit()
        return view


def delete_rule(*, uow: UnitOfWork, actor: Actor, rule_id: int) -> str:
    """"deleted", or "deactivated" when the rule already created work orders (kept for history)."""
    _require_admin(actor, "delete rules")
    with uow:
        rule = _load_rule(uow, actor, rule_id, for_update=True)
        used = uow.session.scalar(
            select(func.count()).select_from(WorkOrder).where(
                WorkOrder.organization_id == actor.organization_id, WorkOrder.rule_id == rule.id
            )
        )
        if used:
            rule.active = False
            rule.updated_at = datetime.now(UTC)
            audit(uow, actor=actor, action="rule.deactivated", entity="rule", entity_id=rule.id,
                  summary=f"Rule '{rule.name}' deactivated instead of deleted: it created {used} work order(s)",
                  details={"work_orders": used})
            outcome = "deactivated"
        else:
            audit(uow, actor=actor, action="rule.deleted", entity="rule", entity_id=rule.id,
                  summary=f"Rule '{rule.name}' deleted", details=_draft_dict(_draft_of(rule)))
            uow.session.delete(rule)
            outcome = "deleted"
        uow.session.flush()
        uow.record_change("rule", rule_id, actor.organization_id, outcome)
        uow.commit()
        return outcome


# --------------------------------------------------------------------------- dry-run / replay


def _match_rules_from_drafts(drafts) -> list[MatchRule]:
    """(rule_id|None, RuleDraft) pairs in priority order → MatchRules in that same order."""
    drafts = list(drafts)
    n = len(drafts)
    out = []
    for i, (rule_id, draft) in enumerate(drafts):
        d = draft.normalized()
        out.append(MatchRule.build(id=rule_id, name=d.name or f"draft {i + 1}", priority=n - i, active=d.active,
                                   categories=d.trigger_categories, priorities=d.trigger_priorities,
                                   tags=d.trigger_tags, customer_types=d.trigger_customer_types))
    return out


def dry_run(*, uow: UnitOfWork, actor: Actor, number: str | None = None, ticket_id: int | None = None,
            drafts=None) -> DryRunResult:
    """Which rule would take this ticket, and for every other rule the first condition that
    failed. Writes nothing."""
    if number is None and ticket_id is None:
        raise DeskError("Give a ticket number.")
    with uow:
        stmt = select(Ticket, Customer.customer_type).join(
            Customer, (Customer.id == Ticket.customer_id) & (Customer.organization_id == Ticket.organization_id)
        ).where(Ticket.organization_id == actor.organization_id)
        stmt = stmt.where(Ticket.number == number.strip()) if number is not None else stmt.where(Ticket.id == ticket_id)
        row = uow.session.execute(stmt).first()
        if row is None:
            raise NotFound(f"Ticket {number or ticket_id} does not exist in this organization.")
        ticket, ctype = row
        facts = TicketFacts(category=ticket.category, priority=ticket.priority, tags=tuple(ticket.tags or ()),
                            customer_type=ctype, number=ticket.number, ticket_id=ticket.id)
        if drafts is None:
            rules = order_rules(match_rule_from_row(r) for r in _rules_in_order(uow, actor.organization_id))
        else:
            rules = _match_rules_from_drafts(drafts)
        winner, evaluations = evaluate_all(rules, facts)
        result = DryRunResult(
            ticket_number=ticket.number,
            matched_rule_id=winner.id if winner else None,
            matched_rule_name=winner.name if winner else None,
            results=tuple(RuleCheck(e.rule.id, e.rule.name, e.matched, e.failed_condition) for e in evaluations),
        )
        return result


def replay(*, uow: UnitOfWork, actor: Actor, days: int = 30, drafts=None, now: datetime | None = None) -> ReplayResult:
    """What the active rules (or the given drafts) would have created from the tickets of the
    last ``days`` days: counts per rule and sample ticket numbers. Writes nothing."""
    if days <= 0:
        raise DeskError("The period must be at least one day.")
    now = now or datetime.now(UTC)
    since = now - timedelta(days=days)
    with uow:
        if drafts is None:
            rules = order_rules(match_rule_from_row(r) for r in _rules_in_order(uow, actor.organization_id)
                                if r.active)
        else:
            rules = [r for r in _match_rules_from_drafts(drafts) if r.active]
        compiled = CompiledRules(rules)
        counts: dict[int, int] = {i: 0 for i in range(len(rules))}
        samples: dict[int, list[str]] = {i: [] for i in range(len(rules))}
        index = {id(r): i for i, r in enumerate(rules)}
        considered = unmatched = 0
        result = sql.stream(
            uow,
            "SELECT t.number, t.category, t.priority, t.tags, c.customer_type "
            "FROM tickets t JOIN customers c ON c.id = t.customer_id AND c.organization_id = t.organization_id "
            "WHERE t.organization_id = :org AND t.created_at >= :since AND t.created_at <= :now "
            "ORDER BY t.created_at, t.id",
            {"org": actor.organization_id, "since": since, "now": now},
            batch=5000,
        )
        match = compiled.match
        for number, category, priority, tags, ctype in result:
            considered += 1
            rule = match(TicketFacts(category, priority, tuple(tags or ()), ctype))
            if rule is None:
                unmatched += 1
                continue
            i = index[id(rule)]
            counts[i] += 1
            if len(samples[i]) < SAMPLE_SIZE:
                samples[i].append(number)
        rows = tuple(ReplayRow(r.id, r.name, counts[i], tuple(samples[i])) for i, r in enumerate(rules))
        return ReplayResult(tickets_considered=considered, per_rule=rows, unmatched=unmatched, days=days, since=since)


def known_tags(*, uow: UnitOfWork, actor: Actor, limit: int = 500) -> tuple[str, ...]:
    """Tags used on the organization's tickets and rules (for completion in the rule form)."""
    with uow:
        rows = sql.scalars(
            uow,
            "SELECT tag FROM ("
            " SELECT DISTINCT unnest(tags) AS tag FROM tickets WHERE organization_id = :org"
            " UNION SELECT DISTINCT unnest(trigger_tags) FROM ticket_work_order_rules WHERE organization_id = :org"
            ") t WHERE tag <> '' ORDER BY lower(tag) LIMIT :lim",
            {"org": actor.organization_id, "lim": limit},
        )
        uow.commit()
        return tuple(rows)


def assignment_logic_choices() -> tuple[tuple[str, str], ...]:
    """(value, help text) for the rule form's assignment-logic selector."""
    return tuple((logic.value, ASSIGNMENT_LOGIC_HELP[logic]) for logic in AssignmentLogic)
