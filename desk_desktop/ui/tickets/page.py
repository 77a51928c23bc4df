"""The Tickets page: filter bar, the queue (or the attention list) and the detail pane."""

from __future__ import annotations

import logging

from PySide6.QtCore import QItemSelectionModel, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QFont, QFontMetrics, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desk_desktop.domain.catalogs import CATEGORIES
from desk_desktop.domain.enums import Priority, TicketStatus
from desk_desktop.ui.catalogs import read_catalogs
from desk_desktop.ui.styling import restyle
from desk_desktop.ui.tickets.attention import AttentionPanel
from desk_desktop.ui.tickets.detail import TicketDetailPane
from desk_desktop.ui.tickets.model import (
    COL_CATEGORY,
    COL_CREATED,
    COL_CUSTOMER,
    COL_NUMBER,
    COL_PRIORITY,
    COL_SCHEDULED,
    COL_STATUS,
    COL_SUBJECT,
    COL_TECHNICIAN,
    DEFAULT_SORT,
    ROLE_SUMMARY,
    ROLE_TICKET_ID,
    SORT_KEYS,
    FilterState,
    TicketTableModel,
)
from desk_desktop.ui.tickets.style import title

log = logging.getLogger(__name__)

SEARCH_DEBOUNCE_MS = 300
LIVE_DEBOUNCE_MS = 250
SETTINGS_FILTERS = "tickets/filters"
SETTINGS_SORT = "tickets/sort"
SETTINGS_SPLITTER = "tickets/splitter"
SETTINGS_HIDDEN = "tickets/hidden_columns"
# With the detail pane beside it the queue shows the essentials; the header's context
# menu brings back any column (and remembers it).
DEFAULT_HIDDEN = (COL_CUSTOMER, COL_CATEGORY, COL_SCHEDULED)
# When the queue is narrow these step aside first (they come back when it widens).
RESPONSIVE_DROP_ORDER = (COL_SCHEDULED, COL_CATEGORY, COL_CREATED, COL_CUSTOMER, COL_TECHNICIAN, COL_STATUS)
MIN_SUBJECT_WIDTH = 170

# The entities services record changes of (``uow.record_change``) that these lists show.
TICKET_ENTITIES = {"ticket", "work_order"}
ATTENTION_ENTITIES = {"work_order", "notification", "attachment"}


def _technicians(uow_factory, actor):
    """Active technicians for the assignee filter, by name."""
    from desk_desktop.services import people

    return people.list_technicians(uow=uow_factory(), actor=actor)


