"""The detail pane: every field of one ticket (editable, validated), its status actions,
its customer, its work order (``work_order_card``), attachments and the history."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desk_desktop.domain.catalogs import CATEGORIES, CUSTOMER_TYPES
from desk_desktop.domain.enums import Priority
from desk_desktop.domain.lifecycle import FINISHED, status_words
from desk_desktop.ui.card import Card
from desk_desktop.ui.styling import restyle
from desk_desktop.ui.tickets.attachments import AttachmentsPanel
from desk_desktop.ui.tickets.lifecycle_dialog import OpenOrdersDialog
from desk_desktop.ui.tickets.style import (
    PRIORITY_COLORS,
    STATUS_COLORS,
    chip_style,
    field_error_label,
    format_when,
    muted_label,
    title,
    value_label,
)
from desk_desktop.ui.tickets.work_order_card import WorkOrderCard, explain_assignment

log = logging.getLogger(__name__)

STATUS_ACTION_LABELS = {
    "open": "Open",
    "pending": "Mark pending",
    "resolved": "Resolve",
    "closed": "Close",
}
EDITABLE_FIELDS = ("subject", "category", "priority", "tags", "site_id", "description")


@dataclass(frozen=True)
class DetailData:
    ticket: object  # services.tickets.TicketDetail
    history: tuple
    allowed: tuple[str, ...]
    explanation: str
    sites: tuple
    catalogs: object  # services.catalogs.Catalogs: display names, the categories offered


def load_detail(uow_factory, actor, ticket_id: int) -> DetailData:
    from desk_desktop.services import tickets
    from desk_desktop.services.catalogs import load_catalogs

    ticket = tickets.get_ticket_or_raise(uow=uow_factory(), actor=actor, ticket_id=ticket_id)
    history = tickets.ticket_history(uow=uow_factory(), actor=actor, ticket_id=ticket_id)
    sites = tickets.list_sites(uow=uow_factory(), actor=actor, customer_id=ticket.customer_id)
    return DetailData(
        ticket=ticket,
        history=tuple(reversed(history)),  # newest first
        allowed=tickets.allowed_status_changes(ticket.status),
        explanation=explain_assignment(ticket.work_order),
        sites=sites,
        catalogs=load_catalogs(uow=uow_factory(), actor=actor),
    )


def save_ticket(uow_factory, actor, ticket_id: int, changes: dict):
    from desk_desktop.services import tickets

    return tickets.update_ticket(uow=uow_factory(), actor=actor, ticket_id=ticket_id, **changes)


def change_status(uow_factory, actor, ticket_id: int, status: str, choice: dict | None = None):
    from desk_desktop.services import tickets

    return tickets.change_ticket_status(uow=uow_factory(), actor=actor, ticket_id=ticket_id, status=status,
                                        **(choice or {}))


def _card(title_text: str) -> tuple[Card, QVBoxLayout, QLabel]:
    card = Card(title_text)
    return card, card.body, card.title_label


def _tags_text(tags) -> str:
    return ", ".join(tags or ())


def _parse_tags(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.replace(";", ",").split(",") if t.strip())


class TicketDetailPane(QWidget):
    ticket_saved = Signal(int)
    board_requested = Signal(int, object)  # work order id, its scheduled start (None: not scheduled)
    ticket_loaded = Signal(int)
    save_failed = Signal(str)

    def __init__(self, ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("DetailPane")
        self._data: DetailData | None = None
        self._ticket_id: int | None = None
        self._filling = False
        self._drafts: dict[int, dict] = {}
        self._saving = False
        self._columns = 0

        # ---------------------------------------------------------------- header
        self.number_label = QLabel("")
        self.number_label.setObjectName("TicketNumber")
        self.status_chip = QLabel("")
        self.priority_chip = QLabel("")
        self.title_label = QLabel("Select a ticket")
        self.title_label.setObjectName("TicketTitle")
        self.title_label.setWordWrap(True)
        self.meta_label = muted_label("")
        self.meta_label.setWordWrap(True)
        self.status_buttons_box = QHBoxLayout()
        self.status_buttons_box.setSpacing(6)
        self.status_buttons: dict[str, QPushButton] = {}

        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setFixedWidth(80)
        self.busy.setToolTip("Loading…")
        self.busy.setVisible(False)
        top = QHBoxLayout()
        top.setSpacing(8)
        top.addWidget(self.number_label)
        top.addWidget(self.status_chip)
        top.addWidget(self.priority_chip)
        top.addStretch(1)
        top.addWidget(self.busy)
        status_row = QHBoxLayout()
        status_row.setSpacing(6)
        status_row.addLayout(self.status_buttons_box)
        status_row.addStretch(1)

        self.banner = QLabel("")
        self.banner.setWordWrap(True)
        self.banner.setVisible(False)

        # ---------------------------------------------------------------- ticket form
        self.form_card, form_layout, _ = _card("Ticket")
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(4)
        grid.setColumnStretch(1, 1)
        self.subject_edit = QLineEdit()
        self.subject_edit.setMaxLength(300)
        self.category_combo = QComboBox()  # filled from the catalog with each ticket shown
        self.priority_combo = QComboBox()
        for p in Priority:
            self.priority_combo.addItem(title(p.value), p.value)
        self.tags_edit = QLineEdit()
        self.tags_edit.setPlaceholderText("comma-separated, e.g. vip, after-hours")
        self.site_combo = QComboBox()
        self.site_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.site_combo.setMinimumContentsLength(18)
        self.description_edit = QPlainTextEdit()
        self.description_edit.setMinimumHeight(96)
        self.description_edit.setMaximumHeight(150)
        self.description_edit.setTabChangesFocus(True)
        self.errors: dict[str, QLabel] = {}
        self.editors = {
            "subject": self.subject_edit,
            "category": self.category_combo,
            "priority": self.priority_combo,
            "tags": self.tags_edit,
            "site_id": self.site_combo,
            "description": self.description_edit,
        }
        labels = {"subject": "Subject", "category": "Category", "priority": "Priority", "tags": "Tags",
                  "site_id": "Site", "description": "Description"}
        row = 0
        for name in EDITABLE_FIELDS:
            label = QLabel(labels[name])
            label.setObjectName("FieldLabel")
            align = Qt.AlignmentFlag.AlignRight | (
                Qt.AlignmentFlag.AlignTop if name == "description" else Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(label, row, 0, align)
            grid.addWidget(self.editors[name], row, 1)
            self.errors[name] = err = field_error_label()
            grid.addWidget(err, row + 1, 1)
            row += 2
        form_layout.addLayout(grid)
        self.dirty_label = muted_label("")
        self.save_button = QPushButton("Save changes")
        self.save_button.setProperty("primary", True)
        self.save_button.setEnabled(False)
        self.save_button.setToolTip("Save (Ctrl+S)")
        self.save_button.setShortcut("Ctrl+S")
        self.revert_button = QPushButton("Revert")
        self.revert_button.setEnabled(False)
        actions = QHBoxLayout()
        actions.addWidget(self.dirty_label, 1)
        actions.addWidget(self.revert_button)
        actions.addWidget(self.save_button)
        form_layout.addLayout(actions)

        # ---------------------------------------------------------------- customer
        self.customer_card, customer_layout, _ = _card("Customer")
        self.customer_name = value_label()
        self.customer_name.setObjectName("CustomerName")
        self.customer_contact = muted_label("")
        self.customer_contact.setWordWrap(True)
        self.site_label = muted_label("")
        self.site_label.setWordWrap(True)
        customer_layout.addWidget(self.customer_name)
        customer_layout.addWidget(self.customer_contact)
        customer_layout.addWidget(self.site_label)

        # ---------------------------------------------------------------- work order
        self.work_order = WorkOrderCard(ctx)
        self.work_order.message.connect(self._show_banner)
        self.work_order.changed.connect(self._order_changed)
        self.work_order.resolve_requested.connect(self._resolve_requested)
        self.work_order.board_requested.connect(self.board_requested)
        self.open_orders_dialog: OpenOrdersDialog | None = None  # the one last opened (tests drive it)

        # ---------------------------------------------------------------- attachments
        self.attachments_card, att_layout, self.attachments_heading = _card("Attachments")
        self.attachments = AttachmentsPanel(ctx)
        att_layout.addWidget(self.attachments)
        self.attachments.count_changed.connect(self._on_attachments_count_changed)

        # ---------------------------------------------------------------- history
        self.history_card, history_layout, _ = _card("History")
        self.history_box = QVBoxLayout()
        self.history_box.setSpacing(8)
        history_layout.addLayout(self.history_box)

        # ---------------------------------------------------------------- assemble
        self.body = QWidget()
        self.body.setObjectName("DetailBody")
        outer = QVBoxLayout(self.body)
        outer.setContentsMargins(4, 4, 8, 8)
        outer.setSpacing(10)
        outer.addLayout(top)
        outer.addWidget(self.title_label)
        outer.addWidget(self.meta_label)
        outer.addLayout(status_row)
        outer.addWidget(self.banner)
        self.left_column = QVBoxLayout()
        self.left_column.setSpacing(12)
        self.right_column = QVBoxLayout()
        self.right_column.setSpacing(12)
        self.columns_box = QHBoxLayout()
        self.columns_box.setSpacing(12)
        self.columns_box.addLayout(self.left_column, 1)
        self.columns_box.addLayout(self.right_column, 1)
        outer.addLayout(self.columns_box)
        outer.addStretch(1)
        self._arrange(1)

        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidget(self.body)
        self.placeholder = muted_label("Select a ticket in the queue to see everything about it here.")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.placeholder)
        layout.addWidget(self.scroll)
        self.scroll.setVisible(False)

        # ---------------------------------------------------------------- signals
        self.subject_edit.textEdited.connect(self._on_editor_changed)
        self.tags_edit.textEdited.connect(self._on_editor_changed)
        self.description_edit.textChanged.connect(self._on_editor_changed)
        self.category_combo.currentIndexChanged.connect(self._on_editor_changed)
        self.priority_combo.currentIndexChanged.connect(self._on_editor_changed)
        self.site_combo.currentIndexChanged.connect(self._on_editor_changed)
        self.save_button.clicked.connect(self.save)
        self.revert_button.clicked.connect(self.revert)

    # ----------------------------------------------------------------- layout
    def _arrange(self, columns: int) -> None:
        if columns == self._columns:
            return
        self._columns = columns
        cards = (self.form_card, self.customer_card, self.work_order, self.attachments_card, self.history_card)
        for lay in (self.left_column, self.right_column):
            while lay.count():
                lay.takeAt(0)
        top = Qt.AlignmentFlag.AlignTop
        if columns == 2:
            for w in (self.form_card, self.customer_card, self.history_card):
                self.left_column.addWidget(w, 0, top)
            for w in (self.work_order, self.attachments_card):
                self.right_column.addWidget(w, 0, top)
            self.right_column.addStretch(1)
        else:
            for w in (self.form_card, self.work_order, self.attachments_card, self.customer_card, self.history_card):
                self.left_column.addWidget(w, 0, top)
        self.left_column.addStretch(1)
        self.columns_box.setStretch(1, 1 if columns == 2 else 0)
        self.columns_box.setSpacing(12 if columns == 2 else 0)
        for w in cards:
            w.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._rearrange()

    def _rearrange(self) -> None:
        """Two columns when both fit side by side without clipping a card (the work order's
        steps make it wider or narrower with its status), else one."""
        left = max(c.minimumSizeHint().width() for c in (self.form_card, self.customer_card, self.history_card))
        right = max(c.minimumSizeHint().width() for c in (self.work_order, self.attachments_card))
        margins = self.body.layout().contentsMargins()
        needed = left + right + 12 + margins.left() + margins.right() + self.scroll.verticalScrollBar().sizeHint().width()
        self._arrange(2 if self.width() >= max(840, needed) else 1)

    # ----------------------------------------------------------------- public
    @property
    def ticket_id(self) -> int | None:
        return self._ticket_id

    @property
    def data(self) -> DetailData | None:
        return self._data

    def is_dirty(self) -> bool:
        return bool(self._changes())

    def show_ticket(self, ticket_id: int, *, focus: bool = False) -> None:
        if self._ticket_id is not None and self._ticket_id != ticket_id and self._data is not None:
            changes = self._changes()
            if changes:
                self._drafts[self._ticket_id] = self._editor_values()
        self._load(ticket_id, focus=focus)

    def reload(self) -> None:
        if self._ticket_id is not None and not self._saving:
            if self._changes():
                self._drafts[self._ticket_id] = self._editor_values()
            self._load(self._ticket_id)

    def shutdown(self) -> None:
        self.attachments.shutdown()

    def on_live_change(self, entity: str, entity_id, action: str) -> None:
        data = self._data
        if data is None or self._saving:
            return
        t = data.ticket
        mine = entity == "catalog" or (entity == "ticket" and entity_id == t.id) or (
            entity == "work_order" and t.work_order is not None and entity_id == t.work_order.id
        ) or (entity == "work_order" and t.work_order is None and action == "created")
        if mine:
            self.reload()

    # ----------------------------------------------------------------- loading
    def _load(self, ticket_id: int, *, focus: bool = False) -> None:
        self.busy.setVisible(True)

        def done(data: DetailData) -> None:
            self.busy.setVisible(False)
            self._fill(data)
            if focus:
                self.subject_edit.setFocus(Qt.FocusReason.OtherFocusReason)
            self.ticket_loaded.emit(ticket_id)

        def failed(exc: BaseException) -> None:
            self.busy.setVisible(False)
            self._show_banner(f"Could not load the ticket: {exc}", "error")

        self.ctx.runner.submit(load_detail, self.ctx.uow_factory, self.ctx.actor, ticket_id,
                               owner=self, key="detail", on_done=done, on_error=failed)

    def _fill(self, data: DetailData) -> None:
        t = data.ticket
        switching = self._ticket_id != t.id
        self._data = data
        self._ticket_id = t.id
        self.placeholder.setVisible(False)
        self.scroll.setVisible(True)
        self.number_label.setText(t.number)
        fg, bg = STATUS_COLORS.get(t.status, ("#333", "#eee"))
        self.status_chip.setText(title(t.status))
        self.status_chip.setStyleSheet(chip_style(fg, bg))
        pc = PRIORITY_COLORS.get(t.priority, "#333")
        self.priority_chip.setText(f"{title(t.priority)} priority")
        self.priority_chip.setStyleSheet(f"color: {pc}; font-weight: 600;")
        self.title_label.setText(t.subject)
        meta = f"Created {format_when(t.created_at, with_year=True)} by {t.created_by}"
        if t.updated_at and t.updated_at != t.created_at:
            meta += f" · updated {format_when(t.updated_at)}"
        self.meta_label.setText(meta)
        self._fill_status_buttons(data.allowed)

        draft = self._drafts.pop(t.id, None)
        self._filling = True
        try:
            self.site_combo.clear()
            self.site_combo.addItem("No site (customer's address)", None)
            for s in data.sites:
                self.site_combo.addItem(f"{s.name} — {s.address}", s.id)
            self.category_combo.clear()
            for e in data.catalogs.choices(CATEGORIES, keep=[t.category]):
                self.category_combo.addItem(e.name if e.active else f"{e.name} (retired)", e.key)
            values = draft if draft is not None else self._loaded_values()
            self._set_editor_values(values)
        finally:
            self._filling = False
        if switching and draft is None:
            self._clear_errors()
            self.banner.setVisible(False)
        elif draft is not None:
            self._show_banner("Your unsaved edits to this ticket were kept.", "info")
        self._update_dirty()

        # customer
        self.customer_name.setText(t.customer_name)
        contact = [x for x in (t.customer_email, t.customer_phone) if x]
        self.customer_contact.setText("\n".join([data.catalogs.name(CUSTOMER_TYPES, t.customer_type) + (f" · {t.customer_ref}" if t.customer_ref else "")]
                                                + contact))
        if t.site_id is not None:
            self.site_label.setText(f"Site: {t.site_name or ''} — {t.site_address or ''}")
        else:
            self.site_label.setText("No site recorded")

        self.work_order.show_order(t.id, t.work_order, data.catalogs, data.explanation)
        QTimer.singleShot(0, self._rearrange)  # once its new step buttons are shown (the next pass)

        # attachments
        self.attachments.set_ticket(t.id)

        # history
        while self.history_box.count():
            item = self.history_box.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        if not data.history:
            self.history_box.addWidget(muted_label("No history yet."))
        for h in data.history[:50]:
            self.history_box.addWidget(self._timeline_item(h))

    def _timeline_item(self, h) -> QWidget:
        frame = QFrame()
        frame.setObjectName("TimelineItem")
        lay = QVBoxLayout(frame)
        lay.setContentsMargins(10, 0, 0, 0)
        lay.setSpacing(1)
        top = QLabel(f"<b>{_esc(h.summary)}</b>")
        top.setWordWrap(True)
        who = "work order · " if getattr(h, "entity", "ticket") == "work_order" else ""
        meta = muted_label(f"{format_when(h.at, with_year=True)} · {who}{h.actor}")
        lay.addWidget(top)
        lay.addWidget(meta)
        return frame

    def _fill_status_buttons(self, allowed: tuple[str, ...]) -> None:
        for b in self.status_buttons.values():
            self.status_buttons_box.removeWidget(b)
            b.deleteLater()
        self.status_buttons = {}
        current = self._data.ticket.status if self._data else None
        for status in allowed:
            label = "Reopen" if status == "open" and current in ("resolved", "closed") else \
                STATUS_ACTION_LABELS.get(status, title(status))
            button = QPushButton(label)
            button.setToolTip(f"Change the status to {title(status).lower()}")
            button.clicked.connect(lambda _=False, s=status: self.set_status(s))
            self.status_buttons_box.addWidget(button)
            self.status_buttons[status] = button

    # ----------------------------------------------------------------- editing
    def _loaded_values(self) -> dict:
        t = self._data.ticket
        return {
            "subject": t.subject,
            "category": t.category,
            "priority": t.priority,
            "tags": _tags_text(t.tags),
            "site_id": t.site_id,
            "description": t.description or "",
        }

    def _editor_values(self) -> dict:
        return {
            "subject": self.subject_edit.text(),
            "category": self.category_combo.currentData(),
            "priority": self.priority_combo.currentData(),
            "tags": self.tags_edit.text(),
            "site_id": self.site_combo.currentData(),
            "description": self.description_edit.toPlainText(),
        }

    def _set_editor_values(self, values: dict) -> None:
        self.subject_edit.setText(values["subject"])
        self.category_combo.setCurrentIndex(max(0, self.category_combo.findData(values["category"])))
        self.priority_combo.setCurrentIndex(max(0, self.priority_combo.findData(values["priority"])))
        self.tags_edit.setText(values["tags"])
        idx = self.site_combo.findData(values["site_id"])
        self.site_combo.setCurrentIndex(idx if idx >= 0 else 0)
        if self.description_edit.toPlainText() != values["description"]:
            self.description_edit.setPlainText(values["description"])

    def _changes(self) -> dict:
        if self._data is None:
            return {}
        loaded = self._loaded_values()
        now = self._editor_values()
        changes = {}
        for name in EDITABLE_FIELDS:
            if name == "tags":
                if _parse_tags(now["tags"]) != _parse_tags(loaded["tags"]):
                    changes["tags"] = _parse_tags(now["tags"])
            elif now[name] != loaded[name]:
                changes[name] = now[name]
        return changes

    def _local_problems(self) -> dict[str, str]:
        problems = {}
        subject = self.subject_edit.text().strip()
        if not subject:
            problems["subject"] = "The subject cannot be empty."
        elif len(subject) > 200:
            problems["subject"] = f"The subject is {len(subject)} characters; the limit is 200."
        return problems

    def _on_editor_changed(self, *_args) -> None:
        if self._filling:
            return
        self._update_dirty()

    def _update_dirty(self) -> None:
        changes = self._changes()
        problems = self._local_problems()
        for name in EDITABLE_FIELDS:
            if name in problems:
                self._set_error(name, problems[name])
            elif self.errors[name].property("local"):
                self._set_error(name, "")
        self.save_button.setEnabled(bool(changes) and not problems and not self._saving)
        self.revert_button.setEnabled(bool(changes) and not self._saving)
        self.dirty_label.setText("Unsaved changes" if changes else "")

    def _set_error(self, name: str, message: str, *, local: bool = True) -> None:
        label = self.errors.get(name)
        editor = self.editors.get(name)
        if label is None:
            return
        label.setText(message)
        label.setVisible(bool(message))
        label.setProperty("local", bool(message) and local)
        if editor is not None:
            restyle(editor, invalid=bool(message))

    def _clear_errors(self) -> None:
        for name in EDITABLE_FIELDS:
            self._set_error(name, "")

    def _show_banner(self, text: str, kind: str) -> None:
        """``kind``: "error", "info" or "success" (``QLabel[banner=…]`` in app.qss)."""
        self.banner.setText(text)
        restyle(self.banner, banner=kind)
        self.banner.setVisible(bool(text))

    def revert(self) -> None:
        if self._data is None:
            return
        self._filling = True
        try:
            self._set_editor_values(self._loaded_values())
        finally:
            self._filling = False
        self._clear_errors()
        self.banner.setVisible(False)
        self._update_dirty()

    def save(self) -> None:
        if self._data is None or self._saving:
            return
        problems = self._local_problems()
        if problems:
            for name, msg in problems.items():
                self._set_error(name, msg)
            return
        changes = self._changes()
        if not changes:
            return
        ticket_id = self._data.ticket.id
        self._saving = True
        self.save_button.setEnabled(False)
        self.save_button.setText("Saving…")

        def done(_summary) -> None:
            self._saving = False
            self.save_button.setText("Save changes")
            self._drafts.pop(ticket_id, None)
            self._clear_errors()
            self._show_banner("Saved.", "success")
            self.ticket_saved.emit(ticket_id)
            if self._ticket_id == ticket_id:
                self._load(ticket_id)

        def failed(exc: BaseException) -> None:
            self._saving = False
            self.save_button.setText("Save changes")
            field = getattr(exc, "field", None)
            message = str(exc) or exc.__class__.__name__
            if field == "site":
                field = "site_id"
            if field in self.errors:
                self._set_error(field, message, local=False)
                self._show_banner("Not saved — fix the highlighted field. Your edits are still here.", "error")
            else:
                self._show_banner(f"Not saved: {message} Your edits are still here.", "error")
            self._update_dirty()
            self.save_failed.emit(message)

        self.ctx.runner.submit(save_ticket, self.ctx.uow_factory, self.ctx.actor, ticket_id, changes,
                               owner=self, on_done=done, on_error=failed)

    def set_status(self, status: str, choice: dict | None = None) -> None:
        """Change the ticket's status; resolving or closing it with an unfinished work order
        first asks what to do with the order."""
        if self._data is None:
            return
        t = self._data.ticket
        wo = t.work_order
        if status in ("resolved", "closed") and choice is None and wo is not None and wo.status not in FINISHED:
            dlg = OpenOrdersDialog(t.number, status, f"{wo.number} ({status_words(wo.status)})", parent=self)
            self.open_orders_dialog = dlg
            dlg.accepted.connect(lambda: self.set_status(status, dlg.values()))
            dlg.open()
            return
        ticket_id = t.id
        for b in self.status_buttons.values():
            b.setEnabled(False)

        def done(_summary) -> None:
            self._show_banner(f"Status changed to {title(status).lower()}.", "success")
            self.ticket_saved.emit(ticket_id)
            if self._ticket_id == ticket_id:
                if self._changes():
                    self._drafts[ticket_id] = self._editor_values()
                self._load(ticket_id)

        def failed(exc: BaseException) -> None:
            for b in self.status_buttons.values():
                b.setEnabled(True)
            self._show_banner(f"Status not changed: {exc}", "error")
            if getattr(exc, "work_order_ids", None) and self._ticket_id == ticket_id:
                self._load(ticket_id)  # its work order changed elsewhere meanwhile: show it as it is

        self.ctx.runner.submit(change_status, self.ctx.uow_factory, self.ctx.actor, ticket_id, status, choice,
                               owner=self, on_done=done, on_error=failed)

    def _order_changed(self, ticket_id: int) -> None:
        """The card changed the ticket's order: the queue and this pane show it as it is now."""
        self.ticket_saved.emit(ticket_id)
        if self._ticket_id == ticket_id and not self._saving:
            if self._changes():
                self._drafts[ticket_id] = self._editor_values()
            self._load(ticket_id)

    def _resolve_requested(self, ticket_id: int) -> None:
        if self._ticket_id == ticket_id:
            self.set_status("resolved")

    def _on_attachments_count_changed(self, count: int) -> None:
        self.attachments_heading.setText(f"Attachments ({count})" if count else "Attachments")


def _esc(text: str) -> str:
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
