"""The map's candidates panel: the selected work order, who can take it (ranked), and the confirm bar.

It shows what the page gives it and says what the dispatcher asked for
(``strategy_changed``, ``assign_requested``); it runs no work itself.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desk_desktop.domain.enums import AssignmentLogic
from desk_desktop.services import mapdata
from desk_desktop.services.mapdata import MapTechnician, MapWorkOrder
from desk_desktop.ui.card import Card
from desk_desktop.ui.map.cells import DetailRole, TwoLineDelegate, format_distance, skill_name, skills_text, type_name

STRATEGY_LABELS = {
    AssignmentLogic.NEAREST: "Nearest",
    AssignmentLogic.SKILL_MATCH: "Skill match",
    AssignmentLogic.WORKLOAD: "Workload",
    AssignmentLogic.ROUND_ROBIN: "Round robin",
}
COL_RANK, COL_NAME, COL_DISTANCE, COL_ASSIGN = range(4)
INELIGIBLE = "#8d949c"
NO_ORDER = ("Select a work order", "Pick one in the list above or on the map to see who can take it.")


class CandidatesPanel(QWidget):
    strategy_changed = Signal(str)
    assign_requested = Signal(int, bool)  # technician id, force (the strategy finds them ineligible)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result = None  # the CandidateList shown
        self.catalogs = None  # services.catalogs.Catalogs: skills and work-order types by name (MapPage sets it)
        self._confirm: tuple[int, bool] | None = None  # (technician id, force) awaiting "Assign"

        card = Card(margins=(12, 10, 12, 12), spacing=6)
        self.order_heading = QLabel(NO_ORDER[0], objectName="OrderHeading")
        self.order_heading.setWordWrap(True)
        self.order_detail = QLabel(NO_ORDER[1], objectName="Muted")
        self.order_detail.setWordWrap(True)
        card.body.addWidget(self.order_heading)
        card.body.addWidget(self.order_detail)
        strat = QHBoxLayout()
        strat.addWidget(QLabel("Rank by"))
        self.strategy_combo = QComboBox()
        for logic, label in STRATEGY_LABELS.items():
            self.strategy_combo.addItem(label, logic.value)
        strat.addWidget(self.strategy_combo, 1)
        card.body.addLayout(strat)

        self.table = table = QTableWidget(0, 4, objectName="Candidates")
        table.setHorizontalHeaderLabels(["#", "Technician", "Distance", ""])
        table.verticalHeader().hide()
        table.verticalHeader().setDefaultSectionSize(46)
        table.setItemDelegateForColumn(COL_NAME, TwoLineDelegate(table))
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setShowGrid(False)
        table.setWordWrap(False)
        header = table.horizontalHeader()
        for col, mode in enumerate((QHeaderView.ResizeMode.ResizeToContents, QHeaderView.ResizeMode.Stretch,
                                    QHeaderView.ResizeMode.ResizeToContents, QHeaderView.ResizeMode.ResizeToContents)):
            header.setSectionResizeMode(col, mode)
        card.body.addWidget(table, 1)
        self.explanation_label = QLabel("", objectName="RankingNote")
        self.explanation_label.setWordWrap(True)
        self.explanation_label.hide()
        card.body.addWidget(self.explanation_label)

        self.confirm_bar = QFrame(objectName="ConfirmBar")
        bar = QHBoxLayout(self.confirm_bar)
        bar.setContentsMargins(10, 8, 10, 8)
        self.confirm_label = QLabel("")
        self.confirm_label.setWordWrap(True)
        self.confirm_button = QPushButton("Assign")
        self.confirm_button.setProperty("primary", True)
        self.cancel_button = QPushButton("Cancel")
        bar.addWidget(self.confirm_label, 1)
        bar.addWidget(self.cancel_button)
        bar.addWidget(self.confirm_button)
        self.confirm_bar.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addWidget(card, 1)
        layout.addWidget(self.confirm_bar)

        self.strategy_combo.currentIndexChanged.connect(lambda _i: self.strategy_changed.emit(self.strategy))
        self.confirm_button.clicked.connect(self._on_confirm_clicked)
        self.cancel_button.clicked.connect(self.hide_confirm)

    # ---------------------------------------------------------------- strategy
    @property
    def strategy(self) -> str:
        return self.strategy_combo.currentData()

    def set_strategy(self, strategy: str, *, quietly: bool = False) -> None:
        index = self.strategy_combo.findData(str(strategy))
        if index >= 0:
            self.strategy_combo.blockSignals(quietly)
            self.strategy_combo.setCurrentIndex(index)
            self.strategy_combo.blockSignals(False)

    # ---------------------------------------------------------------- the order and its candidates
    def show_order(self, order: MapWorkOrder) -> None:
        """A newly selected order: its details now, "Ranking technicians…" until the candidates come."""
        self.hide_confirm()
        self.result = None
        kind = type_name(self.catalogs, order.work_type)
        self.order_heading.setText(f"{order.number} · {order.priority.capitalize()} · {kind}")
        detail = [x for x in (order.customer_name, order.subject, order.address) if x]
        if order.required_skills:
            detail.append("Needs: " + ", ".join(skill_name(self.catalogs, s) for s in order.required_skills))
        if order.lat is None:
            detail.append("No location on file: distances cannot be computed.")
        self.order_detail.setText("\n".join(detail) or "No details.")
        if order.assignment_logic:
            self.set_strategy(order.assignment_logic, quietly=True)
        self.table.setRowCount(0)
        self._set_explanation("Ranking technicians…")

    def show_candidates(self, result, technicians: dict[int, MapTechnician]) -> None:
        self.result = result
        table = self.table
        table.setRowCount(0)
        table.setRowCount(len(result.candidates))
        for row, c in enumerate(result.candidates):
            rank = QTableWidgetItem(str(c.rank) if c.rank else "—")
            rank.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            name = QTableWidgetItem(c.name)
            tech = technicians.get(c.technician_id)
            detail = [skills_text(dict(c.matched_skills), self.catalogs) if c.matched_skills else "no matching skills",
                      f"{c.open_jobs}/{c.max_open} jobs"]
            if tech is not None and tech.state != mapdata.STATE_AVAILABLE:
                detail.append(tech.state.replace("_", " "))  # busy / off shift: worth a look
            if not c.eligible:
                detail = [f"not eligible: {c.reason}" if c.reason else "not eligible"]
            name.setData(DetailRole, " · ".join(detail))
            tip = [c.name, " · ".join(detail), c.reason or ""]
            if tech is not None:
                tip.append("At their current location" if tech.position_source == "current" else "At their home base")
            name.setToolTip("\n".join(x for x in tip if x))
            dist = QTableWidgetItem(format_distance(c.distance_m))
            dist.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            for col, item in enumerate((rank, name, dist)):
                item.setData(Qt.ItemDataRole.UserRole, c.technician_id)
                if not c.eligible:
                    item.setForeground(QColor(INELIGIBLE))
                    item.setToolTip(c.reason or "Not eligible")
                table.setItem(row, col, item)
            table.setCellWidget(row, COL_ASSIGN, self._assign_button(c, first=row == 0))
        explanation = result.explanation or ""
        if not result.candidates:
            explanation = explanation or "No technician can take this job right now."
        self._set_explanation(explanation)

    def _assign_button(self, c, *, first: bool) -> QWidget:
        button = QPushButton("Assign", objectName="AssignButton")
        button.setCursor(Qt.CursorShape.PointingHandCursor)
        if first and c.eligible:
            button.setProperty("primary", True)
        button.setEnabled(bool(c.eligible))
        button.setToolTip(f"Assign to {c.name}" if c.eligible else (c.reason or "Not eligible"))
        button.clicked.connect(lambda _=False, tid=c.technician_id: self.assign_requested.emit(tid, False))
        holder = QWidget()
        hl = QHBoxLayout(holder)
        hl.setContentsMargins(6, 6, 6, 6)
        hl.addWidget(button)
        return holder

    def _set_explanation(self, text: str) -> None:
        self.explanation_label.setText(text)
        self.explanation_label.setVisible(bool(text))

    def clear(self) -> None:
        self.result = None
        self.hide_confirm()
        self.table.setRowCount(0)
        self.order_heading.setText(NO_ORDER[0])
        self.order_detail.setText(NO_ORDER[1])
        self.explanation_label.hide()

    def candidate(self, technician_id: int):
        if self.result is None:
            return None
        return next((c for c in self.result.candidates if c.technician_id == technician_id), None)

    # ---------------------------------------------------------------- confirming a map click
    def ask_to_assign(self, order: MapWorkOrder, technician_id: int, tech: MapTechnician | None) -> None:
        """A technician clicked on the map: ask before assigning ("Assign anyway" when ineligible)."""
        name, extra, eligible = self._technician_label(technician_id, tech)
        self._confirm = (technician_id, not eligible)
        self.confirm_label.setText(f"Assign <b>{order.number}</b> to <b>{html.escape(name)}</b>?{extra}")
        self.confirm_button.setText("Assign" if eligible else "Assign anyway")
        self.confirm_bar.show()
        self.confirm_button.setFocus()

    def _technician_label(self, technician_id: int, tech: MapTechnician | None) -> tuple[str, str, bool]:
        """Name, a detail line for the confirmation, and whether the strategy finds them eligible."""
        cand = self.candidate(technician_id)
        name = cand.name if cand else (tech.name if tech else f"technician #{technician_id}")
        if cand is not None:
            rank = f"Rank {cand.rank}" if cand.rank else "Not ranked"
            extra = f"<br>{rank} · {format_distance(cand.distance_m)} · {cand.open_jobs}/{cand.max_open} open jobs"
            if not cand.eligible:
                extra += f"<br><span style='color:#b42318'>Not eligible: {html.escape(cand.reason or 'see the rules')}</span>"
            return name, extra, bool(cand.eligible)
        if tech is not None:
            extra = (f"<br>Not among the ranked candidates · {tech.open_jobs}/{tech.max_open} open jobs"
                     "<br><span style='color:#b42318'>The assignment rules may refuse this technician.</span>")
            return name, extra, False
        return name, "", False

    def hide_confirm(self) -> None:
        self._confirm = None
        self.confirm_bar.hide()

    def _on_confirm_clicked(self) -> None:
        if self._confirm is not None:
            technician_id, force = self._confirm
            self.assign_requested.emit(technician_id, force)
