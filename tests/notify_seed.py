"""Reference data for the notification / scheduler tests: an organization, technicians,
customers with sites, and one auto-assigning rule. Tickets go through the real
``create_ticket`` (numbering + automation)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from geoalchemy2 import WKTElement

from desk_desktop.db.models import (
    Customer,
    Site,
    Technician,
    TechnicianSkill,
    Ticket,
    TicketToWorkOrderRule,
    WorkOrder,
)
from desk_desktop.services.common import Actor
from tests.numbers import take_number


def point(lat: float, lon: float) -> WKTElement:
    return WKTElement(f"POINT({lon} {lat})", srid=4326)


@dataclass(frozen=True)
class Seed:
    actor: Actor
    technician_ids: tuple[int, ...]
    customer_ids: tuple[int, ...]
    customer_refs: tuple[str, ...]
    site_refs: tuple[str, ...]
    rule_id: int | None


def seed(uow_factory, *, slug: str = "acme", technicians: int = 1, customers: int = 1, rule: bool = True,
         notify_customer: bool = True, notify_technician: bool = True, max_open: int = 1000,
         tech_email: bool = True, customer_email: bool = True, auto_schedule: bool = True) -> Seed:
    from tests.conftest import acting_as, make_org

    # Through make_org, so the suite also runs connected as a dispatcher (DESK_TEST_AS_DISPATCHER=1);
    # a second organization is set up by its own dispatcher.
    org_actor = make_org(uow_factory(), slug=slug, name="Acme Field Services")
    o = org_actor.organization_id
    uow = uow_factory()
    with acting_as(uow_factory, org_actor, strict=False), uow:
        s = uow.session
        techs = []
        for i in range(technicians):
            t = Technician(organization_id=o, name=f"Grace{i} Hopper" if i else "Grace Hopper",
                           email=(f"tech{i}@techs.example" if tech_email else None),
                           home_base=point(41.88 + i * 0.001, -87.63), current_location=point(41.88 + i * 0.001, -87.63),
                           max_open_work_orders=max_open, active=True)
            s.add(t)
            techs.append(t)
        s.flush()
        for t in techs:
            s.add(TechnicianSkill(organization_id=o, technician_id=t.id, skill="hvac", proficiency=4))
        custs, crefs, srefs = [], [], []
        for i in range(customers):
            c = Customer(organization_id=o, ref=f"C{i}", name=f"Ada Lovelace {i}" if i else "Ada Lovelace",
                         customer_type="business", email=(f"customer{i}@customers.example" if customer_email else None))
            s.add(c)
            s.flush()
            site = Site(organization_id=o, ref=f"S{i}", customer_id=c.id, name="Head office",
                        address=f"{100 + i} N Clark St, Chicago, IL 60602", location=point(41.8837, -87.6289))
            s.add(site)
            custs.append(c)
            crefs.append(c.ref)
            srefs.append(site.ref)
        s.flush()
        rule_id = None
        if rule:
            r = TicketToWorkOrderRule(
                organization_id=o, name="HVAC repairs", description="", active=True, priority=10,
                trigger_categories=["hvac"], trigger_priorities=[], trigger_tags=[], trigger_customer_types=[],
                wo_type="repair", wo_priority="high", wo_duration_minutes=90, auto_assign=True,
                assignment_logic="workload", required_skills=[], auto_schedule=auto_schedule,
                schedule_offset_minutes=120, notify_customer=notify_customer, notify_technician=notify_technician,
            )
            s.add(r)
            s.flush()
            rule_id = r.id
        uow.commit()
    return Seed(org_actor, tuple(t.id for t in techs),
                tuple(c.id for c in custs), tuple(crefs), tuple(srefs), rule_id)


def assigned_order(uow_factory, sd: Seed, *, technician_index: int = 0, notify_customer: bool = True,
                   notify_technician: bool = True) -> int:
    """A ticket and an order already assigned (and scheduled) to a technician, written with the ORM."""
    from tests.conftest import acting_as

    uow = uow_factory()
    with acting_as(uow_factory, sd.actor, strict=False), uow:
        s = uow.session
        o = sd.actor.organization_id
        cust = s.get(Customer, sd.customer_ids[0])
        site_id = s.execute(
            Site.__table__.select().where(Site.customer_id == cust.id)
        ).first().id
        tk = Ticket(organization_id=o, number=take_number(uow, o), customer_id=cust.id, customer_name=cust.name, site_id=site_id,
                    category="hvac", priority="high", subject="Air conditioning is down", created_by="test")
        s.add(tk)
        s.flush()
        start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
        wo = WorkOrder(organization_id=o, source_ticket_id=tk.id, source="manual", work_type="repair",
                       priority="high", status="scheduled", technician_id=sd.technician_ids[technician_index],
                       duration_minutes=90, scheduled_start=start, scheduled_end=start + timedelta(minutes=90),
                       notify_customer=notify_customer, notify_technician=notify_technician, assigned_at=start)
        s.add(wo)
        s.flush()
        wo_id = wo.id
        uow.commit()
    return wo_id
