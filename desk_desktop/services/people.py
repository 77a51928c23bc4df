"""The organization's technicians and customers (with their sites): search, read, add, update.

Dispatchers and administrators both add and edit them; row-level security keeps each
organization's rows its own. Every problem of a form is reported at once
(``PeopleInvalid.problems``: field → sentence); skills and customer types must be active
entries of the organization's catalogs unless the record already uses them (a retired
entry is kept on the records that have it). Sites are never deleted: tickets refer to them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from desk_desktop.db import sql
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain import people as rules
from desk_desktop.domain.enums import OPEN_WORK_ORDER_STATUSES
from desk_desktop.services.common import Actor, NotFound, ValidationFailed, audit


class PeopleInvalid(ValidationFailed):
    """A form with problems: ``problems`` maps each field to a sentence the dispatcher can act on."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(problems.values()), field=next(iter(problems), None))
        self.problems = dict(problems)


@dataclass(frozen=True)
class TechnicianChoice:
    id: int
    name: str


@dataclass(frozen=True)
class TechnicianData:
    """What an editor or an import row supplies."""

    name: str
    email: str | None = None
    phone: str | None = None
    active: bool = True
    skills: dict[str, int] = field(default_factory=dict)
    working_hours: dict[str, list[tuple[str, str]]] | None = None
    home_base: tuple[float, float] | None = None
    max_open_work_orders: int = 8


@dataclass(frozen=True)
class TechnicianRow:
    """One line of the technicians list."""

    id: int
    name: str
    email: str | None
    active: bool
    skills: tuple[str, ...]  # skill keys, by proficiency desc then key
    open_jobs: int  # work orders assigned/scheduled/travelling/on_site/on_hold
    today_hours: str  # "08:00–12:00, 13:00–17:00", "off" or "not set" (organization's time zone, today)
    away_today: str | None = None  # the reason of an absence that takes (part of) today, e.g. "Holiday"


@dataclass(frozen=True)
class Technician:
    id: int
    data: TechnicianData


@dataclass(frozen=True)
class SiteData:
    ref: str
    name: str
    address: str
    location: tuple[float, float] | None = None
    id: int | None = None  # None = a new site


@dataclass(frozen=True)
class CustomerData:
    ref: str
    name: str
    customer_type: str  # a customer-types catalog key
    email: str | None = None
    phone: str | None = None
    sites: tuple[SiteData, ...] = ()


@dataclass(frozen=True)
class CustomerRow:
    id: int
    ref: str
    name: str
    customer_type: str
    email: str | None
    phone: str | None
    sites: int


@dataclass(frozen=True)
class Customer:
    id: int
    data: CustomerData  # sites carry their ids


def list_technicians(*, uow: UnitOfWork, actor: Actor, active_only: bool = True) -> tuple[TechnicianChoice, ...]:
    """The organization's technicians (only the active ones unless ``active_only`` is False), by name."""
    with uow:
        rows = sql.rows(uow, "SELECT id, name FROM technicians WHERE organization_id = :org"
                             " AND (active OR NOT :active_only) ORDER BY name, id",
                        {"org": actor.organization_id, "active_only": active_only})
        uow.commit()
    return tuple(TechnicianChoice(id=r.id, name=r.name) for r in rows)


# ---- shared pieces ---------------------------------------------------------------------------

