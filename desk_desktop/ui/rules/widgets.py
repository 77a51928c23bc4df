"""Small widgets the rule editor is built from: chips in a flowing layout, a tag editor
with completion, and a toggle-switch delegate for the rule list."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from PySide6.QtCore import QEvent, QModelIndex, QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QKeyEvent, QMouseEvent, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCompleter,
    QLayout,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QWidget,
    QWidgetItem,
)

ACCENT = "#2d6cdf"


def humanize(value: str) -> str:
    """``skill_match`` -> ``Skill match``; ``hvac`` -> ``HVAC`` (short all-letter codes stay upper)."""
    special = {"hvac": "HVAC", "it_hardware": "IT hardware", "round_robin": "Round robin"}
    if value in special:
        return special[value]
    return value.replace("_", " ").capitalize()


class FlowLayout(QLayout):
    """Lays children out left to right and wraps (the Qt "flow layout" example)."""

    def __init__(self, parent: QWidget | None = None, h_spacing: int = 6, v_spacing: int = 6) -> None:
        super().__init__(parent)
        self._items: list = []
        self._h = h_spacing
        self._v = v_spacing
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item) -> None:  # noqa: N802 - Qt API
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int):  # noqa: N802
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int):  # noqa: N802
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self):  # noqa: N802
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return self._do_layout(QRect(0, 0, width, 0), test_only=True)

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802
        super().setGeometry(rect)
        self._do_layout(rect, test_only=False)

    def sizeHint(self) -> QSize:  # noqa: N802
        return self.minimumSize()

    def minimumSize(self) -> QSize:  # noqa: N802
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        m = self.contentsMargins()
        return size + QSize(m.left() + m.right(), m.top() + m.bottom())

    def _do_layout(self, rect: QRect, *, test_only: bool) -> int:
        m = self.contentsMargins()
        area = rect.adjusted(m.left(), m.top(), -m.right(), -m.bottom())
        x, y, line_height = area.x(), area.y(), 0
        for item in self._items:
            if isinstance(item, QWidgetItem) and item.widget() is not None and item.widget().isHidden():
                continue
            hint = item.sizeHint()
            next_x = x + hint.width() + self._h
            if next_x - self._h > area.right() + 1 and line_height > 0:
                x = area.x()
                y = y + line_height + self._v
                next_x = x + hint.width() + self._h
                line_height = 0
            if not test_only:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x = next_x
            line_height = max(line_height, hint.height())
        return y + line_height - rect.y() + m.bottom()


class ChipGroup(QWidget):
    """A multi-select list shown as toggle chips. ``values()`` are in the given order."""

    changed = Signal()

    def __init__(self, options: Sequence[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = FlowLayout(self)
        self._buttons: dict[str, QPushButton] = {}
        self.set_options(options)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)

    def set_options(self, options: Sequence[tuple[str, str]]) -> None:
        """Offer these (value, label) chips; chosen values that are still offered stay chosen."""
        chosen = set(self.values())
        for btn in self._buttons.values():
            self._layout.removeWidget(btn)
            btn.deleteLater()
        self._buttons = {}
        for value, label in options:
            btn = QPushButton(label, self)
            btn.setProperty("chip", True)
            btn.setCheckable(True)
            btn.setChecked(value in chosen)
            btn.setCursor(Qt.CursorShape.PointingHandCursor)
            btn.setObjectName(f"chip_{value}")
            btn.toggled.connect(self._on_chip_toggled)
            self._layout.addWidget(btn)
            self._buttons[value] = btn
        self.updateGeometry()

    def _on_chip_toggled(self, _checked: bool) -> None:
        self.changed.emit()

    def button(self, value: str) -> QPushButton:
        return self._buttons[value]

    def values(self) -> tuple[str, ...]:
        return tuple(v for v, b in self._buttons.items() if b.isChecked())

    def set_values(self, values: Iterable[str]) -> None:
        wanted = set(values)
        for v, b in self._buttons.items():
            b.blockSignals(True)
            b.setChecked(v in wanted)
            b.blockSignals(False)
        self.changed.emit()

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return self._layout.heightForWidth(width)


class TagEditor(QWidget):
    """Free tags: type (with completion from tags in use) and press Enter; click a tag to remove it."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tags: list[str] = []
        # The input and the tags share one flowing line (tags wrap under it when many).
        self._chips = FlowLayout(self)
        self.edit = QLineEdit(self)
        self.edit.setObjectName("tagInput")
        self.edit.setPlaceholderText("Add a tag, press Enter")
        self.edit.setFixedWidth(190)
        self.completer = QCompleter([], self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.edit.setCompleter(self.completer)
        self.edit.returnPressed.connect(self._on_edit_return_pressed)
        self.completer.activated.connect(self._on_completer_activated)
        self._chips.addWidget(self.edit)

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return self._chips.heightForWidth(width)

    def set_known_tags(self, tags: Iterable[str]) -> None:
        self.completer.model().setStringList(sorted(set(tags)))  # type: ignore[attr-defined]

    def known_tags(self) -> list[str]:
        return list(self.completer.model().stringList())  # type: ignore[attr-defined]

    def values(self) -> tuple[str, ...]:
        return tuple(self._tags)

    def set_values(self, tags: Iterable[str]) -> None:
        self._tags = []
        for t in tags:
            if t not in self._tags:
                self._tags.append(t)
        self._rebuild()
        self.changed.emit()

    def add_tag(self, text: str) -> None:
        tag = text.strip().lower()
        self.edit.clear()
        if not tag or tag in self._tags:
            return
        self._tags.append(tag)
        self._rebuild()
        self.changed.emit()

    def remove_tag(self, tag: str) -> None:
        if tag in self._tags:
            self._tags.remove(tag)
            self._rebuild()
            self.changed.emit()

    def _rebuild(self) -> None:
        while self._chips.count() > 1:  # item 0 is the input
            item = self._chips.takeAt(1)
            w = item.widget()
            if w is not None:
                w.hide()
                w.deleteLater()
        for tag in self._tags:
            btn = QToolButton(self)
            btn.setProperty("tagchip", True)
            btn.setText(f"{tag}  ✕")
            btn.setToolTip(f"Remove the tag “{tag}”")
            btn.setObjectName(f"tag_{tag}")
            btn.setCursor(Qt.CursorShape.PointingHandCursor)
            btn.clicked.connect(lambda _=False, t=tag: self.remove_tag(t))
            self._chips.addWidget(btn)
            btn.show()
        self.updateGeometry()

    def _on_edit_return_pressed(self) -> None:
        if self.completer.popup().isVisible():
            return
        self.add_tag(self.edit.text())

    def _on_completer_activated(self, text: str) -> None:
        self.add_tag(text)


class SwitchDelegate(QStyledItemDelegate):
    """Paints a boolean (CheckStateRole) as a toggle switch; click or Space toggles it."""

    W, H = 34, 18

    def _switch_rect(self, option: QStyleOptionViewItem) -> QRect:
        r = option.rect
        return QRect(r.x() + (r.width() - self.W) // 2, r.y() + (r.height() - self.H) // 2, self.W, self.H)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        opt.features &= ~QStyleOptionViewItem.ViewItemFeature.HasCheckIndicator
        style = opt.widget.style() if opt.widget else None
        if style is not None:
            style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, opt, painter, opt.widget)
        on = index.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
        enabled = bool(index.flags() & Qt.ItemFlag.ItemIsUserCheckable) and bool(
            index.flags() & Qt.ItemFlag.ItemIsEnabled
        )
        rect = QRectF(self._switch_rect(option))
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        track = QColor("#16a34a" if on else "#cbd5e1")
        if not enabled:
            track = QColor("#86efac" if on else "#e2e8f0")
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(track)
        painter.drawRoundedRect(rect, rect.height() / 2, rect.height() / 2)
        d = rect.height() - 4
        x = rect.right() - d - 2 if on else rect.left() + 2
        painter.setBrush(QColor("#ffffff"))
        painter.drawEllipse(QRectF(x, rect.top() + 2, d, d))
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        return QSize(self.W + 16, self.H + 12)

    def editorEvent(self, event: QEvent, model, option: QStyleOptionViewItem, index: QModelIndex) -> bool:  # noqa: N802
        flags = index.flags()
        if not (flags & Qt.ItemFlag.ItemIsUserCheckable) or not (flags & Qt.ItemFlag.ItemIsEnabled):
            return False
        if event.type() == QEvent.Type.MouseButtonRelease:
            me: QMouseEvent = event  # type: ignore[assignment]
            if me.button() != Qt.MouseButton.LeftButton or not option.rect.contains(me.position().toPoint()):
                return False
        elif event.type() in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick):
            return option.rect.contains(event.position().toPoint())  # type: ignore[attr-defined]
        elif event.type() == QEvent.Type.KeyPress:
            ke: QKeyEvent = event  # type: ignore[assignment]
            if ke.key() not in (Qt.Key.Key_Space, Qt.Key.Key_Select):
                return False
        else:
            return False
        on = index.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
        new = Qt.CheckState.Unchecked if on else Qt.CheckState.Checked
        return model.setData(index, new, Qt.ItemDataRole.CheckStateRole)


