"""The rule editor: the rules in priority order on the left, the selected rule's form and
a "Try it" panel (dry-run on one ticket, replay over past tickets) on the right.

Every database call goes through ``ctx.runner`` (worker pool); the widgets only show
plain results. Changes made elsewhere arrive through ``ctx.live`` and refresh the list.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desk_desktop.services import rules as rule_service
from desk_desktop.services import tickets as ticket_service
from desk_desktop.services.catalogs import load_catalogs
from desk_desktop.services.common import DeskError
from desk_desktop.ui.context import UiContext
from desk_desktop.ui.rules.form import RuleForm, _comparable, draft_from_rule, new_rule_draft
from desk_desktop.ui.rules.model import (
    COL_ACTIVE,
    COL_ASSIGNMENT,
    COL_NAME,
    COL_ORDERS,
    COL_POSITION,
    COL_TEMPLATE,
    COL_TRIGGERS,
    RuleListModel,
)
from desk_desktop.ui.rules.tryit import TryItPanel
from desk_desktop.ui.rules.widgets import SwitchDelegate, TwoLineDelegate, configure_table
from desk_desktop.ui.styling import restyle

log = logging.getLogger(__name__)

FIELD_LABELS = {
    "name": "name", "description": "description", "active": "active", "trigger_categories": "categories",
    "trigger_priorities": "ticket priorities", "trigger_tags": "tags", "trigger_customer_types": "customer types",
    "wo_type": "type", "wo_priority": "priority", "wo_duration_minutes": "duration", "auto_assign": "auto-assign",
    "assignment_logic": "assignment logic", "required_skills": "skills", "auto_schedule": "auto-schedule",
    "schedule_offset_minutes": "schedule offset", "notify_customer": "notify customer",
    "notify_technician": "notify technician",
}

# Answers of the "unsaved changes" question.
SAVE, DISCARD, CANCEL = "save", "discard", "cancel"


def _rule_error_text(exc: BaseException) -> str:
    if isinstance(exc, DeskError):
        return str(exc)
    return f"Something went wrong: {exc}. The details are in the log."


def _load_everything(uow_factory, actor) -> dict[str, Any]:
    """Worker: the rules, the tags in use and recent ticket numbers (for the pickers)."""
    rules = rule_service.list_rules(uow=uow_factory(), actor=actor)
    tags = rule_service.known_tags(uow=uow_factory(), actor=actor)
    catalogs = load_catalogs(uow=uow_factory(), actor=actor)
    page = ticket_service.list_tickets(uow=uow_factory(), actor=actor, limit=200)
    numbers = tuple(t.number for t in page.rows)
    return {"rules": rules, "tags": tags, "numbers": numbers, "catalogs": catalogs}


def _replay_both(uow_factory, actor, days: int, drafts) -> tuple[Any, Any]:
    """Worker: replay the rules as edited and the saved rules (both read-only)."""
    edited = rule_service.replay(uow=uow_factory(), actor=actor, days=days, drafts=drafts)
    saved = rule_service.replay(uow=uow_factory(), actor=actor, days=days)
    return edited, saved


class RulesPage(QWidget):
    """The rule editor page. ``refresh()`` reloads from the database (in the background)."""

    rules_loaded = Signal()
    rule_saved = Signal(int)
    status_changed = Signal(str)

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.read_only = not ctx.actor.is_admin
        self._switching = False
        self._select_after_load: int | None = None
        self.ask_unsaved: Callable[[str, list[str]], str] = self._ask_unsaved_dialog
        self.confirm: Callable[[str, str, str], bool] = self._confirm_dialog

        root = QVBoxLayout(self)
        root.setContentsMargins(20, 16, 20, 12)
        root.setSpacing(10)

        # --- header ------------------------------------------------------------------------
        title = QLabel("Rules")
        title.setObjectName("pageTitle")
        hint = QLabel(
            "New tickets are checked against the active rules from top to bottom; the first rule "
            "whose conditions all hold creates the ticket's work order."
        )
        hint.setObjectName("pageHint")
        hint.setWordWrap(True)
        head = QHBoxLayout()
        head.setSpacing(16)
        head.addWidget(title, 0, Qt.AlignmentFlag.AlignBaseline)
        head.addWidget(hint, 1, Qt.AlignmentFlag.AlignBaseline)
        root.addLayout(head)
        self.read_only_note = QLabel(
            "You can look at the rules and try them on tickets, but only an administrator can change them."
        )
        self.read_only_note.setObjectName("readOnlyNote")
        self.read_only_note.setWordWrap(True)
        self.read_only_note.setVisible(self.read_only)
        root.addWidget(self.read_only_note)

        # --- left: list + buttons ---------------------------------------------------------------
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.setSpacing(8)
        buttons = QHBoxLayout()
        buttons.setSpacing(6)
        self.new_button = self._button("New rule", "Create a rule (it starts inactive, at the bottom)")
        self.new_button.setProperty("primary", True)
        self.duplicate_button = self._button("Duplicate", "Copy the selected rule (the copy starts inactive)")
        self.delete_button = self._button(
            "Delete…", "Delete the selected rule; a rule that has created work orders is deactivated instead"
        )
        self.up_button = self._button("▲ Move up", "Evaluate the selected rule earlier")
        self.down_button = self._button("▼ Move down", "Evaluate the selected rule later")
        for b in (self.new_button, self.duplicate_button, self.delete_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.up_button)
        buttons.addWidget(self.down_button)
        ll.addLayout(buttons)

        self.model = RuleListModel(self)
        self.view = QTableView()
        self.view.setObjectName("ruleList")
        self.view.setModel(self.model)
        configure_table(self.view)
        self.view.verticalHeader().hide()
        self.view.setShowGrid(False)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(True)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        # DragDrop (not InternalMove) so the model decides: it only accepts its own rule ids.
        self.view.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.view.setDragEnabled(True)
        self.view.setAcceptDrops(True)
        self.view.setDropIndicatorShown(True)
        self.view.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.view.setDragDropOverwriteMode(False)
        self.switch_delegate = SwitchDelegate(self.view)
        self.view.setItemDelegateForColumn(COL_ACTIVE, self.switch_delegate)
        # Two lines per rule: name over its trigger, template over its assignment.
        # (Python references kept: the view does not own delegates' Python wrappers.)
        self.name_delegate = TwoLineDelegate(COL_TRIGGERS, self.view)
        self.template_delegate = TwoLineDelegate(COL_ASSIGNMENT, self.view)
        self.view.setItemDelegateForColumn(COL_NAME, self.name_delegate)
        self.view.setItemDelegateForColumn(COL_TEMPLATE, self.template_delegate)
        self.view.setColumnHidden(COL_TRIGGERS, True)
        self.view.setColumnHidden(COL_ASSIGNMENT, True)
        hh = self.view.horizontalHeader()
        hh.setHighlightSections(False)
        hh.setMinimumSectionSize(30)
        hh.setSectionResizeMode(COL_POSITION, QHeaderView.ResizeMode.Fixed)
        hh.setSectionResizeMode(COL_ACTIVE, QHeaderView.ResizeMode.Fixed)
        hh.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Stretch)
        hh.setSectionResizeMode(COL_TEMPLATE, QHeaderView.ResizeMode.Interactive)
        hh.setSectionResizeMode(COL_ORDERS, QHeaderView.ResizeMode.Fixed)
        self.view.setColumnWidth(COL_POSITION, 34)
        self.view.setColumnWidth(COL_ACTIVE, 62)
        self.view.setColumnWidth(COL_TEMPLATE, 196)
        self.view.setColumnWidth(COL_ORDERS, 70)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.view.verticalHeader().setDefaultSectionSize(62)
        ll.addWidget(self.view, 1)
        self.list_hint = QLabel(
            "Drag a rule up or down (or use Move up / Move down) to change which rule wins. "
            "The switch turns a rule on or off."
            if not self.read_only else "Rules are tried from the top; the first match wins."
        )
        self.list_hint.setObjectName("pageHint")
        self.list_hint.setWordWrap(True)
        ll.addWidget(self.list_hint)
        self.status_line = QLabel()
        self.status_line.setObjectName("statusLine")
        self.status_line.setWordWrap(True)
        ll.addWidget(self.status_line)

        # --- right: form + try it -----------------------------------------------------------------
        self.form = RuleForm()
        self.form.set_read_only(self.read_only)
        self.try_panel = TryItPanel()
        self.tabs = QTabWidget()
        self.tabs.setObjectName("ruleTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.form, "Rule")
        try_host = QWidget()
        th = QVBoxLayout(try_host)
        th.setContentsMargins(0, 8, 0, 0)
        self.try_inactive_check = QCheckBox()
        self.try_inactive_check.setObjectName("tryInactiveCheck")
        self.try_inactive_check.setChecked(True)
        self.try_inactive_check.hide()
        th.addWidget(self.try_inactive_check)
        th.addWidget(self.try_panel, 1)
        self.tabs.addTab(try_host, "Try it")

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("rulesSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.tabs)
        # The list keeps its width; the form takes what is left (and stacks its columns
        # when that is narrow, e.g. beside the navigation bar on a 1440 px screen).
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([590, 770])
        root.addWidget(self.splitter, 1)

        self._status_timer = QTimer(self)
        self._status_timer.setSingleShot(True)
        self._status_timer.timeout.connect(self._on_status_timer_timeout)
        self._live_timer = QTimer(self)
        self._live_timer.setSingleShot(True)
        self._live_timer.timeout.connect(self.refresh)

        # --- connections ----------------------------------------------------------------------------
        self.view.selectionModel().currentRowChanged.connect(self._on_list_current_row_changed)
        self.model.active_toggled.connect(self._on_model_active_toggled)
        self.model.reorder_requested.connect(self._on_model_reorder_requested)
        self.new_button.clicked.connect(self._on_new_clicked)
        self.duplicate_button.clicked.connect(self._on_duplicate_clicked)
        self.delete_button.clicked.connect(self._on_delete_clicked)
        self.up_button.clicked.connect(self._on_up_clicked)
        self.down_button.clicked.connect(self._on_down_clicked)
        self.form.save_requested.connect(self._on_form_save_requested)
        self.form.discard_requested.connect(self._on_form_discard_requested)
        self.form.changed.connect(self._on_form_changed)
        self.try_panel.test_requested.connect(self._on_try_test_requested)
        self.try_panel.replay_requested.connect(self._on_try_replay_requested)
        self.tabs.currentChanged.connect(self._on_tabs_current_changed)
        ctx.live.changed.connect(self._on_live_changed)
        ctx.live.refresh_all.connect(self.refresh)

        # Keyboard: only while focus is inside this page (the other pages have their own).
        here = Qt.ShortcutContext.WidgetWithChildrenShortcut
        for keys, slot in (
            (QKeySequence.StandardKey.Save, self.form.request_save),
            (QKeySequence("Alt+Up"), self._on_up_clicked),
            (QKeySequence("Alt+Down"), self._on_down_clicked),
            (QKeySequence("Ctrl+Shift+N"), self._on_new_clicked),
        ):
            sc = QShortcut(QKeySequence(keys), self)
            sc.setContext(here)
            sc.activated.connect(slot)
        self.up_button.setToolTip(self.up_button.toolTip() + " (Alt+Up)")
        self.down_button.setToolTip(self.down_button.toolTip() + " (Alt+Down)")
        self.new_button.setToolTip(self.new_button.toolTip() + " (Ctrl+Shift+N)")
        self.form.save_button.setToolTip("Save the rule (Ctrl+S)")

        self.model.set_editable(not self.read_only)
        if self.read_only:
            self.view.setDragDropMode(QAbstractItemView.DragDropMode.NoDragDrop)
        self._update_buttons()
        self.refresh()

    # ------------------------------------------------------------------ helpers
    def _button(self, text: str, tip: str) -> QPushButton:
        b = QPushButton(text)
        b.setObjectName("listButton")
        b.setToolTip(tip)
        return b

    def _submit(self, fn: Callable[..., Any], *, on_done: Callable[[Any], None],
                on_error: Callable[[BaseException], None] | None = None, key: str | None = None,
                **kwargs: Any) -> None:
        def _failed(exc: BaseException) -> None:
            if not isinstance(exc, DeskError):
                log.error("rule editor task failed: %s\n%s", exc, getattr(exc, "__traceback_text__", ""))
            (on_error or self._show_error)(exc)

        self.ctx.runner.submit(fn, owner=self, key=key, on_done=on_done, on_error=_failed, **kwargs)

    def _service(self, fn: Callable[..., Any], **kwargs: Any) -> Callable[[], Any]:
        factory, actor = self.ctx.uow_factory, self.ctx.actor

        def work() -> Any:
            return fn(uow=factory(), actor=actor, **kwargs)

        return work

    def show_status(self, text: str, tone: str = "") -> None:
        self.status_line.setText(text)
        restyle(self.status_line, tone=tone)
        self.status_changed.emit(text)
        self._status_timer.start(12_000 if tone == "error" else 8_000)

    def _on_status_timer_timeout(self) -> None:
        self.status_line.clear()

    def _show_error(self, exc: BaseException) -> None:
        self.show_status(_rule_error_text(exc), "error")

    def has_unsaved_changes(self) -> bool:
        """True while the form holds edits that are not saved (for the main window on close)."""
        return not self.read_only and self.form.is_dirty()

    def selected_rule_id(self) -> int | None:
        idx = self.view.selectionModel().currentIndex()
        rule = self.model.rule_at(idx.row()) if idx.isValid() else None
        return rule.id if rule is not None else None

    def _select_row(self, row: int) -> None:
        """Select a row without asking about unsaved changes (the caller has decided)."""
        self._switching = True
        try:
            sm = self.view.selectionModel()
            if row < 0:
                sm.clearSelection()
                sm.setCurrentIndex(QModelIndex(), QItemSelectionModel.SelectionFlag.NoUpdate)
            else:
                idx = self.model.index(row, COL_NAME)
                sm.setCurrentIndex(
                    idx, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
                )
                self.view.scrollTo(idx)
        finally:
            self._switching = False
        self._update_buttons()

    def _other_names(self, rule_id: int | None) -> list[str]:
        return [r.name for r in self.model.rules() if r.id != rule_id]

    def _load_form(self, rule: Any | None) -> None:
        if rule is None:
            self.form.load(None, None)
        else:
            self.form.load(rule.id, draft_from_rule(rule), other_names=self._other_names(rule.id))
        self._update_try_inactive()
        self._update_buttons()

    def _update_buttons(self) -> None:
        editable = not self.read_only
        row = self.model.row_of(self.selected_rule_id()) if self.selected_rule_id() is not None else -1
        has = row >= 0
        self.new_button.setEnabled(editable)
        self.duplicate_button.setEnabled(editable and has)
        self.delete_button.setEnabled(editable and has)
        self.up_button.setEnabled(editable and has and row > 0)
        self.down_button.setEnabled(editable and has and row < self.model.rowCount() - 1)

    # ------------------------------------------------------------------ loading
    def refresh(self) -> None:
        """Reload the rules (and tags / ticket numbers for the pickers) in the background."""
        self._live_timer.stop()
        self._submit(
            _load_everything,
            uow_factory=self.ctx.uow_factory,
            actor=self.ctx.actor,
            key="rules",  # a newer refresh supersedes this one
            on_done=self._on_loaded,
            on_error=self._on_load_failed,
        )

    def _on_load_failed(self, exc: BaseException) -> None:
        self.show_status("Could not load the rules: " + _rule_error_text(exc), "error")

    def _on_loaded(self, data: dict[str, Any]) -> None:
        rules = list(data["rules"])
        keep = self._select_after_load if self._select_after_load is not None else self.selected_rule_id()
        self._select_after_load = None
        self.model.set_catalogs(data["catalogs"])
        self.model.set_rules(rules)
        self.form.set_catalogs(data["catalogs"])
        self.form.set_known_tags(data["tags"])
        self.try_panel.set_ticket_numbers(data["numbers"])
        by_id = {r.id: r for r in rules}

        # The form: follow changes made elsewhere unless the dispatcher is editing.
        fid = self.form.rule_id
        if self.form.is_loaded and fid is not None:
            fresh = by_id.get(fid)
            if fresh is None:
                if self.form.is_dirty():
                    self.form.note_changed_elsewhere(
                        "This rule was deleted on another workstation. Saving will fail; "
                        "copy what you need, then discard."
                    )
                else:
                    self.form.load(None, None)
            elif not self.form.is_dirty():
                self.form.load(fid, draft_from_rule(fresh), other_names=self._other_names(fid))
            else:
                self.form.set_other_names(self._other_names(fid))
                fresh_draft = draft_from_rule(fresh)
                if _comparable(fresh_draft) != _comparable(self.form.baseline):
                    conflicts = self.form.rebase(fresh_draft)
                    if conflicts:
                        labels = ", ".join(FIELD_LABELS.get(c, c) for c in conflicts)
                        self.form.note_changed_elsewhere(
                            f"This rule was changed elsewhere while you were editing it ({labels}). "
                            "Their other changes are in the form; saving keeps your version of these fields."
                        )
        elif self.form.is_new:
            self.form.set_other_names(self._other_names(None))

        if self.form.is_new:
            self._select_row(-1)
        elif keep is not None and keep in by_id:
            self._select_row(self.model.row_of(keep))
            if self.form.rule_id != keep and not self.form.is_dirty():
                self._load_form(by_id[keep])
        elif rules and not self.form.is_dirty():
            self._select_row(0)
            self._load_form(rules[0])
        else:
            self._select_row(self.model.row_of(fid) if fid is not None else -1)
        self._update_try_inactive()
        self._update_buttons()
        self.rules_loaded.emit()

    def _on_live_changed(self, entity: str, _entity_id: object, _action: str) -> None:
        if entity in ("rule", "catalog"):  # a renamed entry shows its new name at once
            self._live_timer.start(150)
        elif entity in ("work_order", "ticket") and not self._live_timer.isActive():
            self._live_timer.start(2_000)  # the 30-day counts

    # ------------------------------------------------------------------ switching rules
    def _ask_unsaved_dialog(self, name: str, problems: list[str]) -> str:
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Unsaved changes")
        box.setText(f"Save your changes to “{name}”?")
        info = "If you don't save them, your changes to this rule will be lost."
        if problems:
            info = "The rule cannot be saved yet: " + " ".join(problems)
        box.setInformativeText(info)
        save = box.addButton("Save", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard changes", QMessageBox.ButtonRole.DestructiveRole)
        cancel = box.addButton("Keep editing", QMessageBox.ButtonRole.RejectRole)
        save.setObjectName("unsavedSave")
        discard.setObjectName("unsavedDiscard")
        cancel.setObjectName("unsavedCancel")
        save.setEnabled(not problems)
        box.setDefaultButton(cancel if problems else save)
        box.setEscapeButton(cancel)
        box.exec()
        clicked = box.clickedButton()
        if clicked is save:
            return SAVE
        if clicked is discard:
            return DISCARD
        return CANCEL

    def _confirm_dialog(self, title: str, text: str, info: str) -> bool:
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(title)
        box.setText(text)
        box.setInformativeText(info)
        ok = box.addButton(title, QMessageBox.ButtonRole.DestructiveRole)
        ok.setObjectName("confirmOk")
        cancel = box.addButton("Cancel", QMessageBox.ButtonRole.RejectRole)
        cancel.setObjectName("confirmCancel")
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)
        box.exec()
        return box.clickedButton() is ok

    def resolve_unsaved(self, then: Callable[[], None]) -> bool:
        """Before leaving the rule in the form: ask what to do with unsaved changes.
        Runs ``then`` now (no changes / discard) or after a successful save; returns False
        when the dispatcher chose to keep editing."""
        if not self.form.is_dirty() or self.read_only:
            then()
            return True
        draft = self.form.draft()
        name = draft.name.strip() or "the new rule"
        answer = self.ask_unsaved(name, [p.message for p in self.form.problems()])
        if answer == CANCEL:
            return False
        if answer == DISCARD:
            self.form.revert()
            then()
            return True
        self._save(draft, after=then)
        return True

    def _on_list_current_row_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        if self._switching:
            return
        target = self.model.rule_at(current.row()) if current.isValid() else None
        self._update_buttons()
        if target is not None and target.id == self.form.rule_id and self.form.is_loaded:
            return

        def go() -> None:
            fresh = self.model.rule_at(self.model.row_of(target.id)) if target is not None else None
            self._select_row(self.model.row_of(target.id) if target is not None else -1)
            self._load_form(fresh)

        if not self.resolve_unsaved(go):
            # Keep editing: put the selection back on the rule in the form.
            back = self.model.row_of(self.form.rule_id) if self.form.rule_id is not None else -1
            QTimer.singleShot(0, lambda: self._select_row(back))

    # ------------------------------------------------------------------ toolbar
    def _on_new_clicked(self) -> None:
        def go() -> None:
            self._select_row(-1)
            base = "New rule"
            names = {n.lower() for n in self._other_names(None)}
            name, i = base, 2
            while name.lower() in names:
                name, i = f"{base} {i}", i + 1
            self.form.load(None, new_rule_draft(name), other_names=self._other_names(None))
            self.tabs.setCurrentIndex(0)
            self.form.name_edit.setFocus()
            self.form.name_edit.selectAll()
            self._update_try_inactive()
            self._update_buttons()

        self.resolve_unsaved(go)

    def _on_duplicate_clicked(self) -> None:
        rule_id = self.selected_rule_id()
        if rule_id is None:
            return

        def done(view: Any) -> None:
            self.show_status(f"Copied to “{view.name}” (inactive). Edit it, then switch it on.", "good")
            self._select_after_load = view.id
            if not self.form.is_dirty():
                self.form.load(None, None)
            self.refresh()

        def go() -> None:
            self._submit(self._service(rule_service.duplicate_rule, rule_id=rule_id), on_done=done)

        self.resolve_unsaved(go)

    def _on_delete_clicked(self) -> None:
        rule_id = self.selected_rule_id()
        rule = self.model.rule_at(self.model.row_of(rule_id)) if rule_id is not None else None
        if rule is None:
            return
        if rule.orders_last_30_days:
            info = (f"It created {rule.orders_last_30_days} work order(s) in the last 30 days, so it will be "
                    "deactivated instead of deleted: those orders keep their link to it.")
        else:
            info = ("If it has ever created work orders it is deactivated instead, so their history keeps "
                    "pointing at it. Otherwise it is removed for good.")
        if self.form.rule_id == rule.id and self.form.is_dirty():
            info += " Your unsaved changes to it will be lost."
        if not self.confirm("Delete rule", f"Delete the rule “{rule.name}”?", info):
            return

        def done(outcome: str) -> None:
            if outcome == "deactivated":
                self.show_status(
                    f"“{rule.name}” has created work orders, so it was deactivated instead of deleted.", "good"
                )
                if self.form.rule_id == rule.id:
                    self.form.revert()
            else:
                self.show_status(f"“{rule.name}” was deleted.", "good")
                if self.form.rule_id == rule.id:
                    self.form.load(None, None)
            self.refresh()

        self._submit(self._service(rule_service.delete_rule, rule_id=rule.id), on_done=done)

    def _on_up_clicked(self) -> None:
        self._move_selected(-1)

    def _on_down_clicked(self) -> None:
        self._move_selected(+1)

    def _move_selected(self, step: int) -> None:
        rule_id = self.selected_rule_id()
        if rule_id is None:
            return
        ids = self.model.rule_ids()
        row = ids.index(rule_id)
        new_row = row + step
        if not 0 <= new_row < len(ids):
            return
        ids[row], ids[new_row] = ids[new_row], ids[row]
        self._reorder(ids, keep=rule_id)

    def _on_model_reorder_requested(self, ids: list) -> None:
        self._reorder([int(i) for i in ids], keep=self.selected_rule_id())

    def _reorder(self, ids: list[int], *, keep: int | None) -> None:
        if self.read_only:
            return
        before = self.model.rule_ids()
        self.model.apply_order(ids)  # shown at once; saved in one transaction below
        if keep is not None:
            self._select_row(self.model.row_of(keep))

        def done(views: Any) -> None:
            self.show_status("New order saved: rules are now tried in this order.", "good")
            self.refresh()

        def failed(exc: BaseException) -> None:
            self.model.apply_order(before)
            if keep is not None:
                self._select_row(self.model.row_of(keep))
            self._show_error(exc)
            self.refresh()

        self._submit(self._service(rule_service.reorder_rules, rule_ids_in_order=ids), on_done=done,
                     on_error=failed)

    def _on_model_active_toggled(self, rule_id: int, active: bool) -> None:
        row = self.model.row_of(rule_id)
        old = self.model.rule_at(row)
        if old is None or self.read_only:
            return
        self.model.replace_rule(dataclasses.replace(old, active=active))

        def done(view: Any) -> None:
            self.model.replace_rule(view)
            self.show_status(f"“{view.name}” is now {'active' if view.active else 'inactive'}.", "good")
            if self.form.rule_id == rule_id:
                self.form.rebase(draft_from_rule(view))  # keeps any edits in progress

        def failed(exc: BaseException) -> None:
            self.model.replace_rule(old)
            self._show_error(exc)

        self._submit(self._service(rule_service.set_rule_active, rule_id=rule_id, active=active),
                     on_done=done, on_error=failed)

    # ------------------------------------------------------------------ saving
    def _on_form_save_requested(self, draft: Any) -> None:
        self._save(draft)

    def _on_form_discard_requested(self) -> None:
        if self.form.is_new:
            self.form.load(None, None)
            rules = self.model.rules()
            if rules:
                self._select_row(0)
                self._load_form(rules[0])
        else:
            self.form.revert()
        self._update_try_inactive()

    def _save(self, draft: Any, *, after: Callable[[], None] | None = None) -> None:
        rule_id = self.form.rule_id
        self.form.set_busy(True)
        if rule_id is None:
            work = self._service(rule_service.create_rule, draft=draft)
        else:
            work = self._service(rule_service.update_rule, rule_id=rule_id, draft=draft)

        def done(view: Any) -> None:
            self.form.set_busy(False)
            if rule_id is None:
                self.model.set_rules([*self.model.rules(), view])
            else:
                self.model.replace_rule(view)
            self.form.mark_saved(view.id, draft_from_rule(view))
            self.show_status(f"Saved “{view.name}”.", "good")
            self.rule_saved.emit(view.id)
            if after is not None:
                after()
            else:
                self._select_row(self.model.row_of(view.id))
            self._update_try_inactive()
            self.refresh()

        def failed(exc: BaseException) -> None:
            self.form.set_busy(False)
            problems = getattr(exc, "problems", None)
            if problems:
                self.form.show_server_problems(problems)
                self.tabs.setCurrentIndex(0)
                self.show_status("The rule was not saved: " + problems[0].message, "error")
            else:
                self._show_error(exc)
            # Stay on the rule being edited.
            self._select_row(self.model.row_of(rule_id) if rule_id is not None else -1)

        self._submit(work, on_done=done, on_error=failed)

    def _on_form_changed(self) -> None:
        self._update_try_inactive()

    # ------------------------------------------------------------------ try it
    def _update_try_inactive(self) -> None:
        d = self.form.draft() if self.form.is_loaded else None
        if d is not None and not d.active:
            label = d.name.strip() or "the rule being edited"
            self.try_inactive_check.setText(f"Try “{label}” as if it were active (it is switched off)")
            self.try_inactive_check.show()
        else:
            self.try_inactive_check.hide()
        self.try_panel.set_uses_unsaved_changes(self.form.is_dirty())

    def drafts_as_edited(self) -> list[tuple[int | None, Any]]:
        """The rules in list order with the form's draft in place of the rule it edits
        (a new rule goes last, where saving would put it)."""
        edited = self.form.draft() if self.form.is_loaded else None
        if edited is not None and not edited.active and self.try_inactive_check.isChecked():
            edited = dataclasses.replace(edited, active=True)
        out: list[tuple[int | None, Any]] = []
        for rule in self.model.rules():
            if edited is not None and rule.id == self.form.rule_id:
                out.append((rule.id, edited))
            else:
                out.append((rule.id, draft_from_rule(rule)))
        if edited is not None and self.form.rule_id is None:
            out.append((None, edited))
        return out

    def _on_try_test_requested(self, number: str) -> None:
        drafts = self.drafts_as_edited()
        self.try_panel.set_busy("test")

        def done(result: Any) -> None:
            self.try_panel.set_busy(None)
            self.try_panel.show_dry_run(result)

        def failed(exc: BaseException) -> None:
            self.try_panel.set_busy(None)
            self.try_panel.show_dry_run_error(_rule_error_text(exc))

        self._submit(self._service(rule_service.dry_run, number=number, drafts=drafts), on_done=done,
                     on_error=failed)

    def _on_try_replay_requested(self, days: int) -> None:
        drafts = self.drafts_as_edited()
        self.try_panel.set_busy("replay")

        def done(result: Any) -> None:
            self.try_panel.set_busy(None)
            edited, saved = result
            self.try_panel.show_replay(edited, saved)

        def failed(exc: BaseException) -> None:
            self.try_panel.set_busy(None)
            self.try_panel.show_replay_error(_rule_error_text(exc))

        self._submit(_replay_both, uow_factory=self.ctx.uow_factory, actor=self.ctx.actor, days=days,
                     drafts=drafts, on_done=done, on_error=failed)

    def _on_tabs_current_changed(self, index: int) -> None:
        if index == 1:
            self._update_try_inactive()
