"""Colours, labels and small painted icons shared by the tickets view (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPainterPath, QPixmap

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

ACCENT = "#2d6cdf"

# Complements resources/styles/app.qss (the application theme) with what only this view has.
PAGE_STYLESHEET = f"""
QFrame#Card {{ background: #ffffff; border: 1px solid #d3dbe6; border-radius: 8px; }}
QLabel#CardTitle {{ font-weight: 600; color: #1d2733; font-size: 14px; }}
QLabel#Muted {{ color: #5b6b7d; }}
QLabel#FieldLabel {{ color: #3b4a5c; }}
QLabel#FieldError {{ color: #b42318; }}
QLabel#ErrorBanner {{ color: #8c1d18; background: #fdecea; border: 1px solid #f4c7c3;
    border-radius: 6px; padding: 6px 10px; }}
QLabel#InfoBanner {{ color: #0b4a8b; background: #e8f0fb; border: 1px solid #c5d8f2;
    border-radius: 6px; padding: 6px 10px; }}
QLabel#SuccessBanner {{ color: #1b5e20; background: #e8f5e9; border: 1px solid #c8e6c9;
    border-radius: 6px; padding: 8px 12px; }}
QLabel#TicketNumber {{ color: #5b6b7d; font-weight: 600; }}
QLabel#TicketTitle {{ font-size: 18px; font-weight: 600; color: #1d2733; }}
QLabel#Explanation {{ color: #1d2733; background: #f4f7fb; border-left: 3px solid {ACCENT};
    padding: 6px 10px; }}
QLineEdit[invalid="true"], QPlainTextEdit[invalid="true"], QComboBox[invalid="true"] {{
    border: 1px solid #b42318; background: #fff8f7; }}
QFrame#DropZone {{ background: #fbfcfe; border: 2px dashed #b8c4d4; border-radius: 8px; }}
QFrame#DropZone[active="true"] {{ background: #eaf2fc; border: 2px dashed {ACCENT}; }}
QFrame#FileRow {{ background: #ffffff; border: 1px solid #e1e6ed; border-radius: 6px; }}
QFrame#FileRow[failed="true"] {{ background: #fff8f7; border: 1px solid #f4c7c3; }}
QProgressBar {{ border: 1px solid #c3cdd9; border-radius: 4px; background: #eef1f4; max-height: 10px;
    text-align: center; font-size: 1px; color: transparent; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 3px; }}
QFrame#TimelineItem {{ border-left: 2px solid #c3cdd9; padding-left: 10px; }}
QTabWidget#ListTabs::pane {{ border: none; background: transparent; }}
QToolButton#FilterButton {{ background: #ffffff; border: 1px solid #b8c4d3; border-radius: 4px;
    padding: 5px 22px 5px 10px; }}
QToolButton#FilterButton:hover {{ background: #eef3fa; }}
QToolButton#FilterButton[active="true"] {{ border: 1px solid #2d6cdf; background: #eef4fd; color: #1d4fa8;
    font-weight: 600; }}
QToolButton#FilterButton::menu-indicator {{ subcontrol-origin: padding; subcontrol-position: right center;
    right: 6px; }}
"""


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


def chip_style(fg: str, bg: str) -> str:
    return (f"color: {fg}; background: {bg}; border-radius: 9px; padding: 2px 9px; "
            f"font-weight: 600;")
