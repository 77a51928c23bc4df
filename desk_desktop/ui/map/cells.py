"""How the map's side panel writes its cells: two-line rows, distances and waiting times."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import QModelIndex, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from desk_desktop.domain.catalogs import SKILLS, WORK_ORDER_TYPES

DetailRole = Qt.ItemDataRole.UserRole + 2  # the muted second line of a two-line cell
MUTED = "#5b6b7d"
TEXT = "#1d2733"


def format_distance(metres: float | None) -> str:
    if metres is None:
        return "—"
    if metres < 1000:
        return f"{metres:.0f} m"
    return f"{metres / 1000:.1f} km"


def format_waiting(created_at: datetime | None, now: datetime | None = None) -> str:
    if created_at is None:
        return ""
    now = now or datetime.now(UTC)
    minutes = max(0, int((now - created_at).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} d"


def skill_name(catalogs, key: str) -> str:
    """A skill's display name (``catalogs``: services.catalogs.Catalogs, None before it is read)."""
    return catalogs.name(SKILLS, key) if catalogs is not None else key.replace("_", " ")


def type_name(catalogs, key: str) -> str:
    """A work-order type's display name."""
    return catalogs.name(WORK_ORDER_TYPES, key) if catalogs is not None else key.replace("_", " ").capitalize()


def skills_text(skills: dict[str, int], catalogs=None) -> str:
    return ", ".join(f"{skill_name(catalogs, k)} {v}" for k, v in sorted(skills.items())) or "—"


class TwoLineDelegate(QStyledItemDelegate):
    """A bold first line (DisplayRole) over a muted second line (``DetailRole``).

    The painter draws the text itself, so its colours are set here rather than in app.qss."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        first, second = opt.text, index.data(DetailRole) or ""
        opt.text = ""
        style = opt.widget.style() if opt.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        rect = opt.rect.adjusted(6, 4, -6, -4)
        painter.save()
        bold = QFont(opt.font)
        bold.setWeight(QFont.Weight.DemiBold)
        fg = index.data(Qt.ItemDataRole.ForegroundRole)
        painter.setFont(bold)
        painter.setPen(fg.color() if hasattr(fg, "color") else (fg if isinstance(fg, QColor) else QColor(TEXT)))
        line_h = QFontMetrics(bold).height()
        top = rect.adjusted(0, 0, 0, -(rect.height() - line_h))
        painter.drawText(top, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                         QFontMetrics(bold).elidedText(first, Qt.TextElideMode.ElideRight, rect.width()))
        small = QFont(opt.font)
        if opt.font.pointSizeF() > 0:
            small.setPointSizeF(max(7.0, opt.font.pointSizeF() - 1))
        painter.setFont(small)
        painter.setPen(QColor(MUTED))
        bottom = rect.adjusted(0, line_h + 1, 0, 0)
        painter.drawText(bottom, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop),
                         QFontMetrics(small).elidedText(second, Qt.TextElideMode.ElideRight, rect.width()))
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        fm = QFontMetrics(option.font)
        return QSize(160, fm.height() * 2 + 12)