class MultiSelectButton(QToolButton):
    """A drop-down of checkable choices; 'Any' when none is checked."""

    selection_changed = Signal()

    def __init__(self, label: str, choices: list[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._label = label
        self.setObjectName("FilterButton")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.setMenu(QMenu(self))
        self._actions: dict[str, QAction] = {}
        self.set_choices(choices)

    def set_choices(self, choices: list[tuple[str, str]]) -> None:
        """Offer these (value, text) choices; those checked and still offered stay checked (no signal)."""
        chosen = set(self.selected())
        self.menu().clear()
        self._actions = {}
        for value, text in choices:
            action = QAction(text, self.menu())
            action.setCheckable(True)
            action.setChecked(value in chosen)
            action.toggled.connect(self._on_action_toggled)
            self.menu().addAction(action)
            self._actions[value] = action
        self.menu().addSeparator()
        clear = self.menu().addAction("Any")
        clear.triggered.connect(lambda: self.set_selected(()))
        self._update_text()

    def selected(self) -> tuple[str, ...]:
        return tuple(v for v, a in self._actions.items() if a.isChecked())

    def set_selected(self, values, *, emit: bool = True) -> None:
        values = set(values)
        for v, a in self._actions.items():
            a.blockSignals(True)
            a.setChecked(v in values)
            a.blockSignals(False)
        self._update_text()
        if emit:
            self.selection_changed.emit()

    def action_for(self, value: str) -> QAction:
        return self._actions[value]

    def _on_action_toggled(self, _checked: bool) -> None:
        self._update_text()
        self.selection_changed.emit()

    def _update_text(self) -> None:
        chosen = [self._actions[v].text() for v in self.selected()]
        restyle(self, active=bool(chosen))
        if not chosen:
            self.setText(f"{self._label}: Any")
        elif len(chosen) <= 2:
            self.setText(f"{self._label}: {', '.join(chosen)}")
        else:
            self.setText(f"{self._label}: {len(chosen)} selected")


class SubjectDelegate(QStyledItemDelegate):
    """Subject on the first line, the customer under it (when the Customer column is hidden)."""

    def __init__(self, view: QTableView) -> None:
        super().__init__(view)
        self._view = view

    def paint(self, painter, option, index) -> None:
        if not self._view.isColumnHidden(COL_CUSTOMER):
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        style = opt.widget.style() if opt.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        ticket = index.data(ROLE_SUMMARY)
        if ticket is None:
            return
        rect = option.rect.adjusted(6, 3, -6, -3)
        half = rect.height() // 2
        painter.save()
        font = QFont(option.font)
        font.setWeight(QFont.Weight.DemiBold)
        painter.setFont(font)
        painter.setPen(QColor("#1d2733"))
        fm = QFontMetrics(font)
        top = rect.adjusted(0, 0, 0, -half)
        painter.drawText(top, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom,
                         fm.elidedText(ticket.subject, Qt.TextElideMode.ElideRight, top.width()))
        small = QFont(option.font)
        painter.setFont(small)
        painter.setPen(QColor("#5b6b7d"))
        fm2 = QFontMetrics(small)
        bottom = rect.adjusted(0, rect.height() - half, 0, 0)
        painter.drawText(bottom, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                         fm2.elidedText(ticket.customer_name, Qt.TextElideMode.ElideRight, bottom.width()))
        painter.restore()


class TicketTableView(QTableView):
    ticket_opened = Signal(int)
    first_row_requested = Signal()
    last_row_requested = Signal()
    resized = Signal()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self.resized.emit()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setSortingEnabled(False)  # sorting goes through the header click handler
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(44)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.horizontalHeader().setHighlightSections(False)
        self.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.doubleClicked.connect(self._on_self_double_clicked)

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt API)
        key = event.key()
        model = self.model()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            index = self.currentIndex()
            if index.isValid():
                self.ticket_opened.emit(int(index.data(ROLE_TICKET_ID)))
                event.accept()
                return
        if isinstance(model, TicketTableModel) and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            if key == Qt.Key.Key_End:
                self.last_row_requested.emit()
                event.accept()
                return
            if key == Qt.Key.Key_Home:
                self.first_row_requested.emit()
                event.accept()
                return
        super().keyPressEvent(event)

    def _select_row(self, row: int) -> None:
        model = self.model()
        if model is None or row < 0 or row >= model.rowCount():
            return
        index = model.index(row, COL_NUMBER)
        self.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        self.scrollTo(index)

    def _on_self_double_clicked(self, index) -> None:
        if index.isValid():
            self.ticket_opened.emit(int(index.data(ROLE_TICKET_ID)))


class TicketsPage(QWidget):
    """Where a dispatcher spends the day."""

    attention_count_changed = Signal(int)
    ticket_selected = Signal(int)

    def __init__(self, ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("TicketsPage")
        self._restoring = False
        self._pending_select: str | None = None  # "first" / "last" once the jump's rows arrive

        # ------------------------------------------------------------ filter bar
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search number, subject, customer, description…   Ctrl+F")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setMinimumWidth(280)
        self.status_filter = MultiSelectButton("Status", [(s.value, title(s.value)) for s in TicketStatus])
        self.priority_filter = MultiSelectButton("Priority", [(p.value, title(p.value)) for p in Priority])
        self.category_filter = MultiSelectButton("Category", [])  # from the catalog (_load_catalogs)
        self.catalogs = None  # services.catalogs.Catalogs, once read
        self._restored_categories: tuple[str, ...] = ()
        self.tag_edit = QLineEdit()
        self.tag_edit.setPlaceholderText("Tag")
        self.tag_edit.setClearButtonEnabled(True)
        self.tag_edit.setFixedWidth(120)
        self.assignee_combo = QComboBox()
        self.assignee_combo.setMinimumWidth(170)
        self.assignee_combo.addItem("Assignee: Anyone", None)
        self.assignee_combo.addItem("Assignee: Unassigned", "unassigned")
        self.clear_button = QPushButton("Clear filters")
        self.new_button = QPushButton("New ticket")
        self.new_button.setProperty("primary", True)
        self.new_button.setToolTip("Create a ticket (Ctrl+N)")

        bar = QHBoxLayout()
        bar.setSpacing(8)
        bar.addWidget(self.search_edit, 2)
        bar.addWidget(self.status_filter)
        bar.addWidget(self.priority_filter)
        bar.addWidget(self.category_filter)
        bar.addWidget(self.tag_edit)
        bar.addWidget(self.assignee_combo)
        bar.addWidget(self.clear_button)
        bar.addStretch(1)
        bar.addWidget(self.new_button)

        # ------------------------------------------------------------ the queue
        self.model = TicketTableModel(ctx, parent=self)
        self.table = TicketTableView()
        self.table.setModel(self.model)
        self.table.setItemDelegateForColumn(COL_SUBJECT, SubjectDelegate(self.table))
        header = self.table.horizontalHeader()
        header.setSectionsClickable(True)
        header.setSortIndicatorShown(True)
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(COL_SUBJECT, QHeaderView.ResizeMode.Stretch)
        widths = {COL_NUMBER: 122, COL_CUSTOMER: 170, COL_CATEGORY: 92, COL_PRIORITY: 88, COL_STATUS: 82,
                  COL_TECHNICIAN: 144, COL_SCHEDULED: 108, COL_CREATED: 108}
        for col, w in widths.items():
            self.table.setColumnWidth(col, w)
        self._column_widths = widths
        self._user_hidden: set[int] = set(DEFAULT_HIDDEN)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._on_header_context_menu)

        self.range_label = QLabel("")
        self.range_label.setObjectName("Muted")
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setFixedWidth(90)
        self.busy.setVisible(False)
        self.busy.setToolTip("Loading…")
        self.error_label = QLabel("")
        self.error_label.setObjectName("FieldError")
        self.error_label.setVisible(False)
        self.newest_button = QPushButton("Newest")
        self.newest_button.setToolTip("Go to the first row (Ctrl+Home)")
        self.oldest_button = QPushButton("Last row")
        self.oldest_button.setToolTip("Go to the last row without loading everything in between (Ctrl+End)")
        footer = QHBoxLayout()
        footer.addWidget(self.range_label)
        footer.addWidget(self.busy)
        footer.addWidget(self.error_label, 1)
        footer.addStretch(0)
        footer.addWidget(self.newest_button)
        footer.addWidget(self.oldest_button)

        queue = QWidget()
        ql = QVBoxLayout(queue)
        ql.setContentsMargins(0, 6, 0, 0)
        ql.addWidget(self.table, 1)
        ql.addLayout(footer)

        self.attention = AttentionPanel(ctx)
        self.list_tabs = QTabWidget()
        self.list_tabs.setObjectName("ListTabs")
        self.list_tabs.setDocumentMode(True)
        self.list_tabs.addTab(queue, "Queue")
        self.list_tabs.addTab(self.attention, "Needs attention")

        self.detail = TicketDetailPane(ctx)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.list_tabs)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([800, 480])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 12, 14, 8)
        layout.setSpacing(8)
        layout.addLayout(bar)
        layout.addWidget(self.splitter, 1)

        # ------------------------------------------------------------ timers, shortcuts
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DEBOUNCE_MS)
        self._live_timer = QTimer(self)
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(LIVE_DEBOUNCE_MS)
        self._attention_timer = QTimer(self)
        self._attention_timer.setSingleShot(True)
        self._attention_timer.setInterval(LIVE_DEBOUNCE_MS)
        self._select_timer = QTimer(self)
        self._select_timer.setSingleShot(True)
        self._select_timer.setInterval(120)
        self._live_ticket_ids: set = set()

        QShortcut(QKeySequence("Ctrl+N"), self, activated=self.new_ticket)
        QShortcut(QKeySequence("Ctrl+F"), self, activated=self._on_shortcut_search)
        QShortcut(QKeySequence("F5"), self, activated=self.refresh)
        back = QShortcut(QKeySequence("Esc"), self.detail, activated=self._on_detail_escape)
        back.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)

        # ------------------------------------------------------------ connections
        self.search_edit.textChanged.connect(self._on_search_text_changed)
        self.tag_edit.textChanged.connect(self._on_search_text_changed)
        self._search_timer.timeout.connect(self._apply_filters)
        self.status_filter.selection_changed.connect(self._apply_filters)
        self.priority_filter.selection_changed.connect(self._apply_filters)
        self.category_filter.selection_changed.connect(self._apply_filters)
        self.assignee_combo.currentIndexChanged.connect(self._apply_filters)
        self.clear_button.clicked.connect(self.clear_filters)
        self.new_button.clicked.connect(self.new_ticket)
        self.newest_button.clicked.connect(self._on_newest_clicked)
        self.oldest_button.clicked.connect(self._on_oldest_clicked)
        header.sectionClicked.connect(self._on_header_section_clicked)
        self.model.loading_changed.connect(self._on_model_loading_changed)
        self.model.rows_loaded.connect(self._on_model_rows_loaded)
        self.model.total_changed.connect(self._update_range_label)
        self.model.load_failed.connect(self._on_model_load_failed)
        self.model.modelReset.connect(self._on_model_reset)
        self.model.rowsInserted.connect(self._on_model_rows_inserted)
        self.table.ticket_opened.connect(self.open_ticket)
        self.table.resized.connect(self._fit_columns)
        self.table.first_row_requested.connect(self._on_newest_clicked)
        self.table.last_row_requested.connect(self._on_oldest_clicked)
        self.table.selectionModel().currentRowChanged.connect(self._on_table_current_row_changed)
        self.table.verticalScrollBar().valueChanged.connect(self._on_table_scrolled)
        self._select_timer.timeout.connect(self._show_current_in_detail)
        self._live_timer.timeout.connect(self._on_live_timer_timeout)
        self._attention_timer.timeout.connect(self.attention.refresh)
        self.attention.count_changed.connect(self._on_attention_count_changed)
        self.attention.ticket_requested.connect(self._on_attention_ticket_requested)
        self.detail.ticket_saved.connect(self._on_detail_ticket_saved)
        ctx.live.changed.connect(self._on_live_changed)
        ctx.live.refresh_all.connect(self.refresh)

        self._restore_state()
        self._load_technicians()
        self._load_catalogs()
        self.refresh()

    # ----------------------------------------------------------------- public
    def refresh(self) -> None:
        """Re-read everything (F5, after a reconnect): the loaded rows are re-read in place
        so the selection and the scroll position stay where they were."""
        filters = self.current_filters()
        if filters == self.model.filters and self.model.rowCount():
            self.model.reload_in_place()
        else:
            self.model.set_filters(filters, load=False)
            self.model.refresh()
        self.attention.refresh()
        self.detail.reload()

    def current_filters(self) -> FilterState:
        assignee = self.assignee_combo.currentData()
        return FilterState(
            statuses=self.status_filter.selected(),
            priorities=self.priority_filter.selected(),
            categories=self.category_filter.selected() if self.catalogs is not None else self._restored_categories,
            tag=self.tag_edit.text().strip(),
            assignee=assignee,
            text=self.search_edit.text().strip(),
        )

    def clear_filters(self) -> None:
        self._restoring = True
        try:
            self.search_edit.clear()
            self.tag_edit.clear()
            self.status_filter.set_selected((), emit=False)
            self.priority_filter.set_selected((), emit=False)
            self.category_filter.set_selected((), emit=False)
            self.assignee_combo.setCurrentIndex(0)
        finally:
            self._restoring = False
        self._search_timer.stop()
        self._apply_filters()

    def open_ticket(self, ticket_id: int) -> None:
        """Show a ticket in the detail pane and put the keyboard there."""
        self.detail.show_ticket(ticket_id, focus=True)

    def new_ticket(self) -> None:
        from desk_desktop.ui.tickets.new_ticket import NewTicketDialog

        dialog = NewTicketDialog(self.ctx, self)
        dialog.ticket_created.connect(self._on_dialog_ticket_created)
        dialog.open_requested.connect(self.open_ticket)
        dialog.open()
        self._dialog = dialog

    def shutdown(self) -> None:
        self._save_state()
        self.detail.shutdown()

    # ----------------------------------------------------------------- filters
    def _on_detail_escape(self) -> None:
        """Esc in the detail pane goes back to the queue (edits stay, unsaved)."""
        self.list_tabs.setCurrentIndex(0)
        self.table.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _on_shortcut_search(self) -> None:
        self.list_tabs.setCurrentIndex(0)
        self.search_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_edit.selectAll()

    def _on_search_text_changed(self, _text: str) -> None:
        if not self._restoring:
            self._search_timer.start()

    def _apply_filters(self, *_args) -> None:
        if self._restoring:
            return
        filters = self.current_filters()
        QSettings().setValue(SETTINGS_FILTERS, filters.to_json())
        self.model.set_filters(filters)

    def _on_header_section_clicked(self, column: int) -> None:
        key = SORT_KEYS.get(column)
        header = self.table.horizontalHeader()
        if key is None:
            self._update_sort_indicator()
            return
        current = self.model.sort_key
        if current.rpartition("_")[0] == key:
            direction = "asc" if current.endswith("_desc") else "desc"
        else:
            direction = "asc" if column in (COL_NUMBER, COL_CUSTOMER, COL_STATUS) else "desc"
        sort = f"{key}_{direction}"
        self.model.set_sort_key(sort)
        QSettings().setValue(SETTINGS_SORT, sort)
        self._update_sort_indicator()
        header.setSortIndicatorShown(True)

    def _on_header_context_menu(self, pos) -> None:
        menu = QMenu(self)
        header = self.table.horizontalHeader()
        for col in range(self.model.columnCount()):
            if col in (COL_NUMBER, COL_SUBJECT):
                continue
            action = menu.addAction(self.model.headerData(col, Qt.Orientation.Horizontal))
            action.setCheckable(True)
            action.setChecked(col not in self._user_hidden)
            action.toggled.connect(lambda on, c=col: self.set_column_visible(c, on))
        menu.exec(header.mapToGlobal(pos))

    def set_column_visible(self, column: int, visible: bool) -> None:
        if visible:
            self._user_hidden.discard(column)
        else:
            self._user_hidden.add(column)
        QSettings().setValue(SETTINGS_HIDDEN, ",".join(str(c) for c in sorted(self._user_hidden)))
        self._fit_columns()

    def _fit_columns(self) -> None:
        """Show the columns the dispatcher chose; when the queue is narrow (a wide detail
        pane) the least important ones step aside for the subject, and come back."""
        available = self.table.viewport().width()
        shown = [c for c in range(self.model.columnCount()) if c not in self._user_hidden]
        needed = sum(self._column_widths.get(c, 0) for c in shown if c != COL_SUBJECT) + MIN_SUBJECT_WIDTH
        for col in RESPONSIVE_DROP_ORDER:
            if needed <= available:
                break
            if col in shown:
                shown.remove(col)
                needed -= self._column_widths.get(col, 0)
        for col in range(self.model.columnCount()):
            hide = col not in shown and col not in (COL_NUMBER, COL_SUBJECT)
            if self.table.isColumnHidden(col) != hide:
                self.table.setColumnHidden(col, hide)
                if not hide and col in self._column_widths:
                    self.table.setColumnWidth(col, self._column_widths[col])

    def _update_sort_indicator(self) -> None:
        key, _, direction = self.model.sort_key.rpartition("_")
        col = next((c for c, k in SORT_KEYS.items() if k == key), -1)
        order = Qt.SortOrder.AscendingOrder if direction == "asc" else Qt.SortOrder.DescendingOrder
        self.table.horizontalHeader().setSortIndicator(col, order)

    # ----------------------------------------------------------------- state
    def _restore_state(self) -> None:
        qs = QSettings()
        filters = FilterState.from_json(qs.value(SETTINGS_FILTERS, "", type=str))
        sort = qs.value(SETTINGS_SORT, DEFAULT_SORT, type=str) or DEFAULT_SORT
        if sort.rpartition("_")[0] not in SORT_KEYS.values():
            sort = DEFAULT_SORT
        self._restoring = True
        try:
            self.search_edit.setText(filters.text)
            self.tag_edit.setText(filters.tag)
            self.status_filter.set_selected(filters.statuses, emit=False)
            self.priority_filter.set_selected(filters.priorities, emit=False)
            self._restored_categories = filters.categories  # offered once the catalog is read
            if filters.assignee is not None:
                if self.assignee_combo.findData(filters.assignee) < 0:
                    self.assignee_combo.addItem("Assignee: (saved technician)", filters.assignee)
                self.assignee_combo.setCurrentIndex(self.assignee_combo.findData(filters.assignee))
        finally:
            self._restoring = False
        self.model.set_filters(filters, load=False)
        self.model.set_sort_key(sort, load=False)
        self._update_sort_indicator()
        hidden_raw = qs.value(SETTINGS_HIDDEN, None)
        if hidden_raw is None:
            hidden = set(DEFAULT_HIDDEN)
        else:
            hidden = {int(c) for c in str(hidden_raw).split(",") if c.strip().isdigit()}
        self._user_hidden = {c for c in hidden if c not in (COL_NUMBER, COL_SUBJECT)}
        self._fit_columns()
        splitter = qs.value(SETTINGS_SPLITTER)
        if splitter is not None:
            self.splitter.restoreState(splitter)

    def _save_state(self) -> None:
        qs = QSettings()
        qs.setValue(SETTINGS_FILTERS, self.current_filters().to_json())
        qs.setValue(SETTINGS_SORT, self.model.sort_key)
        qs.setValue(SETTINGS_SPLITTER, self.splitter.saveState())

    def _load_catalogs(self) -> None:
        self.ctx.runner.submit(read_catalogs, self.ctx.uow_factory, self.ctx.actor, owner=self, key="catalogs",
                               on_done=self._on_catalogs_loaded, on_error=lambda exc: None)

    def _on_catalogs_loaded(self, catalogs) -> None:
        """Category names in the list and the filter (active ones, and any the filter holds)."""
        held = self.category_filter.selected() if self.catalogs is not None else self._restored_categories
        self.catalogs = catalogs
        self.category_filter.set_choices([(e.key, e.name) for e in catalogs.choices(CATEGORIES, keep=held)])
        self.category_filter.set_selected(held, emit=False)
        self.model.set_catalogs(catalogs)

    def _load_technicians(self) -> None:
        self.ctx.runner.submit(_technicians, self.ctx.uow_factory, self.ctx.actor, owner=self, key="technicians",
                               on_done=self._on_technicians_loaded, on_error=lambda exc: None)

    def _on_technicians_loaded(self, techs) -> None:
        current = self.assignee_combo.currentData()
        self._restoring = True
        try:
            while self.assignee_combo.count() > 2:
                self.assignee_combo.removeItem(2)
            for tech in techs:
                self.assignee_combo.addItem(f"Assignee: {tech.name}", tech.id)
            idx = self.assignee_combo.findData(current)
            if idx < 0 and current is not None:
                self.assignee_combo.addItem("Assignee: (saved technician)", current)
                idx = self.assignee_combo.count() - 1
            self.assignee_combo.setCurrentIndex(max(0, idx))
        finally:
            self._restoring = False

    # ----------------------------------------------------------------- model events
    def _on_model_loading_changed(self, loading: bool) -> None:
        self.busy.setVisible(loading)

    def _on_model_rows_loaded(self) -> None:
        self.error_label.setVisible(False)
        self._update_range_label()
        if self._pending_select:
            which, self._pending_select = self._pending_select, None
            self.table._select_row(0 if which == "first" else self.model.rowCount() - 1)  # noqa: SLF001

    def _on_model_reset(self) -> None:
        self._update_range_label()
        if self.model.rowCount() and not self.table.currentIndex().isValid() and self.model.anchor == "start":
            shown = self.detail.ticket_id
            row = self.model.row_of(shown) if shown is not None else -1
            if row >= 0:
                self.table.selectRow(row)

    def _on_model_rows_inserted(self, _parent, first: int, last: int) -> None:
        if self.model.anchor == "end" and first == 0:
            # Rows were prepended above what the dispatcher is looking at: keep the view still.
            bar = self.table.verticalScrollBar()
            bar.setValue(bar.value() + (last - first + 1))
        self._update_range_label()

    def _on_model_load_failed(self, message: str) -> None:
        self.error_label.setText(f"Could not load tickets: {message}")
        self.error_label.setVisible(True)

    def _update_range_label(self, *_args) -> None:
        total = self.model.total
        rng = self.model.window_range()
        if total is not None and total == 0:
            self.range_label.setText("No tickets match these filters")
            return
        if rng is None:
            self.range_label.setText("" if total is None else f"{total:,} tickets")
            return
        text = f"Showing {rng[0]:,}–{rng[1]:,}"
        if total is not None:
            text += f" of {total:,} tickets"
        self.range_label.setText(text)

    def _on_table_scrolled(self, value: int) -> None:
        if value == 0 and self.model.can_fetch_previous():
            self.model.fetch_previous()

    def _on_newest_clicked(self) -> None:
        self.table.setFocus()
        if self.model.anchor == "start" and self.model.rowCount():
            self.table._select_row(0)  # noqa: SLF001
            return
        self._pending_select = "first"
        self.model.jump_to_start()

    def _on_oldest_clicked(self) -> None:
        self.table.setFocus()
        if self.model.anchor == "start" and not self.model.canFetchMore() and not self.model.is_loading:
            self.table._select_row(self.model.rowCount() - 1)  # noqa: SLF001
            return
        self._pending_select = "last"
        self.model.jump_to_end()

    # ----------------------------------------------------------------- selection
    def _on_table_current_row_changed(self, current, _previous) -> None:
        if current.isValid():
            self._select_timer.start()

    def _show_current_in_detail(self) -> None:
        index = self.table.currentIndex()
        if index.isValid():
            tid = int(index.data(ROLE_TICKET_ID))
            if tid != self.detail.ticket_id:
                self.detail.show_ticket(tid)
            self.ticket_selected.emit(tid)

    # ----------------------------------------------------------------- live
    def _on_live_changed(self, entity: str, entity_id, action: str) -> None:
        if entity == "catalog":
            self._load_catalogs()
        if entity in TICKET_ENTITIES:
            self._live_ticket_ids.add((entity, entity_id))
            self._live_timer.start()
        if entity in ATTENTION_ENTITIES:
            self._attention_timer.start()
        self.detail.on_live_change(entity, entity_id, action)

    def _on_live_timer_timeout(self) -> None:
        self._live_ticket_ids.clear()
        self.model.reload_in_place()

    def _on_attention_count_changed(self, count: int) -> None:
        self.list_tabs.setTabText(1, f"Needs attention ({count})" if count else "Needs attention")
        self.attention_count_changed.emit(count)

    def _on_attention_ticket_requested(self, ticket_id: int) -> None:
        self.detail.show_ticket(ticket_id)

    def _on_detail_ticket_saved(self, _ticket_id: int) -> None:
        self.model.reload_in_place()

    def _on_dialog_ticket_created(self, ticket_id: int, _number: str) -> None:
        self.model.reload_in_place()
        self.attention.refresh()
