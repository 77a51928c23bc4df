"""bench ticket_list — the tickets table model over 1,000,000 tickets (PERFORMANCE.md).

Set-up (not measured): a scratch database; one organization with 2,000 customers and
sites, 200 technicians, 1,000,000 tickets spread over three years and 300,000 work orders
(a third of them assigned), inserted with ``generate_series`` SQL. The secondary indexes
of ``tickets`` are dropped for the bulk insert and re-created from their own definitions
afterwards (the schema ends up exactly as migrated), then ``VACUUM ANALYZE``.

Measured, in an offscreen ``QApplication`` with the real ``TicketTableModel`` attached to
a ``QTableView``, the real ``TaskRunner`` (worker threads) and the real ticket service:

* **first rows shown** — ``refresh()`` until the first page is in the model and the view
  has laid it out (a fresh model each time; median of several runs, the first run too);
* **filter change** — ``set_filters(...)`` until the new first page is shown, for a set of
  everyday filters (status, priority, category, tag, assignee, search text); the worst
  one is what is compared with the target;
* **jump to the last row** — ``jump_to_end()`` (Ctrl+End) until the last row is shown and
  selected (the model asks for the reversed keyset order: no OFFSET, nothing in between);
* **model memory** — Python heap held by the model (tracemalloc) and process RSS growth
  after paging through ``MEMORY_ROWS`` rows with ``fetchMore``; per-row cost reported.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
import tracemalloc
from typing import Any

from sqlalchemy import create_engine, text

from desk_desktop.bench.scratch import scratch_database
from desk_desktop.config import Settings

FIRST_ROWS_TARGET_MS = 300.0
FILTER_TARGET_MS = 300.0
JUMP_TARGET_MS = 500.0
MEMORY_TARGET_MIB = 200.0
TICKETS = 1_000_000
QUICK_TICKETS = 50_000
MEMORY_ROWS = 20_000


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _populate(url: str, n_tickets: int) -> dict[str, Any]:
    from desk_desktop.db.session import normalize_url

    eng = create_engine(normalize_url(url))
    started = time.perf_counter()
    n_wo = int(n_tickets * 0.3)
    with eng.begin() as conn:
        org = conn.execute(text(
            "INSERT INTO organizations (name, slug, timezone) VALUES ('Bench Field Services', 'bench', 'UTC') "
            "RETURNING id")).scalar_one()
        conn.execute(text("""
            INSERT INTO customers (organization_id, ref, name, customer_type, email, phone)
            SELECT :o, 'C' || g, (ARRAY['Northwind','Contoso','Fabrikam','Tailspin','Litware','Proseware',
                   'Adventure Works','Wide World'])[1 + g % 8] || ' ' || g,
                   (ARRAY['residential','business','enterprise','government'])[1 + g % 4],
                   'c' || g || '@example.com', '(312) 555-' || lpad((g % 10000)::text, 4, '0')
            FROM generate_series(1, 2000) g"""), {"o": org})
        conn.execute(text("""
            INSERT INTO sites (organization_id, ref, customer_id, name, address, location)
            SELECT :o, 'S' || c.ref, c.id, 'Main office', (100 + c.id % 4000) || ' N Clark St, Chicago, IL',
                   ST_SetSRID(ST_MakePoint(-87.9 + (c.id % 97) / 200.0, 41.6 + (c.id % 89) / 200.0), 4326)::geography
            FROM customers c WHERE c.organization_id = :o"""), {"o": org})
        conn.execute(text("""
            INSERT INTO technicians (organization_id, name, email, phone, active, home_base, max_open_work_orders,
                                     working_hours, weekly_hours)
            SELECT :o, (ARRAY['Maria','James','Priya','Tomasz','Aisha','Carlos','Mei','Jamal'])[1 + g % 8] || ' '
                   || (ARRAY['Garcia','Nowak','Patel','Kim','Johnson','Rossi'])[1 + g % 6] || ' ' || g,
                   't' || g || '@example.com', '555-' || g, true,
                   ST_SetSRID(ST_MakePoint(-87.9 + (g % 50) / 100.0, 41.6 + (g % 40) / 100.0), 4326)::geography,
                   8, '{}'::jsonb, 40
            FROM generate_series(1, 200) g"""), {"o": org})
        idx = conn.execute(text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'tickets' AND schemaname = 'public' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'tickets'::regclass)"
        )).all()
        for name, _ in idx:
            conn.execute(text(f'DROP INDEX "{name}"'))
        conn.execute(text("""
            INSERT INTO tickets (organization_id, number, customer_id, customer_name, site_id, location, category,
                                 priority, tags, status, subject, description, created_by, created_at, updated_at)
            SELECT :o, 'TK-' || lpad(g::text, 7, '0'), c.id, c.name, s.id, s.location,
                   (ARRAY['hvac','electrical','plumbing','network','hardware','software','security',
                          'appliance','general'])[1 + g % 9],
                   (ARRAY['low','medium','medium','high','urgent'])[1 + (g / 7) % 5],
                   CASE WHEN g % 10 = 0 THEN ARRAY['vip'] WHEN g % 13 = 0 THEN ARRAY['after-hours']
                        ELSE '{}'::text[] END,
                   (ARRAY['new','open','pending','resolved','closed','closed'])[1 + (g / 3) % 6],
                   (ARRAY['Rooftop unit not cooling','Breaker keeps tripping','Burst pipe in basement',
                          'Wi-Fi down in east wing','POS terminal will not boot','Email sync failing',
                          'Door access panel offline','Walk-in freezer warming up','Loose handrail on stairs',
                          'Water heater leaking','Flickering lights in lobby','Slow internet at front desk'])
                       [1 + g % 12] || ' #' || g,
                   'Reported by phone. Please call ahead before arriving.',
                   'bench', now() - make_interval(secs => (:n - g) * 90), now() - make_interval(secs => (:n - g) * 90)
            FROM generate_series(1, :n) g
            JOIN customers c ON c.organization_id = :o AND c.ref = 'C' || (1 + g % 2000)
            JOIN sites s ON s.customer_id = c.id"""), {"o": org, "n": n_tickets})
        for _, definition in idx:
            conn.execute(text(definition))
        conn.execute(text("""
            INSERT INTO work_orders (organization_id, source_ticket_id, source, work_type, priority, status,
                                     technician_id, duration_minutes, needs_assignment, scheduled_start,
                                     scheduled_end, created_at)
            SELECT t.organization_id, t.id, 'auto_rule', 'repair', t.priority,
                   CASE WHEN t.id % 3 = 0 THEN 'scheduled' ELSE 'unassigned' END,
                   CASE WHEN t.id % 3 = 0 THEN (SELECT min(id) FROM technicians) + t.id % 200 END,
                   90, false,
                   CASE WHEN t.id % 3 = 0 THEN t.created_at + interval '1 day' END,
                   CASE WHEN t.id % 3 = 0 THEN t.created_at + interval '1 day 90 minutes' END,
                   t.created_at
            FROM tickets t WHERE t.organization_id = :o AND t.id % 10 < 3 LIMIT :w"""), {"o": org, "w": n_wo})
    with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    eng.dispose()
    return {"organization_id": org, "seconds": round(time.perf_counter() - started, 1), "work_orders": n_wo}


def run(settings: Settings, args) -> dict:
    quick = bool(getattr(args, "quick", False))
    n = QUICK_TICKETS if quick else TICKETS
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    with scratch_database(settings, prefix="bench_ticket_list") as url:
        setup = _populate(url, n)
        result = _measure(url, setup["organization_id"], n)
    figures = result["figures"]
    ok = (figures["first_rows_ms"] <= FIRST_ROWS_TARGET_MS and figures["filter_change_ms"] <= FILTER_TARGET_MS
          and figures["jump_to_last_ms"] <= JUMP_TARGET_MS and figures["model_memory_mib"] <= MEMORY_TARGET_MIB)
    return {
        "name": "ticket_list",
        "value": figures["first_rows_ms"],
        "unit": "ms (first rows shown)",
        "baseline": None,
        "ratio": None,
        "target": (f"first rows <= {FIRST_ROWS_TARGET_MS:.0f} ms, filter change <= {FILTER_TARGET_MS:.0f} ms, "
                   f"jump to last row <= {JUMP_TARGET_MS:.0f} ms, model memory <= {MEMORY_TARGET_MIB:.0f} MiB"),
        "ok": ok and not quick,
        "details": {"tickets": n, "quick": quick, "setup": setup, **figures, **result["details"]},
    }


def _measure(url: str, org_id: int, n: int) -> dict:
    from PySide6.QtCore import QEventLoop, QItemSelectionModel, QThreadPool, QTimer
    from PySide6.QtWidgets import QApplication, QTableView

    from desk_desktop.db.session import UnitOfWorkFactory, make_engine
    from desk_desktop.services.common import Actor
    from desk_desktop.services.tickets import list_tickets
    from desk_desktop.ui.context import UiContext
    from desk_desktop.ui.tickets.model import COL_NUMBER, FilterState, TicketTableModel
    from desk_desktop.ui.workers import TaskRunner

    app = QApplication.instance() or QApplication([])
    engine = make_engine(url)
    uowf = UnitOfWorkFactory(engine)
    actor = Actor(organization_id=org_id, name="bench", is_admin=True)
    pool = QThreadPool()
    pool.setMaxThreadCount(4)
    ctx = UiContext(uow_factory=uowf, actor=actor, settings=Settings(), runner=TaskRunner(pool=pool))
    # Warm the connection pool and the catalog caches (a running app has done this at start-up).
    list_tickets(uow=uowf(), actor=actor, limit=1)
    some_tech = None
    with engine.connect() as conn:
        some_tech = conn.execute(text("SELECT technician_id FROM work_orders WHERE organization_id = :o "
                                      "AND technician_id IS NOT NULL ORDER BY id DESC LIMIT 1"),
                                 {"o": org_id}).scalar_one()

    def wait_for(model, signal, action, timeout_ms: int = 30_000) -> float:
        loop = QEventLoop()
        signal.connect(loop.quit)
        timer = QTimer()
        timer.setSingleShot(True)
        timer.timeout.connect(loop.quit)
        t0 = time.perf_counter()
        action()
        timer.start(timeout_ms)
        loop.exec()
        app.processEvents()  # the view lays out and paints the rows
        elapsed = (time.perf_counter() - t0) * 1000
        signal.disconnect(loop.quit)
        if not timer.isActive():
            raise RuntimeError("timed out waiting for the model")
        timer.stop()
        return elapsed

    def new_view():
        model = TicketTableModel(ctx)
        view = QTableView()
        view.setModel(model)
        view.resize(1200, 800)
        view.show()
        return model, view

    # ---- first rows shown
    first_runs = []
    for _ in range(5):
        model, view = new_view()
        first_runs.append(wait_for(model, model.rows_loaded, model.refresh))
        assert model.rowCount() > 0
        pool.waitForDone(30_000)
        app.processEvents()
        view.close()
        view.deleteLater()
        model.deleteLater()
        app.processEvents()

    # ---- filter changes (one model, as in the app)
    model, view = new_view()
    wait_for(model, model.rows_loaded, model.refresh)
    pool.waitForDone(30_000)
    filters = {
        "status open": FilterState(statuses=("open",)),
        "priority urgent": FilterState(priorities=("urgent",)),
        "category hvac + high": FilterState(categories=("hvac",), priorities=("high",)),
        "tag vip": FilterState(tag="vip"),
        "unassigned": FilterState(assignee="unassigned"),
        "technician": FilterState(assignee=int(some_tech)),
        "search 'burst pipe'": FilterState(text="burst pipe"),
        "search number": FilterState(text=f"TK-{n // 2:07d}"),
        "search rare word": FilterState(text="handrail on stairs #99"),
        "status new + search 'freezer'": FilterState(statuses=("new",), text="freezer"),
        "clear": FilterState(),
    }
    filter_ms: dict[str, float] = {}
    filter_rows: dict[str, int] = {}
    for label, state in filters.items():
        filter_ms[label] = round(wait_for(model, model.rows_loaded, lambda s=state: model.set_filters(s)), 1)
        filter_rows[label] = model.rowCount()
        pool.waitForDone(30_000)  # let the count finish: measure each change on its own
        app.processEvents()

    # ---- jump to the last row
    jump_runs = []
    for _ in range(3):
        if model.anchor == "end":
            wait_for(model, model.rows_loaded, model.jump_to_start)
        pool.waitForDone(30_000)

        def jump():
            model.jump_to_end()

        def select_last():
            last = model.index(model.rowCount() - 1, COL_NUMBER)
            view.selectionModel().setCurrentIndex(last, QItemSelectionModel.SelectionFlag.ClearAndSelect)
            view.scrollTo(last)

        model.rows_loaded.connect(select_last)
        jump_runs.append(wait_for(model, model.rows_loaded, jump))
        model.rows_loaded.disconnect(select_last)
        last_number = view.currentIndex().data()
        pool.waitForDone(30_000)
    with engine.connect() as conn:
        oldest = conn.execute(text("SELECT number FROM tickets WHERE organization_id = :o "
                                   "ORDER BY created_at, id LIMIT 1"), {"o": org_id}).scalar_one()
    if last_number != oldest:
        raise RuntimeError(f"jump to end selected {last_number}, the last ticket is {oldest}")

    # ---- paging speed: fetchMore as the view scrolls down
    if model.anchor == "end":
        wait_for(model, model.rows_loaded, model.jump_to_start)
        pool.waitForDone(30_000)
    page_ms = []
    for _ in range(10):
        if not model.canFetchMore():
            break
        page_ms.append(wait_for(model, model.rows_loaded, model.fetchMore))

    # ---- memory: page through MEMORY_ROWS rows; RSS first, then the Python heap (tracemalloc
    # has its own cost, so the two are measured in separate passes)
    view.close()
    model.deleteLater()
    app.processEvents()

    def fill() -> tuple:
        m, v = new_view()
        wait_for(m, m.rows_loaded, m.refresh)
        while m.rowCount() < MEMORY_ROWS and m.canFetchMore():
            wait_for(m, m.rows_loaded, m.fetchMore)
        pool.waitForDone(30_000)
        app.processEvents()
        gc.collect()
        return m, v

    gc.collect()
    rss0 = _rss_bytes()
    model, view = fill()
    rss_growth = _rss_bytes() - rss0
    rows_held = model.rowCount()
    view.close()
    model.deleteLater()
    app.processEvents()
    del model, view
    gc.collect()
    tracemalloc.start()
    snap0 = tracemalloc.take_snapshot()
    model, view = fill()
    snap1 = tracemalloc.take_snapshot()
    tracemalloc.stop()
    heap = sum(stat.size_diff for stat in snap1.compare_to(snap0, "filename"))
    per_row = heap / max(1, rows_held)
    view.close()
    engine.dispose()

    figures = {
        "first_rows_ms": round(statistics.median(first_runs), 1),
        "filter_change_ms": round(max(v for k, v in filter_ms.items()), 1),
        "jump_to_last_ms": round(statistics.median(jump_runs), 1),
        "model_memory_mib": round(max(heap, rss_growth) / 2**20, 1),
    }
    details = {
        "first_rows_runs_ms": [round(x, 1) for x in first_runs],
        "filter_change_ms_each": filter_ms,
        "filter_change_median_ms": round(statistics.median(filter_ms.values()), 1),
        "filter_rows_in_first_page": filter_rows,
        "jump_to_last_runs_ms": [round(x, 1) for x in jump_runs],
        "jump_selected": last_number,
        "memory_rows_loaded": rows_held,
        "memory_python_heap_mib": round(heap / 2**20, 1),
        "memory_rss_growth_mib": round(rss_growth / 2**20, 1),
        "memory_bytes_per_row": round(per_row),
        "rows_within_target_at_this_cost": int(MEMORY_TARGET_MIB * 2**20 / max(per_row, 1)),
        "fetch_more_page_ms_median": round(statistics.median(page_ms), 1) if page_ms else None,
        "page_size": 200,
    }
    return {"figures": figures, "details": details}
