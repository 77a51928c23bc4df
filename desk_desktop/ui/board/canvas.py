"""The schedule board's time grid: one row per technician, time across, visits as bars — painted
row by row (only the rows in view), with the keyboard and the mouse to select and open."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from time import perf_counter as time_counter

from PySide6.QtCore import QPoint, QRect, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QKeyEvent, QPainter, QPen
from PySide6.QtWidgets import QAbstractScrollArea, QApplication, QToolTip, QWidget

from desk_desktop.domain.absences import period_text
from desk_desktop.domain.board import DropCheck, check_drop
from desk_desktop.services.board import BoardDay, BoardVisit, WaitingOrder
from desk_desktop.ui.tickets.style import PRIORITY_BACKGROUNDS, PRIORITY_COLORS

NAME_W = 220
HEADER_H = 46
ROW_H = 46
ZOOMS = (12, 24, 40, 60, 90, 120, 180)  # pixels per hour
STATUS_TAGS = {"travelling": "Travelling", "on_site": "On site", "on_hold": "On hold", "completed": "Done"}
OFF_HOURS = QColor("#ECEFF1")
GRID = QColor("#DDE2E6")
DAY_LINE = QColor("#90A4AE")
NOW = QColor("#D32F2F")
SELECTED = QColor("#0B63CE")
TRAVEL = QColor("#78909C")
TEXT = QColor("#1F2933")
MUTED = QColor("#5F6B76")
AWAY_FILL = QColor("#E3E7EB")
AWAY_HATCH = QBrush(QColor("#B0BAC3"), Qt.BrushStyle.BDiagPattern)
AWAY_TEXT = QColor("#455A64")
TRAVEL_PEN = QPen(TRAVEL, 2)
TRAVEL_DOTS = QPen(TRAVEL, 2, Qt.PenStyle.DotLine)
TIGHT_PEN = QPen(QColor("#EF6C00"), 2)  # a drive that does not fit between two visits
TIGHT_DOTS = QPen(QColor("#EF6C00"), 2, Qt.PenStyle.DotLine)
SELECTED_PEN = QPen(SELECTED, 2.5)
PROPOSED_PEN = QPen(QColor("#6A1B9A"), 2.5, Qt.PenStyle.DashLine)  # a visit the proposed plan moves or plans
PIN_CHIP = QBrush(QColor("#6A1B9A"))
DONE_FILL = QBrush(QColor("#F4F6F7"))
STATUS_CHIP = QBrush(QColor("#37474F"))
HOLD_CHIP = QBrush(QColor("#8A5A00"))
# Per priority: the colour (stripe), the fill and the edge of a bar.
PRIORITY_PAINT = {
    key: (QColor(colour), QBrush(QColor(PRIORITY_BACKGROUNDS[key])), QPen(QColor(colour).lighter(130), 1))
    for key, colour in PRIORITY_COLORS.items()
}
LEFT_MIDDLE = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
CENTRED = Qt.AlignmentFlag.AlignCenter
ELIDE = Qt.TextElideMode.ElideRight
SNAP_MINUTES = 15
ORDER_MIME = "application/x-desk-work-order"
GHOST = {  # fill, border: fine, asks, refused
    "ok": (QColor(46, 125, 50, 60), QColor("#2E7D32")),
    "soft": (QColor(239, 108, 0, 60), QColor("#EF6C00")),
    "hard": (QColor(198, 40, 40, 60), QColor("#C62828")),
}


@dataclass(frozen=True)
class _Fonts:
    """The board's fonts and their metrics, made once (and again when the widget's font changes)."""

    base: QFont
    bold: QFont
    small: QFont
    base_fm: QFontMetrics
    bold_fm: QFontMetrics
    small_fm: QFontMetrics

    @classmethod
    def of(cls, font: QFont) -> _Fonts:
        base, bold, small = QFont(font), QFont(font), QFont(font)
        bold.setBold(True)
        small.setPointSizeF(max(7.0, font.pointSizeF() - 1.5))
        return cls(base, bold, small, QFontMetrics(base), QFontMetrics(bold), QFontMetrics(small))


@dataclass(frozen=True)
class Drop:
    """Where a dragged order would go, and what that would break."""

    order: BoardVisit | WaitingOrder
    technician_id: int
    technician: str
    start: datetime
    end: datetime
    check: DropCheck

    @property
    def work_order_id(self) -> int:
        return self.order.work_order_id

    @property
    def same_technician(self) -> bool:
        return self.order.technician_id == self.technician_id


class BoardCanvas(QAbstractScrollArea):
    """Paints a ``BoardDay``; ``visit_opened`` on Enter or double-click, ``unassign_requested``
    on Del, ``selection_changed`` whenever the selected visit changes (None: nothing)."""

    visit_opened = Signal(object)
    unassign_requested = Signal(object)
    selection_changed = Signal(object)
    zoom_changed = Signal(int)
    drop_requested = Signal(object)  # a Drop the dispatcher released (its check may still ask or refuse)
    frame_painted = Signal(float)  # a frame of a board was painted, in so many milliseconds

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("BoardCanvas")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.viewport().setMouseTracking(True)
        self.board: BoardDay | None = None
        self.zoom = 4  # index into ZOOMS
        # The hours of each day on the axis: the whole day in the day view; the week view
        # leaves the night out (a visit reaching into it is drawn up to the edge).
        self.day_from, self.day_to = 0, 24
        self.selected: BoardVisit | None = None
        self._rows: dict[int, list[BoardVisit]] = {}
        self._row_of: dict[int, int] = {}  # technician id -> row
        self._labels: dict[int, tuple[str, str]] = {}  # work order id -> the bar's two lines
        self.fonts = _Fonts.of(self.font())
        self._now_timer = QTimer(self)
        self._now_timer.setInterval(60_000)
        self._now_timer.timeout.connect(self.viewport().update)
        self._now_timer.start()
        self.now = lambda: datetime.now().astimezone()
        # A proposed plan on show (Optimize day): these orders are where it would put them;
        # nothing can be dragged until it is applied or discarded.
        self.proposed: frozenset[int] = frozenset()
        self.read_only = False
        self.drag: Drop | None = None  # the drop under the mouse while dragging
        self._press: tuple[QPoint, BoardVisit, float] | None = None  # where a bar was grabbed (x offset)
        self._dragging = False
        self.viewport().setAcceptDrops(True)

    # ---------------------------------------------------------------- data
    def set_board(self, board: BoardDay, *, keep_view: bool = True) -> None:
        """Show ``board``; with ``keep_view`` the scroll position and the selection (by work
        order) stay, so a live change does not move what the dispatcher is looking at."""
        first = self.board is None or not keep_view
        selected_id = self.selected.work_order_id if self.selected else None
        self.board = board
        rows = board.rows()
        self._rows = {t.id: rows.get(t.id, []) for t in board.technicians}
        self._row_of = {t.id: i for i, t in enumerate(board.technicians)}
        self._labels = {}  # made again for the bars in view as they are painted
        self.selected = next((v for v in board.visits if v.work_order_id == selected_id), None)
        self._update_scrollbars()
        if first:
            self.scroll_to_working_day()
        if (self.selected.work_order_id if self.selected else None) != selected_id:
            self.selection_changed.emit(self.selected)
        self.viewport().update()

    @property
    def pixels_per_hour(self) -> int:
        return ZOOMS[self.zoom]

    def set_zoom(self, index: int) -> None:
        index = max(0, min(len(ZOOMS) - 1, index))
        if index == self.zoom:
            return
        centre = self._time_at(self.viewport().width() // 2 + self.horizontalScrollBar().value())
        self.zoom = index
        self._update_scrollbars()
        if centre is not None:
            self.horizontalScrollBar().setValue(int(self._x(centre)) - self.viewport().width() // 2)
        self.zoom_changed.emit(index)
        self.viewport().update()

    def scroll_to_working_day(self) -> None:
        """Show the start of the working day (the earliest window, else 07:00) at the left."""
        if self.board is None:
            return
        starts = [w[0] for t in self.board.technicians for w in t.windows if w[0].date() == self.board.first_day]
        at = min(starts) if starts else self.board.start + timedelta(hours=7)
        self.horizontalScrollBar().setValue(max(0, int(self._x(at - timedelta(minutes=30)))))
        self.verticalScrollBar().setValue(0)

    # ---------------------------------------------------------------- geometry
    def set_hours(self, day_from: int, day_to: int) -> None:
        self.day_from, self.day_to = day_from, day_to
        self._update_scrollbars()
        self.viewport().update()

    @property
    def _span(self) -> int:
        return self.day_to - self.day_from

    def _content_width(self) -> int:
        if self.board is None:
            return 0
        return self.board.days * self._span * self.pixels_per_hour

    def _update_scrollbars(self) -> None:
        rows = len(self.board.technicians) if self.board else 0
        view = self.viewport().size()
        self.horizontalScrollBar().setRange(0, max(0, self._content_width() - (view.width() - NAME_W)))
        self.horizontalScrollBar().setPageStep(max(1, view.width() - NAME_W))
        self.verticalScrollBar().setRange(0, max(0, rows * ROW_H - (view.height() - HEADER_H)))
        self.verticalScrollBar().setPageStep(max(1, view.height() - HEADER_H))
        self.verticalScrollBar().setSingleStep(ROW_H // 2)

    def changeEvent(self, event) -> None:  # noqa: N802 — Qt's name
        if event.type() == event.Type.FontChange:
            self.fonts = _Fonts.of(self.font())
        super().changeEvent(event)

    def resizeEvent(self, event) -> None:  # noqa: N802 — Qt's name
        super().resizeEvent(event)
        self._update_scrollbars()

    def _x(self, t: datetime) -> float:
        """Content x of time ``t`` (0 = the first day's first hour on the axis)."""
        local = t.astimezone(self.board.start.tzinfo)
        day = (local.date() - self.board.first_day).days
        hour = local.hour + local.minute / 60 + local.second / 3600
        if day < 0:
            return 0.0
        if day >= self.board.days:
            return float(self._content_width())
        return (day * self._span + min(max(hour, self.day_from), self.day_to) - self.day_from) * self.pixels_per_hour

    def _at(self, day: int, hour: int) -> datetime:
        """The board's ``day`` (0 = the first) at ``hour`` o'clock (24 = the next midnight)."""
        d: date = self.board.first_day + timedelta(days=day + hour // 24)
        return datetime.combine(d, time(hour % 24), self.board.start.tzinfo)

    def _vx(self, t: datetime) -> float:
        """Viewport x of time ``t``."""
        return NAME_W + self._x(t) - self.horizontalScrollBar().value()

    def _time_at(self, content_x: float) -> datetime | None:
        if self.board is None:
            return None
        hours = content_x / self.pixels_per_hour
        day, within = divmod(hours, self._span)
        return self._at(int(day), self.day_from) + timedelta(hours=within)

    def _row_top(self, row: int) -> int:
        return HEADER_H + row * ROW_H - self.verticalScrollBar().value()

    def bar_rect(self, visit: BoardVisit) -> QRectF:
        """Where ``visit`` is drawn, in viewport coordinates."""
        x1, x2 = self._vx(visit.start), self._vx(visit.end)
        return QRectF(x1, self._row_top(self._row_of[visit.technician_id]) + 7, max(4.0, x2 - x1), ROW_H - 14)

    def visit_at(self, pos: QPoint) -> BoardVisit | None:
        if self.board is None or pos.x() < NAME_W or pos.y() < HEADER_H:
            return None
        row = (pos.y() - HEADER_H + self.verticalScrollBar().value()) // ROW_H
        if not 0 <= row < len(self.board.technicians):
            return None
        for v in self._rows[self.board.technicians[row].id]:
            if self.bar_rect(v).contains(pos):
                return v
        return None

    # ---------------------------------------------------------------- painting
    def paintEvent(self, event) -> None:  # noqa: N802 — Qt's name
        started = time_counter()
        p = QPainter(self.viewport())
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = self.viewport().rect()
        p.fillRect(rect, Qt.GlobalColor.white)
        if self.board is None:
            p.setPen(MUTED)
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, "Loading the schedule…")
            return
        techs = self.board.technicians
        first = max(0, self.verticalScrollBar().value() // ROW_H)
        last = min(len(techs), first + rect.height() // ROW_H + 2)
        p.save()
        p.setClipRect(QRect(NAME_W, HEADER_H, rect.width() - NAME_W, rect.height() - HEADER_H))
        for row in range(first, last):
            self._paint_row(p, row, rect)
        self._paint_grid(p, HEADER_H, rect.height() - HEADER_H)
        for row in range(first, last):
            visits = self._rows[techs[row].id]
            bars = [self.bar_rect(v) for v in visits]
            for before, v, r in zip([None, *visits], visits, bars, strict=False):  # the drives first, under the bars
                self._paint_travel(p, v, r, before)
            for v, r in zip(visits, bars, strict=True):
                self._paint_visit(p, v, r)
        self._paint_now(p, rect)
        if self.drag is not None:
            self._paint_drop(p, self.drag)
        p.restore()
        self._paint_names(p, first, last, rect)
        self._paint_header(p, rect)
        if not techs:
            p.setPen(MUTED)
            p.drawText(QRect(NAME_W, HEADER_H, rect.width() - NAME_W, 80), Qt.AlignmentFlag.AlignCenter,
                       "No active technician matches the filters.")
        p.end()
        self.frame_painted.emit((time_counter() - started) * 1000)

    def _paint_row(self, p: QPainter, row: int, rect: QRect) -> None:
        tech = self.board.technicians[row]
        top = self._row_top(row)
        band = QRectF(NAME_W, top, rect.width() - NAME_W, ROW_H)
        if tech.hours_known:
            p.fillRect(band, OFF_HOURS)
            for a, b in tech.windows:
                p.fillRect(QRectF(self._vx(a), top, self._vx(b) - self._vx(a), ROW_H), Qt.GlobalColor.white)
        for a, b, reason in tech.absences:
            x1, x2 = max(self._vx(a), float(NAME_W)), self._vx(b)
            if x2 <= x1:
                continue
            away = QRectF(x1, top + 1, x2 - x1, ROW_H - 2)
            p.fillRect(away, AWAY_FILL)
            p.fillRect(away, AWAY_HATCH)
            p.setPen(AWAY_TEXT)
            p.setFont(self.fonts.small)
            p.drawText(away.adjusted(6, 0, -4, 0), LEFT_MIDDLE,
                       self.fonts.small_fm.elidedText(f"Away · {reason}", ELIDE, int(away.width()) - 10))
        p.setPen(QPen(GRID))
        p.drawLine(NAME_W, top + ROW_H - 1, rect.width(), top + ROW_H - 1)

    def _hour_lines(self):
        """(x in the viewport, the hour, whether a day starts there) of every labelled hour in view."""
        step = 1 if self.pixels_per_hour >= 40 else 3 if self.pixels_per_hour >= 20 else 6
        width = self.viewport().width()
        for day in range(self.board.days):
            for hour in range(self.day_from, self.day_to + 1):
                if hour % step and hour != self.day_from:
                    continue
                x = NAME_W + (day * self._span + hour - self.day_from) * self.pixels_per_hour \
                    - self.horizontalScrollBar().value()
                if NAME_W <= x <= width:
                    yield x, hour, hour == self.day_from

    def _paint_grid(self, p: QPainter, top: float, height: float) -> None:
        for x, _hour, day_starts in self._hour_lines():
            p.setPen(QPen(DAY_LINE if day_starts else GRID, 1))
            p.drawLine(int(x), int(top), int(x), int(top + height))

    def _paint_travel(self, p: QPainter, v: BoardVisit, r: QRectF, before: BoardVisit | None) -> None:
        """The drive before ``v`` (drawn at ``r``), as a dotted line ending at its bar; amber when
        it does not fit after the visit before (the drive would start before that visit ends)."""
        if not v.travel_minutes:
            return
        gap = r.left() - v.travel_minutes / 60 * self.pixels_per_hour
        if r.left() < NAME_W or gap > self.viewport().width():
            return
        tight = before is not None and v.start - timedelta(minutes=v.travel_minutes) < before.end
        y = r.center().y()
        p.setPen(TIGHT_DOTS if tight else TRAVEL_DOTS)
        p.drawLine(int(gap), int(y), int(r.left()) - 1, int(y))
        p.setPen(TIGHT_PEN if tight else TRAVEL_PEN)
        p.drawLine(int(gap), int(y) - 4, int(gap), int(y) + 4)

    def _paint_visit(self, p: QPainter, v: BoardVisit, r: QRectF) -> None:
        if r.right() < NAME_W or r.left() > self.viewport().width():
            return
        done = v.status == "completed"
        colour, fill, edge = PRIORITY_PAINT.get(v.priority, PRIORITY_PAINT["low"])
        p.setPen(SELECTED_PEN if v is self.selected else PROPOSED_PEN if v.work_order_id in self.proposed else edge)
        p.setBrush(DONE_FILL if done else fill)
        p.drawRoundedRect(r, 4, 4)
        p.fillRect(QRectF(r.left() + 1, r.top() + 1, 4, r.height() - 2), MUTED if done else colour)
        inner = r.adjusted(9, 2, -5, -2)
        tag = STATUS_TAGS.get(v.status) or ("Pinned" if v.pinned else None)
        f = self.fonts
        if tag and inner.width() > 120:
            w = f.small_fm.horizontalAdvance(tag) + 10
            chip = QRectF(inner.right() - w, inner.top() + 2, w, f.small_fm.height() + 2)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(HOLD_CHIP if v.status == "on_hold" else STATUS_CHIP if v.status in STATUS_TAGS else PIN_CHIP)
            p.drawRoundedRect(chip, 3, 3)
            p.setPen(Qt.GlobalColor.white)
            p.setFont(f.small)
            p.drawText(chip, CENTRED, tag)
            inner.setRight(chip.left() - 4)
        if inner.width() < 14:
            return
        title, line = self._labels.get(v.work_order_id) or self._label(v)
        half = inner.height() / 2
        p.setFont(f.base)
        p.setPen(MUTED if done else TEXT)
        p.drawText(QRectF(inner.left(), inner.top(), inner.width(), half), LEFT_MIDDLE,
                   f.base_fm.elidedText(title, ELIDE, int(inner.width())))
        p.setFont(f.small)
        p.setPen(MUTED)
        p.drawText(QRectF(inner.left(), inner.top() + half, inner.width(), half), LEFT_MIDDLE,
                   f.small_fm.elidedText(line, ELIDE, int(inner.width())))

    def _label(self, v: BoardVisit) -> tuple[str, str]:
        """What the bar of ``v`` says, on two lines (elided to its width when painted)."""
        tz = self.board.start.tzinfo
        label = (f"{v.number} · {v.customer}",
                 f"{v.start.astimezone(tz):%H:%M}–{v.end.astimezone(tz):%H:%M}  {v.subject}")
        self._labels[v.work_order_id] = label
        return label

    def _paint_now(self, p: QPainter, rect: QRect) -> None:
        now = self.now()
        if not self.board.start <= now < self.board.end:
            return
        x = self._vx(now)
        p.setPen(QPen(NOW, 2))
        p.drawLine(int(x), HEADER_H, int(x), rect.height())

    def _paint_names(self, p: QPainter, first: int, last: int, rect: QRect) -> None:
        p.fillRect(QRect(0, HEADER_H, NAME_W, rect.height() - HEADER_H), QColor("#FAFBFC"))
        f = self.fonts
        bold, small = f.bold, f.small
        selected_tech = self.selected.technician_id if self.selected else None
        for row in range(first, last):
            tech = self.board.technicians[row]
            top = self._row_top(row)
            if top + ROW_H < HEADER_H:
                continue
            p.save()
            p.setClipRect(QRect(0, HEADER_H, NAME_W, rect.height() - HEADER_H))
            if tech.id == selected_tech:
                p.fillRect(QRect(0, top, NAME_W, ROW_H), QColor("#E8F0FB"))
            p.setPen(TEXT)
            p.setFont(bold)
            p.drawText(QRect(12, top + 5, NAME_W - 20, ROW_H // 2 - 3), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                       f.bold_fm.elidedText(tech.name, Qt.TextElideMode.ElideRight, NAME_W - 24))
            p.setFont(small)
            p.setPen(MUTED)
            count = len(self._rows[tech.id])
            facts = f"{count} visit{'s' if count != 1 else ''}" + (f" · {', '.join(tech.skills)}" if tech.skills else "")
            if tech.absences:
                facts = "away · " + facts
            if not tech.hours_known:
                facts += " · hours not set"
            p.drawText(QRect(12, top + ROW_H // 2, NAME_W - 20, ROW_H // 2 - 4),
                       Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                       f.small_fm.elidedText(facts, Qt.TextElideMode.ElideRight, NAME_W - 24))
            p.setPen(QPen(GRID))
            p.drawLine(0, top + ROW_H - 1, NAME_W, top + ROW_H - 1)
            p.restore()
        p.setPen(QPen(DAY_LINE))
        p.drawLine(NAME_W - 1, 0, NAME_W - 1, rect.height())

    def _paint_header(self, p: QPainter, rect: QRect) -> None:
        p.fillRect(QRect(0, 0, rect.width(), HEADER_H), QColor("#F5F7F9"))
        p.setPen(QPen(DAY_LINE))
        p.drawLine(0, HEADER_H - 1, rect.width(), HEADER_H - 1)
        font, bold = self.fonts.base, self.fonts.bold
        p.save()
        p.setClipRect(QRect(NAME_W, 0, rect.width() - NAME_W, HEADER_H))
        day_w = self._span * self.pixels_per_hour
        for day in range(self.board.days):  # the day's name stays in view while any of the day is
            x0 = NAME_W + day * day_w - self.horizontalScrollBar().value()
            if x0 + day_w < NAME_W or x0 > rect.width():
                continue
            d = self.board.first_day + timedelta(days=day)
            label = f"{d:%A} {d.day} {d:%B %Y}" if day_w >= 260 else f"{d:%a} {d.day} {d:%b}"
            left = max(x0, NAME_W) + 6
            p.setPen(TEXT)
            p.setFont(bold)
            p.drawText(QRectF(left, 4, max(0.0, x0 + day_w - left - 6), 18),
                       Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                       self.fonts.bold_fm.elidedText(label, Qt.TextElideMode.ElideRight, int(x0 + day_w - left - 6)))
        for x, hour, day_starts in self._hour_lines():
            p.setPen(QPen(DAY_LINE if day_starts else GRID))
            p.drawLine(int(x), 0 if day_starts else 24, int(x), HEADER_H)
            if hour == self.day_to or (self.day_to - hour) * self.pixels_per_hour < 44:
                continue  # the next day's first hour is labelled there
            p.setPen(MUTED)
            p.setFont(font)
            p.drawText(QRect(int(x) + 4, 24, 60, HEADER_H - 26), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                       f"{hour % 24:02d}:00")
        now = self.now()
        if self.board.start <= now < self.board.end:
            x = int(self._vx(now))
            p.setPen(QPen(NOW, 2))
            p.drawLine(x, 22, x, HEADER_H)
        p.restore()
        p.setPen(TEXT)
        p.setFont(bold)
        count = len(self.board.technicians)
        p.drawText(QRect(12, 0, NAME_W - 16, HEADER_H), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   f"{count} technician{'s' if count != 1 else ''}")

    def _paint_drop(self, p: QPainter, d: Drop) -> None:
        row = self._row_of[d.technician_id]
        x1, x2 = self._vx(d.start), self._vx(d.end)
        r = QRectF(x1, self._row_top(row) + 5, max(6.0, x2 - x1), ROW_H - 10)
        kind = "hard" if d.check.hard else "soft" if d.check.soft else "ok"
        fill, border = GHOST[kind]
        p.setPen(QPen(border, 2, Qt.PenStyle.DashLine))
        p.setBrush(fill)
        p.drawRoundedRect(r, 4, 4)
        tz = self.board.start.tzinfo
        when = f"{d.start.astimezone(tz):%H:%M}–{d.end.astimezone(tz):%H:%M} · {d.technician}"
        text = when if kind == "ok" else ("Refused: " if kind == "hard" else "Asks: ") + "; ".join(
            d.check.hard or d.check.soft)
        font, fm = self.fonts.bold, self.fonts.bold_fm
        # The whole reason, in view: as wide as the text (up to the board's width), moved left
        # when it would run past the right edge.
        right = self.viewport().width() - 8
        width = min(fm.horizontalAdvance(text) + 16, right - NAME_W - 4)
        label = QRectF(max(NAME_W + 4, min(r.left(), right - width)), r.bottom() + 2, width, fm.height() + 4)
        if label.bottom() > self.viewport().height():
            label.moveBottom(r.top() - 2)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(border)
        p.drawRoundedRect(label, 3, 3)
        p.setPen(Qt.GlobalColor.white)
        p.setFont(font)
        p.drawText(label.adjusted(6, 0, -6, 0), LEFT_MIDDLE, fm.elidedText(text, ELIDE, int(label.width()) - 12))

    # ---------------------------------------------------------------- dragging
    def drop_at(self, order: BoardVisit | WaitingOrder, pos: QPoint, grab_px: float = 0.0) -> Drop | None:
        """The drop of ``order`` with the mouse at ``pos`` (the bar's left edge ``grab_px`` to
        the left of it), its start snapped to 15 minutes; None outside the rows."""
        if self.board is None or pos.x() < NAME_W:
            return None
        row = (pos.y() - HEADER_H + self.verticalScrollBar().value()) // ROW_H
        if pos.y() < HEADER_H or not 0 <= row < len(self.board.technicians):
            return None
        at = self._time_at(pos.x() - grab_px - NAME_W + self.horizontalScrollBar().value())
        minutes = round((at.minute + at.second / 60) / SNAP_MINUTES) * SNAP_MINUTES
        return self.drop_for(order, self.board.technicians[row],
                             at.replace(minute=0, second=0, microsecond=0) + timedelta(minutes=minutes))

    def drop_for(self, order: BoardVisit | WaitingOrder, tech, start: datetime) -> Drop:
        """``order`` given to ``tech`` at ``start``, checked."""
        length = (order.end - order.start) if isinstance(order, BoardVisit) else \
            timedelta(minutes=order.duration_minutes)
        end = start + length
        busy = [(v.start, v.end, v.number) for v in self._rows[tech.id]
                if v.work_order_id != order.work_order_id and v.status != "completed"]
        check = check_drop(technician=tech.name, skills=tech.skills, windows=tech.windows,
                           hours_known=tech.hours_known, busy=busy, start=start, end=end,
                           required_skills=order.required_skills, open_jobs=tech.open_jobs, max_open=tech.max_open,
                           new_for_them=order.technician_id != tech.id, tz_name=self.board.timezone,
                           absences=tech.absences)
        return Drop(order, tech.id, tech.name, start, end, check)

    def _set_drag(self, drop: Drop | None) -> None:
        if drop != self.drag:
            self.drag = drop
            self.viewport().update()

    def cancel_drag(self) -> None:
        self._press, self._dragging = None, False
        self._set_drag(None)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 — Qt's name
        pos = event.position().toPoint()
        if self._press is not None and (event.buttons() & Qt.MouseButton.LeftButton):
            start_pos, visit, grab = self._press
            self._dragging = self._dragging or (pos - start_pos).manhattanLength() >= QApplication.startDragDistance()
            if self._dragging:
                self._set_drag(self.drop_at(visit, pos, grab))
                return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 — Qt's name
        drop = self.drag
        self.cancel_drag()
        if drop is not None and (drop.start != getattr(drop.order, "start", None) or not drop.same_technician):
            self.drop_requested.emit(drop)
        super().mouseReleaseEvent(event)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 — Qt's name (an order from the waiting list)
        if not self.read_only and event.mimeData().hasFormat(ORDER_MIME) and self._waiting(event) is not None:
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 — Qt's name
        order = self._waiting(event)
        drop = self.drop_at(order, event.position().toPoint()) if order is not None else None
        self._set_drag(drop)
        if drop is not None and not drop.check.hard:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:  # noqa: N802 — Qt's name
        self._set_drag(None)

    def dropEvent(self, event) -> None:  # noqa: N802 — Qt's name
        drop = self.drag
        self._set_drag(None)
        if drop is not None:
            event.acceptProposedAction()
            self.drop_requested.emit(drop)

    def _waiting(self, event) -> WaitingOrder | None:
        if self.board is None:
            return None
        wanted = bytes(event.mimeData().data(ORDER_MIME)).decode() or "0"
        return next((w for w in self.board.waiting if str(w.work_order_id) == wanted), None)

    # ---------------------------------------------------------------- mouse and keyboard
    def mousePressEvent(self, event) -> None:  # noqa: N802 — Qt's name
        pos = event.position().toPoint()
        visit = self.visit_at(pos)
        self.select(visit)
        if (visit is not None and event.button() == Qt.MouseButton.LeftButton and visit.status != "completed"
                and not self.read_only):
            self._press = (pos, visit, pos.x() - self.bar_rect(visit).left())
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 — Qt's name
        v = self.visit_at(event.position().toPoint())
        if v is not None:
            self.visit_opened.emit(v)

    def viewportEvent(self, event) -> bool:  # noqa: N802 — Qt's name
        if event.type() == event.Type.ToolTip:
            v = self.visit_at(event.pos())
            if v is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(event.globalPos(), visit_tooltip(v, self.board), self.viewport())
            return True
        return super().viewportEvent(event)

    def wheelEvent(self, event) -> None:  # noqa: N802 — Qt's name
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.set_zoom(self.zoom + (1 if event.angleDelta().y() > 0 else -1))
            return
        super().wheelEvent(event)

    def select(self, visit: BoardVisit | None) -> None:
        if visit is self.selected:
            return
        self.selected = visit
        if visit is not None:
            self.ensure_visible(visit)
        self.selection_changed.emit(visit)
        self.viewport().update()

    def ensure_visible(self, visit: BoardVisit) -> None:
        r = self.bar_rect(visit)
        view = self.viewport().rect()
        h, v = self.horizontalScrollBar(), self.verticalScrollBar()
        if r.left() < NAME_W + 10:
            h.setValue(h.value() - int(NAME_W + 40 - r.left()))
        elif r.left() > view.width() - 60:
            h.setValue(h.value() + int(r.left() - (view.width() - 200)))
        if r.top() < HEADER_H:
            v.setValue(v.value() - int(HEADER_H - r.top()) - 7)
        elif r.bottom() > view.height():
            v.setValue(v.value() + int(r.bottom() - view.height()) + 7)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 — Qt's name
        key = event.key()
        shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if self.board is None:
            return super().keyPressEvent(event)
        if key == Qt.Key.Key_Escape and self.drag is not None:
            self.cancel_drag()
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.set_zoom(self.zoom + 1)
        elif key == Qt.Key.Key_Minus:
            self.set_zoom(self.zoom - 1)
        elif shift and self.read_only and key in (Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Down):
            pass  # a proposed plan is on show: nothing moves until it is applied or discarded
        elif shift and key in (Qt.Key.Key_Left, Qt.Key.Key_Right) and self.selected is not None:
            self._nudge(minutes=-SNAP_MINUTES if key == Qt.Key.Key_Left else SNAP_MINUTES)
        elif shift and key in (Qt.Key.Key_Up, Qt.Key.Key_Down) and self.selected is not None:
            self._nudge(rows=-1 if key == Qt.Key.Key_Up else 1)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            self._step_in_row(-1 if key == Qt.Key.Key_Left else 1)
        elif key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            self._step_rows(-1 if key == Qt.Key.Key_Up else 1)
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.selected is not None:
            self.visit_opened.emit(self.selected)
        elif key == Qt.Key.Key_Delete and self.selected is not None and not self.read_only:
            self.unassign_requested.emit(self.selected)
        else:
            super().keyPressEvent(event)

    def _nudge(self, *, minutes: int = 0, rows: int = 0) -> None:
        """Planning by keyboard: the selected visit 15 minutes earlier or later (Shift+Left/Right)
        or to the technician above or below at the same time (Shift+Up/Down) — the same
        checked drop as a drag."""
        v = self.selected
        if v.status == "completed":
            return
        row = self._row_of[v.technician_id] + rows
        if not 0 <= row < len(self.board.technicians):
            return
        self.drop_requested.emit(self.drop_for(v, self.board.technicians[row], v.start + timedelta(minutes=minutes)))

    def _first_visit(self) -> BoardVisit | None:
        return next((vs[0] for t in self.board.technicians if (vs := self._rows[t.id])), None)

    def _step_in_row(self, step: int) -> None:
        if self.selected is None:
            self.select(self._first_visit())
            return
        row = self._rows[self.selected.technician_id]
        i = row.index(self.selected) + step
        if 0 <= i < len(row):
            self.select(row[i])

    def _step_rows(self, step: int) -> None:
        """The visit nearest in time in the next row (up or down) that has visits."""
        if self.selected is None:
            self.select(self._first_visit())
            return
        ids = [t.id for t in self.board.technicians]
        i = ids.index(self.selected.technician_id) + step
        while 0 <= i < len(ids):
            row = self._rows[ids[i]]
            if row:
                at = self.selected.start
                self.select(min(row, key=lambda v: abs((v.start - at).total_seconds())))
                return
            i += step


def visit_tooltip(v: BoardVisit, board: BoardDay) -> str:
    """The visit's facts, as a dispatcher reads them on hover (plain text)."""
    tz = board.start.tzinfo
    a, b = v.start.astimezone(tz), v.end.astimezone(tz)
    lines = [f"{v.number} · ticket {v.ticket_number}", v.subject, v.customer]
    if v.address:
        lines.append(v.address)
    lines.append(f"{a:%a} {a.day} {a:%b} {a:%H:%M}–{b:%H:%M} · {v.priority} · {v.status.replace('_', ' ')}")
    if v.travel_minutes:
        lines.append(f"About {v.travel_minutes} min of driving before ({v.travel_m / 1000:.1f} km straight line "
                     f"at {board.speed_kmh:g} km/h)")
    if v.required_skills:
        lines.append("Needs: " + ", ".join(v.required_skills))
    if v.booked_anyway:
        lines.append("Booked over another visit on purpose")
    if v.window is not None:
        lines.append("The customer booked " + period_text(*v.window, board.timezone))
    if v.pinned:
        lines.append("Pinned: optimizing the day leaves it where it is")
    return "\n".join(lines)
