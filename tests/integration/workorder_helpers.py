"""Builders shared by the rules / automation / assignment tests: rows inserted directly, and
tickets created through the public ticket service."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from geoalchemy2.elements import WKTElement

from desk_desktop.db.models import (
    Customer,
    Site,
    Technician,
    TechnicianSkill,
    Ticket,
    TicketToWorkOrderRule,
)
from tests.numbers import take_number

_seq = itertools.count(1)


def point(lat: float, lon: float) -> WKTElement:
    return WKTElement(f"POINT({lon} {lat})", srid=4326)


def add_customer(uow, actor, *, customer_type="business", name=None, email=None):
    n = next(_seq)
    with uow:
        c = Customer(
            organization_id=actor.organization_id,
            ref=f"C{n:05d}",
            name=name or f"Customer {n}",
            customer_type=customer_type,
            email=email or f"customer{n}@example.com",
        )
        uow.session.add(c)
        uow.session.flush()
        cid = c.id
        uow.commit()
    return cid


def add_site(uow, actor, *, customer_id, lat, lon):
    n = next(_seq)
    with uow:
        s = Site(
            organization_id=actor.organization_id,
            ref=f"S{n:05d}",
            customer_id=customer_id,
            name=f"Site {n}",
            address=f"{n} Test Street",
            location=point(lat, lon),
        )
        uow.session.add(s)
        uow.session.flush()
        sid = s.id
        uow.commit()
    return sid


def add_rule(uow, actor, **kw):
    n = next(_seq)
    values = dict(
        name=f"rule {n}",
        priority=0,
        active=True,
        trigger_categories=[],
        trigger_priorities=[],
        trigger_tags=[],
        trigger_customer_types=[],
        wo_type="repair",
        wo_priority="medium",
        wo_duration_minutes=60,
        auto_assign=False,
        assignment_logic="nearest",
        required_skills=[],
        auto_schedule=False,
        schedule_offset_minutes=0,
        notify_customer=False,
        notify_technician=False,
    )
    values.update(kw)
    with uow:
        r = TicketToWorkOrderRule(organization_id=actor.organization_id, **values)
        uow.session.add(r)
        uow.session.flush()
        rid = r.id
        uow.commit()
    return rid


def add_technician(uow, actor, *, name=None, lat=None, lon=None, skills=None, max_open=8, active=True,
                   working_hours=None, current=None, location_updated_at=None, email=None):
    n = next(_seq)
    with uow:
        t = Technician(
            organization_id=actor.organization_id,
            name=name or f"Tech {n}",
            email=email or f"tech{n}@example.com",
            active=active,
            home_base=point(lat, lon) if lat is not None else None,
            current_location=point(*current) if current else None,
            location_updated_at=location_updated_at,
            max_open_work_orders=max_open,
            working_hours=working_hours,
        )
        uow.session.add(t)
        uow.session.flush()
        for skill, prof in (skills or {}).items():
            uow.session.add(
                TechnicianSkill(organization_id=actor.organization_id, technician_id=t.id, skill=skill,
                                proficiency=prof)
            )
        tid = t.id
        uow.commit()
    return tid


def insert_ticket(uow, actor, *, customer_id, category="hvac", priority="medium", tags=(), lat=None, lon=None,
                  site_id=None, created_at=None):
    """A ticket row inserted directly (no automation), its number from the counter — returns
    the ORM id (``tests.numbers.number_of`` gives its number)."""
    n = next(_seq)
    with uow:
        from sqlalchemy import select

        cust_name = uow.session.scalar(select(Customer.name).where(Customer.id == customer_id))
        t = Ticket(
            organization_id=actor.organization_id,
            number=take_number(uow, actor.organization_id),
            customer_id=customer_id,
            customer_name=cust_name,
            site_id=site_id,
            location=point(lat, lon) if lat is not None else None,
            category=category,
            priority=priority,
            tags=list(tags),
            subject=f"Ticket {n}",
            created_by=actor.name,
            created_at=created_at or datetime.now(UTC),
        )
        uow.session.add(t)
        uow.session.flush()
        tid = t.id
        uow.commit()
    return tid


def create_ticket_with_automation(uow, actor, *, customer_id, category="hvac", priority="medium", tags=(),
                                  lat=None, lon=None, now=None):
    """A ticket created through the public ticket service (numbering, rules, automation: the
    path users take) — returns (ticket id, the automation's WorkOrderCreated or None)."""
    from desk_desktop.services.tickets import create_ticket

    created = create_ticket(uow=uow, actor=actor, subject=f"Ticket {next(_seq)}", category=category,
                            priority=priority, customer_id=customer_id, tags=tags, lat=lat, lon=lon, now=now)
    return created.ticket.id, created.work_order
