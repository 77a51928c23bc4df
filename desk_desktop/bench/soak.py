"""bench soak: the main window (offscreen) through a compressed working day; memory and stalls.

Another workstation (a separate process, its own connection) works through the day in
``HOURS`` equal parts: ticket edits (live changes the window receives over LISTEN), technician
moves (map updates) and uploads; meanwhile the window switches pages every
``PAGE_SWITCH_MS``. After each part the resident memory of this process and of its
QtWebEngine helper processes is sampled. A 10 ms timer on the GUI thread measures the
longest gap between its ticks (a stall).

Target: memory growth after the first part (hour) <= 50 MiB, and no stall over 200 ms.
"""

from __future__ import annotations

import io
import os
import queue
import random
import subprocess
import sys
import threading
from pathlib import Path

from desk_desktop.bench.qtwait import ensure_qt_env
from desk_desktop.bench.scratch import scratch_database
from desk_desktop.config import Settings

HOURS = 8
FULL = {"changes": 10_000, "moves": 2_000, "uploads": 500}
QUICK = {"changes": 800, "moves": 160, "uploads": 40}
TARGET_GROWTH_MIB = 50.0
TARGET_STALL_MS = 200.0
HEARTBEAT_MS = 10
PAGE_SWITCH_MS = 1500
UPLOAD_BYTES = 200 * 1024


