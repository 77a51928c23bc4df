"""Rule matching and rule validation — pure functions, no database.

A rule's trigger is four lists (categories, priorities, tags, customer types). Each list
must hold for the ticket: an empty list means "any"; the category, priority and customer
type must be in their lists; tags hold when any of the ticket's tags is in the rule's
list. Active rules are tried in descending priority, ties by the lowest id, and the first
match wins.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from desk_desktop.domain.catalogs import CATEGORIES, CUSTOMER_TYPES, SKILLS, WORK_ORDER_TYPES
from desk_desktop.domain.enums import AssignmentLogic, Priority, values

MIN_DURATION_MINUTES = 15
MAX_DURATION_MINUTES = 24 * 60
MAX_OFFSET_MINUTES = 365 * 24 * 60  # a year ahead is already far beyond any sane schedule
MAX_NAME_LENGTH = 120
MAX_TAG_LENGTH = 60
DEFAULT_WO_TYPE = "repair"  # a key every organization starts with (migration 0008's defaults)


@dataclass(frozen=True)
class RuleDraft:
    """Everything a dispatcher edits on a rule (the form's contents)."""

    name: str
    description: str = ""
    active: bool = True
    trigger_categories: tuple[str, ...] = ()
    trigger_priorities: tuple[str, ...] = ()
    trigger_tags: tuple[str, ...] = ()
    trigger_customer_types: tuple[str, ...] = ()
    wo_type: str = DEFAULT_WO_TYPE
    wo_priority: str = Priority.MEDIUM.value
    wo_duration_minutes: int = 60
    auto_assign: bool = False
    assignment_logic: str = AssignmentLogic.NEAREST.value
    required_skills: tuple[str, ...] = ()
    auto_schedule: bool = False
    schedule_offset_minutes: int = 0
    notify_customer: bool = False
    notify_technician: bool = False

    def normalized(self) -> RuleDraft:
        """Trimmed name, lower-cased de-duplicated lists (tags keep their first spelling)."""

        def clean(items: Iterable[str], lower: bool = True) -> tuple[str, ...]:
            out: list[str] = []
            seen: set[str] = set()
            for raw in items or ():
                item = str(raw).strip()
                if lower:
                    item = item.lower()
                key = item.lower()
                if item and key not in seen:
                    seen.add(key)
                    out.append(item)
            return tuple(out)

        return RuleDraft(
            name=(self.name or "").strip(),
            description=(self.description or "").strip(),
            active=bool(self.active),
            trigger_categories=clean(self.trigger_categories),
            trigger_priorities=clean(self.trigger_priorities),
            trigger_tags=clean(self.trigger_tags),
            trigger_customer_types=clean(self.trigger_customer_types),
            wo_type=(self.wo_type or "").strip().lower(),
            wo_priority=(self.wo_priority or "").strip().lower(),
            wo_duration_minutes=self.wo_duration_minutes,
            auto_assign=bool(self.auto_assign),
            assignment_logic=(self.assignment_logic or "").strip().lower(),
            required_skills=clean(self.required_skills),
            auto_schedule=bool(self.auto_schedule),
            schedule_offset_minutes=self.schedule_offset_minutes,
            notify_customer=bool(self.notify_customer),
            notify_technician=bool(self.notify_technician),
        )


@dataclass(frozen=True)
class RuleProblem:
    field: str
    message: str


def _unknown(items: Sequence[str], allowed: Iterable[str]) -> list[str]:
    allowed_set = set(allowed)
    return [i for i in items if i not in allowed_set]


def _known_list(name: str, allowed: Iterable[str]) -> str:
    return f"{name}: " + ", ".join(allowed)


def validate_rule(draft: RuleDraft, *, other_names: Iterable[str] = (),
                  known_keys: Mapping[str, Collection[str]] | None = None) -> list[RuleProblem]:
    """Every problem with a draft, each with the field it belongs to (empty list = valid).

    ``other_names`` are the names of the organization's other rules (names are unique per
    organization, compared without regard to case). ``known_keys`` maps a catalog's word
    (``domain.catalogs``) to the keys the organization's catalog holds; categories,
    customer types, skills and the work-order type are checked against them (not checked
    when None: the form's own choices come from the catalogs).
    """
    d = draft.normalized()
    problems: list[RuleProblem] = []
    if not d.name:
        problems.append(RuleProblem("name", "Give the rule a name."))
    elif len(d.name) > MAX_NAME_LENGTH:
        problems.append(RuleProblem("name", f"The name is too long (at most {MAX_NAME_LENGTH} characters)."))
    elif d.name.lower() in {n.strip().lower() for n in other_names}:
        problems.append(RuleProblem("name", f"Another rule is already called '{d.name}'. Names must be unique."))

    bad = _unknown(d.trigger_priorities, values(Priority))
    if bad:
        word = "priority" if len(bad) == 1 else "priorities"
        problems.append(RuleProblem("trigger_priorities", f"Unknown {word}: {', '.join(bad)}. "
                                    + _known_list("Known priorities", values(Priority)) + "."))
    if known_keys is not None:
        checks = (
            ("trigger_categories", d.trigger_categories, CATEGORIES),
            ("trigger_customer_types", d.trigger_customer_types, CUSTOMER_TYPES),
            ("required_skills", d.required_skills, SKILLS),
            ("wo_type", (d.wo_type,) if d.wo_type else (), WORK_ORDER_TYPES),
        )
        for fname, items, catalog in checks:
            bad = _unknown(items, known_keys[catalog.word])
            if bad:
                word = catalog.singular if len(bad) == 1 else catalog.plural
                problems.append(RuleProblem(fname, (
                    f"Unknown {word}: {', '.join(bad)} — not in the organization's {catalog.plural}. "
                    f"See: desk-desktop catalog list {catalog.word}")))
    long_tags = [t for t in d.trigger_tags if len(t) > MAX_TAG_LENGTH]
    if long_tags:
        problems.append(RuleProblem("trigger_tags", f"Tags can be at most {MAX_TAG_LENGTH} characters long."))

    if not d.wo_type:
        problems.append(RuleProblem("wo_type", "Choose the work-order type."))
    if d.wo_priority not in values(Priority):
        problems.append(
            RuleProblem("wo_priority", f"Unknown work-order priority '{d.wo_priority}'. "
                        + _known_list("Known priorities", values(Priority)) + ".")
        )
    if not isinstance(d.wo_duration_minutes, int) or isinstance(d.wo_duration_minutes, bool):
        problems.append(RuleProblem("wo_duration_minutes", "The duration must be a whole number of minutes."))
    elif not MIN_DURATION_MINUTES <= d.wo_duration_minutes <= MAX_DURATION_MINUTES:
        problems.append(
            RuleProblem("wo_duration_minutes",
                        f"The duration must be between {MIN_DURATION_MINUTES} minutes and 24 hours "
                        f"({MAX_DURATION_MINUTES} minutes); got {d.wo_duration_minutes}.")
        )
    if not isinstance(d.schedule_offset_minutes, int) or isinstance(d.schedule_offset_minutes, bool):
        problems.append(RuleProblem("schedule_offset_minutes", "The schedule offset must be a whole number of minutes."))
    elif d.schedule_offset_minutes < 0:
        problems.append(RuleProblem("schedule_offset_minutes",
                                    "The schedule offset cannot be negative (0 means 'as soon as possible')."))
    elif d.schedule_offset_minutes > MAX_OFFSET_MINUTES:
        problems.append(RuleProblem("schedule_offset_minutes", "The schedule offset can be at most one year."))
    if d.assignment_logic not in values(AssignmentLogic):
        problems.append(
            RuleProblem("assignment_logic", f"Unknown assignment logic '{d.assignment_logic}'. "
                        + _known_list("Choose one of", values(AssignmentLogic)) + ".")
        )
    return problems


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True)
class TicketFacts:
    """What a rule looks at on a ticket."""

    category: str
    priority: str
    tags: tuple[str, ...] = ()
    customer_type: str | None = None
    number: str | None = None
    ticket_id: int | None = None


