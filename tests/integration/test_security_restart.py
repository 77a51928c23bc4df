"""The database is killed under load and restarted (issue 21, item 16).

A cluster of its own (it is SIGKILLed), real processes logged in as a dispatcher: one
creating tickets (numbering + automation), one uploading files, one scheduler assigning
and sending notifications to a real SMTP server. Every PostgreSQL process is killed with
SIGKILL in the middle of that work, then the cluster is started again. Afterwards:

* every process carried on by itself (successes after the restart, no restart of ours);
* ticket numbers are gapless and every number a writer saw committed exists;
* no upload is half-stored (no blob in progress, every blob's chunks add up to its size and
  SHA-256);
* no notification is lost (every e-mail row sent and received) and none is sent twice,
  except the one the mail server may have accepted just before the crash — delivered
  again with the same Message-ID (delivery is at least once; see services/notifications).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from desk_desktop.db import migrate
from desk_desktop.db.local_cluster import LocalCluster
from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from desk_desktop.services import admin
from desk_desktop.services.session_info import dispatcher_url
from tests.smtp_recorder import SmtpRecorder

ROOT = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from desk_desktop.db.session import UnitOfWorkFactory, make_engine
    from desk_desktop.services.session_info import current_actor
    from desk_desktop.services.tickets import create_ticket

    url, stop = sys.argv[1], Path(sys.argv[2])
    uows = UnitOfWorkFactory(make_engine(url, pool_size=1))
    actor = None
    i = 0
    while not stop.exists():
        try:
            actor = actor or current_actor(uow=uows())
            t = create_ticket(uow=uows(), actor=actor, subject=f"Cooling fault {i}", category="hvac",
                              priority="high", customer_ref="C-1", site_ref="S-1")
            print("ok", time.time(), t.ticket.number, flush=True)
            i += 1
        except Exception as exc:  # the database is down: try again, as a workstation would
            print("err", time.time(), type(exc).__name__, flush=True)
            time.sleep(0.2)
""")

UPLOADER = textwrap.dedent("""
    import hashlib, os, sys, time
    from pathlib import Path
    from desk_desktop.db.session import UnitOfWorkFactory, make_engine
    from desk_desktop.services import attachments
    from desk_desktop.services.session_info import current_actor

    url, stop, ticket = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    uows = UnitOfWorkFactory(make_engine(url, pool_size=1))
    actor = None
    while not stop.exists():
        data = os.urandom(attachments.CHUNK_SIZE * 2 + 12345)
        try:
            actor = actor or current_actor(uow=uows())
            info = attachments.add_attachment(uow_factory=uows, actor=actor, ticket_id=ticket,
                                              source=__import__("io").BytesIO(data), original_name="scan.bin")
            assert info.sha256 == hashlib.sha256(data).hexdigest()
            print("ok", time.time(), info.sha256, flush=True)
        except Exception as exc:
            print("err", time.time(), type(exc).__name__, flush=True)
            time.sleep(0.2)
""")


@pytest.fixture
def cluster(tmp_path):
    c = LocalCluster(tmp_path / "restart-cluster", db_name="desk_restart")
    c.start()
    yield c
    c.destroy()


@pytest.fixture
def smtp():
    rec = SmtpRecorder().start()
    yield rec
    rec.stop()


def _seed(url: str, login: str) -> int:
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        uows = UnitOfWorkFactory(engine)
        org = admin.add_organization(uow=uows(), slug="restart", name="Restart Services")
        admin.add_dispatcher(uow=uows(), org_slug="restart", login=login, display_name="Dana", is_admin=True)
        with engine.begin() as conn:
            one = lambda sql, **kw: conn.execute(text(sql), {"o": org.id, **kw}).scalar_one()  # noqa: E731
            customer = one("INSERT INTO customers (organization_id, ref, name, customer_type, email) VALUES "
                           "(:o, 'C-1', 'Northwind', 'business', 'facilities@northwind.example') RETURNING id")
            one("INSERT INTO sites (organization_id, ref, customer_id, name, address, location) VALUES (:o, 'S-1', "
                ":c, 'HQ', 'Main street 1', ST_GeogFromText('POINT(-87.63 41.88)')) RETURNING id", c=customer)
            for i in range(3):
                tech = one("INSERT INTO technicians (organization_id, name, email, home_base, current_location, "
                           "max_open_work_orders, active) VALUES (:o, :n, :e, ST_GeogFromText('POINT(-87.63 41.88)'), "
                           "ST_GeogFromText('POINT(-87.63 41.88)'), 1000, true) RETURNING id",
                           n=f"Tech {i}", e=f"tech{i}@techs.example")
                conn.execute(text("INSERT INTO technician_skills (organization_id, technician_id, skill, proficiency) "
                                  "VALUES (:o, :t, 'hvac', 4)"), {"o": org.id, "t": tech})
            one("INSERT INTO ticket_work_order_rules (organization_id, name, active, priority, trigger_categories, "
                "wo_type, wo_priority, wo_duration_minutes, auto_assign, assignment_logic, auto_schedule, "
                "schedule_offset_minutes, notify_customer, notify_technician) VALUES (:o, 'HVAC', true, 10, "
                "ARRAY['hvac'], 'repair', 'high', 60, true, 'workload', true, 60, true, true) RETURNING id")
            return one("INSERT INTO tickets (organization_id, number, customer_id, customer_name, category, priority, "
                       "subject, created_by) VALUES (:o, 'UPLOADS-1', :c, 'Northwind', 'plumbing', 'low', 'Uploads', "
                       "'seed') "
                       "RETURNING id", c=customer)
    finally:
        engine.dispose()


