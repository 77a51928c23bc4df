"""The new-ticket dialog: customer search, site, category, priority, tags, subject and
description, validated as the dispatcher types. On save the number appears, and if a
rule created a work order the dialog says which rule and what happens next."""

from __future__ import annotations

import logging

from PySide6.QtCore import QStringListModel, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desk_desktop.domain.catalogs import CATEGORIES
from desk_desktop.domain.enums import ASSIGNMENT_LOGIC_HELP, Priority
from desk_desktop.ui.card import Card
from desk_desktop.ui.catalogs import read_catalogs
from desk_desktop.ui.styling import restyle
from desk_desktop.ui.tickets.style import field_error_label, title

log = logging.getLogger(__name__)

SUBJECT_MAX = 200
DEFAULT_CATEGORY = "general"  # preselected when the organization has it (migration 0008's defaults do)


def search_customers(uow_factory, actor, text: str):
    from desk_desktop.services import tickets

    return tickets.list_customers(uow=uow_factory(), actor=actor, text=text or None, limit=30)


def load_sites(uow_factory, actor, customer_id: int):
    from desk_desktop.services import tickets

    return tickets.list_sites(uow=uow_factory(), actor=actor, customer_id=customer_id)


def load_tags(uow_factory, actor):
    from desk_desktop.services import rules

    return rules.known_tags(uow=uow_factory(), actor=actor)


def create(uow_factory, actor, fields: dict):
    from desk_desktop.services import tickets

    return tickets.create_ticket(uow=uow_factory(), actor=actor, **fields)


def describe_outcome(created) -> str:
    """What happened after the ticket was created, in words."""
    wo = created.work_order
    if wo is None:
        return "No rule matched, so no work order was created. You can still dispatch it from the map."
    rule = f"rule “{wo.rule_name}”" if wo.rule_name else "a rule"
    text = (f"Work order <b>{wo.number}</b> was created by {rule}: "
            f"{title(wo.work_type).lower()}, {title(wo.priority).lower()} priority.")
    if wo.auto_assign:
        logic = wo.assignment_logic
        help_text = ASSIGNMENT_LOGIC_HELP.get(logic, "") if logic else ""
        text += f" A technician will be assigned automatically ({title(logic).lower() if logic else 'auto'}"
        text += f": {help_text[0].lower() + help_text[1:-1]})." if help_text else ")."
    else:
        text += " It waits for a dispatcher to assign a technician."
    if getattr(wo, "scheduled_start", None):
        from desk_desktop.ui.tickets.style import format_when

        text += f" Scheduled for {format_when(wo.scheduled_start)}."
    return text


