"""Optimize day on the schedule page: the planner that runs it off the GUI thread (with its
budget shown as progress, and Cancel), and the bar above the board that shows the proposal
— what changes, the driving before and after, the orders left without a visit and why —
with Apply and Discard, and after Apply an Undo that puts the day back as it was. The board
and the map draw the proposal while it is shown."""

from __future__ import annotations

import threading
from datetime import date

from PySide6.QtCore import QElapsedTimer, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desk_desktop.services.common import DeskError
from desk_desktop.services.dayplan.proposal import day_text


def run_optimize(uow_factory, actor, day: date, technician_ids, settings, cancelled: threading.Event):
    from desk_desktop.services.dayplan import optimize_day

    return optimize_day(uow=uow_factory(), actor=actor, day=day, seconds=settings.optimize_seconds,
                        speed_kmh=settings.travel_speed_kmh, road_factor=settings.road_factor,
                        technician_ids=technician_ids, cancelled=cancelled.is_set)


def run_apply(uow_factory, actor, proposal):
    from desk_desktop.services.dayplan import apply_proposal

    return apply_proposal(uow=uow_factory(), actor=actor, proposal=proposal)


class DayPlanner(QObject):
    """One optimization at a time: ``started(day, seconds)``, then ``ready(proposal)`` or
    ``failed(message)``; ``apply()`` ends in ``applied(message)`` or ``failed``; ``cleared``
    when the proposal is gone (applied, discarded or cancelled). After an apply, ``undo()``
    puts the day back (``undone(message)``), refused like an apply when the day changed since."""

    started = Signal(object, float, str)  # day, budget, whose day ("every technician", "the 12 technicians shown")
    ready = Signal(object)
    failed = Signal(str)
    applied = Signal(str)
    undone = Signal(str)
    cleared = Signal()

    def __init__(self, ctx, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.proposal = None
        self.undo_plan = None  # the last applied plan's way back (services.dayplan.undo_of)
        self.day: date | None = None
        self.technician_ids: list[int] | None = None
        self.running = False
        self._cancel = threading.Event()

    def optimize(self, day: date, technician_ids: list[int] | None = None) -> None:
        """Plan ``day`` for every active technician, or for ``technician_ids`` only."""
        if self.running:
            return
        self.discard()
        self.undo_plan = None
        self.day, self.technician_ids = day, technician_ids
        self.running = True
        self._cancel = threading.Event()
        whose = ("every technician" if technician_ids is None
                 else f"the {len(technician_ids)} technician{'s' if len(technician_ids) != 1 else ''} shown")
        self.started.emit(day, self.ctx.settings.optimize_seconds, whose)
        self.ctx.runner.submit(run_optimize, self.ctx.uow_factory, self.ctx.actor, day, technician_ids,
                               self.ctx.settings, self._cancel, owner=self, key="optimize", on_done=self._ready,
                               on_error=self._failed)

    def cancel(self) -> None:
        self._cancel.set()

    def discard(self) -> None:
        if self.proposal is not None:
            self.proposal = None
            self.cleared.emit()

    def apply(self) -> None:
        self._write(self.proposal, self._applied)

    def undo(self) -> None:
        self._write(self.undo_plan, self._undone)

    def _write(self, proposal, on_done) -> None:
        """Apply ``proposal`` (the plan shown, or the last one's undo) off the GUI thread."""
        if proposal is None or self.running:
            return
        self.running = True
        self.ctx.runner.submit(run_apply, self.ctx.uow_factory, self.ctx.actor, proposal, owner=self, key="apply",
                               on_done=on_done, on_error=self._failed)

    def _ready(self, proposal) -> None:
        self.running = False
        self.proposal = proposal
        self.ready.emit(proposal)

    def _applied(self, result) -> None:
        self.running = False
        self.proposal = None
        self.undo_plan = result.undo
        self.cleared.emit()
        self.applied.emit(f"Plan for {day_text(result.day)} applied: {result.changed} order"
                          f"{'s' if result.changed != 1 else ''} changed. The technicians and customers are told.")

    def _undone(self, result) -> None:
        self.running = False
        self.undo_plan = None
        self.undone.emit(f"Plan for {day_text(result.day)} undone: {result.changed} order"
                         f"{'s' if result.changed != 1 else ''} put back as they were. The technicians and customers "
                         "are told.")

    def _failed(self, exc: BaseException) -> None:
        from desk_desktop.services.dayplan import PlanCancelled, PlanOutdated

        self.running = False
        if isinstance(exc, PlanOutdated):  # the proposal (or undo) is of no use any more: the day is shown again
            self.discard()
            self.undo_plan = None
        self.failed.emit(str(exc) if isinstance(exc, DeskError | PlanCancelled) else
                         f"Optimizing failed: {exc}. Nothing was changed; the details are in the log.")


class OptimizeBar(QFrame):
    """The planner's state above the board: progress with Cancel while it solves; the
    proposal with Apply and Discard; what happened last (after Apply, with Undo)."""

    def __init__(self, planner: DayPlanner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("OptimizeBar")
        self.planner = planner
        self.title = QLabel("")
        self.title.setObjectName("sectionTitle")
        self.title.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setMaximumWidth(260)
        self.cancel_button = QPushButton("Cancel")
        self.apply_button = QPushButton("Apply plan")
        self.apply_button.setProperty("primary", True)
        self.discard_button = QPushButton("Discard")
        self.again_button = QPushButton("Optimize again")
        self.undo_button = QPushButton("Undo plan")
        self.undo_button.setToolTip("Put every order the plan changed back to its technician and time as before")
        self.details = QListWidget()
        self.details.setObjectName("PlanChanges")
        self.details.setMaximumHeight(118)
        self.details.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.title, 1)
        top.addWidget(self.progress)
        for b in (self.cancel_button, self.again_button, self.undo_button, self.discard_button, self.apply_button):
            top.addWidget(b, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(6)
        layout.addLayout(top)
        layout.addWidget(self.details)
        self._clock = QElapsedTimer()
        self._budget = 10.0
        self._tick = QTimer(self)
        self._tick.setInterval(100)
        self._tick.timeout.connect(self._advance)

        self.cancel_button.clicked.connect(self._cancel)
        self.apply_button.clicked.connect(self._apply)
        self.discard_button.clicked.connect(self._close)
        self.again_button.clicked.connect(lambda: planner.optimize(planner.day, planner.technician_ids))
        self.undo_button.clicked.connect(self._undo)
        planner.started.connect(self._started)
        planner.ready.connect(self._ready)
        planner.failed.connect(self._failed)
        planner.cleared.connect(self._cleared)
        planner.applied.connect(self._done)
        planner.undone.connect(self._done)
        self.hide()

    def _buttons(self, *, solving: bool, proposal: bool) -> None:
        self.progress.setVisible(solving)
        self.cancel_button.setVisible(solving)
        self.apply_button.setVisible(proposal)
        self.discard_button.setVisible(proposal)
        self.apply_button.setEnabled(proposal)
        self.again_button.hide()
        self.undo_button.hide()

    def _started(self, day, seconds: float, whose: str) -> None:
        self._budget = seconds
        self.title.setText(f"Optimizing {day_text(day)}: the day of {whose} planned at once (up to {seconds:g} s)…")
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.details.clear()
        self.details.hide()
        self._buttons(solving=True, proposal=False)
        self.cancel_button.setEnabled(True)
        self._clock.start()
        self._tick.start()
        self.show()

    def _advance(self) -> None:
        done = self._clock.elapsed() / 1000 / max(self._budget, 0.1)
        self.progress.setValue(min(990, int(done * 1000)))

    def _cancel(self) -> None:
        self.cancel_button.setEnabled(False)
        self.title.setText("Cancelling…")
        self.planner.cancel()

    def undo(self) -> None:
        if self.undo_plan is None or self.running:
            return
        self.running = True
        self.ctx.runner.submit(run_apply, self.ctx.uow_factory, self.ctx.actor, self.undo_plan, owner=self,
                               key="apply", on_done=self._undone, on_error=self._failed)

    def _ready(self, proposal) -> None:
        self._tick.stop()
        day = proposal.day
        if not proposal.changes:
            self.title.setText(f"{day_text(day.day)}: the day is already as good as the planner can make it "
                               f"({proposal.km_before:,.0f} km of driving).")
        else:
            self.title.setText(f"Proposed plan for {day_text(day.day)}: {proposal.summary()}. Moved visits are "
                               "outlined on the board and drawn on the map; nothing changes until you apply it.")
        self.details.clear()
        self.details.addItems(proposal.lines())
        self.details.setVisible(self.details.count() > 0)
        self._buttons(solving=False, proposal=bool(proposal.changes))
        if not proposal.changes:
            self.discard_button.setVisible(True)
            self.discard_button.setText("Close")
        else:
            self.discard_button.setText("Discard")
        self.show()

    def _apply(self) -> None:
        self.apply_button.setEnabled(False)
        self.title.setText("Applying the plan…")
        self.planner.apply()

    def _undo(self) -> None:
        self.undo_button.setEnabled(False)
        self.title.setText("Putting the day back as it was…")
        self.planner.undo()

    def _done(self, message: str) -> None:
        """Applied or undone: what happened, with Undo while the plan can be undone."""
        self.title.setText(message)
        self.details.hide()
        self._buttons(solving=False, proposal=False)
        self.undo_button.setVisible(self.planner.undo_plan is not None)
        self.undo_button.setEnabled(True)
        self.discard_button.setVisible(True)
        self.discard_button.setText("Close")
        self.show()

    def _failed(self, message: str) -> None:
        self._tick.stop()
        self.title.setText(message)
        self.details.hide()
        self._buttons(solving=False, proposal=self.planner.proposal is not None)
        self.discard_button.setVisible(True)
        self.discard_button.setText("Close" if self.planner.proposal is None else "Discard")
        self.again_button.setVisible(self.planner.proposal is None and self.planner.day is not None)
        self.show()

    def _close(self) -> None:
        if self.planner.proposal is not None:
            self.planner.discard()
        else:
            self.hide()

    def _cleared(self) -> None:
        self._tick.stop()
        self.hide()
