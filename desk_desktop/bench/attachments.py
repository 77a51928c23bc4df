"""bench attachments: ingest of a 1 GiB file through the attachment service (stream, hash,
sniff, store in chunks) against a ``COPY`` of the same bytes into a bytea table, and the
peak memory growth of the process while ingesting.

Both sides read the same file from disk in 1 MiB pieces and write 1 MiB rows, in the same
database, in the same run; rounds alternate and the best of each side counts (the machine
is shared). Memory: the kernel's peak-RSS counter is reset (``/proc/self/clear_refs``) just
before each ingest and read after it; a sampling thread backs it up where the reset is not
allowed.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

from desk_desktop.config import Settings

TARGET_RATIO = 0.5
TARGET_RSS_MIB = 64.0
PIECE = 1024 * 1024


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class _Sampler(threading.Thread):
    def __init__(self, interval: float = 0.01) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peak_kib = _status_kib("VmRSS")
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak_kib = max(self.peak_kib, _status_kib("VmRSS"))
            self._halt.wait(self.interval)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        self.peak_kib = max(self.peak_kib, _status_kib("VmRSS"))
        return self.peak_kib


def _make_file(path: Path, size: int) -> None:
    # Random bytes (incompressible, like photos and videos), written 1 MiB at a time so the
    # file generation itself does not raise the memory high-water mark.
    block = os.urandom(16 * PIECE)
    with open(path, "wb") as fh:
        written = 0
        i = 0
        while written < size:
            # Vary each MiB so no two pieces are the same.
            piece = block[(i % 16) * PIECE:((i % 16) + 1) * PIECE]
            piece = i.to_bytes(8, "little") + piece[8:]
            n = min(PIECE, size - written)
            fh.write(piece[:n])
            written += n
            i += 1


def _setup(uow_factory, slug: str):
    from sqlalchemy import text

    from desk_desktop.services.common import Actor

    uow = uow_factory()
    with uow:
        s = uow.session
        org = s.execute(text("INSERT INTO organizations (name, slug, max_attachment_bytes) "
                             "VALUES (:n, :s, :m) RETURNING id"),
                        {"n": f"Bench {slug}", "s": slug, "m": 4 * 1024 ** 3}).scalar_one()
        cust = s.execute(text("INSERT INTO customers (organization_id, ref, name, customer_type) "
                              "VALUES (:o, 'B1', 'Bench customer', 'business') RETURNING id"),
                         {"o": org}).scalar_one()
        ticket = s.execute(text("INSERT INTO tickets (organization_id, number, customer_id, customer_name, category, "
                                "priority, subject, created_by) VALUES (:o, :n, :c, 'Bench customer', 'hvac', "
                                "'medium', 'Bench', 'bench') RETURNING id"),
                           {"o": org, "n": f"B-{slug}", "c": cust}).scalar_one()
        uow.commit()
    return Actor(organization_id=org, name="bench", is_admin=True), ticket


def _checkpoint(engine) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    try:
        with engine.connect() as conn:
            conn.execute(text("CHECKPOINT"))
            conn.commit()
    except DBAPIError:
        pass  # not allowed for this role: measure without it


def _baseline(engine, path: Path, table: str) -> float:
    """Seconds to COPY the file into a bytea table, 1 MiB per row (binary COPY)."""
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} (seq int PRIMARY KEY, data bytea NOT NULL)")
            cur.execute(f"ALTER TABLE {table} ALTER COLUMN data SET STORAGE EXTERNAL")
        conn.commit()
        t0 = time.perf_counter()
        with conn.cursor() as cur, open(path, "rb") as fh:
            with cur.copy(f"COPY {table} (seq, data) FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(["int4", "bytea"])
                seq = 0
                while True:
                    piece = fh.read(PIECE)
                    if not piece:
                        break
                    cp.write_row((seq, piece))
                    seq += 1
        conn.commit()
        elapsed = time.perf_counter() - t0
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE {table}")
        conn.commit()
        return elapsed
    finally:
        raw.close()


def run(settings: Settings, args) -> dict:
    from desk_desktop.bench.scratch import scratch_database
    from desk_desktop.db.session import UnitOfWorkFactory, make_engine
    from desk_desktop.services import attachments

    quick = bool(getattr(args, "quick", False))
    size = (128 if quick else 1024) * PIECE
    rounds = 4 if not quick else 2
    with tempfile.TemporaryDirectory(prefix="desk-bench-att-") as tmp, \
            scratch_database(settings, prefix="bench_att") as url:
        path = Path(tmp) / "big.bin"
        _make_file(path, size)
        engine = make_engine(url, pool_size=2)
        try:
            factory = UnitOfWorkFactory(engine)
            ingest_times: list[float] = []
            baseline_times: list[float] = []
            rss_growth_mib: list[float] = []
            sampled_growth_mib: list[float] = []
            peak_reset = True
            for r in range(rounds):
                # Alternate which side goes first, and start each from a checkpoint, so that
                # neither always pays for the other's dirty buffers.
                if r % 2 == 0:
                    _checkpoint(engine)
                    baseline_times.append(_baseline(engine, path, f"bench_bytea_{r}"))

                actor, ticket = _setup(factory, f"bench-{r}")
                _checkpoint(engine)
                before_kib = _status_kib("VmRSS")
                peak_reset = _reset_peak() and peak_reset
                sampler = _Sampler()
                sampler.start()
                t0 = time.perf_counter()
                info = attachments.add_attachment(uow_factory=factory, actor=actor, ticket_id=ticket, source=path,
                                                  original_name="survey-video.bin")
                ingest_times.append(time.perf_counter() - t0)
                sampled_peak = sampler.stop()
                hwm_kib = _status_kib("VmHWM")
                if info.size != size:
                    raise RuntimeError(f"stored {info.size} bytes, expected {size}")
                rss_growth_mib.append(((hwm_kib if peak_reset else sampled_peak) - before_kib) / 1024)
                sampled_growth_mib.append((sampled_peak - before_kib) / 1024)
                if r % 2 == 1:
                    _checkpoint(engine)
                    baseline_times.append(_baseline(engine, path, f"bench_bytea_{r}"))
        finally:
            engine.dispose()

    mb = size / 1e6
    best_ingest = min(ingest_times)
    best_base = min(baseline_times)
    value = mb / best_ingest
    baseline = mb / best_base
    ratio = value / baseline
    growth = max(rss_growth_mib)
    ok = ratio >= TARGET_RATIO and growth <= TARGET_RSS_MIB
    return {
        "name": "attachments",
        "value": round(value, 1),
        "unit": "MB/s",
        "baseline": round(baseline, 1),
        "ratio": round(ratio, 3),
        "target": f">= {TARGET_RATIO} of baseline; RSS growth <= {TARGET_RSS_MIB:g} MiB",
        "ok": ok,
        "details": {
            "file_bytes": size,
            "rounds": rounds,
            "ingest_seconds": [round(t, 2) for t in ingest_times],
            "baseline_copy_seconds": [round(t, 2) for t in baseline_times],
            "peak_rss_growth_mib": round(growth, 1),
            "peak_rss_growth_per_round_mib": [round(g, 1) for g in rss_growth_mib],
            "sampled_rss_growth_mib": [round(g, 1) for g in sampled_growth_mib],
            "peak_measured_by": "VmHWM after clear_refs reset" if peak_reset else "VmRSS sampling every 10 ms",
            "chunk_bytes": attachments.CHUNK_SIZE,
            "quick": quick,
        },
    }