@dataclass(frozen=True)
class MatchRule:
    """The trigger part of a rule, ready for matching (lists as frozensets)."""

    id: int | None
    name: str
    priority: int
    active: bool
    categories: frozenset[str] = field(default_factory=frozenset)
    priorities: frozenset[str] = field(default_factory=frozenset)
    tags: frozenset[str] = field(default_factory=frozenset)
    customer_types: frozenset[str] = field(default_factory=frozenset)
    # The original lists, in their order, for messages.
    category_list: tuple[str, ...] = ()
    priority_list: tuple[str, ...] = ()
    tag_list: tuple[str, ...] = ()
    customer_type_list: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        *,
        id: int | None,
        name: str,
        priority: int,
        active: bool = True,
        categories: Iterable[str] = (),
        priorities: Iterable[str] = (),
        tags: Iterable[str] = (),
        customer_types: Iterable[str] = (),
    ) -> MatchRule:
        cats, pris, tgs, cts = (tuple(categories or ()), tuple(priorities or ()),
                                tuple(tags or ()), tuple(customer_types or ()))
        return cls(
            id=id,
            name=name,
            priority=int(priority),
            active=bool(active),
            categories=frozenset(c.lower() for c in cats),
            priorities=frozenset(p.lower() for p in pris),
            tags=frozenset(t.lower() for t in tgs),
            customer_types=frozenset(c.lower() for c in cts),
            category_list=cats,
            priority_list=pris,
            tag_list=tgs,
            customer_type_list=cts,
        )


def _fmt(items: Sequence[str]) -> str:
    return ", ".join(items)


