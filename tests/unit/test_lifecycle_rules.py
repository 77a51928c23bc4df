"""The lifecycle rules (domain/lifecycle.py): every status has its steps, and refusals read well."""

from __future__ import annotations

from desk_desktop.domain.enums import OPEN_WORK_ORDER_STATUSES, WorkOrderStatus
from desk_desktop.domain.lifecycle import FINISHED, Action, allowed_actions, refusal


def test_every_status_has_steps_and_every_open_one_can_be_held_or_resumed_and_cancelled():
    for status in WorkOrderStatus:
        assert allowed_actions(status), status
    for status in OPEN_WORK_ORDER_STATUSES:
        steps = allowed_actions(status)
        assert Action.CANCEL in steps and (Action.HOLD in steps or Action.RESUME in steps), status
    for status in FINISHED:
        assert allowed_actions(status) == (Action.REOPEN,)


def test_travelling_and_on_site_are_open():
    assert {"travelling", "on_site"} <= {s.value for s in OPEN_WORK_ORDER_STATUSES}
    assert "in_progress" not in {s.value for s in WorkOrderStatus}


def test_refusals_name_the_status_and_what_it_allows():
    assert refusal("WO-000123", "completed", Action.START) == "WO-000123 is completed; it can only be reopened."
    assert refusal("WO-000123", "on_hold", Action.COMPLETE) == (
        "WO-000123 is on hold and cannot be completed; it can be resumed or cancelled.")
