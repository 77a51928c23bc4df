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
    from tests.conftest import acting_as, make_org

    other = make_org(uow_factory(), slug="other")
    with acting_as(uow_factory, other):
        add_rule(uow_factory(), other, name="theirs")
    cust = add_customer(uow_factory(), org)
    _, created = create_ticket_with_automation(uow_factory(), org, customer_id=cust)
    assert created is None
    uow = uow_factory()
    with uow:
        assert uow.session.scalar(select(func.count()).select_from(WorkOrder)) == 0


# ---------------------------------------------------------------- through the real ticket service


def test_ticket_service_creates_order_and_assign_job_assigns_it(uow_factory, org):
    from desk_desktop.services import assignment, tickets
    from tests.integration.workorder_helpers import add_site, add_technician

    cust = add_customer(uow_factory(), org, customer_type="enterprise")
    site = add_site(uow_factory(), org, customer_id=cust, lat=52.52, lon=13.40)
    rule = add_rule(uow_factory(), org, name="Enterprise network", trigger_categories=["network"],
                    trigger_customer_types=["enterprise"], wo_type="installation", wo_priority="high",
                    auto_assign=True, assignment_logic="nearest", required_skills=["networking"],
                    auto_schedule=True, schedule_offset_minutes=30)
    near = add_technician(uow_factory(), org, name="Nina", lat=52.53, lon=13.41, skills={"networking": 3})
    add_technician(uow_factory(), org, name="Far Fred", lat=52.40, lon=13.05, skills={"networking": 5})
    now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    created = tickets.create_ticket(uow=uow_factory(), actor=org, subject="Switch dead", category="network",
                                    priority="medium", customer_id=cust, site_id=site, now=now)
    assert created.work_order is not None and created.work_order.rule_id == rule
    [wo] = _orders(uow_factory(), org)
    assert wo.source_ticket_id == created.ticket.id and wo.work_type == "installation"
    uow = uow_factory()
    with uow:
        summary = uow.session.scalar(select(AuditEntry.summary).where(AuditEntry.action == "work_order.created"))
    assert summary == f"{created.work_order.number} created from a new ticket by rule 'Enterprise network'"
    result = assignment.assign_pending(uow_factory=uow_factory, now=now)
    assert result.assigned == 1
    detail = tickets.get_ticket_or_raise(uow=uow_factory(), actor=org, ticket_id=created.ticket.id)
    assert detail.technician_name == "Nina"
    view = assignment.get_work_order_or_raise(uow=uow_factory(), actor=org, work_order_id=wo.id)
    assert view.technician_id == near and view.scheduled_start == now + timedelta(minutes=30)
    assert "closest eligible technician" in assignment.explain(view.assignment_explanation)


def test_manual_order_for_a_ticket_that_already_has_one_is_refused(uow_factory, org):
    import pytest

    from desk_desktop.services.workorders import WorkOrderAlreadyExists, create_work_order

    cust = add_customer(uow_factory(), org)
    add_rule(uow_factory(), org, name="all")
    tid, created = create_ticket_with_automation(uow_factory(), org, customer_id=cust)
    with pytest.raises(WorkOrderAlreadyExists, match=f"already has work order {created.number}"):
        create_work_order(uow=uow_factory(), actor=org, ticket_id=tid, work_type="repair", priority="low")
    assert len(_orders(uow_factory(), org)) == 1


def test_manual_order_for_a_ticket_without_one(uow_factory, org):
    from desk_desktop.services.workorders import create_work_order
    from tests.integration.workorder_helpers import insert_ticket
    from tests.numbers import number_of

    cust = add_customer(uow_factory(), org)
    tid = insert_ticket(uow_factory(), org, customer_id=cust)
    made = create_work_order(uow=uow_factory(), actor=org, ticket_number=number_of(uow_factory(), tid),
                             work_type="inspection",
                             priority="high", duration_minutes=45, required_skills=["gas"], auto_assign=True,
                             assignment_logic="workload")
    [wo] = _orders(uow_factory(), org)
    assert wo.id == made.work_order_id and wo.source == "manual" and wo.source_ticket_id == tid
    assert wo.needs_assignment and wo.required_skills == ["gas"] and wo.duration_minutes == 45
