"""Glue between the ``ChangeListener`` thread and the GUI.

``LiveBridge.on_change`` / ``on_reconnect`` are called on the listener thread; they re-emit
as ``LiveUpdates.changed`` / ``refresh_all`` on the GUI thread (queued signal connections
across threads). If a scheduler is given, remote changes also kick its jobs (so another
workstation's new ticket is assigned without waiting for the sweep).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from desk_desktop.db.session import Change
from desk_desktop.ui.context import LiveUpdates


class LiveBridge(QObject):
    # Emitted from the listener thread; delivered to our slots on the GUI thread.
    _change_arrived = Signal(str, object, str)
    _reconnected = Signal()

    def __init__(self, live: LiveUpdates, *, scheduler: Any = None, organization_id: int | None = None,
                 parent: QObject | None = None) -> None:
        # Lives on the thread that creates it (the GUI thread): queued delivery ends up there.
        super().__init__(parent)
        self.live = live
        self.scheduler = scheduler
        self.organization_id = organization_id
        self._change_arrived.connect(self._on_listener_change, Qt.ConnectionType.QueuedConnection)
        self._reconnected.connect(self._on_listener_reconnected, Qt.ConnectionType.QueuedConnection)

    # ------------------------------------------------------------ listener thread
    def on_change(self, change: Change) -> None:
        if self.scheduler is not None:
            try:
                self.scheduler.on_change(change)
            except Exception:  # noqa: BLE001 - live updates must keep flowing
                pass
        if self.organization_id is not None and change.organization_id not in (None, self.organization_id):
            return  # another organization's change: not ours to show
        self._change_arrived.emit(change.entity, change.entity_id, change.action)

    def on_reconnect(self) -> None:
        if self.scheduler is not None:
            try:
                self.scheduler.kick("assign")
            except Exception:  # noqa: BLE001
                pass
        self._reconnected.emit()

    # ------------------------------------------------------------ GUI thread
    def _on_listener_change(self, entity: str, entity_id: object, action: str) -> None:
        self.live.changed.emit(entity, entity_id, action)

    def _on_listener_reconnected(self) -> None:
        self.live.refresh_all.emit()
