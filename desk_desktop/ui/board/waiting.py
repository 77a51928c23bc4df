"""The orders waiting for a slot, beside the board: one card per order, most urgent first,
dragged onto a technician's row to give it to them at that time."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QModelIndex, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QMenu, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from desk_desktop.domain.absences import period_text
from desk_desktop.ui.board.canvas import ORDER_MIME
from desk_desktop.ui.tickets.style import PRIORITY_BACKGROUNDS, PRIORITY_COLORS

CARD_H = 76
ROLE_ORDER = Qt.ItemDataRole.UserRole + 1


class WaitingList(QListWidget):
    """``ticket_requested(ticket_id)`` on a double-click or Enter; a card drags its order;
    ``window_requested(order)`` from its context menu (the customer's booked window)."""

    ticket_requested = Signal(int)
    window_requested = Signal(object)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("WaitingList")
        self.setItemDelegate(_CardDelegate(self))
        self.setUniformItemSizes(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setDragEnabled(True)
        self.setDragDropMode(QListWidget.DragDropMode.DragOnly)
        self.itemActivated.connect(lambda item: self.ticket_requested.emit(item.data(ROLE_ORDER).ticket_id))
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)

    def _menu(self, pos) -> None:
        item = self.itemAt(pos)
        if item is None:
            return
        menu = QMenu(self)
        order = item.data(ROLE_ORDER)
        menu.addAction("Open ticket", lambda: self.ticket_requested.emit(order.ticket_id))
        menu.addAction("Booked window…", lambda: self.window_requested.emit(order))
        menu.exec(self.viewport().mapToGlobal(pos))

    def mimeData(self, items) -> QMimeData:  # noqa: N802 — Qt's name
        data = QMimeData()
        if items:
            data.setData(ORDER_MIME, str(items[0].data(ROLE_ORDER).work_order_id).encode())
            data.setText(items[0].data(ROLE_ORDER).number)
        return data

    def mimeTypes(self) -> list[str]:  # noqa: N802 — Qt's name
        return [ORDER_MIME]

    def set_orders(self, orders, technician_names: dict[int, str], tz_name: str) -> None:
        self.clear()
        for w in orders:
            item = QListWidgetItem()
            item.setData(ROLE_ORDER, w)
            who = (f"Assigned to {technician_names.get(w.technician_id, 'a technician')}, no time yet"
                   if w.technician_id else "No technician yet")
            if w.window is not None:
                who += " · booked " + period_text(*w.window, tz_name)
            item.setData(Qt.ItemDataRole.UserRole, who)
            item.setToolTip(f"{w.number} · ticket {w.ticket_number}\n{w.customer}: {w.subject}\n{who}"
                            + (f"\nNeeds: {', '.join(w.required_skills)}" if w.required_skills else ""))
            self.addItem(item)


class _CardDelegate(QStyledItemDelegate):
    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802 — Qt's name
        return QSize(option.rect.width(), CARD_H)

    def paint(self, p: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        w = index.data(ROLE_ORDER)
        who = index.data(Qt.ItemDataRole.UserRole)
        r = QRect(option.rect).adjusted(4, 3, -4, -3)
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        colour = QColor(PRIORITY_COLORS.get(w.priority, "#607D8B"))
        p.setPen(QPen(QColor("#0B63CE"), 2) if selected else QPen(QColor("#D5DBE0")))
        p.setBrush(QColor("#FFFFFF"))
        p.drawRoundedRect(QRectF(r), 5, 5)
        p.fillRect(QRect(r.left() + 1, r.top() + 1, 4, r.height() - 2), colour)
        inner = r.adjusted(12, 5, -8, -5)
        base = QFont(option.font)
        bold = QFont(base)
        bold.setBold(True)
        small = QFont(base)
        small.setPointSizeF(max(7.0, base.pointSizeF() - 1.0))
        chip_text = w.priority.capitalize()
        fm_small = QFontMetrics(small)
        chip_w = fm_small.horizontalAdvance(chip_text) + 12
        chip = QRectF(inner.right() - chip_w, inner.top(), chip_w, fm_small.height() + 2)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(PRIORITY_BACKGROUNDS.get(w.priority, "#F0F3F5")))
        p.drawRoundedRect(chip, 3, 3)
        p.setPen(colour)
        p.setFont(small)
        p.drawText(chip, Qt.AlignmentFlag.AlignCenter, chip_text)
        line_h = (inner.height()) // 3
        p.setFont(bold)
        p.setPen(QColor("#1F2933"))
        first = QRect(inner.left(), inner.top(), int(chip.left()) - inner.left() - 6, line_h)
        p.drawText(first, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   QFontMetrics(bold).elidedText(f"{w.number} · {w.duration_minutes} min", Qt.TextElideMode.ElideRight,
                                                 first.width()))
        p.setFont(base)
        second = QRect(inner.left(), inner.top() + line_h, inner.width(), line_h)
        p.drawText(second, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   QFontMetrics(base).elidedText(f"{w.customer}: {w.subject}", Qt.TextElideMode.ElideRight,
                                                 second.width()))
        p.setFont(small)
        p.setPen(QColor("#5F6B76"))
        third = QRect(inner.left(), inner.top() + 2 * line_h, inner.width(), line_h)
        needs = f" · needs {', '.join(w.required_skills)}" if w.required_skills else ""
        p.drawText(third, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   fm_small.elidedText(who + needs, Qt.TextElideMode.ElideRight, third.width()))
        p.restore()
