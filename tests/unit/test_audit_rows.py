"""Audit rows and planned work orders are plain values: built once, written by one statement."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from desk_desktop.domain.rules import TicketFacts
from desk_desktop.services import automation
from desk_desktop.services.audit import audit_row, audit_rows_json
from desk_desktop.services.common import Actor


def test_an_audit_row_names_the_actor_and_the_organization():
    actor = Actor(organization_id=7, name="x" * 150)
    row = audit_row(actor=actor, action="ticket.created", entity="ticket", entity_id=3, summary="s",
                    details={"at": datetime(2026, 1, 2, 3, 4, tzinfo=UTC), "tags": ("a", "b")})
    assert row["organization_id"] == 7 and len(row["actor"]) == 100
    assert json.loads(audit_rows_json([row]))[0]["details"] == {"at": "2026-01-02T03:04:00+00:00",
                                                               "tags": ["a", "b"]}
    other = audit_row(actor=actor, action="a", entity="organization", entity_id=9, organization_id=9)
    assert other["organization_id"] == 9 and other["details"] is None


def test_details_that_cannot_be_recorded_are_refused():
    row = audit_row(actor=Actor(organization_id=1, name="a"), action="a", entity="e", entity_id=1,
                    details={"what": object()})
    with pytest.raises(TypeError, match="audit log"):
        audit_rows_json([row])


def test_a_planned_work_order_fills_every_column_the_ticket_statement_writes():
    rule = automation.RuleTemplate(id=4, name="HVAC", wo_type="repair", wo_priority="high", wo_duration_minutes=90,
                                   auto_assign=True, assignment_logic="nearest", required_skills=("hvac",),
                                   auto_schedule=True, schedule_offset_minutes=30, notify_customer=True,
                                   notify_technician=False)
    now = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    planned = automation.planned_work_order(
        actor=Actor(organization_id=2, name="ann"), organization_id=2,
        ticket=TicketFacts(category="hvac", priority="high", ticket_id=11), rule=rule, work_order_id=123, now=now)
    assert set(planned.values) == set(automation.WORK_ORDER_COLUMNS)
    assert planned.audit["entity_id"] == 123
    assert planned.audit["summary"] == "WO-000123 created from a new ticket by rule 'HVAC'"
    created = planned.created()
    assert created.number == "WO-000123" and created.scheduled_start == datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
