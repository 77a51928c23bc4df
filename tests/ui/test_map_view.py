"""The map view in a real QtWebEngine (offscreen), over a real PostGIS database.

Data: a Chicago-area field-service organization built with the ORM (about 60 technicians
with skills, working hours, home bases and live positions; customers with sites; tickets
with work orders, some assigned and some waiting).
"""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from desk_desktop.config import Settings
from desk_desktop.db.models import (
    Customer,
    Site,
    Technician,
    TechnicianSkill,
    Ticket,
    WorkOrder,
)
from desk_desktop.services import mapdata

pytest.importorskip("PySide6.QtWebEngineWidgets")

from desk_desktop.ui.context import UiContext  # noqa: E402
from desk_desktop.ui.workers import InlineRunner, TaskRunner  # noqa: E402

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"

AREAS = [
    ("Loop", 41.8837, -87.6289), ("Lincoln Park", 41.9214, -87.6513), ("Wicker Park", 41.9088, -87.6796),
    ("Hyde Park", 41.7943, -87.5907), ("Pilsen", 41.8525, -87.6614), ("Uptown", 41.9742, -87.6680),
    ("Chatham", 41.7508, -87.6351), ("Evanston", 42.0451, -87.6877), ("Oak Park", 41.8850, -87.7845),
    ("Cicero", 41.8456, -87.7539), ("Skokie", 42.0324, -87.7416), ("Schaumburg", 42.0334, -88.0834),
    ("Naperville", 41.7508, -88.1535), ("Arlington Heights", 42.0884, -87.9806), ("Des Plaines", 42.0334, -87.8834),
    ("Oak Lawn", 41.7200, -87.7479), ("Elmhurst", 41.8995, -87.9403), ("Downers Grove", 41.8089, -88.0112),
]
FIRST = ["James", "Maria", "Robert", "Linda", "Michael", "Patricia", "David", "Jennifer", "Daniel", "Elizabeth",
         "Carlos", "Aisha", "Tomasz", "Priya", "Kevin", "Rosa", "Anthony", "Grace", "Marcus", "Hannah"]
LAST = ["Kowalski", "Johnson", "Garcia", "Nguyen", "Williams", "O'Brien", "Patel", "Rodriguez", "Murphy", "Kim",
        "Nowak", "Brown", "Hernandez", "Davis", "Washington", "Lopez"]
SKILL_SETS = [
    {"hvac": 5, "refrigeration": 4}, {"electrical": 5, "solar": 3}, {"plumbing": 5, "gas": 3},
    {"networking": 5, "fiber": 4}, {"security_systems": 4, "electrical": 3}, {"appliances": 4},
    {"hvac": 3, "electrical": 2, "gas": 4}, {"it_hardware": 5, "networking": 3}, {"plumbing": 3, "carpentry": 4},
]
JOBS = [
    ("hvac", "repair", "Rooftop unit not cooling", ["hvac"]),
    ("electrical", "emergency", "Breaker keeps tripping", ["electrical"]),
    ("plumbing", "repair", "Water heater leaking", ["plumbing"]),
    ("network", "repair", "Wi-Fi down in east wing", ["networking"]),
    ("security", "inspection", "Door access panel offline", ["security_systems"]),
    ("appliance", "repair", "Walk-in freezer warming up", ["appliances"]),
    ("general", "maintenance", "Annual site walkthrough", []),
]
BUSINESSES = ["Wrigley Lofts Condo Assn.", "Northside Dental Group", "Midway Logistics Center", "Prairie State Bank",
              "Blue Line Coffee Roasters", "Lakeview Family Clinic", "Oak Brook Data Center", "Pilsen Community Kitchen",
              "Magnificent Mile Hotel", "Hyde Park Art Studio", "Elmhurst Veterinary Hospital", "Naperville Fitness Club"]
STREETS = ["N Clark St", "W Division St", "N Milwaukee Ave", "S Halsted St", "W Roosevelt Rd", "N Sheridan Rd",
           "Lake St", "Chicago Ave", "Ogden Ave", "Golf Rd"]
