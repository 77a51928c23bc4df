"""Customers with their sites from CSV and back: one row per site."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from desk_desktop.db import sql
from desk_desktop.db.session import UnitOfWork
from desk_desktop.services import people
from desk_desktop.services.common import Actor, audit
from desk_desktop.services.importing.files import (
    BATCH,
    Checked,
    Opened,
    Progress,
    Reading,
    analyze,
    coordinate,
    open_file,
    point,
    read_catalog,
    records,
    require_ok,
    write_rows,
)

COLUMNS = ("customer_ref", "customer_name", "customer_type", "email", "phone", "site_ref", "site_name",
           "address", "lat", "lon")
CUSTOMER_FIELDS = ("customer_name", "customer_type", "email", "phone")


def _site(row: dict[str, str]) -> people.SiteData | None:
    if not any(row[c] for c in ("site_ref", "site_name", "address", "lat", "lon")):
        return None
    return people.SiteData(ref=row["site_ref"], name=row["site_name"], address=row["address"],
                           location=point(row["lat"], row["lon"], "site"))


def check_customers(*, uow: UnitOfWork, actor: Actor, path: Path) -> Checked:
    opened = open_file(path, COLUMNS)
    org = actor.organization_id
    with uow:
        catalog, names = read_catalog(uow, "customer_types", org)
        uow.commit()
    reading = Reading(path, opened)
    problems = reading.problems
    # customer_ref → (its first line, a hash of each customer column there): hashes, not the
    # texts, so that memory stays small for a file of 100,000 customers.
    first: dict[str, tuple[int, tuple[int, ...]]] = {}
    site_lines: dict[str, int] = {}
    for line, row in reading.rows():
        found: list[str] = []
        ref = row["customer_ref"]
        earlier = first.get(ref)
        if earlier is None:
            key = names.get(row["customer_type"].lower(), row["customer_type"])
            data = people.CustomerData(ref=ref, name=row["customer_name"], customer_type=key,
                                       email=row["email"] or None, phone=row["phone"] or None)
            found += people.customer_problems(data).values()
            if key and (type_problem := people.customer_type_problem(key, catalog)):
                found.append(type_problem)
            if ref:
                first[ref] = (line, tuple(hash(row[f]) for f in CUSTOMER_FIELDS))
        else:
            for f, seen in zip(CUSTOMER_FIELDS, earlier[1], strict=True):
                if row[f] and hash(row[f]) != seen:
                    found.append(f"customer {ref} has another {f} on line {earlier[0]} than '{row[f]}' here "
                                 "(leave it blank or repeat it)")
        try:
            site = _site(row)
        except ValueError as exc:
            found.append(str(exc))
            site = None
        if site is not None:
            site_problems = people.customer_problems(people.CustomerData(ref="x", name="x", customer_type="x",
                                                                         sites=(site,)))
            found += [m for m in site_problems.values()]
            if site.ref in site_lines:
                found.append(f"site ref '{site.ref}' is also on line {site_lines[site.ref]}")
            elif site.ref:
                site_lines[site.ref] = line
        if found:
            problems.append((line, "; ".join(found)))
    with uow:
        for table, refs, word in (("customers", list(first), "customer ref"), ("sites", list(site_lines), "site ref")):
            for ref in sql.scalars(uow, f"SELECT ref FROM {table} WHERE organization_id = :org "
                                        "AND ref = ANY(CAST(:refs AS text[]))", {"org": org, "refs": refs}):
                line = first[ref][0] if table == "customers" else site_lines[ref]
                problems.append((line, f"the organization already has a {word} '{ref}' (an import only adds)"))
        uow.commit()
    return reading.result("customers")


# Two statements per batch: the customers (each from its first row), then the sites, which find their
# customer by ref (the same-organization trigger on sites must see it inserted already).
_INSERT_CUSTOMERS = """
    INSERT INTO customers (organization_id, ref, name, customer_type, email, phone)
    SELECT :org, r.ref, r.name, r.type, r.email, r.phone
      FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(ref text, name text, type text, email text, phone text)"""
_INSERT_SITES = """
    INSERT INTO sites (organization_id, customer_id, ref, name, address, location)
    SELECT :org, c.id, r.site_ref, r.site_name, r.address,
           CASE WHEN r.lat IS NULL THEN NULL ELSE CAST(ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4326) AS geography) END
      FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(ref text, site_ref text, site_name text, address text,
                                                          lat float8, lon float8)
      JOIN customers c ON c.organization_id = :org AND c.ref = r.ref"""


def _insert_customers(uow: UnitOfWork, org: int, batch: list[dict], first: bool) -> None:
    sql.execute(uow, _INSERT_CUSTOMERS, {"org": org, "rows": json.dumps([r for r in batch if r["first"]])})
    if first:
        analyze(uow, "customers")
    sql.execute(uow, _INSERT_SITES, {"org": org, "rows": json.dumps([r for r in batch if r["site_ref"] is not None])})


def run_customers(*, uow: UnitOfWork, actor: Actor, checked: Checked, progress: Progress | None = None) -> int:
    """Import a checked customers file in one transaction; returns how many customers were added."""
    require_ok(checked, "customers")
    opened = Opened(checked.encoding, checked.delimiter, checked.columns)
    org = actor.organization_id
    seen: set[str] = set()  # customer refs so far: a customer is inserted from its first row

    def rows(names: dict[str, str]) -> Iterator[dict]:
        for _line, row in records(checked.path, opened):
            ref = row["customer_ref"]  # type: ignore[index]
            is_first = ref not in seen
            seen.add(ref)
            site = _site(row)  # type: ignore[arg-type]
            yield {"first": is_first, "ref": ref, "name": row["customer_name"],  # type: ignore[index]
                   "type": names.get(row["customer_type"].lower(), row["customer_type"]),  # type: ignore[index]
                   "email": row["email"] or None, "phone": row["phone"] or None,  # type: ignore[index]
                   "site_ref": site.ref if site else None, "site_name": site.name if site else None,
                   "address": site.address if site else None,
                   "lat": site.location[0] if site and site.location else None,
                   "lon": site.location[1] if site and site.location else None}

    with uow:
        _, names = read_catalog(uow, "customer_types", org)
        done = write_rows(uow, _insert_customers, org, rows(names), checked.rows, progress)
        customers = len(seen)
        audit(uow, actor=actor, action="customer.imported", entity="customer", entity_id=None,
              summary=f"{customers} customers imported from {checked.path.name}",
              details={"customers": customers, "rows": done})
        uow.record_change("customer", None, org, "created")
        uow.commit()
    return customers


def export_customers(*, uow: UnitOfWork, actor: Actor, out: TextIO) -> int:
    """Write every customer (a row per site; one row without site columns for a customer
    without sites) in the import format; returns the number of customers."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    customers: set[int] = set()
    with uow:
        for r in sql.stream(uow, """
                SELECT c.id, c.ref, c.name, c.customer_type, c.email, c.phone, s.ref AS site_ref,
                       s.name AS site_name, s.address, ST_Y(s.location::geometry) AS lat,
                       ST_X(s.location::geometry) AS lon
                  FROM customers c LEFT JOIN sites s ON s.customer_id = c.id
                 WHERE c.organization_id = :org ORDER BY c.id, s.id""", {"org": actor.organization_id}, batch=BATCH):
            writer.writerow([r.ref, r.name, r.customer_type, r.email or "", r.phone or "", r.site_ref or "",
                             r.site_name or "", r.address or "", coordinate(r.lat), coordinate(r.lon)])
            customers.add(r.id)
        uow.commit()
    return len(customers)


