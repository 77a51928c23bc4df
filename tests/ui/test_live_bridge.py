"""LiveBridge: listener-thread callbacks arrive as LiveUpdates signals on the GUI thread."""

from __future__ import annotations

import threading

from PySide6.QtCore import QThread

from desk_desktop.db.session import Change
from desk_desktop.ui.context import LiveUpdates
from desk_desktop.ui.live import LiveBridge


class FakeScheduler:
    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.kicks: list[str] = []

    def on_change(self, change: Change) -> None:
        self.changes.append(change)

    def kick(self, name: str) -> None:
        self.kicks.append(name)


def _from_thread(fn, *args) -> None:
    t = threading.Thread(target=fn, args=args)
    t.start()
    t.join()


def test_changes_from_the_listener_thread_are_emitted_on_the_gui_thread(qtbot, qapp):
    live = LiveUpdates()
    sched = FakeScheduler()
    bridge = LiveBridge(live, scheduler=sched, organization_id=7)
    seen: list[tuple] = []
    live.changed.connect(lambda e, i, a: seen.append((e, i, a, QThread.currentThread() is qapp.thread())))
    with qtbot.waitSignal(live.changed, timeout=2000) as blocker:
        _from_thread(bridge.on_change, Change("ticket", 12, 7, "updated"))
    assert blocker.args == ["ticket", 12, "updated"]
    assert seen == [("ticket", 12, "updated", True)]
    assert sched.changes == [Change("ticket", 12, 7, "updated")]  # remote commits kick the jobs too


def test_other_organizations_changes_are_not_shown(qtbot):
    live = LiveUpdates()
    bridge = LiveBridge(live, organization_id=7)
    with qtbot.assertNotEmitted(live.changed, wait=200):
        _from_thread(bridge.on_change, Change("ticket", 12, 8, "updated"))


def test_reconnect_asks_every_view_for_a_full_refresh(qtbot):
    live = LiveUpdates()
    sched = FakeScheduler()
    bridge = LiveBridge(live, scheduler=sched)
    with qtbot.waitSignal(live.refresh_all, timeout=2000):
        _from_thread(bridge.on_reconnect)
    assert sched.kicks == ["assign"]