ALL_WEEK = {d: [["00:00", "23:59"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
NEVER = {d: [] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def _pt(lat: float, lon: float) -> str:
    return f"SRID=4326;POINT({lon:.6f} {lat:.6f})"


def haversine_m(lat1, lon1, lat2, lon2) -> float:
    r = 6371008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def build_city(uow_factory, actor, *, technicians: int = 60, orders: int = 70, seed: int = 7) -> dict:
    """A realistic Chicago-area organization; returns ids and positions for the assertions."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    org_id = actor.organization_id
    out = {"techs": {}, "orders": {}, "unassigned": [], "assigned": []}
    with uow_factory() as uow:
        s = uow.session
        s.execute(text("UPDATE organizations SET timezone = 'America/Chicago' WHERE id = :o"), {"o": org_id})
        names: set[str] = set()
        for i in range(technicians):
            while True:
                name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
                if name not in names:
                    names.add(name)
                    break
            area = AREAS[i % len(AREAS)]
            lat, lon = area[1] + rng.uniform(-0.03, 0.03), area[2] + rng.uniform(-0.04, 0.04)
            # Everyone on shift (the state then depends on load), except every 7th: off shift.
            t = Technician(organization_id=org_id, name=name, home_base=_pt(lat, lon),
                           max_open_work_orders=rng.choice([4, 6, 8]),
                           working_hours=NEVER if i % 7 == 6 else ALL_WEEK)
            pos = (lat, lon)
            if i % 3 != 2:
                pos = (lat + rng.uniform(-0.03, 0.03), lon + rng.uniform(-0.04, 0.04))
                t.current_location = _pt(*pos)
                t.location_updated_at = now - timedelta(minutes=rng.randint(1, 20))
            elif i % 6 == 5:
                # A stale live position: the map must fall back to the home base.
                t.current_location = _pt(lat + 0.2, lon + 0.2)
                t.location_updated_at = now - timedelta(hours=5)
            s.add(t)
            s.flush()
            skills = SKILL_SETS[i % len(SKILL_SETS)]
            for skill, prof in skills.items():
                s.add(TechnicianSkill(organization_id=org_id, technician_id=t.id, skill=skill, proficiency=prof))
            out["techs"][t.id] = {"name": name, "pos": pos, "skills": skills, "off": i % 7 == 6}
        tech_ids = list(out["techs"])
        customers = []
        for j, bname in enumerate(BUSINESSES):
            c = Customer(organization_id=org_id, ref=f"C{j + 1:03d}", name=bname, customer_type="business")
            s.add(c)
            s.flush()
            customers.append(c)
        for k in range(orders):
            cust = customers[k % len(customers)]
            area = AREAS[(k * 5) % len(AREAS)]
            lat, lon = area[1] + rng.uniform(-0.04, 0.04), area[2] + rng.uniform(-0.05, 0.05)
            site = Site(organization_id=org_id, ref=f"S{k + 1:04d}", customer_id=cust.id, name=f"{cust.name} {area[0]}",
                        address=f"{rng.randint(100, 4999)} {rng.choice(STREETS)}, {area[0]}, IL", location=_pt(lat, lon))
            s.add(site)
            s.flush()
            cat, wtype, subject, req = JOBS[k % len(JOBS)]
            prio = ["urgent", "high", "medium", "medium", "low"][k % 5]
            tk = Ticket(organization_id=org_id, number=f"TK-2026-{k + 1:05d}", customer_id=cust.id,
                        customer_name=cust.name, site_id=site.id, category=cat, priority=prio, subject=subject,
                        created_by="test", status="open")
            s.add(tk)
            s.flush()
            assigned = k % 3 != 0
            wo = WorkOrder(organization_id=org_id, source_ticket_id=tk.id, source="manual", work_type=wtype,
                           priority=prio, required_skills=req, duration_minutes=90,
                           status="assigned" if assigned else "unassigned",
                           technician_id=rng.choice(tech_ids) if assigned else None,
                           assigned_at=now - timedelta(hours=1) if assigned else None,
                           created_at=now - timedelta(minutes=15 * (orders - k)))
            s.add(wo)
            s.flush()
            out["orders"][wo.id] = {"pos": (lat, lon), "tech": wo.technician_id, "required": req}
            (out["assigned"] if assigned else out["unassigned"]).append(wo.id)
        uow.commit()
    return out


def _ctx(uow_factory, actor, runner=None, **settings):
    settings.setdefault("tile_url", "https://tile.openstreetmap.org/{z}/{x}/{y}.png")
    return UiContext(uow_factory=uow_factory, actor=actor, settings=Settings(**settings),
                     runner=runner or InlineRunner())


def js(qtbot, page, script: str, timeout: int = 5000):
    """Evaluate ``script`` in the page; the value comes back through JSON (objects, arrays, null)."""
    box = []
    page.run_js(f"JSON.stringify(({script}))", lambda result: box.append(result))
    qtbot.waitUntil(lambda: bool(box), timeout=timeout)
    if not isinstance(box[0], str) or box[0] == "":
        raise AssertionError(f"script failed in the page: {script}")
    return json.loads(box[0])


def open_page(qtbot, ctx, size=(1440, 900)):
    from desk_desktop.ui.map.page import MapPage

    page = MapPage(ctx)
    qtbot.addWidget(page)
    page.resize(*size)
    page.show()
    qtbot.waitUntil(lambda: page.ready, timeout=20000)
    qtbot.waitUntil(lambda: js(qtbot, page, "DeskMap.counts().technicians") > 0 or not page._technicians,
                    timeout=10000)
    return page


@pytest.fixture
def city(uow_factory, org):
    return build_city(uow_factory, org)


# --------------------------------------------------------------------------------------


def test_map_data_positions_states_and_routes(uow_factory, org, city):
    data = mapdata.load_map_data(uow=uow_factory(), actor=org)
    assert len(data.technicians) == 60
    assert {w.id for w in data.work_orders} == set(city["orders"])
    by_id = {t.id: t for t in data.technicians}
    for tid, info in city["techs"].items():
        t = by_id[tid]
        assert t.lat == pytest.approx(info["pos"][0], abs=1e-6)  # fresh live position, else home base
        assert t.lon == pytest.approx(info["pos"][1], abs=1e-6)
        if info["off"]:
            assert t.state == mapdata.STATE_OFF_SHIFT
        expected_jobs = sum(1 for o in city["orders"].values() if o["tech"] == tid)
        assert t.open_jobs == expected_jobs
        if not info["off"]:
            assert t.state == (mapdata.STATE_BUSY if expected_jobs >= t.max_open else mapdata.STATE_AVAILABLE)
    # One route per technician with work, ending at one of their orders.
    routed = {r.technician_id: r for r in data.routes}
    assert set(routed) == {o["tech"] for o in city["orders"].values() if o["tech"]}
    for r in data.routes:
        assert city["orders"][r.work_order_id]["tech"] == r.technician_id
    assert {w.id for w in data.unassigned} == set(city["unassigned"])


def test_map_changes_report_gone_and_refresh_technicians(uow_factory, org, city):
    wo_id = city["assigned"][0]
    tech_id = city["orders"][wo_id]["tech"]
    with uow_factory() as uow:
        uow.session.execute(text("UPDATE work_orders SET status = 'completed' WHERE id = :i"), {"i": wo_id})
        uow.commit()
    ch = mapdata.load_map_changes(uow=uow_factory(), actor=org, technician_ids=[tech_id], work_order_ids=[wo_id])
    assert ch.work_orders == ()  # closed: gone from the map
    assert ch.requested_work_order_ids == (wo_id,)
    [t] = ch.technicians
    assert t.open_jobs == sum(1 for o, v in city["orders"].items() if v["tech"] == tech_id and o != wo_id)


def test_on_shift_handles_overnight_spans():
    hours = {"mon": [["22:00", "06:00"]]}
    assert mapdata.on_shift(hours, datetime(2026, 11, 23, 23, 0))  # Monday night
    assert mapdata.on_shift(hours, datetime(2026, 11, 24, 5, 59))  # Tuesday early morning
    assert not mapdata.on_shift(hours, datetime(2026, 11, 24, 6, 0))
    assert mapdata.on_shift(None, datetime(2026, 11, 24, 3, 0))


def test_page_loads_offline_with_vendored_leaflet_and_markers(qtbot, uow_factory, org, city):
    page = open_page(qtbot, _ctx(uow_factory, org))
    html = (Path(page._tmp.name) / "map.html").read_text()
    assert "cdn" not in html.lower() and "https://code.jquery" not in html
    assert js(qtbot, page, "typeof L !== 'undefined' && typeof L.markerClusterGroup === 'function'") is True
    assert js(qtbot, page, "window.DESK_BASEMAP.features.length") > 200
    counts = js(qtbot, page, "DeskMap.counts()")
    assert counts["technicians"] == 60
    assert counts["orders"] == len(city["orders"])
    assert counts["routes"] == len({o["tech"] for o in city["orders"].values() if o["tech"]})
    some_tech = next(iter(city["techs"]))
    lat, lon, state = js(qtbot, page, f"DeskMap.technicianPosition({some_tech})")
    assert (lat, lon) == pytest.approx(city["techs"][some_tech]["pos"], abs=1e-6)
    wo = city["unassigned"][0]
    info = js(qtbot, page, f"DeskMap.orderInfo({wo})")
    assert info["unassigned"] is True
    assert (info["lat"], info["lon"]) == pytest.approx(city["orders"][wo]["pos"], abs=1e-6)
    # The side list shows exactly the unassigned orders, most urgent first.
    model = page.unassigned_model
    listed = [model.order_at(r).id for r in range(model.rowCount())]
    assert sorted(listed) == sorted(city["unassigned"])
    prios = [model.order_at(r).priority for r in range(model.rowCount())]
    order = {"urgent": 0, "high": 1, "medium": 2, "low": 3}
    assert prios == sorted(prios, key=order.get)