class NewTicketDialog(QDialog):
    ticket_created = Signal(int, str)  # id, number
    open_requested = Signal(int)

    def __init__(self, ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("New ticket")
        self.setModal(True)
        self.setMinimumWidth(620)
        self._customer = None
        self._customers: list = []
        self._created = None
        self._touched: set[str] = set()
        self._saving = False

        heading = QLabel("New ticket")
        heading.setObjectName("TicketTitle")
        intro = QLabel("Rules run when you save: a matching rule creates the work order and may assign it.")
        intro.setObjectName("Muted")
        intro.setWordWrap(True)

        # customer search
        self.customer_edit = QLineEdit()
        self.customer_edit.setPlaceholderText("Type a customer name or reference…")
        self.customer_edit.setClearButtonEnabled(True)
        self.customer_list = QListWidget()
        self.customer_list.setMaximumHeight(118)
        self.customer_list.setVisible(False)
        self.new_customer_button = QPushButton("New customer…")
        self.new_customer_button.setToolTip("The caller is not a customer yet: add them (and their site) now")
        self._wanted_site: int | None = None  # the site to select once the chosen customer's sites are read
        self.customer_chosen = QLabel("")
        self.customer_chosen.setObjectName("Muted")
        self.customer_chosen.setWordWrap(True)
        self.site_combo = QComboBox()
        self.site_combo.addItem("Choose a customer first", None)
        self.site_combo.setEnabled(False)
        self.category_combo = QComboBox()  # the organization's active categories, once loaded
        self.priority_combo = QComboBox()
        for p in Priority:
            self.priority_combo.addItem(title(p.value), p.value)
        self.priority_combo.setCurrentIndex(self.priority_combo.findData(Priority.MEDIUM.value))
        self.tags_edit = QLineEdit()
        self.tags_edit.setPlaceholderText("comma-separated, e.g. vip, after-hours")
        self._tag_model = QStringListModel(self)
        completer = QCompleter(self._tag_model, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.tags_edit.setCompleter(completer)
        self.subject_edit = QLineEdit()
        self.subject_edit.setPlaceholderText("What is wrong, in one line")
        self.subject_counter = QLabel(f"0 / {SUBJECT_MAX}")
        self.subject_counter.setObjectName("Counter")
        self.description_edit = QPlainTextEdit()
        self.description_edit.setPlaceholderText("Details: symptoms, access instructions, contact on site…")
        self.description_edit.setMinimumHeight(110)
        self.description_edit.setTabChangesFocus(True)

        self.errors: dict[str, QLabel] = {}
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(4)
        grid.setColumnStretch(1, 1)
        row = 0

        def add(name: str, label: str, widget, extra=None) -> None:
            nonlocal row
            lab = QLabel(label)
            lab.setObjectName("FieldLabel")
            align = Qt.AlignmentFlag.AlignRight | (
                Qt.AlignmentFlag.AlignTop if name in ("description", "customer") else Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(lab, row, 0, align)
            if extra is not None:
                box = QHBoxLayout()
                box.addWidget(widget, 1)
                box.addWidget(extra)
                grid.addLayout(box, row, 1)
            else:
                grid.addWidget(widget, row, 1)
            self.errors[name] = err = field_error_label()
            grid.addWidget(err, row + 1, 1)
            row += 2

        customer_box = QWidget()
        cb = QVBoxLayout(customer_box)
        cb.setContentsMargins(0, 0, 0, 0)
        cb.setSpacing(4)
        search_row = QHBoxLayout()
        search_row.addWidget(self.customer_edit, 1)
        search_row.addWidget(self.new_customer_button)
        cb.addLayout(search_row)
        cb.addWidget(self.customer_list)
        cb.addWidget(self.customer_chosen)
        add("customer", "Customer", customer_box)
        add("site", "Site", self.site_combo)
        pc = QHBoxLayout()
        pc.addWidget(self.category_combo, 1)
        prio_label = QLabel("Priority")
        prio_label.setObjectName("FieldLabel")
        pc.addSpacing(12)
        pc.addWidget(prio_label)
        pc.addWidget(self.priority_combo, 1)
        holder = QWidget()
        holder.setLayout(pc)
        pc.setContentsMargins(0, 0, 0, 0)
        add("category", "Category", holder)
        add("tags", "Tags", self.tags_edit)
        add("subject", "Subject", self.subject_edit, self.subject_counter)
        add("description", "Description", self.description_edit)

        self.banner = QLabel("")
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.RichText)
        self.banner.setVisible(False)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setFixedWidth(80)
        self.busy.setVisible(False)

        self.cancel_button = QPushButton("Cancel")
        self.create_button = QPushButton("Create ticket")
        self.create_button.setProperty("primary", True)
        self.create_button.setDefault(True)
        self.open_button = QPushButton("Open ticket")
        self.open_button.setVisible(False)
        self.another_button = QPushButton("Create another")
        self.another_button.setVisible(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.busy)
        buttons.addStretch(1)
        buttons.addWidget(self.another_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.create_button)

        self.form = Card(margins=(16, 14, 16, 14))
        self.form.body.addLayout(grid)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 16)
        layout.setSpacing(10)
        layout.addWidget(heading)
        layout.addWidget(intro)
        layout.addWidget(self.form)
        layout.addWidget(self.banner)
        layout.addLayout(buttons)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(250)

        self.customer_edit.textEdited.connect(self._on_customer_text_edited)
        self._search_timer.timeout.connect(self._search_customers)
        self.customer_list.itemClicked.connect(self._on_customer_list_item_chosen)
        self.customer_list.itemActivated.connect(self._on_customer_list_item_chosen)
        self.new_customer_button.clicked.connect(self.open_new_customer)
        self.subject_edit.textChanged.connect(self._on_subject_edited)
        self.subject_edit.editingFinished.connect(lambda: self._touch("subject"))
        self.create_button.clicked.connect(self.submit)
        self.cancel_button.clicked.connect(self.reject)
        self.open_button.clicked.connect(self._on_open_clicked)
        self.another_button.clicked.connect(self._reset_for_another)

        self._search_customers()
        ctx.runner.submit(load_tags, ctx.uow_factory, ctx.actor, owner=self,
                          on_done=lambda tags: self._tag_model.setStringList(list(tags)), on_error=lambda e: None)
        ctx.runner.submit(read_catalogs, ctx.uow_factory, ctx.actor, owner=self, key="catalogs",
                          on_done=self._on_catalogs_loaded, on_error=lambda e: None)
        self.customer_edit.setFocus()

    def _on_catalogs_loaded(self, catalogs) -> None:
        """Offer the active categories by name (the one chosen meanwhile stays chosen)."""
        chosen = self.category_combo.currentData() or DEFAULT_CATEGORY
        self.category_combo.clear()
        for e in catalogs.choices(CATEGORIES):
            self.category_combo.addItem(e.name, e.key)
        self.category_combo.setCurrentIndex(max(0, self.category_combo.findData(chosen)))

    # ----------------------------------------------------------------- customers
    def _on_customer_text_edited(self, text: str) -> None:
        if self._customer is not None and text != self._customer.name:
            self._customer = None
            self.ctx.runner.drop(self, key="sites")  # the sites of the customer no longer chosen
            self.customer_chosen.setText("")
            self.site_combo.clear()
            self.site_combo.addItem("Choose a customer first", None)
            self.site_combo.setEnabled(False)
        self._search_timer.start()

    def _search_customers(self) -> None:
        text = self.customer_edit.text().strip()

        def done(customers) -> None:
            self._customers = list(customers)
            self.customer_list.clear()
            for c in self._customers:
                item = QListWidgetItem(f"{c.name}   ·   {c.ref}   ·   {title(c.customer_type)}")
                item.setData(Qt.ItemDataRole.UserRole, c.id)
                self.customer_list.addItem(item)
            show = self._customer is None and bool(self._customers)
            self.customer_list.setVisible(show)
            if show:
                self.customer_list.setCurrentRow(0)
            if text and not self._customers and self._customer is None:
                self._set_error("customer", f"No customer matches “{text}”.")
            elif "customer" not in self._touched:
                self._set_error("customer", "")

        self.ctx.runner.submit(search_customers, self.ctx.uow_factory, self.ctx.actor, text,
                               owner=self, key="customers", on_done=done, on_error=lambda exc: self._set_error("customer", str(exc)))

    def _on_customer_list_item_chosen(self, item: QListWidgetItem) -> None:
        cid = item.data(Qt.ItemDataRole.UserRole)
        customer = next((c for c in self._customers if c.id == cid), None)
        if customer is not None:
            self.choose_customer(customer)

    def open_new_customer(self):
        """The customer editor; once saved, the new customer and its first site are chosen here."""
        from desk_desktop.ui.people.customer_editor import CustomerEditor

        editor = CustomerEditor(self.ctx, None, self)
        editor.saved.connect(lambda cid, site_id: self._choose_new_customer(editor.saved_customer.data.ref, cid, site_id))
        editor.open()
        return editor

    def _choose_new_customer(self, ref: str, customer_id: int, site_id: int) -> None:
        def done(customers) -> None:
            customer = next((c for c in customers if c.id == customer_id), None)
            if customer is not None:
                self._wanted_site = site_id or None
                self.choose_customer(customer)

        self.ctx.runner.submit(search_customers, self.ctx.uow_factory, self.ctx.actor, ref, owner=self,
                               key="customers", on_done=done, on_error=lambda exc: self._set_error("customer", str(exc)))

    def choose_customer(self, customer) -> None:
        self._customer = customer
        self.customer_edit.setText(customer.name)
        self.customer_list.setVisible(False)
        contact = " · ".join(x for x in (customer.email, customer.phone) if x)
        self.customer_chosen.setText(f"{customer.ref} · {title(customer.customer_type)}" + (f"\n{contact}" if contact else ""))
        self.customer_edit.deselect()
        self._set_error("customer", "")
        self.site_combo.clear()
        self.site_combo.addItem("Loading sites…", None)
        self.site_combo.setEnabled(False)

        def done(sites) -> None:
            self.site_combo.clear()
            self.site_combo.addItem("No site (customer's address)", None)
            for s in sites:
                self.site_combo.addItem(f"{s.name} — {s.address}", s.id)
            if len(sites) == 1:
                self.site_combo.setCurrentIndex(1)
            if self._wanted_site is not None and self.site_combo.findData(self._wanted_site) > 0:
                self.site_combo.setCurrentIndex(self.site_combo.findData(self._wanted_site))
            self.site_combo.setEnabled(True)

        self.ctx.runner.submit(load_sites, self.ctx.uow_factory, self.ctx.actor, customer.id,
                               owner=self, key="sites", on_done=done, on_error=lambda exc: self._set_error("site", str(exc)))
        self.subject_edit.setFocus()

    # ----------------------------------------------------------------- validation
    def _touch(self, name: str) -> None:
        self._touched.add(name)
        self._validate(only_touched=True)

    def _on_subject_edited(self, text: str) -> None:
        n = len(text.strip())
        self.subject_counter.setText(f"{n} / {SUBJECT_MAX}")
        restyle(self.subject_counter, tone="error" if n > SUBJECT_MAX else "")
        if n > SUBJECT_MAX or "subject" in self._touched:
            self._touched.add("subject")
            self._validate(only_touched=True)

    def problems(self) -> dict[str, str]:
        out = {}
        if self._customer is None:
            out["customer"] = "Choose the customer from the list."
        subject = self.subject_edit.text().strip()
        if not subject:
            out["subject"] = "Give the ticket a subject."
        elif len(subject) > SUBJECT_MAX:
            out["subject"] = f"The subject is {len(subject)} characters; the limit is {SUBJECT_MAX}."
        return out

    def _validate(self, *, only_touched: bool) -> dict[str, str]:
        problems = self.problems()
        for name in self.errors:
            if only_touched and name not in self._touched:
                continue
            self._set_error(name, problems.get(name, ""))
        return problems

    def _set_error(self, name: str, message: str) -> None:
        label = self.errors.get(name)
        if label is None:
            return
        label.setText(message)
        label.setVisible(bool(message))
        editor = {"customer": self.customer_edit, "subject": self.subject_edit, "site": self.site_combo,
                  "tags": self.tags_edit, "description": self.description_edit,
                  "category": self.category_combo}.get(name)
        if editor is not None:
            restyle(editor, invalid=bool(message))

    # ----------------------------------------------------------------- saving
    def fields(self) -> dict:
        tags = tuple(t.strip() for t in self.tags_edit.text().replace(";", ",").split(",") if t.strip())
        out = {
            "customer_id": self._customer.id if self._customer else None,
            "subject": self.subject_edit.text().strip(),
            "category": self.category_combo.currentData(),
            "priority": self.priority_combo.currentData(),
            "tags": tags,
            "description": self.description_edit.toPlainText().strip(),
        }
        site_id = self.site_combo.currentData()
        if site_id is not None:
            out["site_id"] = site_id
        return out

    def submit(self) -> None:
        if self._saving or self._created is not None:
            return
        self._touched.update(self.errors)
        problems = self._validate(only_touched=False)
        if problems:
            first = next(iter(problems))
            {"customer": self.customer_edit, "subject": self.subject_edit}.get(first, self.subject_edit).setFocus()
            return
        self._saving = True
        self.create_button.setEnabled(False)
        self.create_button.setText("Creating…")
        self.busy.setVisible(True)
        self.banner.setVisible(False)
        self.ctx.runner.submit(create, self.ctx.uow_factory, self.ctx.actor, self.fields(), owner=self,
                               on_done=self._on_created, on_error=self._on_create_failed)

    def _on_created(self, created) -> None:
        self._saving = False
        self._created = created
        self.busy.setVisible(False)
        t = created.ticket
        self.banner.setText(f"<span style='font-size:16px'>Ticket <b>{t.number}</b> created.</span><br>"
                            f"{describe_outcome(created)}")
        restyle(self.banner, banner="success")
        self.banner.setVisible(True)
        self.open_button.setVisible(True)
        self.open_button.setFocus()  # before the create button hides: focus must not jump to the form
        self.create_button.setVisible(False)
        self.cancel_button.setText("Close")
        restyle(self.open_button, primary=True)
        self.open_button.setDefault(True)
        self.another_button.setVisible(True)
        self.ticket_created.emit(t.id, t.number)
        if self.ctx.scheduler is not None and created.work_order is not None:
            try:
                self.ctx.scheduler.kick("assign")
            except Exception as exc:  # noqa: BLE001 - the timer sweep assigns it anyway
                log.warning("could not kick the assign job: %s", exc)

    def _on_create_failed(self, exc: BaseException) -> None:
        self._saving = False
        self.busy.setVisible(False)
        self.create_button.setEnabled(True)
        self.create_button.setText("Create ticket")
        field = getattr(exc, "field", None)
        message = str(exc) or exc.__class__.__name__
        mapping = {"customer_id": "customer", "customer_ref": "customer", "site_id": "site", "site_ref": "site"}
        field = mapping.get(field, field)
        if field in self.errors:
            self._set_error(field, message)
        self.banner.setText(f"The ticket was not created: {message}")
        restyle(self.banner, banner="error")
        self.banner.setVisible(True)

    @property
    def created(self):
        return self._created

    def _on_open_clicked(self) -> None:
        if self._created is not None:
            self.open_requested.emit(self._created.ticket.id)
        self.accept()

    def _reset_for_another(self) -> None:
        self._created = None
        self.banner.setVisible(False)
        self.create_button.setVisible(True)
        self.create_button.setEnabled(True)
        self.create_button.setText("Create ticket")
        self.open_button.setVisible(False)
        self.another_button.setVisible(False)
        self.cancel_button.setText("Cancel")
        self.subject_edit.clear()
        self.description_edit.clear()
        self.tags_edit.clear()
        self.subject_counter.setText(f"0 / {SUBJECT_MAX}")
        self._touched.clear()
        self.subject_edit.setFocus()
