"""Tickets: the input rules — each field cleaned or refused with a message naming it."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from geoalchemy2 import WKTElement

from desk_desktop.db import sql
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.catalogs import CATEGORIES
from desk_desktop.domain.enums import Priority
from desk_desktop.services.catalogs import Catalogs, load_catalogs, resolve_key
from desk_desktop.services.common import Actor
from desk_desktop.services.tickets.types import DESCRIPTION_MAX, REF_MAX, SUBJECT_MAX, TAG_MAX, TAGS_MAX, TicketInvalid

# --------------------------------------------------------------------------- validation


def clean_subject(subject: Any) -> str:
    if not isinstance(subject, str) or not subject.strip():
        raise TicketInvalid("The subject must not be empty.", "subject")
    subject = " ".join(subject.split())
    if len(subject) > SUBJECT_MAX:
        raise TicketInvalid(f"The subject is {len(subject)} characters long; at most {SUBJECT_MAX} are allowed.", "subject")
    return subject


def clean_description(description: Any) -> str:
    if description is None:
        return ""
    if not isinstance(description, str):
        raise TicketInvalid("The description must be text.", "description")
    description = description.strip()
    if len(description) > DESCRIPTION_MAX:
        raise TicketInvalid(
            f"The description is {len(description)} characters long; at most {DESCRIPTION_MAX} are allowed.",
            "description",
        )
    return description


@functools.cache
def _enum_values(enum_cls) -> tuple[str, ...]:
    return tuple(m.value for m in enum_cls)


def clean_enum(value: Any, enum_cls, field_name: str, label: str) -> str:
    allowed = _enum_values(enum_cls)
    v = str(value).strip().lower() if value is not None else ""
    if v not in allowed:
        shown = f"'{value}'" if value not in (None, "") else "nothing"
        raise TicketInvalid(f"Unknown {label} {shown}; choose one of: {', '.join(allowed)}.", field_name)
    return v


def clean_category(value: Any) -> str:
    """The category as given (a key or a name); the organization's catalog decides (``category_key``)."""
    text = str(value).strip() if value is not None else ""
    if not text:
        raise TicketInvalid("Choose a category.", "category")
    return text


def category_key(catalogs: Catalogs, value: str, *, keep: str | None = None) -> str:
    """The key of the category ``value`` names (its key or its name, any case). Refused when
    the organization has no such category, or it is retired (unless it is ``keep``, what
    the ticket already has)."""
    entries = catalogs.entries[CATEGORIES.word]
    key = resolve_key(entries, value) or resolve_key(entries, value.lower())
    if key is None or (key != keep and key not in {e.key for e in catalogs.choices(CATEGORIES)}):
        raise unknown_category(catalogs, value)
    return key


def unknown_category(catalogs: Catalogs, value: str) -> TicketInvalid:
    offered = ", ".join(e.name for e in catalogs.choices(CATEGORIES))
    return TicketInvalid(f"Unknown category '{value}'; choose one of: {offered}.", "category")


def clean_tags(tags: Iterable[str] | str | None) -> tuple[str, ...]:
    """Tags are trimmed, lower-cased and de-duplicated (order kept)."""
    if tags is None:
        return ()
    if isinstance(tags, str):
        tags = [t for t in tags.replace(";", ",").split(",")]
    out: list[str] = []
    for raw in tags:
        if not isinstance(raw, str):
            raise TicketInvalid("Tags must be text.", "tags")
        tag = raw.strip().lower()
        if not tag:
            continue
        if len(tag) > TAG_MAX:
            raise TicketInvalid(f"The tag '{tag[:20]}…' is longer than {TAG_MAX} characters.", "tags")
        if tag not in out:
            out.append(tag)
    if len(out) > TAGS_MAX:
        raise TicketInvalid(f"A ticket can have at most {TAGS_MAX} tags.", "tags")
    return tuple(out)


def clean_coords(lat: Any, lon: Any) -> tuple[float, float] | None:
    if lat is None and lon is None:
        return None
    if lat is None or lon is None:
        raise TicketInvalid("Give both latitude and longitude, or neither.", "lat" if lat is None else "lon")
    try:
        la, lo = float(lat), float(lon)
    except (TypeError, ValueError) as exc:
        raise TicketInvalid("Latitude and longitude must be numbers.", "lat") from exc
    if not (-90.0 <= la <= 90.0) or la != la:
        raise TicketInvalid(f"Latitude {lat} is outside -90…90.", "lat")
    if not (-180.0 <= lo <= 180.0) or lo != lo:
        raise TicketInvalid(f"Longitude {lon} is outside -180…180.", "lon")
    return la, lo


