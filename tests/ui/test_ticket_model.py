"""The ticket table model, tested without a view: paging, filters, sorting, the jump to the
last row, live reloads that keep the selection, and what each role shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from desk_desktop.config import Settings
from desk_desktop.db.models import Customer
from desk_desktop.services import tickets as ticket_service
from desk_desktop.ui.context import UiContext
from desk_desktop.ui.tickets.model import (
    COL_CREATED,
    COL_CUSTOMER,
    COL_NUMBER,
    COL_PRIORITY,
    COL_STATUS,
    COL_SUBJECT,
    COL_TECHNICIAN,
    ROLE_PRIORITY,
    ROLE_SUMMARY,
    ROLE_TICKET_ID,
    FilterState,
    TicketTableModel,
)
from desk_desktop.ui.tickets.style import PRIORITY_COLORS
from desk_desktop.ui.workers import InlineRunner

BASE = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
PRIORITIES = ("low", "medium", "high", "urgent")
CATEGORIES = ("plumbing", "electrical", "network")


@pytest.fixture
def seeded(uow_factory, org):
    """25 tickets, one every 10 minutes, with a spread of priorities, categories and tags."""
    with uow_factory() as uow:
        uow.session.add_all([
            Customer(organization_id=org.organization_id, ref="C-1", name="Northwind Traders",
                     customer_type="business"),
            Customer(organization_id=org.organization_id, ref="C-2", name="Contoso Clinic",
                     customer_type="residential"),
        ])
        uow.commit()
    created = []
    for i in range(25):
        result = ticket_service.create_ticket(
            uow=uow_factory(), actor=org, subject=f"Ticket subject {i:02d}" + (" leaking valve" if i % 5 == 0 else ""),
            category=CATEGORIES[i % 3], priority=PRIORITIES[i % 4], customer_ref="C-1" if i % 2 else "C-2",
            tags=("vip",) if i % 6 == 0 else (), now=BASE + timedelta(minutes=10 * i),
        )
        created.append(result.ticket)
    return created


@pytest.fixture
def model(qapp, uow_factory, org, seeded):
    ctx = UiContext(uow_factory=uow_factory, actor=org, settings=Settings(), runner=InlineRunner())
    m = TicketTableModel(ctx, page_size=10)
    m.refresh()
    return m


def numbers(model) -> list[str]:
    return [model.index(r, COL_NUMBER).data() for r in range(model.rowCount())]


def test_first_page_then_fetch_more_until_everything_is_loaded(model, seeded):
    newest_first = [t.number for t in reversed(seeded)]
    assert model.rowCount() == 10
    assert numbers(model) == newest_first[:10]
    assert model.total == 25
    assert model.window_range() == (1, 10)
    assert model.canFetchMore(QModelIndex())
    model.fetchMore(QModelIndex())
    assert numbers(model) == newest_first[:20]
    model.fetchMore(QModelIndex())
    assert numbers(model) == newest_first
    assert not model.canFetchMore(QModelIndex())


def test_filters_change_the_rows(model, seeded):
    model.set_filters(FilterState(priorities=("urgent",)))
    expected = [t.number for t in reversed(seeded) if t.priority == "urgent"]
    assert numbers(model) == expected
    assert model.total == len(expected)

    model.set_filters(FilterState(categories=("plumbing",), priorities=("low", "high")))
    rows = [model.index(r, COL_SUBJECT).data(ROLE_SUMMARY) for r in range(model.rowCount())]
    assert rows and all(t.category == "plumbing" and t.priority in ("low", "high") for t in rows)

    model.set_filters(FilterState(text="leaking valve"))
    assert sorted(numbers(model)) == sorted(t.number for t in seeded if "leaking" in t.subject)

    model.set_filters(FilterState(tag="vip"))
    assert sorted(numbers(model)) == sorted(t.number for t in seeded if "vip" in t.tags)

    model.set_filters(FilterState(text="no ticket says this"))
    assert model.rowCount() == 0 and model.total == 0


def test_jump_to_end_shows_the_last_rows_and_grows_upwards(model, seeded):
    newest_first = [t.number for t in reversed(seeded)]
    model.jump_to_end()
    assert model.anchor == "end"
    assert numbers(model) == newest_first[-10:]
    assert model.window_range() == (16, 25)
    assert not model.canFetchMore(QModelIndex())  # the end is the end
    assert model.can_fetch_previous()
    model.fetch_previous()
    assert numbers(model) == newest_first[-20:]
    model.fetch_previous()
    assert numbers(model) == newest_first
    assert not model.can_fetch_previous()
    model.jump_to_start()
    assert numbers(model) == newest_first[:10]


def test_sorting_by_number(model, seeded):
    model.sort(COL_NUMBER, Qt.SortOrder.AscendingOrder)
    assert model.sort_key == "number_asc"
    assert numbers(model) == sorted(t.number for t in seeded)[:10]
    model.sort(COL_CREATED, Qt.SortOrder.DescendingOrder)
    assert numbers(model) == [t.number for t in reversed(seeded)][:10]


def test_reload_in_place_keeps_the_selected_ticket(model, seeded, uow_factory, org):
    chosen = model.index(3, COL_SUBJECT)
    chosen_id = chosen.data(ROLE_TICKET_ID)
    persistent = QPersistentModelIndex(chosen)
    layout_changes = []
    model.layoutChanged.connect(lambda *a: layout_changes.append(1))
    new = ticket_service.create_ticket(uow=uow_factory(), actor=org, subject="Brand new leak", category="plumbing",
                                       priority="urgent", customer_ref="C-1", now=BASE + timedelta(days=1)).ticket
    model.reload_in_place()
    assert layout_changes, "rows were swapped with a layout change, not a reset"
    assert numbers(model)[0] == new.number
    assert persistent.isValid() and persistent.row() == 4
    assert model.index(persistent.row(), 0).data(ROLE_TICKET_ID) == chosen_id
    assert model.total == 26

    # An edit elsewhere changes the row in place.
    ticket_service.update_ticket(uow=uow_factory(), actor=org, ticket_id=chosen_id, subject="Edited elsewhere")
    changed = []
    model.dataChanged.connect(lambda a, b, *r: changed.append((a.row(), b.row())))
    model.reload_in_place()
    assert model.index(persistent.row(), COL_SUBJECT).data() == "Edited elsewhere"
    assert changed == [(4, 4)]


def test_roles_and_display(model, seeded):
    newest = seeded[-1]
    assert model.index(0, COL_NUMBER).data() == newest.number
    assert model.index(0, COL_SUBJECT).data() == newest.subject
    assert model.index(0, COL_CUSTOMER).data() == newest.customer_name
    assert model.index(0, COL_PRIORITY).data() == newest.priority.capitalize()
    assert model.index(0, COL_PRIORITY).data(ROLE_PRIORITY) == newest.priority
    colour = model.index(0, COL_PRIORITY).data(Qt.ItemDataRole.ForegroundRole)
    assert isinstance(colour, QColor) and colour.name().lower() == PRIORITY_COLORS[newest.priority].lower()
    assert model.index(0, COL_STATUS).data() == "New"
    assert model.index(0, COL_TECHNICIAN).data() == "—"  # no work order
    assert model.index(0, COL_CREATED).data()
    assert model.index(0, COL_NUMBER).data(Qt.ItemDataRole.EditRole) is None  # roles it does not handle
    assert model.headerData(COL_PRIORITY, Qt.Orientation.Horizontal) == "Priority"
    assert model.columnCount() == 9


def test_stale_results_are_dropped(qapp, uow_factory, org, seeded):
    """A page that arrives after the filter changed must not overwrite the new rows."""
    delayed = []

    class DeferredRunner(InlineRunner):
        """Asked at once, answered when the test says (in any order)."""

        def _start(self, request, fn, args, kwargs):
            delayed.append(lambda: super(DeferredRunner, self)._start(request, fn, args, kwargs))

    ctx = UiContext(uow_factory=uow_factory, actor=org, settings=Settings(), runner=DeferredRunner())
    m = TicketTableModel(ctx, page_size=50)
    m.refresh()  # page + count for "all"
    m.set_filters(FilterState(priorities=("urgent",)))  # page + count for "urgent"
    assert m.is_loading
    first, second = delayed[:2], delayed[2:]
    for run in second:
        run()
    for run in first:  # the old answers arrive last
        run()
    assert not m.is_loading
    assert {m.index(r, 0).data(ROLE_PRIORITY) for r in range(m.rowCount())} == {"urgent"}
    assert m.total == sum(1 for t in seeded if t.priority == "urgent")


def test_filter_state_round_trips_through_json():
    state = FilterState(statuses=("new", "open"), priorities=("urgent",), categories=("hvac",), tag="vip",
                        assignee="unassigned", text="leak")
    assert FilterState.from_json(state.to_json()) == state
    assert FilterState.from_json(FilterState(assignee=42).to_json()).assignee == 42
    assert FilterState.from_json("not json") == FilterState()
    assert FilterState.from_json(None) == FilterState()
    f = state.to_filter()
    assert f.status == ("new", "open") and f.unassigned_only and f.technician_id is None and f.text == "leak"


def test_reload_in_place_rereads_a_window_larger_than_one_service_page(qapp, uow_factory, org, seeded, monkeypatch):
    import desk_desktop.ui.tickets.model as model_module

    monkeypatch.setattr(model_module, "RELOAD_PAGE_ROWS", 4)  # the service's page, made small
    ctx = UiContext(uow_factory=uow_factory, actor=org, settings=Settings(), runner=InlineRunner())
    m = TicketTableModel(ctx, page_size=10)
    m.refresh()
    m.fetchMore(QModelIndex())
    before = numbers(m)
    assert len(before) == 20
    m.reload_in_place()
    assert numbers(m) == before
    assert m.canFetchMore(QModelIndex())
    m.fetchMore(QModelIndex())
    assert numbers(m) == [t.number for t in reversed(seeded)]
