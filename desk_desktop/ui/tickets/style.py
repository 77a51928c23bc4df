"""Colours, labels and small painted icons shared by the tickets view (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPainterPath, QPixmap
from PySide6.QtWidgets import QLabel

PRIORITY_COLORS = {
    "urgent": "#C62828",
    "high": "#E65100",
    "medium": "#1565C0",
    "low": "#607D8B",
}
PRIORITY_BACKGROUNDS = {
    "urgent": "#FDECEA",
    "high": "#FFF3E0",
    "medium": "#E8F0FB",
    "low": "#F0F3F5",
}
STATUS_COLORS = {
    "new": ("#0B5CAD", "#E3EEFA"),
    "open": ("#1B6E3A", "#E4F4EA"),
    "pending": ("#8A5A00", "#FFF4DC"),
    "resolved": ("#4A5A66", "#ECEFF1"),
    "closed": ("#5F6368", "#F1F3F4"),
}
SCAN_BADGES = {
    # status: (label, foreground, background, tooltip)
    "pending": ("Scanning…", "#8A5A00", "#FFF4DC", "Waiting for the virus scanner"),
    "clean": ("Clean", "#1B6E3A", "#E4F4EA", "Scanned by ClamAV: no threat found"),
    "infected": ("Infected", "#B71C1C", "#FDECEA", "Quarantined: cannot be opened"),
    "not_scanned": ("Not scanned", "#5F6368", "#F1F3F4", "The scanner could not check this file"),
}
CATEGORY_GLYPHS = {
    "image": ("IMG", "#6A1B9A"),
    "document": ("DOC", "#1565C0"),
    "video": ("VID", "#AD1457"),
    "audio": ("AUD", "#00838F"),
    "archive": ("ZIP", "#6D4C41"),
    "other": ("FILE", "#546E7A"),
}


ACRONYMS = {"hvac": "HVAC", "it_hardware": "IT hardware"}


def title(value: str | None) -> str:
    if not value:
        return ""
    value = str(value)
    if value in ACRONYMS:
        return ACRONYMS[value]
    return value.replace("_", " ").capitalize()


def dot_icon(color: str, size: int = 10) -> QIcon:
    pix = QPixmap(size, size)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(QColor(color))
    p.setPen(Qt.PenStyle.NoPen)
    p.drawEllipse(1, 1, size - 2, size - 2)
    p.end()
    return QIcon(pix)


def category_pixmap(category: str, size: int = 40) -> QPixmap:
    text, color = CATEGORY_GLYPHS.get(category or "other", CATEGORY_GLYPHS["other"])
    pix = QPixmap(size, size)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    path = QPainterPath()
    path.addRoundedRect(QRectF(1, 1, size - 2, size - 2), 6, 6)
    p.fillPath(path, QColor(color))
    font = QFont()
    font.setBold(True)
    font.setPixelSize(max(8, size // 4))
    p.setFont(font)
    p.setPen(QColor("white"))
    p.drawText(pix.rect(), Qt.AlignmentFlag.AlignCenter, text)
    p.end()
    return pix


def human_size(n: int | None) -> str:
    if n is None:
        return ""
    value = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            if unit == "bytes":
                return f"{int(value)} bytes"
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
        value /= 1024
    return f"{n} bytes"


def format_when(value: datetime | None, *, with_year: bool = False) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone()
    now = datetime.now(local.tzinfo)
    if with_year or local.year != now.year:
        return local.strftime("%d %b %Y %H:%M")
    return local.strftime("%d %b %H:%M")


def muted_label(text: str = "") -> QLabel:
    """A secondary text (``QLabel#Muted`` in app.qss)."""
    label = QLabel(text)
    label.setObjectName("Muted")
    return label


def value_label() -> QLabel:
    """A value a dispatcher may select and copy, wrapped."""
    label = QLabel("")
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def field_error_label() -> QLabel:
    """The (hidden until needed) message under a form field."""
    label = QLabel("", objectName="FieldError")
    label.setWordWrap(True)
    label.setVisible(False)
    return label


def chip_style(fg: str, bg: str) -> str:
    """The one style sheet computed at run time: a status, priority or scan chip takes its
    colours from the tables above, which the ticket list also paints its icons with; a copy
    of every pair in app.qss would be the same fact written twice."""
    return (f"color: {fg}; background: {bg}; border-radius: 9px; padding: 2px 9px; "
            f"font-weight: 600;")