def drive(url: str, hours: int, changes: int, moves: int, uploads: int) -> None:
    """The other workstation: the day's work, printing ``hour N`` after each part."""
    from sqlalchemy import text

    from desk_desktop.db.session import UnitOfWorkFactory, make_engine
    from desk_desktop.services import attachments, tickets
    from desk_desktop.services.common import Actor

    rng = random.Random(21)
    engine = make_engine(url, pool_size=2)
    uows = UnitOfWorkFactory(engine)
    with uows() as uow:
        org = uow.session.execute(text("SELECT min(id) FROM organizations")).scalar_one()
        ticket_ids = list(uow.session.execute(text("SELECT id FROM tickets WHERE organization_id = :o ORDER BY id "
                                                   "LIMIT 200"), {"o": org}).scalars())
        tech_ids = list(uow.session.execute(text("SELECT id FROM technicians WHERE organization_id = :o"),
                                            {"o": org}).scalars())
    actor = Actor(organization_id=org, name="soak (other workstation)", is_admin=True)
    for hour in range(1, hours + 1):
        steps = (["change"] * (changes // hours) + ["move"] * (moves // hours) + ["upload"] * (uploads // hours))
        rng.shuffle(steps)
        for i, step in enumerate(steps):
            if step == "change":
                tickets.update_ticket(uow=uows(), actor=actor, ticket_id=rng.choice(ticket_ids),
                                      description=f"Soak note {hour}.{i}")
            elif step == "move" and tech_ids:
                uow = uows()
                with uow:
                    tech = rng.choice(tech_ids)
                    uow.session.execute(text(
                        "UPDATE technicians SET current_location = ST_Project(coalesce(current_location, home_base), "
                        ":m, radians(:b)) WHERE id = :t"), {"m": rng.uniform(50, 500), "b": rng.uniform(0, 360),
                                                           "t": tech})
                    uow.record_change("technician", tech, org, "moved")
                    uow.commit()
            elif step == "upload":
                attachments.add_attachment(uow_factory=uows, actor=actor, ticket_id=rng.choice(ticket_ids),
                                           source=io.BytesIO(b"%PDF-1.4\n" + rng.randbytes(UPLOAD_BYTES) + b"\n%%EOF\n"),
                                           original_name=f"site-report-{hour}-{i}.pdf")
        print(f"hour {hour}", flush=True)
    engine.dispose()


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _web_engine_pids(root: int) -> list[int]:
    """QtWebEngine helper processes started (directly or not) by ``root``."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        pid = int(stat.parent.name)
        names[pid] = text[text.index("(") + 1:text.rindex(")")]
        parents[pid] = int(text.rsplit(")", 1)[1].split()[1])

    def descends(pid: int) -> bool:
        seen = 0
        while pid > 1 and seen < 64:
            pid = parents.get(pid, 0)
            if pid == root:
                return True
            seen += 1
        return False

    return [pid for pid, name in names.items() if name.startswith("QtWebEngine") and descends(pid)]


def run(settings: Settings, args) -> dict:
    ensure_qt_env()
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer

    from desk_desktop.bootstrap import open_database, start_workstation
    from desk_desktop.services.demo import load_demo
    from desk_desktop.ui.app import build_main_window, create_application
    from desk_desktop.ui.main_window import PAGES

    sizes = QUICK if getattr(args, "quick", False) else FULL
    with scratch_database(settings, prefix="bench_soak") as url:
        db = open_database(settings.with_database_url(url))
        try:
            load_demo(uow_factory=db.uow_factory, tickets=300)
        finally:
            db.close()
        app = create_application([])
        ws = start_workstation(settings.with_database_url(url), with_scheduler=False)
        window = build_main_window(ws)
        window.resize(1440, 900)
        window.show()
        for key, *_ in PAGES:  # every page (and the map's web engine) once before the day starts
            window.show_page(key)
            _spin(app, 1500)

        lines: queue.Queue[str | None] = queue.Queue()
        proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from desk_desktop.bench.soak import drive; "
             "drive(sys.argv[1], *map(int, sys.argv[2:]))", url, str(HOURS), str(sizes["changes"]),
             str(sizes["moves"]), str(sizes["uploads"])],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line.strip())
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        samples: list[dict] = []
        gaps: list[float] = []
        clock = QElapsedTimer()
        clock.start()
        last = [clock.elapsed()]

        def beat() -> None:
            now = clock.elapsed()
            gaps.append(now - last[0] - HEARTBEAT_MS)
            last[0] = now

        keys = [p[0] for p in PAGES]
        turn = [0]

        def switch() -> None:
            turn[0] += 1
            window.show_page(keys[turn[0] % len(keys)])

        loop = QEventLoop()

        def poll() -> None:
            while True:
                try:
                    line = lines.get_nowait()
                except queue.Empty:
                    return
                if line is None:
                    loop.quit()
                    return
                if line.startswith("hour"):
                    web = _web_engine_pids(os.getpid())
                    samples.append({"hour": int(line.split()[1]), "app_mib": _rss_kib(os.getpid()) / 1024,
                                    "webengine_mib": sum(_rss_kib(p) for p in web) / 1024,
                                    "webengine_processes": len(web)})

        timers = []
        for interval, slot in ((HEARTBEAT_MS, beat), (PAGE_SWITCH_MS, switch), (100, poll)):
            t = QTimer()
            t.setInterval(interval)
            t.timeout.connect(slot)
            t.start()
            timers.append(t)
        loop.exec()
        for t in timers:
            t.stop()
        err = proc.stderr.read() if proc.stderr else ""
        proc.wait(60)
        window.close()
        _spin(app, 500)
        ws.shutdown()
    if proc.returncode != 0 or len(samples) < 2:
        raise RuntimeError(f"the other workstation failed ({proc.returncode}): {err[-2000:]}")
    total = [s["app_mib"] + s["webengine_mib"] for s in samples]
    growth = max(total[1:]) - total[0]
    stall = max(gaps) if gaps else 0.0
    return {
        "name": "soak", "value": round(growth, 1), "unit": "MiB", "baseline": None, "ratio": None,
        "target": f"growth after the first hour <= {TARGET_GROWTH_MIB:g} MiB; no GUI stall over "
                  f"{TARGET_STALL_MS:g} ms",
        "ok": growth <= TARGET_GROWTH_MIB and stall <= TARGET_STALL_MS,
        "details": {"max_stall_ms": round(stall, 1), "stalls_over_target": sum(g > TARGET_STALL_MS for g in gaps),
                    "samples": [{k: round(v, 1) if isinstance(v, float) else v for k, v in s.items()}
                                for s in samples],
                    "work": {**sizes, "hours": HOURS, "upload_bytes": UPLOAD_BYTES,
                             "page_switch_ms": PAGE_SWITCH_MS},
                    "measured": "RSS of this process + its QtWebEngine processes after each hour's worth; "
                                "longest gap of a 10 ms GUI timer"},
    }


def _spin(app, ms: int) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()
