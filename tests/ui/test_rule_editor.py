"""The rule editor view, driven like a dispatcher would, against the real database.

Work runs through ``InlineRunner`` (the same service calls the worker pool would make, on
the test's transaction), so every assertion about the database sees what the view did.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt, QTimer
from PySide6.QtWidgets import QApplication, QPushButton, QVBoxLayout, QWidget
from sqlalchemy import func, select, text

from desk_desktop.db.models import AuditEntry, Ticket, WorkOrder
from desk_desktop.services import rules as rule_service
from desk_desktop.services.common import Actor
from desk_desktop.services.rules import RuleDraft
from desk_desktop.ui.context import LiveUpdates, UiContext
from desk_desktop.ui.rules.model import COL_ACTIVE, COL_NAME, COL_ORDERS, COL_TRIGGERS
from desk_desktop.ui.rules.page import RulesPage
from desk_desktop.ui.rules.tryit import D_RESULT, D_RULE, R_EDITED, R_RULE, R_SAMPLES
from desk_desktop.ui.workers import InlineRunner
from tests import conftest
from tests.conftest import add_customer, hermetic_settings

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
_refs = itertools.count(1)
_ALIVE: list = []  # pages (and their hosts) of the running test


@pytest.fixture(autouse=True)
def _delete_pages_in_order():
    """Keep each page referenced until the test is over, then delete it on the Qt side
    before Python drops it: a page left to the garbage collector can lose its Python
    model while the C++ view still paints (a crash in PySide, not a test failure)."""
    yield
    from PySide6.QtCore import QCoreApplication, QEvent

    for widget in reversed(_ALIVE):
        try:
            widget.hide()
            widget.deleteLater()
        except RuntimeError:  # already deleted by Qt
            pass
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    _ALIVE.clear()


# --------------------------------------------------------------------------- helpers


def new_ticket(uow_factory, actor, *, customer_ref, tags=(), **kw):
    """Through the public create_ticket (conftest), at a site in Chicago."""
    return conftest.new_ticket(uow_factory, actor, customer_ref=customer_ref, tags=tuple(tags), lat=41.88, lon=-87.63,
                               **kw)


def rule(uow_factory, actor, name, **kw):
    kw.setdefault("active", True)
    return rule_service.create_rule(uow=uow_factory(), actor=actor, draft=RuleDraft(name=name, **kw))


def counts(uow_factory, actor) -> dict[str, object]:
    with uow_factory() as uow:
        s = uow.session
        org = actor.organization_id
        return {
            "work_orders": s.scalar(select(func.count()).select_from(WorkOrder).where(WorkOrder.organization_id == org)),
            "audit": s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.organization_id == org)),
            "tickets": s.scalar(select(func.count()).select_from(Ticket).where(Ticket.organization_id == org)),
            "rules": s.scalar(text("SELECT count(*) FROM ticket_work_order_rules WHERE organization_id = :o"),
                              {"o": org}),
            # Every column of every rule: any saved edit changes it (updated_at alone would not:
            # the whole test runs in one transaction, where now() does not move).
            "rules_content": s.scalar(text("SELECT md5(coalesce(string_agg(r::text, '|' ORDER BY r.id), '')) "
                                           "FROM ticket_work_order_rules r WHERE r.organization_id = :o"),
                                      {"o": org}),
        }


def make_page(qtbot, uow_factory, actor, *, size=(1440, 900), styled=False) -> RulesPage:
    ctx = UiContext(uow_factory=uow_factory, actor=actor, settings=hermetic_settings(), runner=InlineRunner(),
                    live=LiveUpdates())
    page = RulesPage(ctx)
    _ALIVE.append(page)
    if styled:
        from desk_desktop.resources import resource_path

        host = QWidget()
        _ALIVE.append(host)
        host.setStyleSheet(resource_path("styles", "app.qss").read_text(encoding="utf-8")
                           + "\nQWidget#rulesHost { background: #f4f6f9; }")
        host.setObjectName("rulesHost")
        lay = QVBoxLayout(host)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(page)
        qtbot.addWidget(host)
        host.resize(*size)
        host.show()
        qtbot.waitExposed(host)
        page._host = host  # keep alive
    else:
        qtbot.addWidget(page)
        page.resize(*size)
        page.show()
        qtbot.waitExposed(page)
    return page


def click_row(qtbot, page: RulesPage, name: str) -> None:
    row = next(i for i, r in enumerate(page.model.rules()) if r.name == name)
    rect = page.view.visualRect(page.model.index(row, COL_NAME))
    qtbot.mouseClick(page.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def answer_next_dialog(button_name: str, seen: list | None = None) -> None:
    """Click ``button_name`` in the next modal dialog (the way a person would)."""

    def click() -> None:
        box = QApplication.activeModalWidget()
        if box is None:
            QTimer.singleShot(10, click)
            return
        if seen is not None:
            seen.append(box.text() if hasattr(box, "text") else box.windowTitle())
        box.findChild(QPushButton, button_name).click()

    QTimer.singleShot(0, click)


def list_names(page: RulesPage) -> list[str]:
    return [r.name for r in page.model.rules()]


def saved_names(uow_factory, actor) -> list[str]:
    return [r.name for r in rule_service.list_rules(uow=uow_factory(), actor=actor)]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def shop(uow_factory, org):
    """Two customers and three rules: HVAC for anyone, commercial HVAC, plumbing leaks."""
    business = add_customer(uow_factory, org, customer_type="business", name="Northside Dental Group").ref
    home = add_customer(uow_factory, org, customer_type="residential", name="Maria Kowalski").ref
    rule(uow_factory, org, "All HVAC", trigger_categories=("hvac",), wo_type="repair", wo_priority="medium")
    rule(uow_factory, org, "Commercial HVAC", trigger_categories=("hvac",), trigger_customer_types=("business",),
         wo_type="repair", wo_priority="high", auto_assign=True, assignment_logic="skill_match",
         required_skills=("hvac",))
    rule(uow_factory, org, "Plumbing leaks", trigger_categories=("plumbing",), trigger_tags=("leak",),
         wo_type="repair", wo_priority="high", wo_duration_minutes=90)
    return {"business": business, "home": home}


# --------------------------------------------------------------------------- tests


def test_list_shows_rules_in_priority_order_with_summaries(qtbot, uow_factory, org, shop):
    new_ticket(uow_factory, org, customer_ref=shop["business"], category="hvac")
    new_ticket(uow_factory, org, customer_ref=shop["home"], category="hvac")
    page = make_page(qtbot, uow_factory, org)

    assert list_names(page) == ["All HVAC", "Commercial HVAC", "Plumbing leaks"]
    m = page.model
    assert m.index(0, COL_ORDERS).data() == "2"  # both HVAC tickets went to the first rule
    assert m.index(1, COL_ORDERS).data() == "0"
    assert m.index(1, COL_TRIGGERS).data() == "category HVAC; customer Business"
    assert m.index(0, COL_ACTIVE).data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
    # The first rule is selected and shown in the form.
    assert page.form.rule_id == page.model.rules()[0].id
    assert page.form.name_edit.text() == "All HVAC"
    assert page.form.categories.button("hvac").isChecked()
    assert not page.form.save_button.isEnabled()  # nothing changed yet


def test_create_rule_through_form_takes_effect_on_new_ticket(qtbot, uow_factory, org, shop):
    page = make_page(qtbot, uow_factory, org)
    qtbot.mouseClick(page.new_button, Qt.MouseButton.LeftButton)
    form = page.form
    assert form.is_new and form.rule_id is None
    form.name_edit.clear()
    qtbot.keyClicks(form.name_edit, "Urgent electrical faults")
    qtbot.mouseClick(form.categories.button("electrical"), Qt.MouseButton.LeftButton)
    qtbot.mouseClick(form.priorities.button("urgent"), Qt.MouseButton.LeftButton)
    qtbot.mouseClick(form.priorities.button("high"), Qt.MouseButton.LeftButton)
    form.type_combo.setCurrentIndex(form.type_combo.findData("emergency"))
    form.priority_combo.setCurrentIndex(form.priority_combo.findData("urgent"))
    form.duration_hours.setValue(2)
    form.active_check.setChecked(True)
    form.auto_assign_check.setChecked(True)
    qtbot.mouseClick(form.logic_buttons["nearest"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(form.skills.button("electrical"), Qt.MouseButton.LeftButton)
    form.auto_schedule_check.setChecked(True)
    form.offset_hours.setValue(1)
    form.offset_minutes.setValue(30)
    assert form.save_button.isEnabled()

    with qtbot.waitSignal(page.rule_saved, timeout=5000):
        qtbot.mouseClick(form.save_button, Qt.MouseButton.LeftButton)

    saved = {r.name: r for r in rule_service.list_rules(uow=uow_factory(), actor=org)}
    r = saved["Urgent electrical faults"]
    assert (r.trigger_categories, set(r.trigger_priorities)) == (("electrical",), {"urgent", "high"})
    assert (r.wo_type, r.wo_priority, r.wo_duration_minutes) == ("emergency", "urgent", 120)
    assert (r.auto_assign, r.assignment_logic, r.required_skills) == (True, "nearest", ("electrical",))
    assert (r.auto_schedule, r.schedule_offset_minutes, r.active) == (True, 90, True)
    assert list_names(page)[-1] == "Urgent electrical faults"  # new rules go last
    assert form.rule_id == r.id and not form.is_dirty() and not form.save_button.isEnabled()

    created = new_ticket(uow_factory, org, customer_ref=shop["home"], category="electrical", priority="urgent")
    assert created.work_order is not None
    assert created.work_order.rule_name == "Urgent electrical faults"
    assert created.work_order.work_type == "emergency"
    # Audited by the service.
    with uow_factory() as uow:
        actions = uow.session.scalars(select(AuditEntry.action).where(
            AuditEntry.entity == "rule", AuditEntry.entity_id == r.id)).all()
    assert "rule.created" in actions


def test_invalid_rule_shows_message_and_cannot_be_saved(qtbot, uow_factory, org, shop):
    page = make_page(qtbot, uow_factory, org)
    form = page.form
    click_row(qtbot, page, "Commercial HVAC")
    assert form.name_edit.text() == "Commercial HVAC"

    form.name_edit.clear()
    assert form.error_text("name") == "Give the rule a name."
    assert form.problem_summary.text() == "Give the rule a name."
    assert not form.save_button.isEnabled()
    qtbot.keyClick(form.name_edit, Qt.Key.Key_Return)  # Enter does not save either

    qtbot.keyClicks(form.name_edit, "all hvac")  # the name of another rule (case ignored)
    assert "already called" in form.error_text("name")
    assert not form.save_button.isEnabled()
    qtbot.mouseClick(form.save_button, Qt.MouseButton.LeftButton)
    assert saved_names(uow_factory, org) == ["All HVAC", "Commercial HVAC", "Plumbing leaks"]

    form.name_edit.clear()
    qtbot.keyClicks(form.name_edit, "Commercial HVAC (business hours)")
    assert form.error_text("name") == ""
    assert form.save_button.isEnabled()
    with qtbot.waitSignal(page.rule_saved, timeout=5000):
        qtbot.mouseClick(form.save_button, Qt.MouseButton.LeftButton)
    assert "Commercial HVAC (business hours)" in saved_names(uow_factory, org)


def test_name_taken_meanwhile_is_reported_from_the_service(qtbot, uow_factory, org, shop):
    page = make_page(qtbot, uow_factory, org)
    form = page.form
    click_row(qtbot, page, "Plumbing leaks")
    form.name_edit.clear()
    qtbot.keyClicks(form.name_edit, "Water damage")
    # Another workstation takes the name before we save (our list does not know it yet).
    rule(uow_factory, org, "Water damage", trigger_categories=("plumbing",))
    qtbot.mouseClick(form.save_button, Qt.MouseButton.LeftButton)
    assert "Water damage" in form.error_text("name")
    assert not form.save_button.isEnabled()
    assert form.is_dirty()  # nothing lost


def dry_run_winner(qtbot, page: RulesPage, number: str) -> str:
    page.tabs.setCurrentIndex(1)
    panel = page.try_panel
    panel.ticket_edit.setText(number)
    qtbot.mouseClick(panel.test_button, Qt.MouseButton.LeftButton)
    assert panel.dry_table.isVisible()
    t = panel.dry_table
    winners = [t.item(r, D_RULE).text() for r in range(t.rowCount()) if t.item(r, D_RESULT).text().startswith("✓")]
    assert len(winners) <= 1
    return winners[0] if winners else ""


def test_reordering_changes_which_rule_wins(qtbot, uow_factory, org, shop):
    ticket = new_ticket(uow_factory, org, customer_ref=shop["business"], category="hvac").ticket
    page = make_page(qtbot, uow_factory, org)
    assert dry_run_winner(qtbot, page, ticket.number) == "All HVAC"
    assert f"{ticket.number} would get a work order from “All HVAC”" in page.try_panel.headline_text("test")

    # Move "Commercial HVAC" up with the button.
    click_row(qtbot, page, "Commercial HVAC")
    assert page.up_button.isEnabled()
    qtbot.mouseClick(page.up_button, Qt.MouseButton.LeftButton)
    assert list_names(page) == ["Commercial HVAC", "All HVAC", "Plumbing leaks"]
    assert saved_names(uow_factory, org) == ["Commercial HVAC", "All HVAC", "Plumbing leaks"]
    assert page.selected_rule_id() == page.model.rules()[0].id  # selection follows the rule
    assert dry_run_winner(qtbot, page, ticket.number) == "Commercial HVAC"
    # ... and a real new ticket now goes to it.
    created = new_ticket(uow_factory, org, customer_ref=shop["business"], category="hvac")
    assert created.work_order.rule_name == "Commercial HVAC"

    # Drag "All HVAC" back to the top (the drop the view performs).
    m = page.model
    mime: QMimeData = m.mimeData([m.index(1, COL_NAME)])
    m.dropMimeData(mime, Qt.DropAction.MoveAction, 0, 0, m.index(-1, -1))
    assert list_names(page) == ["All HVAC", "Commercial HVAC", "Plumbing leaks"]
    assert saved_names(uow_factory, org) == ["All HVAC", "Commercial HVAC", "Plumbing leaks"]
    assert dry_run_winner(qtbot, page, ticket.number) == "All HVAC"
    with uow_factory() as uow:
        n = uow.session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.organization_id == org.organization_id, AuditEntry.action == "rule.reordered"))
    assert n == 2


def test_drag_and_drop_in_the_view_reorders(qtbot, uow_factory, org, shop):
    page = make_page(qtbot, uow_factory, org)
    view = page.view
    # Simulate the drop of row 2 ("Plumbing leaks") above row 0 as QAbstractItemView does.
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QDropEvent

    src = page.model.index(2, COL_NAME)
    view.selectionModel().setCurrentIndex(src, view.selectionModel().SelectionFlag.ClearAndSelect)
    mime = page.model.mimeData([src])
    target = view.visualRect(page.model.index(0, COL_NAME))
    pos = QPoint(target.center().x(), target.top() + 2)
    from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent

    enter = QDragEnterEvent(pos, Qt.DropAction.MoveAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), enter)
    move = QDragMoveEvent(pos, Qt.DropAction.MoveAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), move)
    drop = QDropEvent(pos, Qt.DropAction.MoveAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                      QEvent.Type.Drop)
    QApplication.sendEvent(view.viewport(), drop)
    assert list_names(page)[0] == "Plumbing leaks"
    assert saved_names(uow_factory, org)[0] == "Plumbing leaks"


def test_test_on_ticket_and_replay_use_the_edits_and_write_nothing(qtbot, uow_factory, org, shop):
    t_hvac_biz = new_ticket(uow_factory, org, customer_ref=shop["business"], category="hvac").ticket
    new_ticket(uow_factory, org, customer_ref=shop["home"], category="hvac")
    t_leak = new_ticket(uow_factory, org, customer_ref=shop["home"], category="plumbing", tags=("leak",)).ticket
    new_ticket(uow_factory, org, customer_ref=shop["home"], category="plumbing", tags=("water",))
    new_ticket(uow_factory, org, customer_ref=shop["business"], category="network", priority="high")
    page = make_page(qtbot, uow_factory, org)
    form = page.form

    # Edit (without saving) "All HVAC" so it only takes residential customers.
    click_row(qtbot, page, "All HVAC")
    qtbot.mouseClick(form.customer_types.button("residential"), Qt.MouseButton.LeftButton)
    assert form.is_dirty()
    before = counts(uow_factory, org)

    # Test on ticket: the edited "All HVAC" no longer matches a business customer.
    assert dry_run_winner(qtbot, page, t_hvac_biz.number) == "Commercial HVAC"
    panel = page.try_panel
    assert "Commercial HVAC" in panel.headline_text("test") and t_hvac_biz.number in panel.headline_text("test")
    results = {panel.dry_table.item(r, D_RULE).text(): panel.dry_table.item(r, D_RESULT).text().lower()
               for r in range(panel.dry_table.rowCount())}
    assert "customer type is 'business'" in results["All HVAC"] and "residential" in results["All HVAC"]
    assert "category is 'hvac'" in results["Plumbing leaks"]
    assert panel.draft_note.isVisible()  # says the unsaved edit is used

    # An unknown ticket number is explained, not crashed on.
    panel.ticket_edit.setText("TK-1999-99999")
    qtbot.mouseClick(panel.test_button, Qt.MouseButton.LeftButton)
    assert "does not exist" in panel.headline_text("test")
    assert dry_run_winner(qtbot, page, " " + t_leak.number.lower()) == "Plumbing leaks"  # typed loosely

    # Replay: as edited, the business HVAC ticket moves from "All HVAC" to "Commercial HVAC".
    panel.days_spin.setValue(7)
    qtbot.mouseClick(panel.replay_button, Qt.MouseButton.LeftButton)
    rt = panel.replay_table
    assert rt.isVisible()
    rows = {rt.item(r, R_RULE).text(): (rt.item(r, R_EDITED).data(Qt.ItemDataRole.UserRole),
                                        rt.item(r, R_SAMPLES).text()) for r in range(rt.rowCount())}
    assert rows["All HVAC"][0] == 1 and rows["Commercial HVAC"][0] == 1 and rows["Plumbing leaks"][0] == 1
    assert t_hvac_biz.number in rows["Commercial HVAC"][1]
    assert t_leak.number in rows["Plumbing leaks"][1]
    assert rt.item(0, R_EDITED).text() == "1 (-1)"  # All HVAC: 2 with the saved rules
    assert "5 tickets" in panel.headline_text("replay") and "2 match no rule" in panel.headline_text("replay")

    assert counts(uow_factory, org) == before  # nothing written: orders, audit, tickets, rules
    assert saved_names(uow_factory, org) == ["All HVAC", "Commercial HVAC", "Plumbing leaks"]
    saved = rule_service.list_rules(uow=uow_factory(), actor=org)[0]
    assert saved.trigger_customer_types == ()  # the edit is still unsaved
    assert form.is_dirty()


def test_new_inactive_rule_can_be_tried_before_switching_it_on(qtbot, uow_factory, org, shop):
    t_net = new_ticket(uow_factory, org, customer_ref=shop["business"], category="network", priority="high").ticket
    page = make_page(qtbot, uow_factory, org)
    qtbot.mouseClick(page.new_button, Qt.MouseButton.LeftButton)
    page.form.name_edit.clear()
    qtbot.keyClicks(page.form.name_edit, "Network outages")
    qtbot.mouseClick(page.form.categories.button("network"), Qt.MouseButton.LeftButton)
    assert not page.form.active_check.isChecked()  # new rules start switched off
    assert dry_run_winner(qtbot, page, t_net.number) == "Network outages"
    assert page.try_inactive_check.isVisible()
    page.try_inactive_check.setChecked(False)
    assert dry_run_winner(qtbot, page, t_net.number) == ""
    assert "No active rule matches" in page.try_panel.headline_text("test")
    assert saved_names(uow_factory, org) == ["All HVAC", "Commercial HVAC", "Plumbing leaks"]


def test_unsaved_changes_prompt_when_switching_rules(qtbot, uow_factory, org, shop):
    page = make_page(qtbot, uow_factory, org)
    form = page.form
    click_row(qtbot, page, "All HVAC")
    form.description_edit.setText("Edited but not saved")
    assert form.dirty_badge.isVisible()

    # Keep editing: nothing switches, nothing is lost.
    seen: list[str] = []
    answer_next_dialog("unsavedCancel", seen)
    click_row(qtbot, page, "Plumbing leaks")
    assert seen and "All HVAC" in seen[0]
    qtbot.waitUntil(lambda: page.selected_rule_id() == page.model.rules()[0].id)
    assert form.name_edit.text() == "All HVAC"
    assert form.description_edit.text() == "Edited but not saved"

    # Discard: switches; the saved rule is untouched.
    answer_next_dialog("unsavedDiscard")
    click_row(qtbot, page, "Plumbing leaks")
    assert form.name_edit.text() == "Plumbing leaks"
    assert not form.is_dirty()
    assert rule_service.list_rules(uow=uow_factory(), actor=org)[0].description == ""

    # Save: the edit is stored, then the form moves on.
    form.description_edit.setText("Leaks only")
    answer_next_dialog("unsavedSave")
    click_row(qtbot, page, "Commercial HVAC")
    assert form.name_edit.text() == "Commercial HVAC"
    by_name = {r.name: r for r in rule_service.list_rules(uow=uow_factory(), actor=org)}
    assert by_name["Plumbing leaks"].description == "Leaks only"

    # An invalid edit cannot be saved from the prompt (Save is disabled there).
    form.name_edit.clear()
    state: dict[str, bool] = {}

    def inspect_and_cancel() -> None:
        box = QApplication.activeModalWidget()
        if box is None:
            QTimer.singleShot(10, inspect_and_cancel)
            return
        state["save_enabled"] = box.findChild(QPushButton, "unsavedSave").isEnabled()
        box.findChild(QPushButton, "unsavedCancel").click()

    QTimer.singleShot(0, inspect_and_cancel)
    click_row(qtbot, page, "All HVAC")
    assert state == {"save_enabled": False}
    assert form.error_text("name") == "Give the rule a name."


def test_keyboard_reorder_and_save(qtbot, uow_factory, org, shop):
    page = make_page(qtbot, uow_factory, org)
    page.activateWindow()
    qtbot.waitUntil(page.isActiveWindow)
    click_row(qtbot, page, "Plumbing leaks")
    page.view.setFocus()
    qtbot.keyClick(page.view, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert saved_names(uow_factory, org) == ["All HVAC", "Plumbing leaks", "Commercial HVAC"]
    page.form.description_edit.setFocus()
    page.form.description_edit.setText("Leaks and bursts")
    qtbot.keyClick(page.form.description_edit, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert {r.name: r.description for r in rule_service.list_rules(uow=uow_factory(), actor=org)}[
        "Plumbing leaks"] == "Leaks and bursts"
    assert not page.form.is_dirty()


def test_activate_deactivate_duplicate_and_delete(qtbot, uow_factory, org, shop):
    new_ticket(uow_factory, org, customer_ref=shop["home"], category="hvac")  # "All HVAC" has an order
    page = make_page(qtbot, uow_factory, org)
    m = page.model

    # The switch in the list deactivates the rule.
    rect = page.view.visualRect(m.index(2, COL_ACTIVE))
    qtbot.mouseClick(page.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert not {r.name: r for r in rule_service.list_rules(uow=uow_factory(), actor=org)}["Plumbing leaks"].active
    assert m.index(2, COL_ACTIVE).data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked
    qtbot.mouseClick(page.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert {r.name: r for r in rule_service.list_rules(uow=uow_factory(), actor=org)}["Plumbing leaks"].active

    # Switching a rule off while its form has edits keeps the edits (and updates the form).
    click_row(qtbot, page, "Plumbing leaks")
    page.form.description_edit.setText("in progress")
    qtbot.mouseClick(page.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert not page.form.active_check.isChecked()
    assert page.form.description_edit.text() == "in progress" and page.form.is_dirty()
    page.form.revert()
    qtbot.mouseClick(page.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert page.form.active_check.isChecked()

    # Duplicate: an inactive copy right below, selected.
    click_row(qtbot, page, "Commercial HVAC")
    qtbot.mouseClick(page.duplicate_button, Qt.MouseButton.LeftButton)
    assert list_names(page)[2] == "Commercial HVAC (copy)"
    assert page.form.name_edit.text() == "Commercial HVAC (copy)"
    assert not page.form.active_check.isChecked()

    # Delete the copy (never used): gone.
    answer_next_dialog("confirmOk")
    qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
    assert "Commercial HVAC (copy)" not in list_names(page)
    assert "deleted" in page.status_line.text()

    # Delete "All HVAC" (it created an order): deactivated instead, and the view says so.
    click_row(qtbot, page, "All HVAC")
    seen: list[str] = []
    answer_next_dialog("confirmOk", seen)
    qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
    assert "All HVAC" in list_names(page)
    assert "deactivated instead of deleted" in page.status_line.text()
    assert not {r.name: r for r in rule_service.list_rules(uow=uow_factory(), actor=org)}["All HVAC"].active

    # Cancel in the confirmation keeps the rule.
    click_row(qtbot, page, "Plumbing leaks")
    answer_next_dialog("confirmCancel")
    qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
    assert "Plumbing leaks" in saved_names(uow_factory, org)


def test_changes_from_another_workstation_appear_live(qtbot, uow_factory, org, shop):
    page = make_page(qtbot, uow_factory, org)
    # Another workstation renames a rule and adds one; the NOTIFY reaches us as ctx.live.changed.
    first = rule_service.list_rules(uow=uow_factory(), actor=org)[0]
    rule_service.update_rule(uow=uow_factory(), actor=org, rule_id=first.id,
                             draft=RuleDraft(**{**first.to_draft().__dict__, "name": "HVAC (all customers)"}))
    created = rule(uow_factory, org, "Security inspections", trigger_categories=("security",))
    assert "HVAC (all customers)" not in list_names(page)
    page.ctx.live.changed.emit("rule", created.id, "created")
    qtbot.waitUntil(lambda: "Security inspections" in list_names(page), timeout=3000)
    assert list_names(page)[0] == "HVAC (all customers)"
    assert page.form.name_edit.text() == "HVAC (all customers)"  # the untouched form follows

    # While editing, changes elsewhere are merged in; the dispatcher's edits stay.
    page.form.description_edit.setText("mine")
    rule_service.set_rule_active(uow=uow_factory(), actor=org, rule_id=first.id, active=False)
    page.ctx.live.changed.emit("rule", first.id, "updated")
    qtbot.waitUntil(lambda: not page.form.active_check.isChecked(), timeout=3000)
    assert page.form.description_edit.text() == "mine" and page.form.is_dirty()
    assert not page.form.stale_note.isVisible()
    # The same field changed on both sides: the dispatcher's value stays, and it is pointed out.
    current = rule_service.get_rule_or_raise(uow=uow_factory(), actor=org, rule_id=first.id)
    rule_service.update_rule(uow=uow_factory(), actor=org, rule_id=first.id,
                             draft=RuleDraft(**{**current.to_draft().__dict__, "description": "theirs"}))
    page.ctx.live.changed.emit("rule", first.id, "updated")
    qtbot.waitUntil(lambda: page.form.stale_note.isVisible(), timeout=3000)
    assert "description" in page.form.stale_note.text()
    assert page.form.description_edit.text() == "mine"
    with qtbot.waitSignal(page.rule_saved, timeout=5000):
        qtbot.mouseClick(page.form.save_button, Qt.MouseButton.LeftButton)
    saved = rule_service.get_rule_or_raise(uow=uow_factory(), actor=org, rule_id=first.id)
    assert (saved.description, saved.active, saved.name) == ("mine", False, "HVAC (all customers)")


def test_non_admin_sees_the_editor_read_only(qtbot, uow_factory, org, shop):
    ticket = new_ticket(uow_factory, org, customer_ref=shop["home"], category="plumbing", tags=("leak",)).ticket
    viewer = Actor(organization_id=org.organization_id, name="sam@acme", is_admin=False)
    page = make_page(qtbot, uow_factory, viewer)
    assert page.read_only_note.isVisible()
    assert "only an administrator" in page.read_only_note.text()
    for b in (page.new_button, page.duplicate_button, page.delete_button, page.up_button, page.down_button):
        assert not b.isEnabled()
    assert not page.form.name_edit.isEnabled() and not page.form.save_button.isEnabled()
    assert not page.form.categories.button("hvac").isEnabled()
    assert not (page.model.flags(page.model.index(0, COL_ACTIVE)) & Qt.ItemFlag.ItemIsUserCheckable)
    # Trying rules is allowed: it writes nothing.
    assert dry_run_winner(qtbot, page, ticket.number) == "Plumbing leaks"


# --------------------------------------------------------------------------- screenshots


def test_screenshots_with_demo_rules(qtbot, uow_factory):
    from desk_desktop.services.demo import load_demo

    summary = load_demo(uow_factory=uow_factory, tickets=150)
    actor = Actor(organization_id=summary.organization_id, name="dana@lakeshore", is_admin=True)
    page = make_page(qtbot, uow_factory, actor, styled=True)
    host = page._host
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert len(page.model.rules()) == 8
    assert sum(r.orders_last_30_days for r in page.model.rules()) > 0

    # Looking through the rules is not editing them: no "unsaved changes" on any of them
    # (lists in another order than the chips, e.g. "urgent, high", are the same rule).
    for name in list_names(page):
        click_row(qtbot, page, name)
        assert page.form.name_edit.text() == name
        assert not page.form.is_dirty(), name
    click_row(qtbot, page, "Commercial HVAC repairs")
    qtbot.wait(50)
    host.grab().save(str(SCREENSHOTS / "rules_list.png"))

    # The form: a new rule being written (saved after the screenshot).
    qtbot.mouseClick(page.new_button, Qt.MouseButton.LeftButton)
    form = page.form
    form.name_edit.clear()
    qtbot.keyClicks(form.name_edit, "After-hours emergencies")
    form.description_edit.setText("Heating and power calls out of hours.")
    for chips, value in ((form.categories, "hvac"), (form.categories, "electrical"), (form.priorities, "urgent"),
                         (form.customer_types, "business"), (form.customer_types, "enterprise"),
                         (form.skills, "hvac"), (form.skills, "electrical")):
        qtbot.mouseClick(chips.button(value), Qt.MouseButton.LeftButton)
    form.tags.add_tag("after-hours")
    form.tags.add_tag("callout")
    form.type_combo.setCurrentIndex(form.type_combo.findData("emergency"))
    form.priority_combo.setCurrentIndex(form.priority_combo.findData("urgent"))
    form.duration_hours.setValue(2)
    form.auto_assign_check.setChecked(True)
    qtbot.mouseClick(form.logic_buttons["nearest"], Qt.MouseButton.LeftButton)
    form.auto_schedule_check.setChecked(True)
    form.offset_minutes.setValue(30)
    form.notify_customer_check.setChecked(True)
    form.notify_technician_check.setChecked(True)
    assert form.save_button.isEnabled() and form.problems() == []
    qtbot.wait(50)
    host.grab().save(str(SCREENSHOTS / "rule_form.png"))
    with qtbot.waitSignal(page.rule_saved, timeout=5000):
        qtbot.mouseClick(form.save_button, Qt.MouseButton.LeftButton)
    assert not form.is_dirty()

    # The replay: "Commercial HVAC repairs" edited (not saved) to take homes too.
    click_row(qtbot, page, "Commercial HVAC repairs")
    assert form.name_edit.text() == "Commercial HVAC repairs"
    qtbot.mouseClick(form.customer_types.button("residential"), Qt.MouseButton.LeftButton)
    page.tabs.setCurrentIndex(1)
    suggestions = page.try_panel.ticket_edit.completer().model()  # the numbers offered while typing
    page.try_panel.ticket_edit.setText(suggestions.index(0, 0).data())
    qtbot.mouseClick(page.try_panel.replay_button, Qt.MouseButton.LeftButton)
    assert page.try_panel.replay_table.rowCount() == 7  # the active rules
    qtbot.wait(50)
    host.grab().save(str(SCREENSHOTS / "rule_replay.png"))
    for name in ("rules_list.png", "rule_form.png", "rule_replay.png"):
        assert (SCREENSHOTS / name).stat().st_size > 10_000


def test_work_runs_on_the_worker_pool_against_a_real_database(qtbot, fresh_db):
    """The real TaskRunner (thread pool) and real commits: the page loads, saves and
    replays without blocking the GUI thread, and the saved rule is there for the next reader."""
    from desk_desktop.db.session import UnitOfWorkFactory, make_engine
    from desk_desktop.ui.workers import TaskRunner
    from tests.conftest import make_org

    engine = make_engine(fresh_db)
    try:
        factory = UnitOfWorkFactory(engine)
        actor = make_org(factory(), slug="pool")
        business = add_customer(factory, actor, customer_type="business", name="Prairie State Bank").ref
        rule(factory, actor, "All HVAC", trigger_categories=("hvac",))
        ticket = new_ticket(factory, actor, customer_ref=business, category="network", priority="high").ticket
        runner = TaskRunner()
        ctx = UiContext(uow_factory=factory, actor=actor, settings=hermetic_settings(), runner=runner, live=LiveUpdates())
        with qtbot.waitSignal(runner.busy_changed, timeout=10000, check_params_cb=lambda busy: busy is False):
            page = RulesPage(ctx)
            _ALIVE.append(page)
            qtbot.addWidget(page)
        assert list_names(page) == ["All HVAC"]

        qtbot.mouseClick(page.new_button, Qt.MouseButton.LeftButton)
        page.form.name_edit.clear()
        qtbot.keyClicks(page.form.name_edit, "Network outages")
        qtbot.mouseClick(page.form.categories.button("network"), Qt.MouseButton.LeftButton)
        page.form.active_check.setChecked(True)
        with qtbot.waitSignal(page.rule_saved, timeout=10000):
            qtbot.mouseClick(page.form.save_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: list_names(page) == ["All HVAC", "Network outages"], timeout=10000)
        assert saved_names(factory, actor) == ["All HVAC", "Network outages"]

        page.tabs.setCurrentIndex(1)
        page.try_panel.ticket_edit.setText(ticket.number)
        qtbot.mouseClick(page.try_panel.test_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "Network outages" in page.try_panel.headline_text("test"), timeout=10000)
        qtbot.mouseClick(page.try_panel.replay_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: page.try_panel.replay_table.rowCount() == 2, timeout=10000)
        runner.wait_for_done(10000)
    finally:
        engine.dispose()