def point(lat: float, lon: float) -> WKTElement:
    return WKTElement(f"POINT({lon!r} {lat!r})", srid=4326)


@dataclass(frozen=True)
class CleanTicket:
    subject: str
    description: str
    category: str
    priority: str
    tags: tuple[str, ...]
    coords: tuple[float, float] | None


def clean_new_ticket(*, subject, description, category, priority, tags, lat, lon, site_id, site_ref) -> CleanTicket:
    clean = CleanTicket(
        subject=clean_subject(subject),
        description=clean_description(description),
        category=clean_category(category),
        priority=clean_enum(priority, Priority, "priority", "priority"),
        tags=clean_tags(tags),
        coords=clean_coords(lat, lon),
    )
    if clean.coords is not None and (site_id is not None or (site_ref or "").strip()):
        raise TicketInvalid("Give either a site or a map position, not both.", "site")
    return clean


NEW_TICKET_FIELDS = ("customer_ref", "subject", "category", "priority", "description", "tags", "site_ref", "lat", "lon")


@dataclass(frozen=True)
class RowProblem:
    index: int  # position in the rows given (0-based)
    field: str | None
    message: str


def validate_new_tickets(
    *, uow: UnitOfWork, actor: Actor, rows: list[dict[str, Any]]
) -> tuple[RowProblem, ...]:
    """Check many would-be tickets at once (for imports) without writing anything.

    Each row holds ``create_ticket`` keyword arguments (``NEW_TICKET_FIELDS``). Returns
    every problem found; empty means every row would be accepted by ``create_ticket``."""
    problems: list[RowProblem] = []
    for i, row in enumerate(rows):
        try:
            clean_new_ticket(
                subject=row.get("subject"), description=row.get("description") or "",
                category=row.get("category"), priority=row.get("priority"), tags=row.get("tags") or (),
                lat=row.get("lat"), lon=row.get("lon"), site_id=None, site_ref=row.get("site_ref"),
            )
        except TicketInvalid as exc:
            problems.append(RowProblem(i, exc.field, str(exc)))
        ref = (row.get("customer_ref") or "").strip()
        if not ref:
            problems.append(RowProblem(i, "customer", "A customer is required."))
        elif len(ref) > REF_MAX:
            problems.append(RowProblem(i, "customer", f"The customer reference is longer than {REF_MAX} characters."))
    refs = sorted({(r.get("customer_ref") or "").strip() for r in rows} - {""})
    site_refs = sorted({(r.get("site_ref") or "").strip() for r in rows} - {""})
    with uow:
        catalogs = load_catalogs(uow=uow, actor=actor)
        customers = dict(
            sql.rows(uow, "SELECT ref, id FROM customers WHERE organization_id = :org AND ref = ANY(:refs)",
                     {"org": actor.organization_id, "refs": refs})
        ) if refs else {}
        sites = dict(
            sql.rows(uow, "SELECT ref, customer_id FROM sites WHERE organization_id = :org AND ref = ANY(:refs)",
                     {"org": actor.organization_id, "refs": site_refs})
        ) if site_refs else {}
        uow.commit()
    for i, row in enumerate(rows):
        category = str(row.get("category") or "").strip()
        if category:
            try:
                category_key(catalogs, category)
            except TicketInvalid as exc:
                problems.append(RowProblem(i, "category", str(exc)))
        ref = (row.get("customer_ref") or "").strip()
        if ref and len(ref) <= REF_MAX and ref not in customers:
            problems.append(RowProblem(i, "customer", f"No customer '{ref}' in this organization."))
        sref = (row.get("site_ref") or "").strip()
        if sref:
            if sref not in sites:
                problems.append(RowProblem(i, "site", f"No site '{sref}' in this organization."))
            elif ref in customers and sites[sref] != customers[ref]:
                problems.append(RowProblem(i, "site", f"Site '{sref}' belongs to another customer, not '{ref}'."))
    problems.sort(key=lambda p: p.index)
    return tuple(problems)
