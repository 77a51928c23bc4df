"""Live updates between workstations: LISTEN/NOTIFY through ``ChangeListener``."""

from __future__ import annotations

import json
import queue
import threading
import time

import psycopg
import pytest
from sqlalchemy import create_engine, text

from desk_desktop.db.listen import ChangeListener, libpq_conninfo
from desk_desktop.db.session import NOTIFY_CHANNEL, Change, normalize_url
from desk_desktop.services.tickets import create_ticket
from tests.notify_seed import seed


class Client:
    """One workstation's listening side: records changes and reconnects with their arrival times."""

    def __init__(self, url: str, **kw) -> None:
        self.changes: queue.Queue[tuple[float, Change]] = queue.Queue()
        self.reconnects = threading.Event()
        self.reconnect_count = 0
        self.listener = ChangeListener(url, on_change=self._on_change, on_reconnect=self._on_reconnect,
                                       poll_seconds=0.2, backoff_initial=0.1, **kw)

    def _on_change(self, change: Change) -> None:
        self.changes.put((time.monotonic(), change))

    def _on_reconnect(self) -> None:
        self.reconnect_count += 1
        self.reconnects.set()

    def wait_for(self, predicate, timeout: float = 5.0) -> tuple[float, Change]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("no matching change arrived")
            try:
                at, change = self.changes.get(timeout=remaining)
            except queue.Empty:
                raise AssertionError("no matching change arrived") from None
            if predicate(change):
                return at, change


@pytest.fixture
def clients(db):
    url, _ = db
    made: list[Client] = []

    def make() -> Client:
        c = Client(url)
        c.listener.start()
        assert c.listener.wait_connected(10), c.listener.last_error
        made.append(c)
        return c

    yield make
    for c in made:
        c.listener.stop()


def test_a_change_committed_by_one_workstation_reaches_the_other_within_a_second(db, clients):
    url, uow_factory = db
    sd = seed(uow_factory)
    a, b = clients(), clients()
    started = time.monotonic()
    created = create_ticket(uow=uow_factory(), actor=sd.actor, subject="Furnace makes a noise", category="hvac",
                            priority="high", customer_ref=sd.customer_refs[0], site_ref=sd.site_refs[0])
    committed = time.monotonic()
    wo_id = created.work_order.work_order_id

    def is_new_order(c: Change) -> bool:
        return c.entity == "work_order" and c.entity_id == wo_id and c.action == "created"

    for client in (b, a):
        at, change = client.wait_for(is_new_order, timeout=5)
        assert change.organization_id == sd.actor.organization_id
        assert at - committed < 1.0, f"signalled {at - committed:.3f}s after commit"
    assert committed - started < 5


def test_nothing_is_signalled_for_a_rolled_back_change(db, clients):
    _, uow_factory = db
    b = clients()
    uow = uow_factory()
    with uow:
        uow.record_change("ticket", 999, 1, "updated")
        uow.flush()
        # no commit
    with uow_factory() as uow2:
        uow2.record_change("ticket", 1000, 1, "updated")
        uow2.commit()
    _, change = b.wait_for(lambda c: c.entity == "ticket", timeout=3)
    assert change.entity_id == 1000  # the rolled-back one never arrived first


def test_payload_carries_ids_only(db):
    url, uow_factory = db
    sd = seed(uow_factory)
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
        conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        create_ticket(uow=uow_factory(), actor=sd.actor, subject="Secret subject text", category="hvac",
                      priority="high", customer_ref=sd.customer_refs[0])
        payloads = [n.payload for n in conn.notifies(timeout=2, stop_after=1)]
    assert payloads
    for p in payloads:
        data = json.loads(p)
        assert set(data) == {"e", "id", "org", "a"}
        assert "Secret" not in p


def test_after_a_lost_connection_it_reconnects_and_asks_for_a_full_refresh(db, clients):
    url, uow_factory = db
    a, b = clients(), clients()
    pid = b.listener.backend_pid
    assert pid
    admin = create_engine(normalize_url(url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    finally:
        admin.dispose()
    assert b.reconnects.wait(10), "no refresh after the reconnect"
    assert b.reconnect_count == 1 and a.reconnect_count == 0
    assert b.listener.wait_connected(10)
    assert b.listener.backend_pid != pid
    # Live again: the next change arrives as usual.
    with uow_factory() as uow:
        uow.record_change("work_order", 42, 7, "updated")
        uow.commit()
    _, change = b.wait_for(lambda c: c.entity == "work_order" and c.entity_id == 42, timeout=3)
    assert change == Change("work_order", 42, 7, "updated")


def test_listener_keeps_trying_while_the_server_is_unreachable(test_server):
    from sqlalchemy.engine import make_url

    bad = make_url(test_server.admin_url).set(database="no_such_database_here").render_as_string(
        hide_password=False)
    client = Client(bad)
    client.listener.start()
    try:
        deadline = time.monotonic() + 5
        while client.listener.last_error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.listener.last_error and "no_such_database_here" in client.listener.last_error
        assert not client.listener.connected.is_set()
    finally:
        started = time.monotonic()
        client.listener.stop()
        assert time.monotonic() - started < 3, "stop() must not hang on the backoff"


def test_several_changes_in_one_transaction_all_arrive_once_and_in_order(db, clients):
    _, uow_factory = db
    b = clients()
    with uow_factory() as uow:
        for i in (11, 12, 13):
            uow.record_change("ticket", i, 1, "updated")
        uow.record_change("ticket", 12, 1, "updated")  # a repeat is sent once
        uow.record_change("work_order", 7, 1, "created")
        uow.commit()
    got = [b.wait_for(lambda c: True)[1] for _ in range(4)]
    assert [(c.entity, c.entity_id) for c in got] == [("ticket", 11), ("ticket", 12), ("ticket", 13), ("work_order", 7)]
    with pytest.raises(AssertionError):
        b.wait_for(lambda c: True, timeout=0.7)
