"""bench import: CSV import of 10,000 technicians (skills, hours) and 100,000 customers with
sites through the import service (check every row, then one transaction each), against a
``COPY`` of the same files into plain tables, and the peak memory growth of the process.

Both sides read the same two files, in the same scratch database, in the same run; rounds
alternate and the best of each side counts (the machine is shared). The import goes into a
new organization each round. Memory: the kernel's peak-RSS counter is reset before each
import and read after it (as bench attachments does).
"""

from __future__ import annotations

import csv
import tempfile
import time
from pathlib import Path

from desk_desktop.bench.attachments import _reset_peak, _Sampler, _status_kib
from desk_desktop.config import Settings
from desk_desktop.services.importing import CUSTOMER_COLUMNS, TECHNICIAN_COLUMNS

TARGET_RATIO = 0.25
TARGET_RSS_MIB = 100.0
# The default catalog keys every new organization starts with (migration 0008).
SKILLS = ("hvac", "electrical", "plumbing", "networking", "fiber", "refrigeration", "appliances",
          "security_systems", "it_hardware", "gas", "solar", "carpentry")
TYPES = ("residential", "business", "enterprise", "government")


def _write_files(folder: Path, technicians: int, customers: int) -> tuple[Path, Path, int]:
    """The two CSV files; returns their paths and the number of customer rows (one per site)."""
    tech_path, cust_path = folder / "technicians.csv", folder / "customers.csv"
    with tech_path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(TECHNICIAN_COLUMNS)
        for i in range(technicians):
            skills = " ".join(f"{SKILLS[(i + k) % len(SKILLS)]}:{1 + (i + k) % 5}" for k in range(1 + i % 4))
            hours = "; ".join(f"{d} 08:00-12:00 13:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri"))
            w.writerow([f"Technician {i}", f"tech{i}@example.com", f"+49 30 {i:07d}", "yes" if i % 10 else "no",
                        skills, hours, f"{47 + (i % 800) / 100:.5f}", f"{6 + (i % 900) / 100:.5f}", 8])
    rows = 0
    with cust_path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(CUSTOMER_COLUMNS)
        for i in range(customers):
            for s in range(1 + (i % 4 == 0)):  # a quarter of the customers have two sites
                w.writerow([f"C{i:06d}", f"Customer {i}", TYPES[i % 4], f"c{i}@example.com", f"030 {i:07d}",
                            f"S{i:06d}-{s}", "Head office" if s == 0 else "Depot", f"Street {i} no. {s + 1}, Town",
                            f"{47 + (i % 700) / 100:.5f}", f"{6 + (i % 800) / 100:.5f}"])
                rows += 1
    return tech_path, cust_path, rows


def _baseline(engine, files: list[Path], round_: int) -> float:
    """Seconds to COPY both files into plain text tables (CSV format, as written)."""
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            for path, columns in zip(files, (TECHNICIAN_COLUMNS, CUSTOMER_COLUMNS), strict=True):
                table = f"bench_copy_{path.stem}_{round_}"
                cur.execute(f"CREATE TABLE {table} ({', '.join(f'{c} text' for c in columns)})")
                with path.open("rb") as fh, cur.copy(f"COPY {table} FROM STDIN (FORMAT csv, HEADER true)") as cp:
                    while piece := fh.read(1 << 20):
                        cp.write(piece)
        conn.commit()
        return time.perf_counter() - t0
    finally:
        raw.close()


# The floor's two statements: each customer from its first row, then every site with its customer.
_FLOOR_CUSTOMERS = """
    INSERT INTO customers (organization_id, ref, name, customer_type, email, phone)
    SELECT DISTINCT ON (customer_ref) :org, customer_ref, customer_name, customer_type,
           nullif(email, ''), nullif(phone, '')
      FROM {table} ORDER BY customer_ref"""
_FLOOR_SITES = """
    INSERT INTO sites (organization_id, customer_id, ref, name, address, location)
    SELECT :org, c.id, b.site_ref, b.site_name, b.address,
           CAST(ST_SetSRID(ST_MakePoint(CAST(b.lon AS float8), CAST(b.lat AS float8)), 4326) AS geography)
      FROM {table} b JOIN customers c ON c.organization_id = :org AND c.ref = b.customer_ref"""


def _floor(engine, table: str, round_: int) -> float:
    """Seconds to write the copied customer rows into customers and sites (rolled back)."""
    from sqlalchemy import text

    with engine.connect() as conn:
        org = conn.execute(text("INSERT INTO organizations (name, slug) VALUES (:n, :s) RETURNING id"),
                           {"n": f"Floor {round_}", "s": f"floor-{round_}"}).scalar_one()
        t0 = time.perf_counter()
        conn.execute(text(_FLOOR_CUSTOMERS.format(table=table)), {"org": org})
        conn.execute(text("ANALYZE customers"))  # as the import does after its first batch
        conn.execute(text(_FLOOR_SITES.format(table=table)), {"org": org})
        seconds = time.perf_counter() - t0
        conn.rollback()
    return seconds


