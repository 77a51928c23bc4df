"""What needs a person: work orders that could not be assigned (and why), notifications
that gave up (with Retry), quarantined files. The count goes to the navigation."""

from __future__ import annotations

import logging

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desk_desktop.domain.filetypes import display_name
from desk_desktop.ui.card import Card
from desk_desktop.ui.tickets.style import PRIORITY_COLORS, format_when, title

log = logging.getLogger(__name__)


def load_attention(uow_factory, actor):
    from desk_desktop.services import attention

    return attention.list_attention(uow=uow_factory(), actor=actor)


def retry(uow_factory, actor, notification_id: int):
    from desk_desktop.services import notifications

    return notifications.retry_notification(uow=uow_factory(), actor=actor, notification_id=notification_id)


def _esc(text) -> str:
    return str(text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class AttentionItem(QFrame):
    def __init__(self, headline: str, detail: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("FileRow")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        text = QVBoxLayout()
        text.setSpacing(2)
        self.headline = QLabel(headline)
        self.headline.setWordWrap(True)
        self.detail = QLabel(detail)
        self.detail.setObjectName("Muted")
        self.detail.setWordWrap(True)
        text.addWidget(self.headline)
        text.addWidget(self.detail)
        lay.addLayout(text, 1)
        self.buttons = QHBoxLayout()
        lay.addLayout(self.buttons)

    def add_button(self, label: str, slot) -> QPushButton:
        b = QPushButton(label)
        b.clicked.connect(slot)
        self.buttons.addWidget(b)
        return b


class AttentionPanel(QWidget):
    count_changed = Signal(int)
    ticket_requested = Signal(int)
    loaded = Signal()

    def __init__(self, ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._count = -1
        self._data = None
        self.items: dict[str, list[AttentionItem]] = {"unassigned": [], "dead": [], "quarantined": []}

        self.message = QLabel("")
        self.message.setObjectName("FieldError")
        self.message.setWordWrap(True)
        self.message.setVisible(False)
        self.all_clear = QLabel("Nothing needs attention. Every work order is assigned, every notification "
                                "was delivered and no file is quarantined.")
        self.all_clear.setObjectName("Muted")
        self.all_clear.setWordWrap(True)
        self.refresh_button = QPushButton("Refresh")

        self.sections: dict[str, tuple[QFrame, QLabel, QVBoxLayout]] = {}
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(0, 6, 6, 6)
        body_layout.setSpacing(12)
        top = QHBoxLayout()
        top.addWidget(self.message, 1)
        top.addStretch(0)
        top.addWidget(self.refresh_button)
        body_layout.addLayout(top)
        body_layout.addWidget(self.all_clear)
        for key, heading in (("unassigned", "Work orders without a technician"),
                             ("dead", "Notifications that could not be delivered"),
                             ("quarantined", "Quarantined files")):
            card = Card(heading, spacing=6)
            label = card.title_label
            rows = QVBoxLayout()
            rows.setSpacing(6)
            card.body.addLayout(rows)
            body_layout.addWidget(card)
            self.sections[key] = (card, label, rows)
        body_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(scroll)
        self.refresh_button.clicked.connect(self.refresh)

    @property
    def count(self) -> int:
        return max(0, self._count)

    def refresh(self) -> None:
        self.ctx.runner.submit(load_attention, self.ctx.uow_factory, self.ctx.actor,
                               owner=self, key="list", on_done=self._on_loaded, on_error=self._on_failed)

    def _on_failed(self, exc: BaseException) -> None:
        self.message.setText(f"Could not load the attention list: {exc}")
        self.message.setVisible(True)

    def _on_loaded(self, data) -> None:
        self._data = data
        self.message.setVisible(False)
        for key in self.items:
            for item in self.items[key]:
                item.setParent(None)
                item.deleteLater()
            self.items[key] = []

        for wo in data.unassigned:
            color = PRIORITY_COLORS.get(wo.priority, "#333")
            ticket = f" · ticket {_esc(wo.ticket_number)}" if wo.ticket_number else ""
            headline = (f"<b>{_esc(wo.number)}</b>{ticket} — {_esc(wo.subject or '')} "
                        f"<span style='color:{color}; font-weight:600'>{_esc(title(wo.priority))}</span>")
            when = ""
            if wo.retrying and wo.next_try_at:
                when = f" Next automatic try {format_when(wo.next_try_at)} (attempt {wo.attempts + 1})."
            elif not wo.retrying:
                when = " Assign it from the map."
            item = AttentionItem(headline, f"{wo.reason}{when}")
            if wo.ticket_id:
                item.add_button("Show ticket", lambda _=False, t=wo.ticket_id: self.ticket_requested.emit(t))
            self._add("unassigned", item)

        for n in data.dead_notifications:
            to = n.recipient_address or n.recipient_kind
            headline = f"<b>{_esc(n.subject)}</b> → {_esc(to)} ({_esc(n.channel)})"
            detail = f"Gave up after {n.attempts} attempt(s): {n.last_error or 'no reason recorded'}"
            if n.work_order_number:
                detail += f" · {n.work_order_number}"
            item = AttentionItem(headline, detail)
            button = item.add_button("Retry", lambda _=False, i=n.notification_id: self._retry(i))
            button.setObjectName(f"retry-{n.notification_id}")
            self._add("dead", item)

        for q in data.quarantined:
            headline = f"<b>{_esc(display_name(q.original_name))}</b> on ticket {_esc(q.ticket_number or q.ticket_id)}"
            detail = (f"Infected with {q.signature or 'an unknown threat'}; uploaded by {q.uploaded_by} "
                      f"{format_when(q.uploaded_at)}. It cannot be opened.")
            item = AttentionItem(headline, detail)
            item.add_button("Show ticket", lambda _=False, t=q.ticket_id: self.ticket_requested.emit(t))
            self._add("quarantined", item)

        counts = {"unassigned": len(data.unassigned), "dead": len(data.dead_notifications),
                  "quarantined": len(data.quarantined)}
        headings = {"unassigned": "Work orders without a technician",
                    "dead": "Notifications that could not be delivered", "quarantined": "Quarantined files"}
        for key, (card, label, _rows) in self.sections.items():
            card.setVisible(counts[key] > 0)
            label.setText(f"{headings[key]} ({counts[key]})")
        self.all_clear.setVisible(data.total == 0)
        if data.total != self._count:
            self._count = data.total
            self.count_changed.emit(data.total)
        self.loaded.emit()

    def _add(self, key: str, item: AttentionItem) -> None:
        self.items[key].append(item)
        self.sections[key][2].addWidget(item)

    def _retry(self, notification_id: int) -> None:
        def done(_view) -> None:
            self.refresh()

        self.ctx.runner.submit(retry, self.ctx.uow_factory, self.ctx.actor, notification_id, owner=self,
                               on_done=done, on_error=self._on_failed)
        for item in self.items["dead"]:
            b = item.findChild(QPushButton, f"retry-{notification_id}")
            if b is not None:
                b.setEnabled(False)
                b.setText("Retrying…")

    def item_texts(self, key: str) -> list[str]:
        return [f"{i.headline.text()} {i.detail.text()}" for i in self.items[key]]


