"""Tickets become work orders in the ticket's transaction (real PostGIS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from desk_desktop.db.models import AuditEntry, WorkOrder
from tests.integration.workorder_helpers import add_customer, add_rule, create_ticket_with_automation


def _orders(uow, actor):
    with uow:
        rows = list(uow.session.scalars(select(WorkOrder).where(WorkOrder.organization_id == actor.organization_id)))
        uow.commit()
    return rows


def test_matching_ticket_creates_work_order_from_template(uow_factory, org):
    cust = add_customer(uow_factory(), org, customer_type="business")
    rule_id = add_rule(uow_factory(), org, name="HVAC urgent", trigger_categories=["hvac"],
                       trigger_priorities=["urgent", "high"], wo_type="repair", wo_priority="urgent",
                       wo_duration_minutes=90, auto_assign=True, assignment_logic="workload",
                       required_skills=["hvac"], notify_customer=True)
    tid, created = create_ticket_with_automation(uow_factory(), org, customer_id=cust, category="hvac",
                                                 priority="high")
    assert created is not None
    assert created.rule_id == rule_id and created.rule_name == "HVAC urgent"
    assert created.number == f"WO-{created.work_order_id:06d}"
    [wo] = _orders(uow_factory(), org)
    assert wo.id == created.work_order_id
    assert wo.source == "auto_rule" and wo.source_ticket_id == tid and wo.rule_id == rule_id
    assert (wo.work_type, wo.priority, wo.duration_minutes) == ("repair", "urgent", 90)
    assert wo.status == "unassigned"
    assert wo.needs_assignment is True and wo.assignment_logic == "workload"
    assert wo.required_skills == ["hvac"] and wo.notify_customer is True
    uow = uow_factory()
    with uow:
        audit_rows = list(uow.session.scalars(select(AuditEntry).where(AuditEntry.entity == "work_order",
                                                                        AuditEntry.entity_id == wo.id)))
        assert [a.action for a in audit_rows] == ["work_order.created"]
        assert "HVAC urgent" in audit_rows[0].summary


def test_non_matching_ticket_creates_no_work_order(uow_factory, org):
    cust = add_customer(uow_factory(), org, customer_type="residential")
    add_rule(uow_factory(), org, trigger_categories=["plumbing"])
    add_rule(uow_factory(), org, trigger_categories=["hvac"], trigger_customer_types=["enterprise"])
    _, created = create_ticket_with_automation(uow_factory(), org, customer_id=cust, category="hvac")
    assert created is None
    assert _orders(uow_factory(), org) == []


def test_highest_priority_rule_wins(uow_factory, org):
    cust = add_customer(uow_factory(), org)
    add_rule(uow_factory(), org, name="low", priority=1, trigger_categories=["hvac"], wo_type="inspection")
    high = add_rule(uow_factory(), org, name="high", priority=50, trigger_tags=["vip", "x"], wo_type="emergency")
    add_rule(uow_factory(), org, name="mid", priority=10, wo_type="maintenance")
    _, created = create_ticket_with_automation(uow_factory(), org, customer_id=cust, category="hvac", tags=["vip"])
    assert created.rule_id == high and created.work_type == "emergency"
    [wo] = _orders(uow_factory(), org)
    assert wo.rule_id == high


def test_equal_priority_ties_go_to_lowest_id(uow_factory, org):
    cust = add_customer(uow_factory(), org)
    first = add_rule(uow_factory(), org, name="first", priority=5)
    add_rule(uow_factory(), org, name="second", priority=5)
    _, created = create_ticket_with_automation(uow_factory(), org, customer_id=cust)
    assert created.rule_id == first


def test_inactive_rule_never_matches(uow_factory, org):
    cust = add_customer(uow_factory(), org)
    add_rule(uow_factory(), org, active=False)
    _, created = create_ticket_with_automation(uow_factory(), org, customer_id=cust)
    assert created is None


def test_auto_schedule_lands_at_now_plus_offset(uow_factory, org):
    cust = add_customer(uow_factory(), org)
    add_rule(uow_factory(), org, auto_schedule=True, schedule_offset_minutes=240, wo_duration_minutes=45)
    now = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    _, created = create_ticket_with_automation(uow_factory(), org, customer_id=cust, now=now)
    [wo] = _orders(uow_factory(), org)
    assert wo.scheduled_start == now + timedelta(hours=4)
    assert wo.scheduled_end == now + timedelta(hours=4, minutes=45)
    assert created.scheduled_start == wo.scheduled_start


def test_rules_of_another_organization_are_ignored(uow_factory, org):
    from tests.conftest import make_org

    other = make_org(uow_factory(), slug="other")
    add_rule(uow_factory(), other, name="theirs")
    cust = add_customer(uow_factory(), org)
    _, created = create_ticket_with_automation(uow_factory(), org, customer_id=cust)
    assert created is None
    uow = uow_factory()
    with uow:
        assert uow.session.scalar(select(func.count()).select_from(WorkOrder)) == 0