def run(settings: Settings, args) -> dict:
    from sqlalchemy import text

    from desk_desktop.bench.attachments import _checkpoint
    from desk_desktop.bench.scratch import scratch_database
    from desk_desktop.db.session import UnitOfWorkFactory, make_engine
    from desk_desktop.services import importing
    from desk_desktop.services.common import Actor
    from desk_desktop.services.importing import customers as customers_file
    from desk_desktop.services.importing import technicians as technicians_file

    quick = bool(getattr(args, "quick", False))
    technicians, customers = (1_000, 10_000) if quick else (10_000, 100_000)
    rounds = 2
    with tempfile.TemporaryDirectory(prefix="desk-bench-import-") as tmp, \
            scratch_database(settings, prefix="bench_import") as url:
        tech_path, cust_path, customer_rows = _write_files(Path(tmp), technicians, customers)
        total_rows = technicians + customer_rows
        engine = make_engine(url, pool_size=2)
        import_times: list[float] = []
        baseline_times: list[float] = []
        floor_times: list[float] = []
        growth_mib: list[float] = []
        peak_reset = True
        try:
            factory = UnitOfWorkFactory(engine)
            for r in range(rounds):
                if r % 2 == 0:
                    _checkpoint(engine)
                    baseline_times.append(_baseline(engine, [tech_path, cust_path], r))
                with engine.begin() as conn:
                    org = conn.execute(text("INSERT INTO organizations (name, slug) VALUES (:n, :s) RETURNING id"),
                                       {"n": f"Import {r}", "s": f"import-{r}"}).scalar_one()
                actor = Actor(organization_id=org, name="bench import", is_admin=True)
                _checkpoint(engine)
                before_kib = _status_kib("VmRSS")
                peak_reset = _reset_peak() and peak_reset
                sampler = _Sampler()
                sampler.start()
                t0 = time.perf_counter()
                checked = technicians_file.check_technicians(uow=factory(), actor=actor, path=tech_path)
                added_t = technicians_file.run_technicians(uow=factory(), actor=actor, checked=checked)
                checked = customers_file.check_customers(uow=factory(), actor=actor, path=cust_path)
                added_c = customers_file.run_customers(uow=factory(), actor=actor, checked=checked)
                import_times.append(time.perf_counter() - t0)
                sampled = sampler.stop()
                hwm_kib = _status_kib("VmHWM")
                growth_mib.append(((hwm_kib if peak_reset else sampled) - before_kib) / 1024)
                if (added_t, added_c) != (technicians, customers):
                    raise RuntimeError(f"imported {added_t} technicians and {added_c} customers, "
                                       f"expected {technicians} and {customers}")
                if r % 2 == 1:
                    _checkpoint(engine)
                    baseline_times.append(_baseline(engine, [tech_path, cust_path], r))
                _checkpoint(engine)
                floor_times.append(_floor(engine, f"bench_copy_{cust_path.stem}_{r}", r))
            with engine.connect() as conn:
                stored = conn.execute(text("SELECT (SELECT count(*) FROM technician_skills), "
                                           "(SELECT count(*) FROM sites)")).one()
        finally:
            engine.dispose()

    value = total_rows / min(import_times)
    baseline = total_rows / min(baseline_times)
    ratio = value / baseline
    growth = max(growth_mib)
    floor = customer_rows / min(floor_times)
    ok = ratio >= TARGET_RATIO and growth <= TARGET_RSS_MIB
    return {
        "name": "import",
        "value": round(value),
        "unit": "rows/s",
        "baseline": round(baseline),
        "ratio": round(ratio, 3),
        "target": f">= {TARGET_RATIO} of baseline; RSS growth <= {TARGET_RSS_MIB:g} MiB",
        "ok": ok,
        "details": {
            "technicians": technicians,
            "customers": customers,
            "customer_rows": customer_rows,
            "rows": total_rows,
            "stored_skills_and_sites_all_rounds": list(stored),
            "import_seconds": [round(t, 2) for t in import_times],
            "baseline_copy_seconds": [round(t, 3) for t in baseline_times],
            "peak_rss_growth_mib": round(growth, 1),
            "floor_customer_rows_per_s": round(floor),
            "floor_ratio": round(floor / baseline, 3),
            "floor_seconds": [round(t, 2) for t in floor_times],
            "floor": "customers and sites written from the copied table by INSERT … SELECT, "
                     "no Python and no checks (rolled back): no import through these tables is faster",
            "peak_rss_growth_per_round_mib": [round(g, 1) for g in growth_mib],
            "peak_measured_by": "VmHWM after clear_refs reset" if peak_reset else "VmRSS sampling every 10 ms",
            "batch_rows": importing.BATCH,
            "quick": quick,
        },
    }
