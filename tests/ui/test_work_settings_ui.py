"""Settings → Work orders…, as an administrator and as a dispatcher, against the real database:
the administrator's choice is saved, audited and drives the next completion; a dispatcher sees
it read-only."""

from __future__ import annotations

from PySide6.QtCore import Qt
from sqlalchemy import select

from desk_desktop.db.models import AuditEntry
from desk_desktop.services import org_switches
from desk_desktop.services.common import Actor
from desk_desktop.ui.context import LiveUpdates, UiContext
from desk_desktop.ui.work_settings import READ_ONLY_NOTE, WorkSettingsDialog
from desk_desktop.ui.workers import InlineRunner
from tests.conftest import hermetic_settings


def dialog_for(qtbot, uow_factory, actor) -> WorkSettingsDialog:
    ctx = UiContext(uow_factory=uow_factory, actor=actor, settings=hermetic_settings(), runner=InlineRunner(),
                    live=LiveUpdates())
    dialog = WorkSettingsDialog(ctx)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def test_an_administrator_turns_automatic_resolving_on_and_off(qtbot, uow_factory, org):
    dialog = dialog_for(qtbot, uow_factory, org)
    assert dialog.auto_resolve.isEnabled() and not dialog.auto_resolve.isChecked()
    assert not dialog.save_button.isEnabled()  # nothing changed yet
    qtbot.mouseClick(dialog.auto_resolve, Qt.MouseButton.LeftButton)
    assert dialog.save_button.isEnabled()
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.message.isVisible() and dialog.message.text().startswith("Saved. Tickets are resolved")
    assert org_switches.get_switches(uow=uow_factory(), actor=org)["auto_resolve_tickets"] is True
    assert not dialog.save_button.isEnabled()
    with uow_factory() as uow:
        row = uow.session.scalars(select(AuditEntry).where(AuditEntry.action == "organization.auto_resolve_changed")
                                  ).one()
        assert (row.actor, row.details) == (org.name, {"from": False, "to": True})

    # Opened again, it shows what is stored; turned off again.
    dialog = dialog_for(qtbot, uow_factory, org)
    assert dialog.auto_resolve.isChecked()
    qtbot.mouseClick(dialog.auto_resolve, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert org_switches.get_switches(uow=uow_factory(), actor=org)["auto_resolve_tickets"] is False


def test_an_administrator_turns_the_evening_plan_on(qtbot, uow_factory, org):
    dialog = dialog_for(qtbot, uow_factory, org)
    assert dialog.nightly.isEnabled() and not dialog.nightly.isChecked()
    assert "20:00" in dialog.nightly.text()
    qtbot.mouseClick(dialog.nightly, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.message.text().endswith("The next day is optimized every evening.")
    assert org_switches.get_switches(uow=uow_factory(), actor=org) == {"auto_resolve_tickets": False,
                                                                     "nightly_optimize": True}
    with uow_factory() as uow:
        row = uow.session.scalars(select(AuditEntry).where(
            AuditEntry.action == "organization.nightly_optimize_changed")).one()
        assert row.summary == "The next day is optimized and applied every evening"


def test_a_dispatcher_sees_the_setting_read_only(qtbot, uow_factory, org):
    org_switches.set_switch(uow=uow_factory(), actor=org, name="auto_resolve_tickets", enabled=True)
    viewer = Actor(organization_id=org.organization_id, name="sam@acme", is_admin=False)
    dialog = dialog_for(qtbot, uow_factory, viewer)
    assert dialog.auto_resolve.isChecked() and not dialog.auto_resolve.isEnabled()
    assert dialog.note.isVisible() and dialog.note.text() == READ_ONLY_NOTE
    assert not dialog.save_button.isVisible()


def test_the_settings_menu_opens_it(qtbot, uow_factory, org):
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QMainWindow

    from desk_desktop.ui.menus import add_app_menus

    window = QMainWindow()
    window.ctx = UiContext(uow_factory=uow_factory, actor=org, settings=hermetic_settings(), runner=InlineRunner(),
                           live=LiveUpdates())
    qtbot.addWidget(window)
    add_app_menus(window)
    [settings_action] = [a for a in window.menuBar().actions() if a.text() == "&Settings"]
    assert [a.text() for a in settings_action.menu().actions()] == ["&Catalogs…", "&Work orders…"]
    window.findChild(QAction, "WorkSettingsAction").trigger()
    dialog = window.work_settings_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=2000)
    assert dialog.auto_resolve.isEnabled() and not dialog.auto_resolve.isChecked()
    dialog.reject()
