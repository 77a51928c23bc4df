"""The rule form: everything a dispatcher edits on one rule, validated as they type.

The form is pure UI: it builds a ``RuleDraft`` from its widgets, validates it with the
service's pure ``validate_rule`` (the same messages the service raises on save), and
emits ``save_requested`` — the page does the saving on the worker pool.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desk_desktop.domain import rules as domain_rules
from desk_desktop.domain.catalogs import CATEGORIES, CUSTOMER_TYPES, SKILLS, WORK_ORDER_TYPES, Catalog
from desk_desktop.domain.enums import ASSIGNMENT_LOGIC_HELP, AssignmentLogic, Priority
from desk_desktop.services import rules as rule_service
from desk_desktop.services.catalogs import Catalogs
from desk_desktop.ui.card import Card
from desk_desktop.ui.rules.widgets import ChipGroup, TagEditor, humanize
from desk_desktop.ui.styling import restyle

RuleDraft = rule_service.RuleDraft

# The form's fields, in the order problems are listed.
FIELD_ORDER = (
    "name",
    "description",
    "trigger_categories",
    "trigger_priorities",
    "trigger_customer_types",
    "trigger_tags",
    "wo_type",
    "wo_priority",
    "wo_duration_minutes",
    "assignment_logic",
    "required_skills",
    "schedule_offset_minutes",
)

def _validate(draft: Any, other_names: Sequence[str], catalogs: Catalogs | None) -> list[Any]:
    """The service's messages: against the organization's catalogs (when loaded) and the
    names of the other rules already loaded (the service repeats both checks on save, so a
    rule named meanwhile elsewhere is still caught)."""
    known = rule_service.known_keys(catalogs) if catalogs is not None else None
    return domain_rules.validate_rule(draft, other_names=tuple(other_names), known_keys=known)


def catalog_options(catalogs: Catalogs | None, catalog: Catalog, keep: Iterable[str]) -> list[tuple[str, str]]:
    """(key, label) of the entries offered: the active ones and those in ``keep`` (what the
    rule already uses), a retired one marked "(retired)"."""
    keep = tuple(keep)
    if catalogs is None:
        return [(k, k) for k in keep]
    entries = catalogs.choices(catalog, keep=keep)
    options = [(e.key, e.name if e.active else f"{e.name} (retired)") for e in entries]
    known = {e.key for e in entries}
    return options + [(k, k) for k in keep if k not in known]


def draft_from_rule(rule: Any) -> Any:
    """The editable part (a ``RuleDraft``) of a ``RuleView``."""
    to_draft = getattr(rule, "to_draft", None)
    if callable(to_draft):
        return to_draft()
    return RuleDraft(
        name=rule.name,
        description=rule.description or "",
        active=bool(rule.active),
        trigger_categories=tuple(rule.trigger_categories or ()),
        trigger_priorities=tuple(rule.trigger_priorities or ()),
        trigger_tags=tuple(rule.trigger_tags or ()),
        trigger_customer_types=tuple(rule.trigger_customer_types or ()),
        wo_type=rule.wo_type,
        wo_priority=rule.wo_priority,
        wo_duration_minutes=int(rule.wo_duration_minutes),
        auto_assign=bool(rule.auto_assign),
        assignment_logic=rule.assignment_logic,
        required_skills=tuple(rule.required_skills or ()),
        auto_schedule=bool(rule.auto_schedule),
        schedule_offset_minutes=int(rule.schedule_offset_minutes or 0),
        notify_customer=bool(rule.notify_customer),
        notify_technician=bool(rule.notify_technician),
    )


def new_rule_draft(name: str = "") -> Any:
    return RuleDraft(
        name=name,
        active=False,
        wo_type=domain_rules.DEFAULT_WO_TYPE,
        wo_priority=Priority.MEDIUM.value,
        wo_duration_minutes=60,
        assignment_logic=AssignmentLogic.NEAREST.value,
    )


LIST_FIELDS = ("trigger_categories", "trigger_priorities", "trigger_tags", "trigger_customer_types", "required_skills")


def _comparable(draft: Any) -> Any:
    """What "changed" means to a dispatcher: lists compare as sets (chips have no order)."""
    norm = getattr(draft, "normalized", None)
    d = norm() if callable(norm) else draft
    return dataclasses.replace(d, **{f: tuple(sorted(getattr(d, f))) for f in LIST_FIELDS})


def _section(title: str, hint: str | None = None) -> tuple[Card, QVBoxLayout]:
    card = Card(title, hint or "", margins=(16, 12, 16, 14))
    return card, card.body


def _label(text: str) -> QLabel:
    lbl = QLabel(text)
    lbl.setObjectName("fieldLabel")
    return lbl


class RuleForm(QWidget):
    """Edits one rule (or a new one). ``save_requested`` carries the ``RuleDraft``."""

    changed = Signal()
    save_requested = Signal(object)
    discard_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rule_id: int | None = None
        self._baseline: Any = new_rule_draft()
        self._other_names: tuple[str, ...] = ()
        self._catalogs: Catalogs | None = None
        self._problems: list[Any] = []
        self._server_problems: list[Any] = []
        self._read_only = False
        self._busy = False
        self._loading = False
        self._loaded = False
        self._error_labels: dict[str, QLabel] = {}

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)

        # Header: title + unsaved badge.
        header = QWidget()
        hl = QHBoxLayout(header)
        hl.setContentsMargins(4, 6, 4, 6)
        self.title = QLabel("No rule selected")
        self.title.setObjectName("formTitle")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.dirty_badge = QLabel("Unsaved changes")
        self.dirty_badge.setObjectName("dirtyBadge")
        self.dirty_badge.hide()
        hl.addWidget(self.title, 1)
        hl.addWidget(self.dirty_badge, 0)
        outer.addWidget(header)

        self.stale_note = QLabel()
        self.stale_note.setObjectName("staleNote")
        self.stale_note.setWordWrap(True)
        self.stale_note.hide()
        outer.addWidget(self.stale_note)

        # Scrollable body in two columns.
        body = QWidget()
        body.setObjectName("formBody")
        grid = QGridLayout(body)
        grid.setContentsMargins(4, 4, 8, 4)
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(12)
        # Two columns when there is room, one below the other when the pane is narrow.
        self._grid = grid
        self._left_host, self._right_host = QWidget(), QWidget()
        left = QVBoxLayout(self._left_host)
        left.setContentsMargins(0, 0, 0, 0)
        left.setSpacing(12)
        right = QVBoxLayout(self._right_host)
        right.setContentsMargins(0, 0, 0, 0)
        right.setSpacing(12)
        self._two_columns = True
        grid.addWidget(self._left_host, 0, 0)
        grid.addWidget(self._right_host, 0, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)

        # --- Rule -------------------------------------------------------------------
        sec, lay = _section("Rule")
        lay.addWidget(_label("Name"))
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("nameEdit")
        self.name_edit.setPlaceholderText("e.g. Emergency HVAC for business customers")
        self.name_edit.setMaxLength(200)
        lay.addWidget(self.name_edit)
        lay.addWidget(self._error_label("name"))
        lay.addWidget(_label("Description (optional)"))
        self.description_edit = QLineEdit()
        self.description_edit.setObjectName("descriptionEdit")
        self.description_edit.setPlaceholderText("Why this rule exists, for the next person")
        lay.addWidget(self.description_edit)
        lay.addWidget(self._error_label("description"))
        self.active_check = QCheckBox("Active — new tickets are checked against it")
        self.active_check.setObjectName("activeCheck")
        lay.addWidget(self.active_check)
        left.addWidget(sec)

        # --- Trigger ----------------------------------------------------------------
        sec, lay = _section(
            "When a new ticket matches",
            "Every list you fill in must hold. Leave a list empty to accept any value.",
        )
        lay.addWidget(_label("Category"))
        self.categories = ChipGroup([])
        self.categories.setObjectName("triggerCategories")
        lay.addWidget(self.categories)
        lay.addWidget(self._error_label("trigger_categories"))
        lay.addWidget(_label("Ticket priority"))
        self.priorities = ChipGroup([(p.value, humanize(p.value)) for p in Priority])
        self.priorities.setObjectName("triggerPriorities")
        lay.addWidget(self.priorities)
        lay.addWidget(self._error_label("trigger_priorities"))
        lay.addWidget(_label("Customer type"))
        self.customer_types = ChipGroup([])
        self.customer_types.setObjectName("triggerCustomerTypes")
        lay.addWidget(self.customer_types)
        lay.addWidget(self._error_label("trigger_customer_types"))
        lay.addWidget(_label("Has any of these tags"))
        self.tags = TagEditor()
        self.tags.setObjectName("triggerTags")
        lay.addWidget(self.tags)
        lay.addWidget(self._error_label("trigger_tags"))
        left.addWidget(sec)

        # --- Work order template -------------------------------------------------------
        sec, lay = _section("Create this work order")
        row = QGridLayout()
        row.setHorizontalSpacing(10)
        row.setVerticalSpacing(4)
        row.addWidget(_label("Type"), 0, 0)
        row.addWidget(_label("Priority"), 0, 1)
        self.type_combo = QComboBox()
        self.type_combo.setObjectName("typeCombo")
        self.priority_combo = QComboBox()
        self.priority_combo.setObjectName("priorityCombo")
        for p in Priority:
            self.priority_combo.addItem(humanize(p.value), p.value)
        dur = QWidget()
        dl = QHBoxLayout(dur)
        dl.setContentsMargins(0, 0, 0, 0)
        dl.setSpacing(6)
        self.duration_hours = QSpinBox()
        self.duration_hours.setObjectName("durationHours")
        self.duration_hours.setRange(0, 24)
        self.duration_hours.setButtonSymbols(QSpinBox.ButtonSymbols.NoButtons)
        self.duration_hours.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.duration_hours.setSuffix(" h")
        self.duration_minutes = QSpinBox()
        self.duration_minutes.setObjectName("durationMinutes")
        self.duration_minutes.setRange(0, 55)
        self.duration_minutes.setSingleStep(5)
        self.duration_minutes.setButtonSymbols(QSpinBox.ButtonSymbols.NoButtons)
        self.duration_minutes.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.duration_minutes.setSuffix(" min")
        dl.addWidget(self.duration_hours, 1)
        dl.addWidget(self.duration_minutes, 1)
        row.addWidget(self.type_combo, 1, 0)
        row.addWidget(self.priority_combo, 1, 1)
        row.addWidget(_label("Expected duration"), 2, 0, 1, 2)
        row.addWidget(dur, 3, 0)
        row.setColumnStretch(0, 1)
        row.setColumnStretch(1, 1)
        lay.addLayout(row)
        lay.addWidget(self._error_label("wo_type"))
        lay.addWidget(self._error_label("wo_priority"))
        lay.addWidget(self._error_label("wo_duration_minutes"))
        right.addWidget(sec)

        # --- Assignment ----------------------------------------------------------------
        sec, lay = _section("Assign, schedule and notify")
        self.auto_assign_check = QCheckBox("Assign a technician automatically")
        self.auto_assign_check.setObjectName("autoAssignCheck")
        lay.addWidget(self.auto_assign_check)
        self.logic_group = QButtonGroup(self)
        self.logic_buttons: dict[str, QRadioButton] = {}
        logic_box = QWidget()
        ll = QGridLayout(logic_box)
        ll.setContentsMargins(22, 0, 0, 0)
        ll.setHorizontalSpacing(10)
        ll.setVerticalSpacing(2)
        for i, logic in enumerate(AssignmentLogic):
            rb = QRadioButton(humanize(logic.value))
            rb.setObjectName(f"logic_{logic.value}")
            help_lbl = QLabel(ASSIGNMENT_LOGIC_HELP[logic])
            help_lbl.setObjectName("logicHelp")
            help_lbl.setWordWrap(True)
            self.logic_group.addButton(rb, i)
            self.logic_buttons[logic.value] = rb
            ll.addWidget(rb, i, 0, Qt.AlignmentFlag.AlignTop)
            ll.addWidget(help_lbl, i, 1)
        ll.setColumnStretch(1, 1)
        self.logic_box = logic_box
        lay.addWidget(logic_box)
        lay.addWidget(self._error_label("assignment_logic"))
        lay.addWidget(_label("Required skills"))
        self.skills = ChipGroup([])
        self.skills.setObjectName("requiredSkills")
        lay.addWidget(self.skills)
        lay.addWidget(self._error_label("required_skills"))

        self.auto_schedule_check = QCheckBox("Schedule the visit automatically")
        self.auto_schedule_check.setObjectName("autoScheduleCheck")
        lay.addWidget(self.auto_schedule_check)
        sched = QWidget()
        sl = QHBoxLayout(sched)
        sl.setContentsMargins(22, 0, 0, 0)
        sl.setSpacing(6)
        self.offset_hours = QSpinBox()
        self.offset_hours.setObjectName("offsetHours")
        self.offset_hours.setRange(0, 24 * 365)
        self.offset_hours.setButtonSymbols(QSpinBox.ButtonSymbols.NoButtons)
        self.offset_hours.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.offset_hours.setSuffix(" h")
        self.offset_hours.setFixedWidth(76)
        self.offset_minutes = QSpinBox()
        self.offset_minutes.setObjectName("offsetMinutes")
        self.offset_minutes.setRange(0, 59)
        self.offset_minutes.setSingleStep(5)
        self.offset_minutes.setButtonSymbols(QSpinBox.ButtonSymbols.NoButtons)
        self.offset_minutes.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.offset_minutes.setSuffix(" min")
        self.offset_minutes.setFixedWidth(76)
        sl.addWidget(self.offset_hours)
        sl.addWidget(self.offset_minutes)
        self.offset_after = QLabel("after the ticket")
        self.offset_after.setToolTip("0 h 0 min schedules the visit as soon as possible.")
        sl.addWidget(self.offset_after)
        sl.addStretch(1)
        lay.addWidget(sched)
        lay.addWidget(self._error_label("schedule_offset_minutes"))

        # --- Notifications (same card: what happens once the order exists) ------------------------
        lay.addSpacing(4)
        lay.addWidget(_label("Notify"))
        self.notify_customer_check = QCheckBox("The customer (visit scheduled or moved)")
        self.notify_customer_check.setObjectName("notifyCustomerCheck")
        self.notify_technician_check = QCheckBox("The technician (job assigned to them)")
        self.notify_technician_check.setObjectName("notifyTechnicianCheck")
        lay.addWidget(self.notify_customer_check)
        lay.addWidget(self.notify_technician_check)
        right.addWidget(sec)
        left.addStretch(1)
        right.addStretch(1)

        scroll = QScrollArea()
        scroll.setObjectName("formScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        scroll.setWidget(body)
        scroll.viewport().installEventFilter(self)
        self.scroll = scroll
        outer.addWidget(scroll, 1)

        # --- Footer: problems + buttons -------------------------------------------------------
        footer = QWidget()
        fl = QHBoxLayout(footer)
        fl.setContentsMargins(4, 10, 4, 0)
        self.problem_summary = QLabel()
        self.problem_summary.setObjectName("problemSummary")
        self.problem_summary.setWordWrap(True)
        self.problem_summary.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.discard_button = QPushButton("Discard changes")
        self.discard_button.setObjectName("discardButton")
        self.save_button = QPushButton("Save rule")
        self.save_button.setObjectName("saveButton")
        self.save_button.setDefault(True)
        fl.addWidget(self.problem_summary, 1)
        fl.addWidget(self.discard_button)
        fl.addWidget(self.save_button)
        outer.addWidget(footer)

        # Connections.
        self.name_edit.textChanged.connect(self._on_field_changed)
        self.description_edit.textChanged.connect(self._on_field_changed)
        self.active_check.toggled.connect(self._on_field_changed)
        for chips in (self.categories, self.priorities, self.customer_types, self.skills):
            chips.changed.connect(self._on_field_changed)
        self.tags.changed.connect(self._on_field_changed)
        self.type_combo.currentIndexChanged.connect(self._on_field_changed)
        self.priority_combo.currentIndexChanged.connect(self._on_field_changed)
        self.duration_hours.valueChanged.connect(self._on_field_changed)
        self.duration_minutes.valueChanged.connect(self._on_field_changed)
        self.auto_assign_check.toggled.connect(self._on_field_changed)
        self.logic_group.idToggled.connect(self._on_logic_toggled)
        self.auto_schedule_check.toggled.connect(self._on_field_changed)
        self.offset_hours.valueChanged.connect(self._on_field_changed)
        self.offset_minutes.valueChanged.connect(self._on_field_changed)
        self.notify_customer_check.toggled.connect(self._on_field_changed)
        self.notify_technician_check.toggled.connect(self._on_field_changed)
        self.save_button.clicked.connect(self._on_save_clicked)
        self.discard_button.clicked.connect(self._on_discard_clicked)

        self.load(None, None)

    # ------------------------------------------------------------------ layout
    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt API
        if obj is self.scroll.viewport() and event.type() == QEvent.Type.Resize:
            self._arrange(event.size().width())
        return super().eventFilter(obj, event)

    def _arrange(self, width: int) -> None:
        m = self._grid.contentsMargins()
        needed = (self._left_host.minimumSizeHint().width() + self._right_host.minimumSizeHint().width()
                  + self._grid.horizontalSpacing() + m.left() + m.right())
        two = width >= needed
        if two == self._two_columns:
            return
        self._two_columns = two
        self._grid.removeWidget(self._right_host)
        if two:
            self._grid.addWidget(self._right_host, 0, 1)
            self._grid.setColumnStretch(1, 1)
        else:
            self._grid.addWidget(self._right_host, 1, 0)
            self._grid.setColumnStretch(1, 0)

    # ------------------------------------------------------------------ building blocks
    def _error_label(self, field: str) -> QLabel:
        lbl = QLabel()
        lbl.setObjectName("fieldError")
        lbl.setWordWrap(True)
        lbl.hide()
        self._error_labels[field] = lbl
        return lbl

    def error_text(self, field: str) -> str:
        lbl = self._error_labels.get(field)
        return lbl.text() if lbl is not None and not lbl.isHidden() else ""

    # ------------------------------------------------------------------ public API
    def load(self, rule_id: int | None, draft: Any | None, *, other_names: Iterable[str] = ()) -> None:
        """Show ``draft`` (the saved state of rule ``rule_id``; ``None`` id = a new rule)."""
        self._loading = True
        try:
            self._loaded = draft is not None
            self.rule_id = rule_id
            draft = draft if draft is not None else new_rule_draft()
            self._baseline = draft
            self._other_names = tuple(other_names)
            self._server_problems = []
            self.stale_note.hide()
            self._set_widgets(draft)
        finally:
            self._loading = False
        self._refresh_state()

    def set_other_names(self, names: Iterable[str]) -> None:
        self._other_names = tuple(names)
        self._refresh_state()

    def set_catalogs(self, catalogs: Catalogs) -> None:
        """The organization's catalogs (names, what is offered); the form's contents stay."""
        self._loading = True
        try:
            draft = self.draft()
            self._catalogs = catalogs
            self._offer_choices(draft)
            i = self.type_combo.findData(draft.wo_type)
            self.type_combo.setCurrentIndex(max(i, 0))
        finally:
            self._loading = False
        self._refresh_state()

    def _offer_choices(self, d: Any) -> None:
        b = self._baseline
        for chips, catalog, field in ((self.categories, CATEGORIES, "trigger_categories"),
                                      (self.customer_types, CUSTOMER_TYPES, "trigger_customer_types"),
                                      (self.skills, SKILLS, "required_skills")):
            chips.set_options(catalog_options(self._catalogs, catalog, (*getattr(d, field), *getattr(b, field))))
        self.type_combo.clear()
        for key, label in catalog_options(self._catalogs, WORK_ORDER_TYPES, {d.wo_type, b.wo_type} - {""}):
            self.type_combo.addItem(label, key)

    def set_known_tags(self, tags: Iterable[str]) -> None:
        self.tags.set_known_tags(tags)

    def draft(self) -> Any:
        duration = self.duration_hours.value() * 60 + self.duration_minutes.value()
        offset = self.offset_hours.value() * 60 + self.offset_minutes.value()
        checked = self.logic_group.checkedButton()
        logic = next((v for v, b in self.logic_buttons.items() if b is checked), AssignmentLogic.NEAREST.value)
        return RuleDraft(
            name=self.name_edit.text(),
            description=self.description_edit.text(),
            active=self.active_check.isChecked(),
            trigger_categories=self.categories.values(),
            trigger_priorities=self.priorities.values(),
            trigger_tags=self.tags.values(),
            trigger_customer_types=self.customer_types.values(),
            wo_type=self.type_combo.currentData() or "",
            wo_priority=self.priority_combo.currentData(),
            wo_duration_minutes=duration,
            auto_assign=self.auto_assign_check.isChecked(),
            assignment_logic=logic,
            required_skills=self.skills.values(),
            auto_schedule=self.auto_schedule_check.isChecked(),
            schedule_offset_minutes=offset,
            notify_customer=self.notify_customer_check.isChecked(),
            notify_technician=self.notify_technician_check.isChecked(),
        )

    @property
    def baseline(self) -> Any:
        """The saved state the form was loaded with."""
        return self._baseline

    @property
    def is_loaded(self) -> bool:
        return self._loaded

    @property
    def is_new(self) -> bool:
        return self._loaded and self.rule_id is None

    def is_dirty(self) -> bool:
        if not self._loaded:
            return False
        if self.rule_id is None:
            return True  # a new rule is unsaved until saved
        return _comparable(self.draft()) != _comparable(self._baseline)

    def problems(self) -> list[Any]:
        return list(self._problems) + list(self._server_problems)

    def set_read_only(self, read_only: bool) -> None:
        self._read_only = read_only
        self._apply_enabled()
        self._refresh_state()

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        self._refresh_state()

    def show_server_problems(self, problems: Sequence[Any]) -> None:
        """Problems found on save (e.g. a name taken meanwhile on another workstation)."""
        self._server_problems = list(problems)
        self._refresh_state()

    def mark_saved(self, rule_id: int, draft: Any) -> None:
        self.load(rule_id, draft, other_names=self._other_names)

    def rebase(self, saved: Any) -> list[str]:
        """The saved rule changed while it is being edited (elsewhere, or by the list's
        switch): take the new saved state as the baseline and keep the dispatcher's edits.
        Fields changed on both sides keep the dispatcher's value; their names are returned."""
        old, mine = _comparable(self._baseline), _comparable(self.draft())
        theirs = _comparable(saved)
        merged: dict[str, Any] = {}
        conflicts: list[str] = []
        for f in dataclasses.fields(mine):
            o, m, t = getattr(old, f.name), getattr(mine, f.name), getattr(theirs, f.name)
            if m == o:
                merged[f.name] = getattr(saved, f.name)
            else:
                merged[f.name] = getattr(self.draft(), f.name)
                if t != o and t != m:
                    conflicts.append(f.name)
        self._loading = True
        try:
            self._baseline = saved
            self._set_widgets(dataclasses.replace(saved, **merged))
        finally:
            self._loading = False
        self._refresh_state()
        return conflicts

    def note_changed_elsewhere(self, text: str | None) -> None:
        if text:
            self.stale_note.setText(text)
            self.stale_note.show()
        else:
            self.stale_note.hide()

    # ------------------------------------------------------------------ internals
    def _set_widgets(self, d: Any) -> None:
        self._offer_choices(d)
        self.name_edit.setText(d.name)
        self.description_edit.setText(d.description or "")
        self.description_edit.setCursorPosition(0)
        self.name_edit.setCursorPosition(0)
        self.active_check.setChecked(bool(d.active))
        self.categories.set_values(d.trigger_categories)
        self.priorities.set_values(d.trigger_priorities)
        self.customer_types.set_values(d.trigger_customer_types)
        self.tags.set_values(d.trigger_tags)
        i = self.type_combo.findData(d.wo_type)
        self.type_combo.setCurrentIndex(max(i, 0))
        i = self.priority_combo.findData(d.wo_priority)
        self.priority_combo.setCurrentIndex(max(i, 0))
        h, m = divmod(int(d.wo_duration_minutes), 60)
        self.duration_hours.setValue(h)
        if m % 5:
            self.duration_minutes.setSingleStep(1)
        self.duration_minutes.setValue(m)
        self.auto_assign_check.setChecked(bool(d.auto_assign))
        btn = self.logic_buttons.get(d.assignment_logic) or self.logic_buttons[AssignmentLogic.NEAREST.value]
        btn.setChecked(True)
        self.skills.set_values(d.required_skills)
        self.auto_schedule_check.setChecked(bool(d.auto_schedule))
        h, m = divmod(int(d.schedule_offset_minutes or 0), 60)
        self.offset_hours.setValue(h)
        self.offset_minutes.setValue(m)
        self.notify_customer_check.setChecked(bool(d.notify_customer))
        self.notify_technician_check.setChecked(bool(d.notify_technician))

    def _on_logic_toggled(self, _id: int, checked: bool) -> None:
        if checked:
            self._on_field_changed()

    def _on_field_changed(self, *_args: Any) -> None:
        if self._loading:
            return
        self._server_problems = []
        self._refresh_state()
        self.changed.emit()

    def _apply_enabled(self) -> None:
        editable = self._loaded and not self._read_only
        for w in (
            self.name_edit, self.description_edit, self.active_check, self.categories, self.priorities,
            self.customer_types, self.tags, self.type_combo, self.priority_combo, self.duration_hours,
            self.duration_minutes, self.auto_assign_check, self.auto_schedule_check,
            self.notify_customer_check, self.notify_technician_check, self.skills,
        ):
            w.setEnabled(editable)
        auto = self.auto_assign_check.isChecked()
        self.logic_box.setEnabled(editable and auto)
        sched = self.auto_schedule_check.isChecked()
        self.offset_hours.setEnabled(editable and sched)
        self.offset_minutes.setEnabled(editable and sched)
        self.offset_after.setEnabled(editable and sched)

    def _refresh_state(self) -> None:
        self._apply_enabled()
        draft = self.draft()
        self._problems = _validate(draft, self._other_names, self._catalogs) if self._loaded else []
        by_field: dict[str, list[str]] = {}
        for p in self.problems():
            by_field.setdefault(p.field if p.field in self._error_labels else "name", []).append(p.message)
        for field, lbl in self._error_labels.items():
            msgs = by_field.get(field)
            if msgs:
                lbl.setText("\n".join(msgs))
                lbl.show()
            else:
                lbl.clear()
                lbl.hide()
        dirty = self.is_dirty()
        if not self._loaded:
            self.title.setText("No rule selected")
        elif self.rule_id is None:
            self.title.setText(f"New rule: {draft.name.strip()}" if draft.name.strip() else "New rule")
        else:
            self.title.setText(self._baseline.name)
        self.dirty_badge.setVisible(dirty and not self._read_only)
        problems = self.problems()
        if problems:
            n = len(problems)
            self.problem_summary.setText(
                problems[0].message if n == 1 else f"{n} problems to fix before saving — see the marked fields."
            )
        elif self._read_only and self._loaded:
            self.problem_summary.setText("Read-only: only an administrator can change rules.")
            restyle(self.problem_summary, tone="muted")
        else:
            self.problem_summary.clear()
        if problems:
            restyle(self.problem_summary, tone="")
        can_edit = self._loaded and not self._read_only and not self._busy
        self.save_button.setEnabled(can_edit and dirty and not problems)
        self.discard_button.setEnabled(can_edit and dirty)
        self.save_button.setText("Create rule" if self.rule_id is None and self._loaded else "Save rule")

    def request_save(self) -> None:
        """Save if allowed (the button, Ctrl+S)."""
        self._on_save_clicked()

    def _on_save_clicked(self) -> None:
        if not self.save_button.isEnabled():
            return
        self.save_requested.emit(self.draft())

    def _on_discard_clicked(self) -> None:
        self.discard_requested.emit()

    def revert(self) -> None:
        self.load(self.rule_id, self._baseline if self._loaded else None, other_names=self._other_names)