def first_failed_condition(rule: MatchRule, facts: TicketFacts) -> str | None:
    """None when every trigger list holds; otherwise a sentence naming the first that failed.

    Conditions are checked in a fixed order: active, category, priority, tags, customer type.
    """
    if not rule.active:
        return "rule is inactive"
    if rule.categories and (facts.category or "").lower() not in rule.categories:
        return f"category is '{facts.category}', rule wants {_fmt(rule.category_list)}"
    if rule.priorities and (facts.priority or "").lower() not in rule.priorities:
        return f"priority is '{facts.priority}', rule wants {_fmt(rule.priority_list)}"
    if rule.tags and not any(t.lower() in rule.tags for t in facts.tags):
        have = _fmt(facts.tags) if facts.tags else "no tags"
        return f"tags ({have}) share none with {_fmt(rule.tag_list)}"
    if rule.customer_types and (facts.customer_type or "").lower() not in rule.customer_types:
        return f"customer type is '{facts.customer_type or 'unknown'}', rule wants {_fmt(rule.customer_type_list)}"
    return None


def rule_order_key(rule: MatchRule) -> tuple[int, float]:
    """Sort key: descending priority, ties by lowest id (unsaved drafts last among equals)."""
    return (-rule.priority, rule.id if rule.id is not None else float("inf"))


def order_rules(rules: Iterable[MatchRule]) -> list[MatchRule]:
    return sorted(rules, key=rule_order_key)


def find_match(ordered_rules: Sequence[MatchRule], facts: TicketFacts) -> MatchRule | None:
    """The first rule (in the given order — see ``order_rules``) whose trigger holds."""
    category = (facts.category or "").lower()
    priority = (facts.priority or "").lower()
    ctype = (facts.customer_type or "").lower()
    tags = [t.lower() for t in facts.tags]
    for rule in ordered_rules:
        if not rule.active:
            continue
        if rule.categories and category not in rule.categories:
            continue
        if rule.priorities and priority not in rule.priorities:
            continue
        if rule.tags and not any(t in rule.tags for t in tags):
            continue
        if rule.customer_types and ctype not in rule.customer_types:
            continue
        return rule
    return None


@dataclass(frozen=True)
class RuleEvaluation:
    rule: MatchRule
    matched: bool
    failed_condition: str | None


def evaluate_all(ordered_rules: Sequence[MatchRule], facts: TicketFacts) -> tuple[MatchRule | None, list[RuleEvaluation]]:
    """Dry-run: the winning rule and, for every rule, whether its trigger holds or what failed.

    ``matched`` is True only for the winner; a later rule whose trigger also holds is
    reported with the reason "a higher-priority rule matched first".
    """
    winner: MatchRule | None = None
    results: list[RuleEvaluation] = []
    for rule in ordered_rules:
        failed = first_failed_condition(rule, facts)
        if failed is None and winner is None:
            winner = rule
            results.append(RuleEvaluation(rule, True, None))
        elif failed is None:
            results.append(RuleEvaluation(rule, False, f"'{winner.name}' has higher priority and matched first"))
        else:
            results.append(RuleEvaluation(rule, False, failed))
    return winner, results


class CompiledRules:
    """Many rules, many tickets (replay, benches): the active rules pre-filtered per
    (category, priority, customer type), so a ticket only checks tags against the rules
    whose other conditions already hold. Same answers as ``find_match``."""

    def __init__(self, ordered_rules: Sequence[MatchRule]) -> None:
        self._rules = [r for r in ordered_rules if r.active]
        self._cache: dict[tuple[str, str, str], list[MatchRule]] = {}

    def _candidates(self, category: str, priority: str, ctype: str) -> list[MatchRule]:
        out: list[MatchRule] = []
        for r in self._rules:
            if r.categories and category not in r.categories:
                continue
            if r.priorities and priority not in r.priorities:
                continue
            if r.customer_types and ctype not in r.customer_types:
                continue
            out.append(r)
            if not r.tags:
                break  # matches every ticket with this key: nothing after it can win
        return out

    def match(self, facts: TicketFacts) -> MatchRule | None:
        key = ((facts.category or "").lower(), (facts.priority or "").lower(), (facts.customer_type or "").lower())
        cands = self._cache.get(key)
        if cands is None:
            cands = self._cache[key] = self._candidates(*key)
        tags = None
        for r in cands:
            if not r.tags:
                return r
            if tags is None:
                tags = {t.lower() for t in facts.tags}
            if not r.tags.isdisjoint(tags):
                return r
        return None


def trigger_summary(categories: Sequence[str], priorities: Sequence[str], tags: Sequence[str],
                    customer_types: Sequence[str]) -> str:
    """One line a dispatcher reads in the rules list: "hvac · high, urgent · tag: vip"."""
    parts = []
    if categories:
        parts.append("category " + " or ".join(categories))
    if priorities:
        parts.append("priority " + " or ".join(priorities))
    if tags:
        parts.append("tag " + " or ".join(tags))
    if customer_types:
        parts.append("customer " + " or ".join(customer_types))
    return "; ".join(parts) if parts else "every ticket"
