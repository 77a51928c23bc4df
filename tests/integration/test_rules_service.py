"""Managing rules, dry-run and replay (real PostGIS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from desk_desktop.db.models import AuditEntry, TicketToWorkOrderRule, WorkOrder
from desk_desktop.services import rules
from desk_desktop.services.catalogs import load_catalogs
from desk_desktop.services.common import Actor, PermissionDenied
from desk_desktop.services.rules import RuleDraft, RuleInvalid
from tests.integration.workorder_helpers import add_customer, create_ticket_with_automation, insert_ticket
from tests.numbers import number_of


def _draft(name="HVAC urgent", **kw) -> RuleDraft:
    base = dict(name=name, trigger_categories=("hvac",), trigger_priorities=("urgent",), wo_type="repair",
                wo_priority="urgent", wo_duration_minutes=120, auto_assign=True, assignment_logic="nearest",
                required_skills=("hvac",))
    base.update(kw)
    return RuleDraft(**base)


def _table_counts(uow):
    with uow:
        return {t: uow.session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("work_orders", "audit_log", "ticket_work_order_rules", "assignment_state", "notifications",
                          "tickets")}


def test_create_list_and_get_rule(uow_factory, org):
    view = rules.create_rule(uow=uow_factory(), actor=org, draft=_draft(trigger_tags=(" VIP ", "vip", "Gold")))
    assert view.name == "HVAC urgent" and view.trigger_tags == ("vip", "gold")
    assert view.trigger_summary == "category HVAC; priority urgent; tag vip or gold"
    assert "Repair" in view.template_summary and "auto-assign: nearest" in view.template_summary
    listed = rules.list_rules(uow=uow_factory(), actor=org)
    assert [r.id for r in listed] == [view.id]
    assert rules.get_rule_or_raise(uow=uow_factory(), actor=org, rule_id=view.id).to_draft().name == "HVAC urgent"
    uow = uow_factory()
    with uow:
        assert uow.session.scalar(select(AuditEntry.action).where(AuditEntry.entity == "rule")) == "rule.created"


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"name": "  "}, "name", "Give the rule a name"),
        ({"trigger_categories": ("hvac", "teleportation")}, "trigger_categories", "Unknown category: teleportation"),
        ({"trigger_priorities": ("critical",)}, "trigger_priorities", "Unknown priority: critical"),
        ({"trigger_customer_types": ("alien",)}, "trigger_customer_types", "Unknown customer type: alien"),
        ({"required_skills": ("juggling",)}, "required_skills", "Unknown skill: juggling"),
        ({"wo_type": "demolition"}, "wo_type", "Unknown work-order type: demolition — not in the organization's"),
        ({"wo_priority": "asap"}, "wo_priority", "Unknown work-order priority"),
        ({"wo_duration_minutes": 10}, "wo_duration_minutes", "between 15 minutes and 24 hours"),
        ({"wo_duration_minutes": 1441}, "wo_duration_minutes", "between 15 minutes and 24 hours"),
        ({"schedule_offset_minutes": -5}, "schedule_offset_minutes", "cannot be negative"),
        ({"assignment_logic": "random"}, "assignment_logic", "nearest, skill_match, workload, round_robin"),
    ],
)
def test_invalid_rules_are_refused_with_their_message(uow_factory, org, changes, field, fragment):
    draft = _draft(**changes)
    problems = rules.validate_rule(draft, catalogs=load_catalogs(uow=uow_factory(), actor=org))
    assert [p.field for p in problems] == [field]
    with pytest.raises(RuleInvalid) as err:
        rules.create_rule(uow=uow_factory(), actor=org, draft=draft)
    assert err.value.problems[0].field == field
    assert fragment in str(err.value)
    uow = uow_factory()
    with uow:
        assert uow.session.scalar(select(func.count()).select_from(TicketToWorkOrderRule)) == 0


def test_rule_names_are_unique_per_organization(uow_factory, org):
    from tests.conftest import acting_as, make_org

    rules.create_rule(uow=uow_factory(), actor=org, draft=_draft("Boiler"))
    with pytest.raises(RuleInvalid, match="Another rule is already called 'boiler'"):
        rules.create_rule(uow=uow_factory(), actor=org, draft=_draft("boiler"))
    other = make_org(uow_factory(), slug="other-co")
    with acting_as(uow_factory, other):
        assert rules.create_rule(uow=uow_factory(), actor=other, draft=_draft("Boiler")).name == "Boiler"


def test_only_admins_change_rules(uow_factory, org):
    clerk = Actor(organization_id=org.organization_id, name="clerk", is_admin=False)
    with pytest.raises(PermissionDenied, match="Only administrators"):
        rules.create_rule(uow=uow_factory(), actor=clerk, draft=_draft())
    view = rules.create_rule(uow=uow_factory(), actor=org, draft=_draft())
    for call in (
        lambda: rules.update_rule(uow=uow_factory(), actor=clerk, rule_id=view.id, draft=_draft("x")),
        lambda: rules.set_rule_active(uow=uow_factory(), actor=clerk, rule_id=view.id, active=False),
        lambda: rules.reorder_rules(uow=uow_factory(), actor=clerk, rule_ids_in_order=[view.id]),
        lambda: rules.delete_rule(uow=uow_factory(), actor=clerk, rule_id=view.id),
        lambda: rules.duplicate_rule(uow=uow_factory(), actor=clerk, rule_id=view.id),
    ):
        with pytest.raises(PermissionDenied):
            call()
    # Reading is for everybody.
    assert len(rules.list_rules(uow=uow_factory(), actor=clerk)) == 1


def test_update_activate_reorder_duplicate(uow_factory, org):
    a = rules.create_rule(uow=uow_factory(), actor=org, draft=_draft("A"))
    b = rules.create_rule(uow=uow_factory(), actor=org, draft=_draft("B"))
    c = rules.create_rule(uow=uow_factory(), actor=org, draft=_draft("C"))
    assert [r.name for r in rules.list_rules(uow=uow_factory(), actor=org)] == ["A", "B", "C"]  # new rules go last
    rules.reorder_rules(uow=uow_factory(), actor=org, rule_ids_in_order=[c.id, a.id, b.id])
    assert [r.name for r in rules.list_rules(uow=uow_factory(), actor=org)] == ["C", "A", "B"]
    updated = rules.update_rule(uow=uow_factory(), actor=org, rule_id=a.id,
                                draft=_draft("A2", wo_duration_minutes=45, trigger_categories=()))
    assert updated.wo_duration_minutes == 45 and updated.trigger_summary.startswith("priority urgent")
    off = rules.set_rule_active(uow=uow_factory(), actor=org, rule_id=b.id, active=False)
    assert off.active is False
    copy = rules.duplicate_rule(uow=uow_factory(), actor=org, rule_id=c.id)
    assert copy.name == "C (copy)" and copy.active is False
    assert [r.name for r in rules.list_rules(uow=uow_factory(), actor=org)] == ["C", "C (copy)", "A2", "B"]
    uow = uow_factory()
    with uow:
        actions = set(uow.session.scalars(select(AuditEntry.action).where(AuditEntry.entity == "rule")))
    assert {"rule.created", "rule.updated", "rule.deactivated", "rule.reordered", "rule.duplicated"} <= actions


def test_delete_unused_rule_deletes_and_used_rule_deactivates(uow_factory, org):
    unused = rules.create_rule(uow=uow_factory(), actor=org, draft=_draft("unused"))
    used = rules.create_rule(uow=uow_factory(), actor=org, draft=_draft("used", trigger_categories=(),
                                                                        trigger_priorities=()))
    cust = add_customer(uow_factory(), org)
    create_ticket_with_automation(uow_factory(), org, customer_id=cust, category="general")
    assert rules.delete_rule(uow=uow_factory(), actor=org, rule_id=unused.id) == "deleted"
    assert rules.delete_rule(uow=uow_factory(), actor=org, rule_id=used.id) == "deactivated"
    remaining = rules.list_rules(uow=uow_factory(), actor=org)
    assert [(r.name, r.active, r.orders_last_30_days) for r in remaining] == [("used", False, 1)]
    uow = uow_factory()
    with uow:
        assert uow.session.scalar(select(WorkOrder.rule_id)) == used.id


def test_dry_run_names_match_and_first_failed_condition(uow_factory, org):
    top = rules.create_rule(uow=uow_factory(), actor=org, draft=_draft("Plumbing", trigger_categories=("plumbing",)))
    vip = rules.create_rule(uow=uow_factory(), actor=org,
                            draft=_draft("VIP", trigger_categories=(), trigger_priorities=(), trigger_tags=("vip",)))
    rules.create_rule(uow=uow_factory(), actor=org,
                      draft=_draft("Catch-all", trigger_categories=(), trigger_priorities=()))
    rules.create_rule(uow=uow_factory(), actor=org,
                      draft=_draft("Gov only", trigger_categories=(), trigger_priorities=(),
                                   trigger_customer_types=("government",)))
    cust = add_customer(uow_factory(), org, customer_type="business")
    tid = insert_ticket(uow_factory(), org, customer_id=cust, category="hvac", priority="high", tags=["vip"])
    number = number_of(uow_factory(), tid)
    before = _table_counts(uow_factory())
    result = rules.dry_run(uow=uow_factory(), actor=org, number=number)
    assert _table_counts(uow_factory()) == before  # writes nothing
    assert result.ticket_number == number
    assert (result.matched_rule_id, result.matched_rule_name) == (vip.id, "VIP")
    by_name = {r.rule_name: r for r in result.results}
    assert by_name["Plumbing"].rule_id == top.id and not by_name["Plumbing"].matched
    assert by_name["Plumbing"].failed_condition == "category is 'hvac', rule wants plumbing"
    assert by_name["VIP"].matched and by_name["VIP"].failed_condition is None
    assert "higher priority" in by_name["Catch-all"].failed_condition
    assert by_name["Gov only"].failed_condition == "customer type is 'business', rule wants government"
    # By id, and with a draft rule set instead of the saved rules.
    drafts = [(None, _draft("Draft tags", trigger_categories=(), trigger_priorities=(), trigger_tags=("gold",))),
              (None, _draft("Draft hvac", trigger_priorities=()))]
    alt = rules.dry_run(uow=uow_factory(), actor=org, ticket_id=tid, drafts=drafts)
    assert alt.matched_rule_name == "Draft hvac"
    assert alt.results[0].failed_condition == "tags (vip) share none with gold"


def test_replay_counts_per_rule_and_writes_nothing(uow_factory, org):
    hvac = rules.create_rule(uow=uow_factory(), actor=org, draft=_draft("HVAC", trigger_priorities=()))
    rules.create_rule(uow=uow_factory(), actor=org, draft=_draft("Never", trigger_categories=("security",)))
    cust = add_customer(uow_factory(), org)
    now = datetime.now(UTC)
    numbers = []
    for i in range(7):
        tid = insert_ticket(uow_factory(), org, customer_id=cust, category="hvac",
                            created_at=now - timedelta(days=i + 1))
        numbers.append(number_of(uow_factory(), tid))
    insert_ticket(uow_factory(), org, customer_id=cust, category="plumbing", created_at=now - timedelta(days=2))
    insert_ticket(uow_factory(), org, customer_id=cust, category="hvac", created_at=now - timedelta(days=40))
    before = _table_counts(uow_factory())
    result = rules.replay(uow=uow_factory(), actor=org, days=30, now=now)
    assert _table_counts(uow_factory()) == before
    assert result.tickets_considered == 8 and result.unmatched == 1
    rows = {r.rule_name: r for r in result.per_rule}
    assert rows["HVAC"].rule_id == hvac.id and rows["HVAC"].would_create == 7
    assert set(rows["HVAC"].sample_numbers) <= set(numbers) and len(rows["HVAC"].sample_numbers) == 5
    assert rows["Never"].would_create == 0
    # A draft rule set: what a catch-all would have done.
    alt = rules.replay(uow=uow_factory(), actor=org, days=30, now=now,
                       drafts=[(None, _draft("All", trigger_categories=(), trigger_priorities=()))])
    assert alt.per_rule[0].would_create == 8 and alt.unmatched == 0
    assert _table_counts(uow_factory()) == before


def test_known_tags(uow_factory, org):
    cust = add_customer(uow_factory(), org)
    insert_ticket(uow_factory(), org, customer_id=cust, tags=["vip", "roof"])
    rules.create_rule(uow=uow_factory(), actor=org, draft=_draft(trigger_tags=("Warranty",)))
    assert rules.known_tags(uow=uow_factory(), actor=org) == ("roof", "vip", "warranty")