def configure_table(view: QAbstractItemView) -> None:
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)


class TwoLineDelegate(QStyledItemDelegate):
    """A title (the cell's text, bold when the model says so) over a muted second line taken
    from another column of the same row — keeps the rule list narrow and readable."""

    def __init__(self, subtitle_column: int, parent=None, *, subtitle_lines: int = 2) -> None:
        super().__init__(parent)
        self.subtitle_column = subtitle_column
        self.subtitle_lines = subtitle_lines

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        title = opt.text
        opt.text = ""
        opt.state &= ~QStyle.StateFlag.State_HasFocus
        style = opt.widget.style() if opt.widget else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        sub = index.siblingAtColumn(self.subtitle_column).data() or ""
        fg = index.data(Qt.ItemDataRole.ForegroundRole)
        inactive = fg is not None and fg.color().name() == "#94a3b8"
        r = option.rect.adjusted(8, 6, -8, -6)
        painter.save()
        title_font = QFont(opt.font)  # copies: never keep a reference into a temporary option
        painter.setFont(title_font)
        fm = painter.fontMetrics()
        painter.setPen(QColor("#94a3b8") if inactive else QColor("#1d2733"))
        painter.drawText(QRect(r.x(), r.y(), r.width(), fm.height()),
                         int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                         fm.elidedText(title, Qt.TextElideMode.ElideRight, r.width()))
        sub_font = QFont(option.font)
        sub_font.setBold(False)
        if sub_font.pixelSize() > 0:  # the app style sheet sets sizes in pixels
            sub_font.setPixelSize(max(10, sub_font.pixelSize() - 1))
        elif sub_font.pointSizeF() > 0:
            sub_font.setPointSizeF(max(7.5, sub_font.pointSizeF() - 0.5))
        painter.setFont(sub_font)
        sfm = painter.fontMetrics()
        painter.setPen(QColor("#a3adb9") if inactive else QColor("#5b6b7d"))
        y = r.y() + fm.height() + 2
        lines = _wrap(sub, sfm, r.width(), self.subtitle_lines)
        for line in lines:
            painter.drawText(QRect(r.x(), y, r.width(), sfm.height()),
                             int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), line)
            y += sfm.height()
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        fm = option.fontMetrics
        return QSize(160, 12 + fm.height() * (1 + self.subtitle_lines) + 2)


def _wrap(text: str, fm, width: int, max_lines: int) -> list[str]:
    """Word-wrap ``text`` into at most ``max_lines`` lines; the last one is elided."""
    words = text.split()
    lines: list[str] = []
    current = ""
    i = 0
    while i < len(words):
        candidate = f"{current} {words[i]}".strip()
        if fm.horizontalAdvance(candidate) <= width or not current:
            current = candidate
            i += 1
            continue
        lines.append(current)
        current = ""
        if len(lines) == max_lines - 1:
            break
    rest = " ".join(([current] if current else []) + words[i:]).strip()
    if rest:
        lines.append(fm.elidedText(rest, Qt.TextElideMode.ElideRight, width))
    return lines[:max_lines]
