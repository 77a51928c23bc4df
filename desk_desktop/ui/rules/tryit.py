""""Try it": test the rules (as edited) on one ticket, or replay them over past tickets.

Pure UI: it emits ``test_requested(number)`` and ``replay_requested(days)``; the page runs
``rules.dry_run`` / ``rules.replay`` on the worker pool with the edited drafts and hands
the results back. Nothing here writes anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from PySide6.QtCore import QModelIndex, QRectF, QSize, QStringListModel, Qt, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCompleter,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desk_desktop.ui.card import Card
from desk_desktop.ui.rules.widgets import ACCENT
from desk_desktop.ui.styling import restyle

# Replay table columns
R_RULE, R_EDITED, R_SAVED, R_SAMPLES = 0, 1, 2, 3
# Dry-run table columns
D_POS, D_RULE, D_RESULT = 0, 1, 2

BarMaxRole = Qt.ItemDataRole.UserRole + 10


class BarDelegate(QStyledItemDelegate):
    """A number with a proportional bar behind it (replay counts)."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        text = opt.text
        opt.text = ""
        style = opt.widget.style() if opt.widget else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        value = index.data(Qt.ItemDataRole.UserRole) or 0
        top = index.data(BarMaxRole) or 0
        number_w = 64
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QColor("#1d2733"))
        tr = option.rect.adjusted(6, 0, 0, 0)
        tr.setWidth(number_w - 8)
        painter.drawText(tr, int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), text)
        bar = option.rect.adjusted(number_w + 4, 9, -10, -9)
        if top > 0 and value > 0 and bar.width() > 4:
            w = max(3.0, bar.width() * value / top)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(ACCENT if index.column() == R_EDITED else "#9fb3cc"))
            painter.drawRoundedRect(QRectF(bar.x(), bar.y(), w, bar.height()), 3, 3)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        s = super().sizeHint(option, index)
        return QSize(max(s.width(), 120), s.height())


def _section(title: str, hint: str) -> tuple[Card, QVBoxLayout]:
    card = Card(title, hint, margins=(16, 12, 16, 14))
    return card, card.body


def _table(headers: Sequence[str]) -> QTableWidget:
    t = QTableWidget(0, len(headers))
    t.setHorizontalHeaderLabels(list(headers))
    t.verticalHeader().hide()
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setAlternatingRowColors(True)
    t.setShowGrid(False)
    t.setWordWrap(False)
    t.setTextElideMode(Qt.TextElideMode.ElideRight)
    t.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    t.verticalHeader().setDefaultSectionSize(32)
    t.horizontalHeader().setHighlightSections(False)
    return t


def _headline(label: QLabel, text: str, tone: str) -> None:
    label.setText(text)
    restyle(label, tone=tone)
    label.show()


