"""Deterministic demo data: one organization in the Chicago metropolitan area.

About 60 technicians (skills, proficiencies, working hours, home bases spread over the
area), 40 customers with sites, 8 rules and 300 tickets over the last 90 days. Reference
data is written directly; rules and tickets go through the real services, so numbering
and automation run exactly as they do for a dispatcher.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from desk_desktop.db.models import (
    Customer,
    Organization,
    Site,
    Technician,
    TechnicianSkill,
    Ticket,
    WorkOrder,
)
from desk_desktop.db.session import UnitOfWorkFactory
from desk_desktop.services.common import Actor, DeskError

DEMO_SLUG = "lakeshore"
DEMO_NAME = "Lakeshore Field Services"
DEMO_TZ = "America/Chicago"

# (area, lat, lon, ZIP) — real places of the Chicago metropolitan area.
AREAS = [
    ("Chicago", 41.8837, -87.6289, "60602"), ("Chicago", 41.9214, -87.6513, "60614"),
    ("Chicago", 41.9088, -87.6796, "60622"), ("Chicago", 41.7943, -87.5907, "60615"),
    ("Chicago", 41.8525, -87.6614, "60608"), ("Chicago", 41.9742, -87.6680, "60640"),
    ("Chicago", 41.7508, -87.6351, "60620"), ("Evanston", 42.0451, -87.6877, "60201"),
    ("Oak Park", 41.8850, -87.7845, "60302"), ("Cicero", 41.8456, -87.7539, "60804"),
    ("Skokie", 42.0324, -87.7416, "60077"), ("Schaumburg", 42.0334, -88.0834, "60173"),
    ("Naperville", 41.7508, -88.1535, "60540"), ("Arlington Heights", 42.0884, -87.9806, "60004"),
    ("Des Plaines", 42.0334, -87.8834, "60016"), ("Oak Lawn", 41.7200, -87.7479, "60453"),
    ("Joliet", 41.5250, -88.0817, "60432"), ("Aurora", 41.7606, -88.3201, "60505"),
    ("Elmhurst", 41.8995, -87.9403, "60126"), ("Downers Grove", 41.8089, -88.0112, "60515"),
    ("Orland Park", 41.6303, -87.8539, "60462"), ("Wheaton", 41.8661, -88.1070, "60187"),
]
STREETS = [
    "N Clark St", "W Division St", "N Milwaukee Ave", "S Halsted St", "W Roosevelt Rd", "N Sheridan Rd",
    "W Madison St", "N Lincoln Ave", "S Michigan Ave", "W Belmont Ave", "N Broadway", "W Irving Park Rd",
    "Main St", "Ogden Ave", "Lake St", "Chicago Ave", "Grand Ave", "Central Ave", "Harlem Ave", "Golf Rd",
]
FIRST = ["James", "Maria", "Robert", "Linda", "Michael", "Patricia", "David", "Jennifer", "Daniel", "Elizabeth",
         "Carlos", "Aisha", "Tomasz", "Priya", "Kevin", "Rosa", "Anthony", "Grace", "Marcus", "Hannah",
         "Luis", "Olivia", "Andre", "Mei", "Brian", "Fatima", "Steven", "Sofia", "Jamal", "Katarzyna"]
LAST = ["Kowalski", "Johnson", "Garcia", "Nguyen", "Williams", "O'Brien", "Patel", "Rodriguez", "Murphy", "Kim",
        "Nowak", "Brown", "Hernandez", "Davis", "Washington", "Lopez", "Schmidt", "Jackson", "Rossi", "Lee"]
BUSINESSES = [
    ("Wrigley Lofts Condo Association", "business"), ("Northside Dental Group", "business"),
    ("Midway Logistics Center", "enterprise"), ("Lincoln Park Zoo Facilities", "government"),
    ("Cook County Public Library", "government"), ("Prairie State Bank", "enterprise"),
    ("Blue Line Coffee Roasters", "business"), ("Evanston Township High School", "government"),
    ("Lakeview Family Clinic", "business"), ("Oak Brook Data Center", "enterprise"),
    ("Naperville Fitness Club", "business"), ("Schaumburg Medical Pavilion", "enterprise"),
    ("Pilsen Community Kitchen", "business"), ("Magnificent Mile Hotel", "enterprise"),
    ("Hyde Park Art Studio", "business"), ("Village of Oak Park", "government"),
    ("Joliet Cold Storage", "enterprise"), ("Aurora Print Works", "business"),
    ("Elmhurst Veterinary Hospital", "business"), ("Wheaton Self Storage", "business"),
]
SKILL_SETS = [
    {"hvac": 5, "refrigeration": 4}, {"electrical": 5, "solar": 3}, {"plumbing": 5, "gas": 3},
    {"networking": 5, "fiber": 4, "it_hardware": 3}, {"security_systems": 4, "electrical": 3},
    {"appliances": 4, "refrigeration": 3}, {"hvac": 3, "electrical": 2, "gas": 4},
    {"it_hardware": 5, "networking": 3}, {"plumbing": 3, "carpentry": 4}, {"electrical": 4, "hvac": 2},
    {"networking": 3, "security_systems": 3}, {"appliances": 5, "plumbing": 2}, {"fiber": 5, "networking": 4},
]
SHIFTS = {
    "day": {d: [["08:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    "late": {d: [["12:00", "21:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    "weekend": {d: [["08:00", "18:00"]] for d in ("wed", "thu", "fri", "sat", "sun")},
}
SUBJECTS = {
    "hvac": ["Rooftop unit not cooling", "Furnace short-cycling", "Thermostat unresponsive", "Strange noise from air handler"],
    "electrical": ["Breaker keeps tripping", "Power outage on second floor", "Flickering lights in lobby", "Outlet sparking"],
    "plumbing": ["Water heater leaking", "Clogged main drain", "Low water pressure", "Burst pipe in basement"],
    "network": ["Wi-Fi down in east wing", "Switch port failures", "Slow internet at front desk", "Fiber link flapping"],
    "hardware": ["POS terminal will not boot", "Printer jam on every job", "Laptop docking station dead"],
    "software": ["Booking system login errors", "Email sync failing", "License server unreachable"],
    "security": ["Door access panel offline", "CCTV camera no signal", "Alarm false triggers at night"],
    "appliance": ["Walk-in freezer warming up", "Dishwasher not draining", "Ice machine leaking"],
    "general": ["Annual site walkthrough", "Replace ceiling tiles", "Loose handrail on stairs"],
}
TAGS = {"hvac": ["cooling", "heating"], "electrical": ["power"], "plumbing": ["leak", "water"],
        "network": ["connectivity"], "security": ["access"], "appliance": ["kitchen"], "general": ["preventive", "maintenance"]}


@dataclass(frozen=True)
class DemoSummary:
    organization_id: int
    organization_slug: str
    technicians: int
    customers: int
    sites: int
    rules: int
    tickets: int
    work_orders: int


class DemoNotEmpty(DeskError):
    pass


def _point(lat: float, lon: float) -> str:
    return f"SRID=4326;POINT({lon:.6f} {lat:.6f})"


def demo_rules():
    """The eight demo rules, highest priority first."""
    from desk_desktop.services.rules import RuleDraft

    def d(name, desc, cats=(), prios=(), tags=(), ctypes=(), wo=("repair", "medium", 90), assign=None,
          skills=(), offset=None, notify=(True, True), active=True):
        return RuleDraft(
            name=name, description=desc, active=active,
            trigger_categories=tuple(cats), trigger_priorities=tuple(prios), trigger_tags=tuple(tags),
            trigger_customer_types=tuple(ctypes), wo_type=wo[0], wo_priority=wo[1], wo_duration_minutes=wo[2],
            auto_assign=assign is not None, assignment_logic=assign or "nearest", required_skills=tuple(skills),
            auto_schedule=offset is not None, schedule_offset_minutes=offset or 0,
            notify_customer=notify[0], notify_technician=notify[1],
        )

    return [
        d("Urgent electrical faults", "Power problems that cannot wait go to the closest electrician.",
          cats=["electrical"], prios=["urgent", "high"], wo=("emergency", "urgent", 120), assign="nearest",
          skills=["electrical"], offset=0),
        d("Enterprise network outages", "Outages at enterprise and government sites: best network engineer.",
          cats=["network"], prios=["high", "urgent"], ctypes=["enterprise", "government"],
          wo=("emergency", "urgent", 120), assign="skill_match", skills=["networking"], offset=30),
        d("Commercial HVAC repairs", "Heating and cooling for business customers.",
          cats=["hvac"], ctypes=["business", "enterprise", "government"], wo=("repair", "high", 180),
          assign="skill_match", skills=["hvac"], offset=60),
        d("Residential plumbing", "Home plumbing jobs to the nearest plumber.", cats=["plumbing"],
          ctypes=["residential"], wo=("repair", "medium", 90), assign="nearest", skills=["plumbing"], offset=120),
        d("Security system inspections", "Access control and CCTV checks, balanced across the team.",
          cats=["security"], wo=("inspection", "medium", 60), assign="workload", skills=["security_systems"],
          offset=24 * 60),
        d("Appliance repairs", "Kitchen and appliance work in rotation.", cats=["appliance"],
          wo=("repair", "medium", 90), assign="round_robin", skills=["appliances"], offset=4 * 60),
        d("Preventive maintenance", "Planned visits, assigned by a dispatcher from the map.",
          tags=["preventive", "maintenance"], wo=("maintenance", "low", 120), assign=None, offset=None,
          notify=(True, False)),
        d("Hardware swaps (paused)", "On hold until the new stock arrives.", cats=["hardware"],
          wo=("installation", "low", 60), assign="round_robin", skills=["it_hardware"], offset=24 * 60,
          active=False),
    ]


DEMO_PLANNED = 150  # the coming days' work orders of the demo the app and ``desk-desktop demo`` load


def load_demo(*, uow_factory: UnitOfWorkFactory, now: datetime | None = None, tickets: int = 300,
              seed: int = 2026, actor_name: str = "demo", planned: int = 0) -> DemoSummary:
    """Load the demo organization into an empty database (refuses if it already exists).

    ``tickets`` are spread over the last 90 days (older ones done). ``planned`` more work
    orders, from tickets reported over the last day, make the coming days' schedule: each is
    given by the assign job to a technician with the skills and booked into their first free
    slot after its offset (1 to 30 hours from ``now``), as the rules would."""
    from desk_desktop.services import assignment, rules
    from desk_desktop.services import tickets as ticket_service

    now = now or datetime.now(UTC)
    rng = random.Random(seed)
    with uow_factory() as uow:
        s = uow.session
        if s.scalar(select(func.count()).select_from(Organization).where(Organization.slug == DEMO_SLUG)):
            raise DemoNotEmpty(f"The demo organization '{DEMO_SLUG}' already exists; nothing was loaded.")
        org = Organization(name=DEMO_NAME, slug=DEMO_SLUG, timezone=DEMO_TZ)
        s.add(org)
        s.flush()
        org_id = org.id
        # Technicians
        names = set()
        for i in range(60):
            while True:
                name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
                if name not in names:
                    names.add(name)
                    break
            area = AREAS[i % len(AREAS)]
            lat = area[1] + rng.uniform(-0.03, 0.03)
            lon = area[2] + rng.uniform(-0.04, 0.04)
            shift = "day" if i % 5 < 3 else ("late" if i % 5 == 3 else "weekend")
            first, last = name.split(" ", 1)
            tech = Technician(
                organization_id=org_id, name=name,
                email=f"{first.lower()}.{last.lower().replace(chr(39), '')}@lakeshore-fs.example",
                phone=f"(312) 555-{1000 + i:04d}", active=(i % 29 != 28), home_base=_point(lat, lon),
                max_open_work_orders=rng.choice([5, 6, 8, 8, 10]), working_hours=SHIFTS[shift],
                weekly_hours=40 if shift != "weekend" else 36,
            )
            if i % 3 != 2:  # two thirds report a live position near their base
                tech.current_location = _point(lat + rng.uniform(-0.05, 0.05), lon + rng.uniform(-0.06, 0.06))
                tech.location_updated_at = now - timedelta(minutes=rng.randint(1, 50))
            s.add(tech)
            s.flush()
            for skill, prof in SKILL_SETS[i % len(SKILL_SETS)].items():
                adj = max(1, min(5, prof + rng.choice([-1, 0, 0, 1])))
                s.add(TechnicianSkill(organization_id=org_id, technician_id=tech.id, skill=skill, proficiency=adj))
        # Customers and sites
        site_count = 0
        for i in range(40):
            if i < len(BUSINESSES):
                cname, ctype = BUSINESSES[i]
                email = "facilities@" + "".join(ch for ch in cname.lower() if ch.isalnum())[:18] + ".example"
            else:
                cname, ctype = f"{rng.choice(FIRST)} {rng.choice(LAST)}", "residential"
                email = None if i % 7 == 0 else f"{cname.split()[0].lower()}{i}@mail.example"
            cust = Customer(organization_id=org_id, ref=f"C{1001 + i}", name=cname, customer_type=ctype,
                            email=email, phone=f"(773) 555-{2000 + i:04d}")
            s.add(cust)
            s.flush()
            for j in range(1 if ctype == "residential" else rng.choice([1, 2, 2, 3])):
                area = rng.choice(AREAS)
                lat = area[1] + rng.uniform(-0.025, 0.025)
                lon = area[2] + rng.uniform(-0.035, 0.035)
                street = f"{rng.randint(100, 4999)} {rng.choice(STREETS)}"
                label = "Home" if ctype == "residential" else ("Main office" if j == 0 else f"Site {j + 1}")
                s.add(Site(organization_id=org_id, ref=f"S{1001 + site_count}", customer_id=cust.id, name=label,
                           address=f"{street}, {area[0]}, IL {area[3]}", location=_point(lat, lon)))
                site_count += 1
        uow.commit()

    actor = Actor(organization_id=org_id, name=actor_name, is_admin=True)
    for draft in demo_rules():
        rules.create_rule(uow=uow_factory(), actor=actor, draft=draft)

    with uow_factory() as uow:
        customers = uow.session.execute(
            select(Customer.id, Customer.ref, Customer.customer_type).where(Customer.organization_id == org_id)
            .order_by(Customer.id)).all()
        sites_by_customer: dict[int, list[str]] = {}
        for cid, sref in uow.session.execute(select(Site.customer_id, Site.ref).where(Site.organization_id == org_id)):
            sites_by_customer.setdefault(cid, []).append(sref)

    categories = list(SUBJECTS)
    weights = [14, 16, 12, 10, 6, 4, 8, 8, 6]
    prio_weights = {"low": 20, "medium": 45, "high": 25, "urgent": 10}
    start = now - timedelta(days=90)
    times = sorted(start + timedelta(seconds=rng.uniform(0, 90 * 86400)) for _ in range(tickets))
    created = 0
    for ts in times:
        cid, cref, _ctype = rng.choice(customers)
        cat = rng.choices(categories, weights)[0]
        prio = rng.choices(list(prio_weights), list(prio_weights.values()))[0]
        tags = []
        if cat in TAGS and rng.random() < 0.6:
            tags.append(rng.choice(TAGS[cat]))
        if rng.random() < 0.15:
            tags.append("preventive")
        subject = rng.choice(SUBJECTS[cat])
        age = now - ts
        with uow_factory() as uow:  # one transaction per demo ticket: create, back-date, history
            result = ticket_service.create_ticket(
                uow=uow, actor=actor, subject=subject, category=cat, priority=prio, customer_ref=cref,
                description=f"{subject}. Reported by the customer by phone; please call ahead before arriving.",
                tags=tuple(tags), site_ref=rng.choice(sites_by_customer[cid]), now=ts,
            )
            uow.session.execute(update(Ticket).where(Ticket.id == result.ticket.id)
                                .values(created_at=ts, updated_at=ts))
            if age > timedelta(days=10):
                steps = ("open", "resolved") if age <= timedelta(days=30) else ("open", "resolved", "closed")
            elif age > timedelta(days=3) and rng.random() < 0.6:
                steps = ("open",)
            else:
                steps = ()
            for status in steps:
                # The order is marked completed below (after its assignment), so it is left open here.
                ticket_service.change_ticket_status(uow=uow, actor=actor, ticket_id=result.ticket.id, status=status,
                                                    open_orders="leave")
            uow.commit()
        created += 1
        if result.work_order is not None:
            if result.work_order.auto_assign:
                assignment.assign_pending(uow_factory=uow_factory, now=ts, limit=10)
            elif age > timedelta(days=7):
                # Planned visits: a dispatcher picked the least-loaded eligible technician.
                wo_id = result.work_order.work_order_id
                cands = assignment.list_candidates(uow=uow_factory(), actor=actor, work_order_id=wo_id,
                                                   strategy="workload", now=ts)
                best = next((c for c in cands.candidates if c.eligible), None)
                if best is not None:
                    assignment.assign_work_order(uow=uow_factory(), actor=actor, work_order_id=wo_id,
                                                 technician_id=best.technician_id, strategy="workload", now=ts)
            if age > timedelta(days=10):
                with uow_factory() as uow:
                    uow.session.execute(update(WorkOrder).where(WorkOrder.id == result.work_order.work_order_id)
                                        .where(WorkOrder.technician_id.is_not(None))
                                        .values(status="completed", needs_assignment=False))
                    uow.commit()

    created += _plan_coming_days(uow_factory, actor, rng, customers, sites_by_customer, now, planned)

    with uow_factory() as uow:
        s = uow.session
        summary = DemoSummary(
            organization_id=org_id, organization_slug=DEMO_SLUG,
            technicians=s.scalar(select(func.count()).select_from(Technician).where(Technician.organization_id == org_id)),
            customers=s.scalar(select(func.count()).select_from(Customer).where(Customer.organization_id == org_id)),
            sites=site_count, rules=len(demo_rules()), tickets=created,
            work_orders=s.scalar(select(func.count()).select_from(WorkOrder).where(WorkOrder.organization_id == org_id)),
        )
    return summary


def _plan_coming_days(uow_factory: UnitOfWorkFactory, actor: Actor, rng: random.Random, customers, sites_by_customer,
                      now: datetime, planned: int) -> int:
    """Tickets reported over the last day until ``planned`` of them have work orders; the
    assign job then books those into the coming days. Returns how many tickets it made."""
    from desk_desktop.services import assignment
    from desk_desktop.services import tickets as ticket_service

    made = orders = 0
    categories = [c for c in SUBJECTS if c not in ("software", "hardware")]  # no active rule for these
    while orders < planned and made < planned * 3:
        cid, cref, _ctype = rng.choice(customers)
        cat = rng.choice(categories)
        subject = rng.choice(SUBJECTS[cat])
        ts = now - timedelta(minutes=rng.uniform(5, 24 * 60))
        with uow_factory() as uow:
            result = ticket_service.create_ticket(
                uow=uow, actor=actor, subject=subject, category=cat, priority=rng.choice(["low", "medium", "high"]),
                customer_ref=cref, site_ref=rng.choice(sites_by_customer[cid]), now=ts,
                description=f"{subject}. Reported by the customer by phone; please call ahead before arriving.")
            made += 1
            if result.work_order is not None:
                orders += 1
                uow.session.execute(
                    update(WorkOrder).where(WorkOrder.id == result.work_order.work_order_id).values(
                        needs_assignment=True, next_assign_at=None, auto_schedule=True,
                        schedule_offset_minutes=rng.choice([60, 120, 180, 240, 360, 900, 1080, 1440, 1800]),
                        assignment_logic=func.coalesce(WorkOrder.assignment_logic, "nearest")))
            uow.commit()
    while assignment.assign_pending(uow_factory=uow_factory, now=now, limit=200).assigned:
        pass
    return made


def database_is_empty(*, uow_factory: UnitOfWorkFactory) -> bool:
    with uow_factory() as uow:
        return not uow.session.scalar(select(func.count()).select_from(Organization))
