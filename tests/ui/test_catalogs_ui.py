"""Settings → Catalogs…, driven as an administrator (and a dispatcher) would, against the real
database: a rename shows at once in the rule editor and the ticket list and detail; a retired
skill stays on the rule that uses it, marked, and leaves the choices; errors show inline and
keep what was typed; dispatchers see the catalogs read-only."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from desk_desktop.domain.catalogs import SKILLS
from desk_desktop.services import rules as rule_service
from desk_desktop.services.catalogs import list_entries
from desk_desktop.services.common import Actor
from desk_desktop.services.rules import RuleDraft
from desk_desktop.ui.catalogs import COL_NAME, COL_STATE, READ_ONLY_NOTE, CatalogsDialog
from desk_desktop.ui.context import LiveUpdates, UiContext
from desk_desktop.ui.rules.model import COL_TRIGGERS
from desk_desktop.ui.tickets.model import COL_CATEGORY
from desk_desktop.ui.tickets.page import TicketsPage
from desk_desktop.ui.workers import InlineRunner
from tests.conftest import add_customer, hermetic_settings, new_ticket
from tests.ui.test_rule_editor import _delete_pages_in_order, click_row, make_page  # noqa: F401 - a fixture
from tests.ui.test_tickets_view import isolated_settings  # noqa: F401 - a fixture

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


def dialog_for(qtbot, uow_factory, actor, live: LiveUpdates | None = None) -> CatalogsDialog:
    ctx = UiContext(uow_factory=uow_factory, actor=actor, settings=hermetic_settings(), runner=InlineRunner(),
                    live=live or LiveUpdates())
    dialog = CatalogsDialog(ctx)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def choose(dialog: CatalogsDialog, word: str) -> None:
    dialog.catalog_combo.setCurrentIndex(dialog.catalog_combo.findData(word))


def row_of(dialog: CatalogsDialog, name: str) -> int:
    return [dialog.table.item(r, COL_NAME).text() for r in range(dialog.table.rowCount())].index(name)


def test_a_rename_shows_at_once_in_the_rule_editor_and_the_ticket_list_and_detail(qtbot, uow_factory, org,
                                                                                   isolated_settings):  # noqa: F811
    customer = add_customer(uow_factory, org)
    rule_service.create_rule(uow=uow_factory(), actor=org, draft=RuleDraft(
        name="Heat", trigger_categories=("hvac",), wo_type="repair", active=True))
    created = new_ticket(uow_factory, org, customer_ref=customer.ref, category="hvac")
    rules_page = make_page(qtbot, uow_factory, org)
    live = rules_page.ctx.live
    tickets_ctx = UiContext(uow_factory=uow_factory, actor=org, settings=hermetic_settings(), runner=InlineRunner(),
                            live=live)
    tickets_page = TicketsPage(tickets_ctx)
    qtbot.addWidget(tickets_page)
    tickets_page.show()
    qtbot.waitUntil(lambda: tickets_page.model.rowCount() == 1, timeout=5000)
    tickets_page.open_ticket(created.ticket.id)
    qtbot.waitUntil(lambda: tickets_page.detail.category_combo.currentText() == "HVAC", timeout=5000)
    assert tickets_page.model.index(0, COL_CATEGORY).data() == "HVAC"
    assert rules_page.model.index(0, COL_TRIGGERS).data() == "category HVAC"

    dialog = dialog_for(qtbot, uow_factory, org, live)
    item = dialog.table.item(row_of(dialog, "HVAC"), COL_NAME)
    item.setText("Heating & Cooling")  # typed into the list (the inline rename)
    assert not dialog.error_label.isVisible()
    assert [e.name for e in dialog.entries()][0] == "Heating & Cooling"
    live.changed.emit("catalog", None, "updated")  # what the service's NOTIFY brings every open view

    qtbot.waitUntil(lambda: rules_page.model.index(0, COL_TRIGGERS).data() == "category Heating & Cooling",
                    timeout=5000)
    assert rules_page.form.categories.button("hvac").text() == "Heating & Cooling"
    qtbot.waitUntil(lambda: tickets_page.model.index(0, COL_CATEGORY).data() == "Heating & Cooling", timeout=5000)
    qtbot.waitUntil(lambda: tickets_page.detail.category_combo.currentText() == "Heating & Cooling", timeout=5000)
    assert "Heating & Cooling" in [a.text() for a in tickets_page.category_filter.menu().actions()]
    tickets_page.shutdown()


def test_a_retired_skill_stays_on_its_rule_marked_and_leaves_the_choices(qtbot, uow_factory, org):
    rule_service.create_rule(uow=uow_factory(), actor=org, draft=RuleDraft(
        name="Gas leaks", required_skills=("gas",), wo_type="emergency", active=True))
    rule_service.create_rule(uow=uow_factory(), actor=org, draft=RuleDraft(name="Other", active=True))
    dialog = dialog_for(qtbot, uow_factory, org)
    choose(dialog, "skills")
    dialog.table.selectRow(row_of(dialog, "Gas"))
    assert dialog.retire_button.text() == "Retire"
    qtbot.mouseClick(dialog.retire_button, Qt.MouseButton.LeftButton)
    row = row_of(dialog, "Gas")
    assert dialog.table.item(row, COL_STATE).text() == "Retired" and dialog.retire_button.text() == "Restore"
    assert not [e for e in list_entries(uow=uow_factory(), actor=org, catalog=SKILLS) if e.key == "gas"][0].active

    page = make_page(qtbot, uow_factory, org)
    click_row(qtbot, page, "Gas leaks")
    qtbot.waitUntil(lambda: page.form.name_edit.text() == "Gas leaks", timeout=3000)
    assert page.form.skills.button("gas").text() == "Gas (retired)" and page.form.skills.button("gas").isChecked()
    assert "needs Gas" in page.model.rules()[0].template_summary
    click_row(qtbot, page, "Other")
    qtbot.waitUntil(lambda: page.form.name_edit.text() == "Other", timeout=3000)
    with pytest.raises(KeyError):
        page.form.skills.button("gas")  # not offered for a new choice
    assert page.form.skills.button("hvac").text() == "HVAC"


def test_errors_show_inline_and_keep_what_was_typed(qtbot, uow_factory, org):
    dialog = dialog_for(qtbot, uow_factory, org)
    qtbot.keyClicks(dialog.new_name_edit, "hvac ")
    qtbot.keyClicks(dialog.new_key_edit, "heating")
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert dialog.error_label.isVisible()
    assert "There is already a category called 'hvac' (names are unique, whatever their case)" in \
        dialog.error_label.text()
    assert (dialog.new_name_edit.text(), dialog.new_key_edit.text()) == ("hvac ", "heating")  # kept as typed
    dialog.new_key_edit.clear()
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert dialog.error_label.text() == "There is already a category with the key 'hvac'."
    dialog.table.item(row_of(dialog, "Plumbing"), COL_NAME).setText("electrical")
    assert "There is already a category called 'electrical'" in dialog.error_label.text()
    assert dialog.table.item(2, COL_NAME).text() == "electrical"  # still as typed, with the error under it

    dialog.new_name_edit.setText("Technical Support")
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert not dialog.error_label.isVisible() and dialog.new_name_edit.text() == ""
    assert dialog.entries()[-1].key == "technical_support"
    assert dialog.selected_entry().name == "Technical Support"
    qtbot.mouseClick(dialog.up_button, Qt.MouseButton.LeftButton)
    names = [e.name for e in list_entries(uow=uow_factory(), actor=org, catalog=dialog.catalog)]
    assert names[-2:] == ["Technical Support", "General"] and dialog.selected_entry().name == "Technical Support"
    qtbot.mouseClick(dialog.down_button, Qt.MouseButton.LeftButton)
    assert [e.name for e in dialog.entries()][-2:] == ["General", "Technical Support"]


def test_a_dispatcher_sees_the_catalogs_read_only(qtbot, uow_factory, org):
    viewer = Actor(organization_id=org.organization_id, name="sam@acme", is_admin=False)
    dialog = dialog_for(qtbot, uow_factory, viewer)
    assert dialog.read_only_note.isVisible() and dialog.read_only_note.text() == READ_ONLY_NOTE
    assert dialog.table.rowCount() == 9
    dialog.table.selectRow(0)
    for button in (dialog.add_button, dialog.rename_button, dialog.retire_button, dialog.up_button,
                   dialog.down_button):
        assert not button.isEnabled()
        assert button.toolTip() == READ_ONLY_NOTE
    assert dialog.table.editTriggers() == dialog.table.EditTrigger.NoEditTriggers


def test_screenshot_with_demo_data(qtbot, uow_factory):
    from desk_desktop.resources import resource_path
    from desk_desktop.services.demo import load_demo

    summary = load_demo(uow_factory=uow_factory, tickets=50)
    actor = Actor(organization_id=summary.organization_id, name="dana@lakeshore", is_admin=True)
    host = QWidget()
    host.setObjectName("catalogsHost")
    host.setStyleSheet(resource_path("styles", "app.qss").read_text(encoding="utf-8")
                       + "\nQWidget#catalogsHost { background: #f4f6f9; }")
    ctx = UiContext(uow_factory=uow_factory, actor=actor, settings=hermetic_settings(), runner=InlineRunner(),
                    live=LiveUpdates())
    dialog = CatalogsDialog(ctx)
    dialog.setWindowFlags(Qt.WindowType.Widget)  # shown inside the host, as the app's window would frame it
    QVBoxLayout(host).addWidget(dialog)
    qtbot.addWidget(host)
    host.resize(1440, 900)
    host.show()
    qtbot.waitExposed(host)
    choose(dialog, "skills")
    dialog.table.selectRow(row_of(dialog, "Solar"))
    qtbot.mouseClick(dialog.retire_button, Qt.MouseButton.LeftButton)
    dialog.new_name_edit.setText("Heat pumps")
    qtbot.wait(50)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    host.grab().save(str(SCREENSHOTS / "catalogs.png"))
    assert (SCREENSHOTS / "catalogs.png").stat().st_size > 10_000