def _lines(path: Path) -> list[list[str]]:
    """The whole lines a helper process has written so far (one still being written is left for later)."""
    text = path.read_text()
    return [line.split() for line in text[:text.rfind("\n") + 1].splitlines() if line.strip()]


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _oks(path: Path, after: float = 0.0) -> list[list[str]]:
    return [p for p in _lines(path) if p[0] == "ok" and float(p[1]) > after]


def _parent_pid(stat: Path) -> int | None:
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _kill_postgres(cluster: LocalCluster) -> None:
    """SIGKILL the postmaster and every backend (a power cut, as far as PostgreSQL knows)."""
    postmaster = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
    children = [int(stat.parent.name) for stat in Path("/proc").glob("[0-9]*/stat")
                if _parent_pid(stat) == postmaster]
    for pid in [postmaster, *children]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _wait(lambda: not cluster.is_running(), 30, "PostgreSQL to die")


def test_everything_recovers_by_itself_when_the_database_is_killed_and_restarted(cluster, smtp, tmp_path, request):
    login = "restart_dana"  # roles live and die with this private cluster
    upload_ticket = _seed(cluster.url, login)
    url = dispatcher_url(cluster.url, login)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DESK_SMTP_URL": smtp.url,
           "DESK_SMTP_FROM": "dispatch@acme.example", "DESK_LOG_LEVEL": "WARNING"}
    env.pop("DESK_DATABASE_URL", None)
    stop = tmp_path / "stop"
    writer_out, uploader_out = tmp_path / "writer.txt", tmp_path / "uploader.txt"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, url, str(stop)], env=env, cwd=ROOT,
                         stdout=writer_out.open("w"), stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, "-c", UPLOADER, url, str(stop), str(upload_ticket)], env=env, cwd=ROOT,
                         stdout=uploader_out.open("w"), stderr=subprocess.DEVNULL),
    ]
    scheduler = subprocess.Popen([sys.executable, "-m", "desk_desktop", "scheduler", "--database-url", url,
                                  "--jobs", "assign,notify", "--interval", "0.3", "--lease-seconds", "3",
                                  "--worker-id", "server"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                 stderr=(tmp_path / "scheduler.log").open("w"))
    request.addfinalizer(lambda: scheduler.poll() is None and scheduler.kill())  # when the test fails early
    try:
        _wait(lambda: len(_oks(writer_out)) >= 8 and len(_oks(uploader_out)) >= 2 and len(smtp.received()) >= 4,
              120, "work before the crash")
        _kill_postgres(cluster)
        killed_at = time.time()
        time.sleep(1.0)  # the processes notice: their statements fail
        assert cluster.start() is True
        restarted_at = time.time()
        _wait(lambda: len(_oks(writer_out, restarted_at)) >= 8 and len(_oks(uploader_out, restarted_at)) >= 2,
              120, "work after the restart")
        mails_after = len(smtp.received())
        _wait(lambda: len(smtp.received()) > mails_after, 180, "the scheduler to send after the restart")
    finally:
        stop.touch()
        for p in procs:
            p.wait(60)
    # Let the scheduler finish what is queued (leases of the crash expire after 3 s).
    engine = make_engine(cluster.url)
    try:
        def drained() -> bool:
            with engine.connect() as conn:
                return conn.execute(text("SELECT (SELECT count(*) FROM notifications WHERE status = 'pending') "
                                         "+ (SELECT count(*) FROM work_orders WHERE needs_assignment)")
                                    ).scalar() == 0
        _wait(drained, 90, "the scheduler to assign and send everything")
        scheduler.send_signal(signal.SIGTERM)
        scheduler.wait(30)

        with engine.connect() as conn:
            q = lambda sql: conn.execute(text(sql)).all()  # noqa: E731
            # Gapless numbers; every number a writer saw committed exists.
            numbers = [r[0] for r in q("SELECT number FROM tickets WHERE number <> 'UPLOADS-1' ORDER BY number")]
            values = sorted(int(n.rsplit("-", 1)[1]) for n in numbers)
            assert values == list(range(1, len(values) + 1)), values
            assert {p[2] for p in _oks(writer_out)} <= set(numbers)
            # No half-stored upload.
            assert q("SELECT id FROM blobs WHERE sha256 LIKE '~%'") == []
            bad = q("SELECT b.id FROM blobs b LEFT JOIN LATERAL (SELECT count(*) AS n, sum(length(data)) AS bytes, "
                    "encode(sha256(string_agg(data, ''::bytea ORDER BY seq)), 'hex') AS digest "
                    "FROM blob_chunks c WHERE c.blob_id = b.id) c ON true "
                    "WHERE c.n <> b.chunk_count OR c.bytes <> b.size OR c.digest <> b.sha256")
            assert bad == []
            stored = {r[0] for r in q("SELECT b.sha256 FROM attachments a JOIN blobs b ON b.id = a.blob_id")}
            assert {p[2] for p in _oks(uploader_out)} <= stored
            # No notification lost...
            rows = q("SELECT idempotency_key, channel, status FROM notifications")
            assert Counter(r.status for r in rows) == Counter({"sent": len(rows)})
            emails = {r.idempotency_key for r in rows if r.channel == "email"}
    finally:
        engine.dispose()
    got = smtp.received()
    keys = Counter(m.key for m in got)
    assert set(keys) == emails
    # ...and none sent twice, except one the mail server had accepted when PostgreSQL died
    # (then both copies carry the same Message-ID).
    doubled = [k for k, c in keys.items() if c > 1]
    assert len(doubled) <= 1 and all(c <= 2 for c in keys.values()), doubled
    for key in doubled:
        assert len({m.message["Message-ID"] for m in got if m.key == key}) == 1
    # Every process reconnected by itself: each has work from before and after the crash.
    for out in (writer_out, uploader_out):
        assert _oks(out) and float(_oks(out)[0][1]) < killed_at and _oks(out, restarted_at)