def _blank(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _point_sql(prefix: str) -> str:
    """A geography point from ``:{prefix}_lat``/``:{prefix}_lon`` (NULL when they are)."""
    return (f"CASE WHEN CAST(:{prefix}_lat AS float8) IS NULL THEN NULL ELSE CAST(ST_SetSRID(ST_MakePoint("
            f"CAST(:{prefix}_lon AS float8), CAST(:{prefix}_lat AS float8)), 4326) AS geography) END")


def _point_params(prefix: str, point: tuple[float, float] | None) -> dict:
    return {f"{prefix}_lat": point[0] if point else None, f"{prefix}_lon": point[1] if point else None}


def _point(lat: float | None, lon: float | None) -> tuple[float, float] | None:
    return None if lat is None else (lat, lon)


def _catalog_keys(uow: UnitOfWork, table: str, org: int) -> dict[str, bool]:
    """key → active, of one catalog of the organization."""
    return {r.key: r.active for r in sql.rows(uow, f"SELECT key, active FROM {table} WHERE organization_id = :org",
                                              {"org": org})}


def _raise_if(problems: dict[str, str]) -> None:
    if problems:
        raise PeopleInvalid(problems)


# ---- technicians -----------------------------------------------------------------------------

def technician_problems(data: TechnicianData) -> dict[str, str]:
    """Everything wrong with ``data`` that needs no database (the catalog check is the service's)."""
    problems = rules.text_problems({"name": (data.name, rules.MAX_NAME, True, "name"),
                                    "email": (data.email, rules.MAX_EMAIL, False, "e-mail address"),
                                    "phone": (data.phone, rules.MAX_PHONE, False, "phone number")})
    email = rules.email_problem(data.email)
    if email and "email" not in problems:
        problems["email"] = email
    problems.update(rules.skill_levels_problems(data.skills))
    problems.update(rules.hours_problems(data.working_hours))
    point = rules.coordinate_problem(data.home_base)
    if point:
        problems["home_base"] = point
    if not isinstance(data.max_open_work_orders, int) or not 0 <= data.max_open_work_orders <= rules.MAX_OPEN_LIMIT:
        problems["max_open_work_orders"] = (f"The maximum of open work orders must be 0 to {rules.MAX_OPEN_LIMIT} "
                                            f"(not {data.max_open_work_orders}).")
    return problems


def skill_problems(skills: dict[str, int], catalog: dict[str, bool], kept: set[str] = frozenset()) -> dict[str, str]:
    """Skills not in the catalog, or retired and not already held (``kept``)."""
    problems = {}
    for key in skills:
        if key not in catalog:
            problems[f"skills.{key}"] = f"There is no skill '{key}'. See: desk-desktop catalog list skills"
        elif not catalog[key] and key not in kept:
            problems[f"skills.{key}"] = f"The skill '{key}' is retired; it cannot be given to more technicians."
    return problems


def _skills_unknown() -> PeopleInvalid:
    return PeopleInvalid({"skills": "A skill is not in the organization's catalog (it changed meanwhile); "
                                    "reload and try again."})


def _technician_params(org: int, data: TechnicianData) -> dict:
    return {"org": org, "name": data.name.strip(), "email": _blank(data.email), "phone": _blank(data.phone),
            "active": data.active, "working_hours": rules.hours_json(data.working_hours),
            "weekly_hours": rules.weekly_hours(data.working_hours), "max_open": data.max_open_work_orders,
            **_point_params("home", data.home_base)}


def _write_skills(uow: UnitOfWork, org: int, technician_id: int, skills: dict[str, int]) -> None:
    sql.execute(uow, "DELETE FROM technician_skills WHERE technician_id = :t AND skill <> ALL(CAST(:keys AS text[]))",
                {"t": technician_id, "keys": list(skills)})
    if skills:
        sql.execute(uow, """
            INSERT INTO technician_skills (organization_id, technician_id, skill, proficiency)
            SELECT :org, :t, s.skill, s.proficiency
              FROM unnest(CAST(:keys AS text[]), CAST(:levels AS int[])) AS s(skill, proficiency)
            ON CONFLICT (technician_id, skill) DO UPDATE SET proficiency = EXCLUDED.proficiency
             WHERE technician_skills.proficiency IS DISTINCT FROM EXCLUDED.proficiency""",
                    {"org": org, "t": technician_id, "keys": list(skills), "levels": list(skills.values())},
                    violations={"fk_technician_skills_skill_skills": _skills_unknown})


def _today(uow: UnitOfWork, org: int) -> tuple[str, datetime, datetime]:
    """(today's day key, its local midnight, the next) in the organization's time zone."""
    tz = ZoneInfo(sql.scalar(uow, "SELECT timezone FROM organizations WHERE id = :org", {"org": org}) or "UTC")
    day = datetime.now(tz).date()
    return (rules.DAYS[day.weekday()], datetime.combine(day, time(), tzinfo=tz),
            datetime.combine(day + timedelta(days=1), time(), tzinfo=tz))


def search_technicians(*, uow: UnitOfWork, actor: Actor, text: str = "", include_inactive: bool = True,
                       limit: int = 500) -> tuple[TechnicianRow, ...]:
    """Technicians whose name, e-mail, phone or a skill (key or name) contains ``text``
    (case-insensitive), by name."""
    org = actor.organization_id
    with uow:
        today, day_start, day_end = _today(uow, org)
        found = sql.rows(uow, """
            SELECT t.id, t.name, t.email, t.active, t.working_hours -> :today AS today, t.working_hours IS NULL AS unset,
                   coalesce((SELECT array_agg(s.skill ORDER BY s.proficiency DESC, s.skill) FROM technician_skills s
                              WHERE s.technician_id = t.id), '{}') AS skills,
                   (SELECT count(*) FROM work_orders w WHERE w.technician_id = t.id
                       AND w.status = ANY(CAST(:open AS text[]))) AS open_jobs,
                   (SELECT a.reason FROM technician_absences a WHERE a.technician_id = t.id
                       AND a.starts_at < :day_end AND a.ends_at > :day_start ORDER BY a.starts_at LIMIT 1) AS away
              FROM technicians t
             WHERE t.organization_id = :org AND (t.active OR :inactive)
               AND (:text = '' OR t.name ILIKE :like OR t.email ILIKE :like OR t.phone ILIKE :like
                    OR EXISTS (SELECT 1 FROM technician_skills s JOIN skills k
                                 ON k.organization_id = s.organization_id AND k.key = s.skill
                                WHERE s.technician_id = t.id AND (k.key ILIKE :like OR k.name ILIKE :like)))
             ORDER BY t.name, t.id LIMIT :limit""",
                         {"org": org, "today": today, "day_start": day_start, "day_end": day_end,
                          "open": list(OPEN_WORK_ORDER_STATUSES),
                          "inactive": include_inactive, "text": text.strip(), "like": _like(text), "limit": limit})
        uow.commit()
    return tuple(TechnicianRow(id=r.id, name=r.name, email=r.email, active=r.active, skills=tuple(r.skills),
                               open_jobs=r.open_jobs, away_today=r.away,
                               today_hours="not set" if r.unset else rules.format_day(
                                   [tuple(i) for i in (r.today or [])]))
                 for r in found)


def _like(text: str) -> str:
    escaped = text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _read_technician(uow: UnitOfWork, org: int, technician_id: int, *, lock: bool = False) -> Technician:
    row = sql.one_or_none(uow, f"""
        SELECT t.id, t.name, t.email, t.phone, t.active, t.working_hours, t.max_open_work_orders,
               ST_Y(t.home_base::geometry) AS lat, ST_X(t.home_base::geometry) AS lon
          FROM technicians t WHERE t.organization_id = :org AND t.id = :id{' FOR UPDATE' if lock else ''}""",
                          {"org": org, "id": technician_id})
    if row is None:
        raise NotFound(f"There is no technician {technician_id}. See: desk-desktop technician list")
    skills = {r.skill: r.proficiency for r in sql.rows(
        uow, "SELECT skill, proficiency FROM technician_skills WHERE technician_id = :id "
             "ORDER BY proficiency DESC, skill", {"id": technician_id})}
    return Technician(row.id, TechnicianData(
        name=row.name, email=row.email, phone=row.phone, active=row.active, skills=skills,
        working_hours=rules.hours_from_json(row.working_hours), home_base=_point(row.lat, row.lon),
        max_open_work_orders=row.max_open_work_orders))


def get_technician(*, uow: UnitOfWork, actor: Actor, technician_id: int) -> Technician:
    with uow:
        technician = _read_technician(uow, actor.organization_id, technician_id)
        uow.commit()
    return technician


def add_technician(*, uow: UnitOfWork, actor: Actor, data: TechnicianData) -> int:
    """Add a technician; returns the new id."""
    problems = technician_problems(data)
    org = actor.organization_id
    with uow:
        problems.update(skill_problems(data.skills, _catalog_keys(uow, "skills", org)))
        _raise_if(problems)
        technician_id = sql.scalar(uow, f"""
            INSERT INTO technicians (organization_id, name, email, phone, active, working_hours, weekly_hours,
                                     max_open_work_orders, home_base)
            VALUES (:org, :name, :email, :phone, :active, CAST(:working_hours AS jsonb), :weekly_hours, :max_open,
                    {_point_sql('home')})
            RETURNING id""", _json_params(_technician_params(org, data)))
        _write_skills(uow, org, technician_id, data.skills)
        audit(uow, actor=actor, action="technician.created", entity="technician", entity_id=technician_id,
              summary=f"Technician '{data.name.strip()}' added", details={"skills": data.skills})
        uow.record_change("technician", technician_id, org, "created")
        uow.commit()
    return technician_id


def _json_params(params: dict) -> dict:
    """``working_hours`` as JSON text for ``CAST(... AS jsonb)``."""
    return {**params, "working_hours": None if params["working_hours"] is None else json.dumps(params["working_hours"])}


def update_technician(*, uow: UnitOfWork, actor: Actor, technician_id: int, data: TechnicianData) -> None:
    """Replace the technician's fields and skills with ``data`` (skills not listed are removed)."""
    problems = technician_problems(data)
    org = actor.organization_id
    with uow:
        old = _read_technician(uow, org, technician_id, lock=True)
        problems.update(skill_problems(data.skills, _catalog_keys(uow, "skills", org), kept=set(old.data.skills)))
        _raise_if(problems)
        sql.execute(uow, f"""
            UPDATE technicians SET name = :name, email = :email, phone = :phone, active = :active,
                   working_hours = CAST(:working_hours AS jsonb), weekly_hours = :weekly_hours,
                   max_open_work_orders = :max_open, home_base = {_point_sql('home')}
             WHERE organization_id = :org AND id = :id""",
                    _json_params({**_technician_params(org, data), "id": technician_id}))
        _write_skills(uow, org, technician_id, data.skills)
        changed = sorted(f for f in TechnicianData.__dataclass_fields__
                         if getattr(old.data, f) != getattr(data, f))
        audit(uow, actor=actor, action="technician.updated", entity="technician", entity_id=technician_id,
              summary=f"Technician '{data.name.strip()}' updated", details={"changed": changed})
        uow.record_change("technician", technician_id, org, "updated")
        uow.commit()


# ---- customers and sites ---------------------------------------------------------------------

def customer_problems(data: CustomerData) -> dict[str, str]:
    """Everything wrong with ``data`` that needs no database."""
    problems = rules.text_problems({"ref": (data.ref, rules.MAX_REF, True, "customer ref"),
                                    "name": (data.name, rules.MAX_NAME, True, "customer name"),
                                    "customer_type": (data.customer_type, 40, True, "customer type"),
                                    "email": (data.email, rules.MAX_EMAIL, False, "e-mail address"),
                                    "phone": (data.phone, rules.MAX_PHONE, False, "phone number")})
    email = rules.email_problem(data.email)
    if email and "email" not in problems:
        problems["email"] = email
    seen: dict[str, int] = {}
    for i, site in enumerate(data.sites):
        problems.update(rules.text_problems({f"sites[{i}].ref": (site.ref, rules.MAX_REF, True, "site ref"),
                                             f"sites[{i}].name": (site.name, rules.MAX_NAME, True, "site name"),
                                             f"sites[{i}].address": (site.address, rules.MAX_ADDRESS, True,
                                                                     "site address")}))
        point = rules.coordinate_problem(site.location)
        if point:
            problems[f"sites[{i}].location"] = point
        ref = (site.ref or "").strip()
        if ref in seen and f"sites[{i}].ref" not in problems:
            problems[f"sites[{i}].ref"] = f"The site ref '{ref}' is given twice (sites {seen[ref] + 1} and {i + 1})."
        seen.setdefault(ref, i)
    return problems


def customer_type_problem(key: str, catalog: dict[str, bool], kept: str | None = None) -> str | None:
    if key not in catalog:
        return f"There is no customer type '{key}'. See: desk-desktop catalog list customer-types"
    if not catalog[key] and key != kept:
        return f"The customer type '{key}' is retired; choose another."
    return None


def _ref_taken(ref: str) -> PeopleInvalid:
    return PeopleInvalid({"ref": f"The customer ref '{ref}' is taken by another customer."})


def _site_ref_taken() -> PeopleInvalid:
    return PeopleInvalid({"sites": "A site ref is taken by another site (it changed meanwhile); reload and try again."})


def _type_unknown() -> PeopleInvalid:
    return PeopleInvalid({"customer_type": "The customer type is not in the organization's catalog "
                                           "(it changed meanwhile); reload and try again."})


_CUSTOMER_VIOLATIONS = {"fk_customers_customer_type_customer_types": _type_unknown}


def _db_problems(uow: UnitOfWork, org: int, data: CustomerData, customer_id: int | None,
                 kept_type: str | None) -> dict[str, str]:
    """Catalog and unique-ref problems (the constraints are the backstop under concurrency)."""
    problems: dict[str, str] = {}
    key = data.customer_type.strip()
    if key:
        problem = customer_type_problem(key, _catalog_keys(uow, "customer_types", org), kept_type)
        if problem:
            problems["customer_type"] = problem
    if data.ref.strip() and sql.scalar(uow, "SELECT EXISTS (SELECT 1 FROM customers WHERE organization_id = :org "
                                            "AND ref = :ref AND id IS DISTINCT FROM :id)",
                                       {"org": org, "ref": data.ref.strip(), "id": customer_id}):
        problems["ref"] = f"The customer ref '{data.ref.strip()}' is taken by another customer."
    refs = [s.ref.strip() for s in data.sites]
    ids = [s.id for s in data.sites if s.id is not None]
    taken = {r.ref: r for r in sql.rows(uow, "SELECT ref, id, customer_id FROM sites WHERE organization_id = :org "
                                             "AND ref = ANY(CAST(:refs AS text[]))", {"org": org, "refs": refs})}
    if ids:
        own = {r.id for r in sql.rows(uow, "SELECT id FROM sites WHERE organization_id = :org AND customer_id = :c "
                                           "AND id = ANY(CAST(:ids AS bigint[]))", {"org": org, "c": customer_id, "ids": ids})}
    else:
        own = set()
    for i, site in enumerate(data.sites):
        if site.id is not None and site.id not in own:
            problems[f"sites[{i}].id"] = f"Site {site.id} is not a site of this customer."
        other = taken.get(site.ref.strip())
        if other is not None and other.id != site.id:
            problems.setdefault(f"sites[{i}].ref", f"The site ref '{site.ref.strip()}' is taken by another site.")
    return problems


def _write_sites(uow: UnitOfWork, org: int, customer_id: int, sites: tuple[SiteData, ...]) -> None:
    params = [{"org": org, "c": customer_id, "id": s.id, "ref": s.ref.strip(), "name": s.name.strip(),
               "address": s.address.strip(), **_point_params("loc", s.location)} for s in sites]
    violations = {"uq_sites_organization_id_ref": _site_ref_taken}
    updates = [p for p in params if p["id"] is not None]
    inserts = [p for p in params if p["id"] is None]
    if updates:
        sql.execute(uow, f"UPDATE sites SET ref = :ref, name = :name, address = :address, location = {_point_sql('loc')} "
                         "WHERE organization_id = :org AND customer_id = :c AND id = :id", updates,
                    violations=violations)
    if inserts:
        sql.execute(uow, "INSERT INTO sites (organization_id, customer_id, ref, name, address, location) "
                         f"VALUES (:org, :c, :ref, :name, :address, {_point_sql('loc')})", inserts,
                    violations=violations)


def search_customers(*, uow: UnitOfWork, actor: Actor, text: str = "", limit: int = 500) -> tuple[CustomerRow, ...]:
    """Customers whose ref, name, e-mail, phone or a site's ref, name or address contains
    ``text`` (case-insensitive), by name."""
    with uow:
        found = sql.rows(uow, """
            SELECT c.id, c.ref, c.name, c.customer_type, c.email, c.phone,
                   (SELECT count(*) FROM sites s WHERE s.customer_id = c.id) AS sites
              FROM customers c
             WHERE c.organization_id = :org
               AND (:text = '' OR c.ref ILIKE :like OR c.name ILIKE :like OR c.email ILIKE :like
                    OR c.phone ILIKE :like
                    OR EXISTS (SELECT 1 FROM sites s WHERE s.customer_id = c.id
                                 AND (s.ref ILIKE :like OR s.name ILIKE :like OR s.address ILIKE :like)))
             ORDER BY c.name, c.id LIMIT :limit""",
                         {"org": actor.organization_id, "text": text.strip(), "like": _like(text), "limit": limit})
        uow.commit()
    return tuple(CustomerRow(r.id, r.ref, r.name, r.customer_type, r.email, r.phone, r.sites) for r in found)


def _read_customer(uow: UnitOfWork, org: int, customer_id: int, *, lock: bool = False) -> Customer:
    row = sql.one_or_none(uow, "SELECT id, ref, name, customer_type, email, phone FROM customers "
                               f"WHERE organization_id = :org AND id = :id{' FOR UPDATE' if lock else ''}",
                          {"org": org, "id": customer_id})
    if row is None:
        raise NotFound(f"There is no customer {customer_id}. See: desk-desktop customer list")
    sites = tuple(SiteData(ref=s.ref, name=s.name, address=s.address, location=_point(s.lat, s.lon), id=s.id)
                  for s in sql.rows(uow, "SELECT id, ref, name, address, ST_Y(location::geometry) AS lat, "
                                         "ST_X(location::geometry) AS lon FROM sites WHERE customer_id = :id "
                                         "ORDER BY ref, id", {"id": customer_id}))
    return Customer(row.id, CustomerData(ref=row.ref, name=row.name, customer_type=row.customer_type,
                                         email=row.email, phone=row.phone, sites=sites))


def get_customer(*, uow: UnitOfWork, actor: Actor, customer_id: int) -> Customer:
    with uow:
        customer = _read_customer(uow, actor.organization_id, customer_id)
        uow.commit()
    return customer


def _customer_params(org: int, data: CustomerData) -> dict:
    return {"org": org, "ref": data.ref.strip(), "name": data.name.strip(), "type": data.customer_type.strip(),
            "email": _blank(data.email), "phone": _blank(data.phone)}


def add_customer(*, uow: UnitOfWork, actor: Actor, data: CustomerData) -> int:
    """Add a customer and its sites; returns the new id."""
    problems = customer_problems(data)
    org = actor.organization_id
    with uow:
        problems.update({k: v for k, v in _db_problems(uow, org, data, None, None).items() if k not in problems})
        _raise_if(problems)
        customer_id = sql.scalar(uow, "INSERT INTO customers (organization_id, ref, name, customer_type, email, phone) "
                                      "VALUES (:org, :ref, :name, :type, :email, :phone) RETURNING id",
                                 _customer_params(org, data),
                                 violations={**_CUSTOMER_VIOLATIONS,
                                             "uq_customers_organization_id_ref": lambda: _ref_taken(data.ref.strip())})
        _write_sites(uow, org, customer_id, data.sites)
        audit(uow, actor=actor, action="customer.created", entity="customer", entity_id=customer_id,
              summary=f"Customer {data.ref.strip()} '{data.name.strip()}' added",
              details={"sites": [s.ref.strip() for s in data.sites]})
        uow.record_change("customer", customer_id, org, "created")
        uow.commit()
    return customer_id


def update_customer(*, uow: UnitOfWork, actor: Actor, customer_id: int, data: CustomerData) -> None:
    """Change the customer's fields; sites with an id are updated, without one added, others kept."""
    problems = customer_problems(data)
    org = actor.organization_id
    with uow:
        old = _read_customer(uow, org, customer_id, lock=True)
        problems.update({k: v for k, v in _db_problems(uow, org, data, customer_id, old.data.customer_type).items()
                         if k not in problems})
        _raise_if(problems)
        sql.execute(uow, "UPDATE customers SET ref = :ref, name = :name, customer_type = :type, email = :email, "
                         "phone = :phone WHERE organization_id = :org AND id = :id",
                    {**_customer_params(org, data), "id": customer_id},
                    violations={**_CUSTOMER_VIOLATIONS,
                                "uq_customers_organization_id_ref": lambda: _ref_taken(data.ref.strip())})
        _write_sites(uow, org, customer_id, data.sites)
        changed = sorted(f for f in ("ref", "name", "customer_type", "email", "phone")
                         if getattr(old.data, f) != getattr(data, f))
        audit(uow, actor=actor, action="customer.updated", entity="customer", entity_id=customer_id,
              summary=f"Customer {data.ref.strip()} '{data.name.strip()}' updated",
              details={"changed": changed, "sites": [s.ref.strip() for s in data.sites]})
        uow.record_change("customer", customer_id, org, "updated")
        uow.commit()
