"""The task runner on a real thread pool: answers reach the widget that asked, unless it is
gone, asked again with the same key, or dropped its requests."""

from __future__ import annotations

import threading

import pytest
import shiboken6
from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QLabel

from desk_desktop.ui.workers import InlineRunner, TaskRunner


@pytest.fixture
def runner(qtbot):
    pool = QThreadPool()
    pool.setMaxThreadCount(4)  # the gated jobs of a test all run at once, whatever the machine
    r = TaskRunner(pool)
    yield r
    assert r.wait_for_done(10_000)


def gated(gate: threading.Event, value):
    """Work that finishes only when the test opens ``gate``."""
    def work():
        assert gate.wait(10), "the test never released the work"
        return value
    return work


def settle(qtbot, runner):
    qtbot.waitUntil(lambda: runner.active == 0, timeout=10_000)


def test_the_answer_reaches_a_living_owner_on_the_gui_thread(qtbot, runner):
    label = QLabel("waiting")
    qtbot.addWidget(label)
    threads = []

    def work():
        threads.append(threading.current_thread())
        return "ready"

    runner.submit(work, owner=label, on_done=label.setText)
    qtbot.waitUntil(lambda: label.text() == "ready", timeout=10_000)
    assert threads[0] is not threading.main_thread()


def test_an_answer_for_a_deleted_widget_is_dropped(qtbot, runner):
    label = QLabel("waiting")
    gate = threading.Event()
    delivered, failures = [], []
    runner.submit(gated(gate, "late"), owner=label, on_done=delivered.append, on_error=failures.append)
    shiboken6.delete(label)  # the dialog was closed while its work ran
    gate.set()
    settle(qtbot, runner)
    assert delivered == [] and failures == []


def test_only_the_newest_request_with_a_key_is_answered(qtbot, runner):
    label = QLabel("")
    qtbot.addWidget(label)
    slow_gate, fast_gate, other_gate = threading.Event(), threading.Event(), threading.Event()
    shown = []
    runner.submit(gated(slow_gate, "old search"), owner=label, key="search", on_done=shown.append)
    runner.submit(gated(other_gate, "tags"), owner=label, key="tags", on_done=shown.append)
    runner.submit(gated(fast_gate, "new search"), owner=label, key="search", on_done=shown.append)
    fast_gate.set()
    qtbot.waitUntil(lambda: shown == ["new search"], timeout=10_000)
    slow_gate.set()  # the superseded answer arrives last
    other_gate.set()  # another key is not superseded
    settle(qtbot, runner)
    assert shown == ["new search", "tags"]


def test_a_newer_request_of_another_owner_does_not_supersede(qtbot, runner):
    first, second = QLabel(""), QLabel("")
    qtbot.addWidget(first)
    qtbot.addWidget(second)
    gate = threading.Event()
    runner.submit(gated(gate, "one"), owner=first, key="load", on_done=first.setText)
    runner.submit(gated(gate, "two"), owner=second, key="load", on_done=second.setText)
    gate.set()
    settle(qtbot, runner)
    assert (first.text(), second.text()) == ("one", "two")


def test_drop_forgets_what_was_asked_so_far_but_not_what_is_asked_later(qtbot, runner):
    label = QLabel("")
    qtbot.addWidget(label)
    gate = threading.Event()
    shown = []
    runner.submit(gated(gate, "before shutdown"), owner=label, on_done=shown.append)
    runner.drop(label)
    runner.submit(gated(gate, "after"), owner=label, on_done=shown.append)
    gate.set()
    settle(qtbot, runner)
    assert shown == ["after"]


def test_failures_reach_on_error_and_in_flight_counts_per_owner(qtbot, runner):
    label = QLabel("")
    qtbot.addWidget(label)
    gate = threading.Event()
    errors, settled = [], []
    runner.owner_settled.connect(lambda owner: settled.append(runner.in_flight(owner)))

    def broken():
        assert gate.wait(10)
        raise ValueError("The customer was deleted meanwhile.")

    runner.submit(broken, owner=label, on_error=lambda exc: errors.append(str(exc)))
    runner.submit(gated(gate, 1), owner=label)
    assert runner.in_flight(label) == 2
    gate.set()
    settle(qtbot, runner)
    assert errors == ["The customer was deleted meanwhile."]
    assert sorted(settled) == [0, 1]  # one ended with one still running, then the last
    assert runner.in_flight(label) == 0


def test_inline_runner_applies_the_same_rules(qtbot):
    runner = InlineRunner()
    label = QLabel("")
    qtbot.addWidget(label)
    runner.submit(lambda: "now", owner=label, on_done=label.setText)
    assert label.text() == "now"
    with pytest.raises(ZeroDivisionError):
        runner.submit(lambda: 1 / 0, owner=label, on_done=label.setText)
    assert runner.active == 0