class TryItPanel(QWidget):
    test_requested = Signal(str)
    replay_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 8, 4)
        outer.setSpacing(14)

        self.draft_note = QLabel()
        self.draft_note.setObjectName("draftNote")
        self.draft_note.setWordWrap(True)
        self.draft_note.hide()
        outer.addWidget(self.draft_note)

        # --- Test on ticket ---------------------------------------------------------------
        sec, lay = _section(
            "Test on a ticket",
            "Which rule would create the work order for this ticket, and why each other rule would not. "
            "Uses the rules as edited here, including unsaved changes. Nothing is written.",
        )
        row = QHBoxLayout()
        self.ticket_edit = QLineEdit()
        self.ticket_edit.setObjectName("ticketNumberEdit")
        self.ticket_edit.setPlaceholderText("Ticket number, e.g. TK-2026-00042")
        self._numbers = QStringListModel(self)
        completer = QCompleter(self._numbers, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.ticket_edit.setCompleter(completer)
        self.test_button = QPushButton("Test on ticket…")
        self.test_button.setObjectName("testButton")
        self.test_button.setProperty("primary", True)
        row.addWidget(self.ticket_edit, 1)
        row.addWidget(self.test_button)
        lay.addLayout(row)
        self.dry_headline = QLabel()
        self.dry_headline.setObjectName("resultHeadline")
        self.dry_headline.setWordWrap(True)
        self.dry_headline.hide()
        lay.addWidget(self.dry_headline)
        self.dry_table = _table(["#", "Rule", "Result"])
        self.dry_table.setObjectName("dryRunTable")
        h = self.dry_table.horizontalHeader()
        h.setSectionResizeMode(D_POS, QHeaderView.ResizeMode.ResizeToContents)
        h.setSectionResizeMode(D_RULE, QHeaderView.ResizeMode.Interactive)
        h.setSectionResizeMode(D_RESULT, QHeaderView.ResizeMode.Stretch)
        self.dry_table.setColumnWidth(D_RULE, 230)
        self.dry_table.hide()
        lay.addWidget(self.dry_table, 1)
        self._dry_section = sec
        outer.addWidget(sec, 0)

        # --- Replay ---------------------------------------------------------------------------
        sec, lay = _section(
            "Replay past tickets",
            "How many work orders each rule would have created for the tickets of the last days, "
            "with the rules as edited (before saving), next to what the saved rules would do. Nothing is written.",
        )
        row = QHBoxLayout()
        row.addWidget(QLabel("Tickets of the last"))
        self.days_spin = QSpinBox()
        self.days_spin.setObjectName("replayDays")
        self.days_spin.setRange(1, 365)
        self.days_spin.setValue(30)
        self.days_spin.setSuffix(" days")
        self.days_spin.setButtonSymbols(QSpinBox.ButtonSymbols.NoButtons)
        self.days_spin.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.days_spin.setFixedWidth(90)
        row.addWidget(self.days_spin)
        row.addStretch(1)
        self.replay_button = QPushButton("Replay")
        self.replay_button.setObjectName("replayButton")
        self.replay_button.setProperty("primary", True)
        row.addWidget(self.replay_button)
        lay.addLayout(row)
        self.replay_headline = QLabel()
        self.replay_headline.setObjectName("resultHeadline")
        self.replay_headline.setWordWrap(True)
        self.replay_headline.hide()
        lay.addWidget(self.replay_headline)
        self.replay_table = _table(["Rule", "As edited", "Saved rules", "Sample tickets"])
        self.replay_table.setObjectName("replayTable")
        h = self.replay_table.horizontalHeader()
        h.setSectionResizeMode(R_RULE, QHeaderView.ResizeMode.Interactive)
        h.setSectionResizeMode(R_EDITED, QHeaderView.ResizeMode.Fixed)
        h.setSectionResizeMode(R_SAVED, QHeaderView.ResizeMode.Fixed)
        h.setSectionResizeMode(R_SAMPLES, QHeaderView.ResizeMode.Stretch)
        self.replay_table.setColumnWidth(R_RULE, 210)
        self.replay_table.setColumnWidth(R_EDITED, 140)
        self.replay_table.setColumnWidth(R_SAVED, 130)
        self.replay_table.setWordWrap(False)
        self.replay_table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.bar_delegate = BarDelegate(self.replay_table)  # keep the Python wrapper alive
        self.replay_table.setItemDelegateForColumn(R_EDITED, self.bar_delegate)
        self.replay_table.setItemDelegateForColumn(R_SAVED, self.bar_delegate)
        self.replay_table.hide()
        lay.addWidget(self.replay_table, 1)
        self._replay_section = sec
        outer.addWidget(sec, 0)
        self._outer = outer
        outer.addStretch(1)

        self.test_button.clicked.connect(self._on_test_clicked)
        self.ticket_edit.returnPressed.connect(self._on_test_clicked)
        self.replay_button.clicked.connect(self._on_replay_clicked)

    def _update_stretch(self) -> None:
        """Sections with results share the height; empty ones take only what they need."""
        dry, rep = not self.dry_table.isHidden(), not self.replay_table.isHidden()
        self._outer.setStretchFactor(self._dry_section, 2 if dry else 0)
        self._outer.setStretchFactor(self._replay_section, 3 if rep else 0)
        self._outer.setStretch(self._outer.count() - 1, 0 if (dry or rep) else 1)

    # ------------------------------------------------------------------ inputs
    def set_ticket_numbers(self, numbers: Iterable[str]) -> None:
        self._numbers.setStringList(list(numbers))

    def set_uses_unsaved_changes(self, unsaved: bool) -> None:
        if unsaved:
            self.draft_note.setText("Results below use your unsaved changes to this rule.")
            self.draft_note.show()
        else:
            self.draft_note.hide()

    def set_busy(self, what: str | None) -> None:
        self.test_button.setEnabled(what != "test")
        self.replay_button.setEnabled(what != "replay")
        self.test_button.setText("Testing…" if what == "test" else "Test on ticket…")
        self.replay_button.setText("Replaying…" if what == "replay" else "Replay")

    def _on_test_clicked(self) -> None:
        number = "".join(self.ticket_edit.text().split()).upper()  # as ticket numbers are stored
        if not number:
            _headline(self.dry_headline, "Enter a ticket number to test the rules on.", "warn")
            self.dry_table.hide()
            self._update_stretch()
            return
        self.test_requested.emit(number)

    def _on_replay_clicked(self) -> None:
        self.replay_requested.emit(self.days_spin.value())

    # ------------------------------------------------------------------ results
    def show_dry_run_error(self, message: str) -> None:
        _headline(self.dry_headline, message, "error")
        self.dry_table.hide()
        self._update_stretch()

    def show_replay_error(self, message: str) -> None:
        _headline(self.replay_headline, message, "error")
        self.replay_table.hide()
        self._update_stretch()

    def headline_text(self, which: str) -> str:
        return (self.dry_headline if which == "test" else self.replay_headline).text()

    def show_dry_run(self, result: Any) -> None:
        number = result.ticket_number
        if result.matched_rule_id is not None or result.matched_rule_name:
            _headline(
                self.dry_headline,
                f"{number} would get a work order from “{result.matched_rule_name}”.",
                "good",
            )
        else:
            _headline(self.dry_headline, f"No active rule matches {number}: no work order would be created.", "warn")
        t = self.dry_table
        t.setRowCount(0)
        for i, check in enumerate(result.results):
            t.insertRow(i)
            pos = QTableWidgetItem(str(i + 1))
            pos.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            name = QTableWidgetItem(check.rule_name)
            if check.matched:
                res = QTableWidgetItem("✓  Matches — creates the work order")
                res.setForeground(QColor("#14532d"))
                f = res.font()
                f.setBold(True)
                res.setFont(f)
                name.setFont(f)
            else:
                res = QTableWidgetItem("✗  " + _sentence(check.failed_condition or "does not match"))
                res.setForeground(QColor("#5b6b7d"))
            res.setToolTip(res.text())
            name.setData(Qt.ItemDataRole.UserRole, check.rule_id)
            t.setItem(i, D_POS, pos)
            t.setItem(i, D_RULE, name)
            t.setItem(i, D_RESULT, res)
        t.show()
        self._update_stretch()

    def show_replay(self, edited: Any, saved: Any | None = None) -> None:
        matched = sum(r.would_create for r in edited.per_rule)
        days = self.days_spin.value()
        if edited.tickets_considered == 0:
            _headline(self.replay_headline, f"No tickets were created in the last {days} days.", "info")
        else:
            _headline(
                self.replay_headline,
                f"{edited.tickets_considered} tickets in the last {days} days: "
                f"{matched} would get a work order, {edited.unmatched} match no rule.",
                "info",
            )
        saved_by_id: dict[Any, int] = {}
        if saved is not None:
            saved_by_id = {r.rule_id: r.would_create for r in saved.per_rule}
        top = max([r.would_create for r in edited.per_rule] + list(saved_by_id.values()) + [0])
        t = self.replay_table
        t.setRowCount(0)
        rows = list(edited.per_rule)
        for i, row in enumerate(rows):
            t.insertRow(i)
            name = QTableWidgetItem(row.rule_name if row.rule_id is not None else f"{row.rule_name} (new)")
            name.setData(Qt.ItemDataRole.UserRole, row.rule_id)
            count = QTableWidgetItem(str(row.would_create))
            count.setData(Qt.ItemDataRole.UserRole, row.would_create)
            count.setData(BarMaxRole, top)
            before = saved_by_id.get(row.rule_id) if row.rule_id is not None else None
            if saved is None:
                was = QTableWidgetItem("")
            elif before is None:
                was = QTableWidgetItem("—")
                was.setToolTip("Not a saved rule yet")
            else:
                delta = row.would_create - before
                was = QTableWidgetItem(str(before))
                was.setData(Qt.ItemDataRole.UserRole, before)
                was.setData(BarMaxRole, top)
                if delta:
                    count.setText(f"{row.would_create} ({delta:+d})")
                    count.setToolTip(f"{delta:+d} compared with the saved rules")
            samples = QTableWidgetItem(", ".join(row.sample_numbers) if row.sample_numbers else "—")
            samples.setToolTip("\n".join(row.sample_numbers))
            samples.setForeground(QColor("#3b4a5c"))
            t.setItem(i, R_RULE, name)
            t.setItem(i, R_EDITED, count)
            t.setItem(i, R_SAVED, was)
            t.setItem(i, R_SAMPLES, samples)
        t.show()
        self._update_stretch()


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] if text else text
