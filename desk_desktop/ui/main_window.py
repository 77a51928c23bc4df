"""The main window: navigation to Tickets, Rules, Map, Technicians and Customers; a status bar
that tells the truth about the database, the connection and the background scheduler."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QIcon, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desk_desktop import APP_NAME
from desk_desktop.resources import resource_path
from desk_desktop.ui.context import UiContext
from desk_desktop.ui.styling import restyle

log = logging.getLogger(__name__)

PAGES = (
    ("tickets", "Tickets", "desk_desktop.ui.tickets.page", "TicketsPage"),
    ("rules", "Rules", "desk_desktop.ui.rules.page", "RulesPage"),
    ("map", "Map", "desk_desktop.ui.map.page", "MapPage"),
    ("schedule", "Schedule", "desk_desktop.ui.board.page", "SchedulePage"),
    ("technicians", "Technicians", "desk_desktop.ui.people.technicians", "TechniciansPage"),
    ("customers", "Customers", "desk_desktop.ui.people.customers", "CustomersPage"),
)


class MainWindow(QMainWindow):
    """Hosts the views. It owns no database session; views talk to services."""

    page_changed = Signal(str)

    def __init__(self, ctx: UiContext, *, db_description: Callable[[], str] | None = None,
                 on_close: Callable[[], None] | None = None, identity: str = "") -> None:
        super().__init__()
        self.ctx = ctx
        self._db_description = db_description
        self._on_close = on_close
        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(QIcon(str(resource_path("icons", "app.svg"))))
        self.resize(1440, 900)

        self.nav = QFrame(objectName="NavBar")
        nav_layout = QVBoxLayout(self.nav)
        nav_layout.setContentsMargins(0, 0, 0, 0)
        nav_layout.setSpacing(0)
        title = QLabel(APP_NAME, objectName="AppTitle")
        self.org_label = QLabel(identity or ctx.actor.name, objectName="OrgLabel")
        self.org_label.setWordWrap(True)
        nav_layout.addWidget(title)
        nav_layout.addWidget(self.org_label)
        self.stack = QStackedWidget()
        self.pages: dict[str, QWidget] = {}
        self.nav_buttons: dict[str, QPushButton] = {}
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        for index, (key, label, module, cls) in enumerate(PAGES):
            button = QPushButton(label)
            button.setCheckable(True)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.clicked.connect(lambda _=False, k=key: self.show_page(k))
            self._group.addButton(button, index)
            nav_layout.addWidget(button)
            self.nav_buttons[key] = button
            page = self._make_page(module, cls)
            self.pages[key] = page
            self.stack.addWidget(page)
            QShortcut(QKeySequence(f"Ctrl+{index + 1}"), self, activated=lambda k=key: self.show_page(k))
        nav_layout.addStretch(1)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.nav)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        # Status bar: database · connection · scheduler · busy
        self.db_label = QLabel("Database: connecting…")
        self.conn_label = QLabel("", objectName="ConnectionState")
        self.scheduler_label = QLabel("", objectName="SchedulerState")
        self.busy_label = QLabel("")
        sb = self.statusBar()
        sb.addWidget(self.db_label, 1)
        sb.addPermanentWidget(self.busy_label)
        sb.addPermanentWidget(self.scheduler_label)
        sb.addPermanentWidget(self.conn_label)
        ctx.runner.busy_changed.connect(self._on_runner_busy_changed)
        tickets = self.pages.get("tickets")
        if tickets is not None and hasattr(tickets, "attention_count_changed"):
            tickets.attention_count_changed.connect(self._on_tickets_attention_count_changed)
        self.pages["schedule"].ticket_requested.connect(self.open_ticket)
        self.pages["tickets"].detail.board_requested.connect(self.show_on_board)
        # Optimize day: started on the map or the board; the proposal is drawn on both.
        planner = self.pages["schedule"].planner
        self.pages["map"].optimize_requested.connect(self.optimize_today)
        planner.ready.connect(self.pages["map"].show_plan)
        planner.cleared.connect(self.pages["map"].clear_plan)

        self._health_timer = QTimer(self)
        self._health_timer.setInterval(10_000)
        self._health_timer.timeout.connect(self.check_connection)
        self._health_timer.start()
        self._scheduler_timer = QTimer(self)
        self._scheduler_timer.setInterval(2_000)
        self._scheduler_timer.timeout.connect(self._update_scheduler_label)
        self._scheduler_timer.start()

        from desk_desktop.ui.menus import add_app_menus

        add_app_menus(self)  # Edit → Preferences; Help → About, Open log folder
        self._restore_state()
        self.check_connection()
        self._update_scheduler_label()

    # ---------------------------------------------------------------- pages
    def _make_page(self, module: str, cls: str) -> QWidget:
        import importlib

        page_cls = getattr(importlib.import_module(module), cls)
        return page_cls(self.ctx)

    def show_page(self, key: str) -> None:
        keys = [p[0] for p in PAGES]
        index = keys.index(key)
        self.stack.setCurrentIndex(index)
        self.nav_buttons[key].setChecked(True)
        self.page_changed.emit(key)

    def open_ticket(self, ticket_id: int) -> None:
        """Show ``ticket_id`` (and its work orders) in the tickets view."""
        self.show_page("tickets")
        self.pages["tickets"].open_ticket(ticket_id)

    def show_on_board(self, work_order_id: int, start) -> None:
        """The schedule board on the visit's day, the visit selected (today, for one with no time)."""
        self.show_page("schedule")
        self.pages["schedule"].show_work_order(work_order_id, start)

    def optimize_today(self) -> None:
        """The schedule board plans today; the map keeps drawing the proposal's routes."""
        self.show_page("schedule")
        self.pages["schedule"].optimize_today()

    @property
    def current_page_key(self) -> str:
        return PAGES[self.stack.currentIndex()][0]

    def refresh_all(self) -> None:
        for page in self.pages.values():
            refresh = getattr(page, "refresh", None)
            if refresh:
                refresh()

    # ---------------------------------------------------------------- status
    def check_connection(self) -> None:
        describe = self._db_description
        if describe is None:
            return
        self.ctx.runner.submit(describe, owner=self, key="health", on_done=self._on_health_ok,
                               on_error=self._on_health_failed)

    def _on_health_ok(self, description: str) -> None:
        was_down = self.conn_label.text().startswith("●  Disconnected")
        self.db_label.setText(f"Database: {description}")
        self.conn_label.setText("●  Connected")
        restyle(self.conn_label, tone="good")
        if was_down:
            self.refresh_all()

    def _on_health_failed(self, exc: BaseException) -> None:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        self.conn_label.setText("●  Disconnected")
        restyle(self.conn_label, tone="bad")
        self.conn_label.setToolTip(first_line)

    def _update_scheduler_label(self) -> None:
        scheduler = self.ctx.scheduler
        if scheduler is None:
            self.scheduler_label.setText("Background jobs: off")
            return
        state = scheduler.state
        running = getattr(state, "running", False)
        last_error = getattr(state, "last_error", None)
        text = "Background jobs: running" if running else "Background jobs: stopped"
        if last_error:
            text += " · last error"
            self.scheduler_label.setToolTip(str(last_error))
            restyle(self.scheduler_label, tone="warn")
        else:
            self.scheduler_label.setToolTip("")
            restyle(self.scheduler_label, tone="")
        self.scheduler_label.setText(text)

    def _on_runner_busy_changed(self, busy: bool) -> None:
        self.busy_label.setText("Working…" if busy else "")

    def _on_tickets_attention_count_changed(self, count: int) -> None:
        button = self.nav_buttons["tickets"]
        button.setText(f"Tickets   ⚠ {count}" if count else "Tickets")
        button.setToolTip(f"{count} item(s) need attention" if count else "")

    def _confirm_discard(self, dirty: list[str]) -> bool:
        box = QMessageBox(QMessageBox.Icon.Warning, APP_NAME,
                          "You have unsaved changes in " + " and ".join(dirty) + ".",
                          QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel, self)
        box.setInformativeText("Quit anyway and lose them, or go back and save them?")
        box.button(QMessageBox.StandardButton.Discard).setText("Quit without saving")
        box.button(QMessageBox.StandardButton.Cancel).setText("Go back")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        return box.exec() == QMessageBox.StandardButton.Discard

    # ---------------------------------------------------------------- state
    def _restore_state(self) -> None:
        qs = QSettings()
        geometry = qs.value("main/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        page = qs.value("main/page", "tickets")
        self.show_page(page if page in self.nav_buttons else "tickets")

    def unsaved_work(self) -> list[str]:
        """Names of the views holding edits that were not saved."""
        labels = {key: label for key, label, _m, _c in PAGES}
        dirty = []
        for key, page in self.pages.items():
            check = getattr(page, "has_unsaved_changes", None)
            detail = getattr(page, "detail", None)
            if (check is not None and check()) or (detail is not None and getattr(detail, "is_dirty", lambda: False)()):
                dirty.append(labels[key])
        return dirty

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        dirty = self.unsaved_work()
        if dirty and not self._confirm_discard(dirty):
            event.ignore()
            return
        qs = QSettings()
        qs.setValue("main/geometry", self.saveGeometry())
        qs.setValue("main/page", self.current_page_key)
        self._health_timer.stop()
        self._scheduler_timer.stop()
        for page in self.pages.values():
            shutdown = getattr(page, "shutdown", None)
            if shutdown:
                shutdown()
        if self._on_close is not None:
            self._on_close()
        super().closeEvent(event)
