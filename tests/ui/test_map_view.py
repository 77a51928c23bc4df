"""The map view in a real QtWebEngine (offscreen), over a real PostGIS database.

Data: a Chicago-area field-service organization built with the ORM (about 60 technicians
with skills, working hours, home bases and live positions; customers with sites; tickets
with work orders, some assigned and some waiting).
"""

from __future__ import annotations

import json
import math
import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton
from sqlalchemy import text

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
from tests.conftest import local_tile_url
from tests.numbers import take_number

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


def _near(techs: dict, lat: float, lon: float, rng: random.Random) -> int:
    """One of the four technicians closest to (lat, lon): dispatchers send people nearby."""
    ranked = sorted(techs, key=lambda t: haversine_m(lat, lon, *techs[t]["pos"]))
    return rng.choice(ranked[:4])


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
                t.location_updated_at = now - timedelta(hours=20)
            s.add(t)
            s.flush()
            skills = SKILL_SETS[i % len(SKILL_SETS)]
            for skill, prof in skills.items():
                s.add(TechnicianSkill(organization_id=org_id, technician_id=t.id, skill=skill, proficiency=prof))
            out["techs"][t.id] = {"name": name, "pos": pos, "skills": skills, "off": i % 7 == 6}
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
            tk = Ticket(organization_id=org_id, number=take_number(uow, org_id), customer_id=cust.id,
                        customer_name=cust.name, site_id=site.id, category=cat, priority=prio, subject=subject,
                        created_by="test", status="open")
            s.add(tk)
            s.flush()
            assigned = k % 3 != 0
            wo = WorkOrder(organization_id=org_id, source_ticket_id=tk.id, source="manual", work_type=wtype,
                           priority=prio, required_skills=req, duration_minutes=90,
                           status="assigned" if assigned else "unassigned",
                           technician_id=_near(out["techs"], lat, lon, rng) if assigned else None,
                           assigned_at=now - timedelta(hours=1) if assigned else None,
                           created_at=now - timedelta(minutes=15 * (orders - k)))
            s.add(wo)
            s.flush()
            out["orders"][wo.id] = {"pos": (lat, lon), "tech": wo.technician_id, "required": req}
            (out["assigned"] if assigned else out["unassigned"]).append(wo.id)
        uow.commit()
    return out


def _ctx(uow_factory, actor, runner=None, **settings):
    settings.setdefault("tile_url", local_tile_url())
    settings.setdefault("data_dir", Path(tempfile.gettempdir()) / "desk-test-map")  # the web profile's cache
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
    qtbot.waitUntil(lambda: js(qtbot, page, "DeskMap.counts().technicians") > 0 or not page.canvas.technicians,
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


def test_map_arrays_formatted_by_the_database_match_the_rows(uow_factory, org, city):
    """The page draws a full load from the database's text; live changes from Python's rows:
    both must say the same thing, to the last digit."""
    from desk_desktop.ui.map import payload

    arrays = mapdata.load_map_arrays(uow=uow_factory(), actor=org)
    data = mapdata.load_map_data(uow=uow_factory(), actor=org)
    techs = json.loads("[" + arrays.technicians + "]")
    assert techs == [payload.technician_row(t) for t in data.technicians]
    assert {row[3] for row in techs} == {0, 1, 2}  # available, busy and off shift all present
    assert json.loads("[" + arrays.work_orders + "]") == [payload.order_row(w) for w in data.work_orders]
    assert json.loads("[" + arrays.routes + "]") == [payload.route_row(r) for r in data.routes]


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
    html = (page.canvas.html_path).read_text()
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
    # Hovering a technician shows who they are; the legend's boxes toggle layers.
    name = city["techs"][some_tech]["name"]
    js(qtbot, page, f"""(function () {{
        var t = DeskMap.tech[{some_tech}];
        DeskMap.layers.technicians.fire("mouseover", {{ layer: t.m }});
        return true; }})()""")
    tip_js = "(document.querySelector('.leaflet-tooltip') || {}).textContent || ''"
    qtbot.waitUntil(lambda: name in js(qtbot, page, tip_js), timeout=5000)
    assert "open jobs" in js(qtbot, page, tip_js)
    js(qtbot, page, f"DeskMap.layers.unassigned.fire('mouseover', {{ layer: DeskMap.orders[{wo}].m }}), true")
    number = f"WO-{wo:06d}"
    qtbot.waitUntil(lambda: number in js(qtbot, page, tip_js), timeout=5000)
    assert "Unassigned" in js(qtbot, page, tip_js)
    assert js(qtbot, page, "DeskMap.map.hasLayer(DeskMap.layers.technicians)") is True
    js(qtbot, page, "document.querySelector('input[data-layer=technicians]').click(), true")
    assert js(qtbot, page, "DeskMap.map.hasLayer(DeskMap.layers.technicians)") is False
    js(qtbot, page, "document.querySelector('input[data-layer=technicians]').click(), true")
    assert js(qtbot, page, "DeskMap.map.hasLayer(DeskMap.layers.technicians)") is True
    summary = js(qtbot, page, "document.getElementById('desk-summary').textContent")
    assert "60 technicians" in summary and f"{len(city['unassigned'])} unassigned" in summary
    # No network here: the bundled outline map is what the dispatcher sees, and the legend says so.
    assert js(qtbot, page, "DeskMap.map.hasLayer(DeskMap.layers.basemap)") is True
    # The side list shows exactly the unassigned orders, most urgent first.
    model = page.unassigned.model
    listed = [model.order_at(r).id for r in range(model.rowCount())]
    assert sorted(listed) == sorted(city["unassigned"])
    prios = [model.order_at(r).priority for r in range(model.rowCount())]
    order = {"urgent": 0, "high": 1, "medium": 2, "low": 3}
    assert prios == sorted(prios, key=order.get)


def _eligible_by_distance(city, order_id, open_jobs, max_open, radius_m=100_000):
    """Independently: who can take this order, nearest first (haversine on our own positions)."""
    o = city["orders"][order_id]
    out = []
    for tid, info in city["techs"].items():
        if not all(skill in info["skills"] for skill in o["required"]):
            continue
        if open_jobs[tid] >= max_open[tid]:
            continue
        d = haversine_m(*o["pos"], *info["pos"])
        if d <= radius_m:
            out.append((d, tid))
    return sorted(out)


def _loads(uow_factory, org):
    data = mapdata.load_map_data(uow=uow_factory(), actor=org)
    return {t.id: t.open_jobs for t in data.technicians}, {t.id: t.max_open for t in data.technicians}


def _select_in_list(qtbot, page, order_id):
    row = page.unassigned.model.row_of(order_id)
    assert row >= 0
    with qtbot.waitSignal(page.candidates_shown, timeout=10000) as sig:
        page.unassigned.view.selectRow(row)
    return sig.args[0]


def test_reloaded_page_gets_everything_again(qtbot, uow_factory, org, city):
    """A new page (e.g. after the browser process restarted) is drawn from a fresh read."""
    page = open_page(qtbot, _ctx(uow_factory, org, tile_url=""))
    with qtbot.waitSignal(page.map_drawn, timeout=20000, check_params_cb=lambda what: what == "data"):
        page.view.reload()
    counts = js(qtbot, page, "DeskMap.counts()")
    assert counts["technicians"] == 60
    assert counts["orders"] == len(city["orders"])
    assert page.unassigned.model.rowCount() == len(city["unassigned"])


def test_selecting_an_order_ranks_candidates_nearest_first_and_highlights_them(qtbot, uow_factory, org, city):
    page = open_page(qtbot, _ctx(uow_factory, org))
    open_jobs, max_open = _loads(uow_factory, org)
    # An order that needs a skill several technicians have.
    order_id = next(w for w in city["unassigned"] if city["orders"][w]["required"] == ["electrical"])
    page.set_strategy("nearest")
    result = _select_in_list(qtbot, page, order_id)
    assert page.selected_work_order_id == order_id
    eligible = [c for c in result.candidates if c.eligible]
    assert len(eligible) >= 3
    expected = _eligible_by_distance(city, order_id, open_jobs, max_open)
    # Same technicians in the same order as our own haversine ranking (spheroid vs sphere
    # differ by < 0.5 %: only a near-tie could swap, and then both distances agree).
    assert [c.technician_id for c in eligible] == [tid for _, tid in expected[: len(eligible)]]
    for c, (d, _) in zip(eligible, expected, strict=False):
        assert c.distance_m == pytest.approx(d, rel=0.006)
        assert "electrical" in c.matched_skills
    # The table shows them in that order, with their distance.
    table = page.candidates.table
    assert table.item(0, 1).text() == eligible[0].name
    assert table.item(0, 2).text().endswith("km") or table.item(0, 2).text().endswith("m")
    # The map centres the order and numbers the candidates.
    assert js(qtbot, page, "DeskMap.selectedCandidates()") == [c.technician_id for c in eligible]
    lat, lon, zoom = js(qtbot, page, "DeskMap.center()")
    assert (lat, lon) == pytest.approx(city["orders"][order_id]["pos"], abs=1e-3)
    assert js(qtbot, page, "DeskMap.counts().selection") > len(eligible)

    # Another strategy re-ranks: workload puts the least loaded first.
    with qtbot.waitSignal(page.candidates_shown, timeout=10000) as sig:
        page.set_strategy("workload")
    ranked = [c for c in sig.args[0].candidates if c.eligible]
    assert sig.args[0].strategy == "workload"
    assert [c.open_jobs for c in ranked] == sorted(c.open_jobs for c in ranked)


def test_click_on_technician_marker_then_confirm_assigns(qtbot, uow_factory, org, city):
    page = open_page(qtbot, _ctx(uow_factory, org))
    order_id = next(w for w in city["unassigned"] if city["orders"][w]["required"] == ["plumbing"])
    with uow_factory() as uow:
        uow.session.execute(text("UPDATE work_orders SET notify_technician = true WHERE id = :i"), {"i": order_id})
        uow.commit()
    # Selected on the map this time: a click on the order's marker, through the bridge.
    with qtbot.waitSignal(page.candidates_shown, timeout=10000) as sig:
        assert js(qtbot, page, f"DeskMap.clickOrder({order_id})") is True
    result = sig.args[0]
    assert page.selected_work_order_id == order_id
    assert page.unassigned.view.selectionModel().selectedRows()[0].row() == page.unassigned.model.row_of(order_id)
    second = [c for c in result.candidates if c.eligible][1]  # not the strategy's first choice
    # A click on the technician's marker on the map, through the QWebChannel bridge.
    assert js(qtbot, page, f"DeskMap.clickTechnician({second.technician_id})") is True
    qtbot.waitUntil(lambda: page.candidates.confirm_bar.isVisible(), timeout=5000)
    assert second.name in page.candidates.confirm_label.text()
    with qtbot.waitSignal(page.assigned, timeout=10000):
        qtbot.mouseClick(page.candidates.confirm_button, Qt.MouseButton.LeftButton)
    with uow_factory() as uow:
        wo = uow.session.get(WorkOrder, order_id)
        assert wo.technician_id == second.technician_id
        assert wo.status in ("assigned", "scheduled")
        audits = uow.session.execute(
            text("SELECT action, actor FROM audit_log WHERE entity = 'work_order' AND entity_id = :i"), {"i": order_id}
        ).all()
        assert ("work_order.assigned", org.name) in [tuple(a) for a in audits], "the assignment must be audited"
        notes = uow.session.execute(
            text("SELECT count(*) FROM notifications WHERE work_order_id = :i"), {"i": order_id}
        ).scalar_one()
        assert notes >= 1, "the technician's notification must be queued"
    # The map and the list follow without a reload.
    qtbot.waitUntil(lambda: js(qtbot, page, f"DeskMap.orderInfo({order_id}).unassigned") is False, timeout=10000)
    assert js(qtbot, page, f"DeskMap.orderInfo({order_id}).technician") == second.technician_id
    assert page.unassigned.model.row_of(order_id) == -1
    assert "assigned to" in page.message_label.text()
    assert js(qtbot, page, "DeskMap.selectedCandidates()") == []


def test_a_ranking_that_arrives_after_another_order_was_chosen_is_not_shown(qtbot, uow_factory, org, city):
    """The dispatcher clicks one order, then another before the first ranking came back:
    only the second order's candidates are shown, whatever order the answers arrive in."""
    from desk_desktop.ui.map import page as map_page

    rankings = []

    class SlowRankings(InlineRunner):
        """Everything runs at once except the rankings, which wait for the test."""

        def _start(self, request, fn, args, kwargs):
            if fn is map_page.list_candidates:
                rankings.append(lambda: InlineRunner._start(self, request, fn, args, kwargs))
            else:
                super()._start(request, fn, args, kwargs)

    page = open_page(qtbot, _ctx(uow_factory, org, runner=SlowRankings()))
    first = next(w for w in city["unassigned"] if city["orders"][w]["required"] == ["plumbing"])
    second = next(w for w in city["unassigned"] if city["orders"][w]["required"] == ["electrical"])
    page.unassigned.view.selectRow(page.unassigned.model.row_of(first))
    page.unassigned.view.selectRow(page.unassigned.model.row_of(second))
    shown = []
    page.candidates_shown.connect(shown.append)
    rankings[1]()  # the second order's ranking first
    rankings[0]()  # then the first one's, late
    assert [r.work_order_id for r in shown] == [second]
    assert page.selected_work_order_id == second
    names = [page.candidates.table.item(r, 1).text() for r in range(page.candidates.table.rowCount())]
    assert names == [c.name for c in shown[0].candidates]
    assert page.candidates.order_heading.text().startswith(f"WO-{second:06d}")


def test_assign_button_on_a_candidate_and_refusal_is_explained(qtbot, uow_factory, org, city):
    page = open_page(qtbot, _ctx(uow_factory, org))
    order_id = next(w for w in city["unassigned"] if city["orders"][w]["required"] == ["hvac"])
    result = _select_in_list(qtbot, page, order_id)
    first = result.candidates[0]
    assert first.eligible and first.rank == 1
    button = page.candidates.table.cellWidget(0, 3).findChild(QPushButton)
    with qtbot.waitSignal(page.assigned, timeout=10000):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    with uow_factory() as uow:
        assert uow.session.get(WorkOrder, order_id).technician_id == first.technician_id

    # A technician without the skill, clicked on the map: the confirmation says so.
    other = next(w for w in city["unassigned"] if city["orders"][w]["required"] == ["networking"])
    _select_in_list(qtbot, page, other)
    unskilled = next(t for t, info in city["techs"].items() if "networking" not in info["skills"])
    js(qtbot, page, f"DeskMap.clickTechnician({unskilled})")
    qtbot.waitUntil(lambda: page.candidates.confirm_bar.isVisible(), timeout=5000)
    assert page.candidates.confirm_button.text() == "Assign anyway"
    qtbot.mouseClick(page.candidates.cancel_button, Qt.MouseButton.LeftButton)
    assert not page.candidates.confirm_bar.isVisible()
    with uow_factory() as uow:
        assert uow.session.get(WorkOrder, other).technician_id is None


def test_changes_committed_elsewhere_move_markers_live(qtbot, fresh_db):
    """Another workstation commits; the live signal arrives; markers move without a reload."""
    from desk_desktop.db.session import UnitOfWorkFactory, make_engine
    from tests.conftest import make_org

    engine = make_engine(fresh_db)
    other_engine = make_engine(fresh_db)
    try:
        factory = UnitOfWorkFactory(engine)
        actor = make_org(factory(), slug="metro")
        small = build_city(factory, actor, technicians=18, orders=20)
        runner = TaskRunner()  # real worker threads, as in the application
        ctx = _ctx(factory, actor, runner=runner)
        page = open_page(qtbot, ctx)
        qtbot.waitUntil(lambda: js(qtbot, page, "DeskMap.counts().technicians") == 18, timeout=10000)
        loads = js(qtbot, page, "0")  # noqa: F841 - the page answers
        url_before = page.view.url().toString()

        # 1. A technician reports a new position (committed through another connection).
        tech_id = next(iter(small["techs"]))
        new_pos = (41.95, -87.70)
        other = UnitOfWorkFactory(other_engine)
        with other() as uow:
            uow.session.execute(
                text("UPDATE technicians SET current_location = ST_GeogFromText(:p), location_updated_at = now() "
                     "WHERE id = :i"), {"p": f"SRID=4326;POINT({new_pos[1]} {new_pos[0]})", "i": tech_id})
            uow.record_change("technician", tech_id, actor.organization_id, "updated")
            uow.commit()
        with qtbot.waitSignal(page.map_drawn, timeout=10000, check_params_cb=lambda what: what == "changes"):
            ctx.live.changed.emit("technician", tech_id, "updated")
        lat, lon, _state = js(qtbot, page, f"DeskMap.technicianPosition({tech_id})")
        assert (lat, lon) == pytest.approx(new_pos, abs=1e-6)

        # 2. Another dispatcher assigns an order: its marker changes, the list drops it.
        wo_id = small["unassigned"][0]
        with other() as uow:
            uow.session.execute(text("UPDATE work_orders SET technician_id = :t, status = 'assigned', "
                                     "assigned_at = now() WHERE id = :i"), {"t": tech_id, "i": wo_id})
            uow.commit()
        assert page.unassigned.model.row_of(wo_id) >= 0
        with qtbot.waitSignal(page.map_drawn, timeout=10000, check_params_cb=lambda what: what == "changes"):
            ctx.live.changed.emit("work_order", wo_id, "updated")
        info = js(qtbot, page, f"DeskMap.orderInfo({wo_id})")
        assert info["unassigned"] is False and info["technician"] == tech_id
        assert page.unassigned.model.row_of(wo_id) == -1
        # The technician's line to their next job is there.
        assert js(qtbot, page, f"DeskMap.routeRows[{tech_id}] !== undefined") is True

        # 3. An order is completed elsewhere: its marker goes away.
        done = small["assigned"][0]
        with other() as uow:
            uow.session.execute(text("UPDATE work_orders SET status = 'completed' WHERE id = :i"), {"i": done})
            uow.commit()
        with qtbot.waitSignal(page.map_drawn, timeout=10000, check_params_cb=lambda what: what == "changes"):
            ctx.live.changed.emit("work_order", done, "updated")
        assert js(qtbot, page, f"DeskMap.orderInfo({done})") is None

        # 4. A ticket's site location is corrected elsewhere: its work order's marker moves.
        moved = small["unassigned"][1]
        with other() as uow:
            ticket_id = uow.session.execute(text(
                "UPDATE tickets SET location = ST_GeogFromText('SRID=4326;POINT(-87.7 41.99)') "
                "WHERE id = (SELECT source_ticket_id FROM work_orders WHERE id = :w) RETURNING id"),
                {"w": moved}).scalar_one()
            uow.commit()
        with qtbot.waitSignal(page.map_drawn, timeout=10000, check_params_cb=lambda what: what == "changes"):
            ctx.live.changed.emit("ticket", ticket_id, "updated")
        info = js(qtbot, page, f"DeskMap.orderInfo({moved})")
        assert (info["lat"], info["lon"]) == pytest.approx((41.99, -87.7), abs=1e-6)
        assert page.view.url().toString() == url_before  # never reloaded
        runner.wait_for_done(5000)
        page.close()
    finally:
        engine.dispose()
        other_engine.dispose()


def test_screenshot_map_view_with_selected_order(qtbot, uow_factory, org, city):
    from desk_desktop.resources import resource_path

    page = open_page(qtbot, _ctx(uow_factory, org))
    page.setStyleSheet(resource_path("styles", "app.qss").read_text() + page.styleSheet())
    urgent = next(w for w in city["unassigned"] if city["orders"][w]["required"] == ["electrical"])
    page.set_strategy("nearest")
    result = _select_in_list(qtbot, page, urgent)
    assert any(c.eligible for c in result.candidates)
    js(qtbot, page, "DeskMap.counts()")
    qtbot.wait(600)  # let the canvas and the cluster icons paint
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / "map_view.png"
    image = page.grab()
    assert (image.width(), image.height()) == (1440, 900)
    assert image.save(str(path))
    assert path.stat().st_size > 50_000


def test_live_changes_move_markers_in_place_and_leave_unchanged_ones_alone(qtbot, uow_factory, org, city):
    """A working day brings thousands of live changes: a move shifts the technician's marker and
    line, a change that alters nothing on the map (a ticket's note) keeps the order's marker, and
    only real changes rebuild a marker or the summary (every marker dropped is garbage the
    renderer keeps for a long time: bench soak)."""
    page = open_page(qtbot, _ctx(uow_factory, org, tile_url=""))
    js(qtbot, page, "DeskMap.map.setView(DeskMap.map.getCenter(), 12, { animate: false }), true")  # lines shown
    assert js(qtbot, page, "DeskMap.layers.technicians instanceof L.MarkerClusterGroup") is False  # 60: one by one
    tech = js(qtbot, page, "Object.keys(DeskMap.routes).map(Number)")[0]
    row, route = js(qtbot, page, f"[DeskMap.tech[{tech}].d, DeskMap.routeRows[{tech}]]")
    order = city["unassigned"][0]
    order_row = js(qtbot, page, f"DeskMap.orders[{order}].d")
    js(qtbot, page, f"DeskMap.tech[{tech}].m.probe = DeskMap.routes[{tech}].probe = DeskMap.orders[{order}].m.probe = 1")
    summary_js = "document.getElementById('desk-summary').textContent"
    unassigned = len(city["unassigned"])
    assert f"{unassigned} unassigned" in js(qtbot, page, summary_js)

    def apply(changes: dict) -> None:
        with qtbot.waitSignal(page.map_drawn, timeout=5000, check_params_cb=lambda what: what == "changes"):
            page.run_js(f"DeskMap.applyChanges({json.dumps(changes)})")

    moved = [tech, round(row[1] + 0.01, 6), round(row[2] - 0.01, 6), row[3]]
    apply({"t": [moved], "o": [order_row], "r": [[tech, route[1], moved[1], moved[2], route[4], route[5]]]})
    assert js(qtbot, page, f"DeskMap.technicianPosition({tech})")[:2] == pytest.approx(moved[1:3], abs=1e-9)
    line = js(qtbot, page, f"DeskMap.routes[{tech}].getLatLngs().map(function (p) {{ return [p.lat, p.lng]; }})")
    assert line[0] == pytest.approx(moved[1:3], abs=1e-9)
    assert js(qtbot, page, f"[DeskMap.tech[{tech}].m.probe, DeskMap.routes[{tech}].probe, "
                           f"DeskMap.orders[{order}].m.probe]") == [1, 1, 1]

    # The technician goes off shift: marker and line take the state's colour.
    off = [tech, moved[1], moved[2], 2]
    apply({"t": [off], "r": [[tech, route[1], moved[1], moved[2], route[4], route[5]]]})
    assert js(qtbot, page, f"DeskMap.technicianPosition({tech})")[2] == "off_shift"
    assert js(qtbot, page, f"[DeskMap.tech[{tech}].m.options.fillColor, DeskMap.routes[{tech}].options.color]") == [
        "#9aa0a6", "#9aa0a6"]

    # The order is assigned elsewhere: its marker changes group and the summary counts it.
    apply({"o": [[order, order_row[1], order_row[2], order_row[3], 0, tech]]})
    assert js(qtbot, page, f"DeskMap.orderInfo({order})")["unassigned"] is False
    assert js(qtbot, page, f"DeskMap.layers.assigned.hasLayer(DeskMap.orders[{order}].m)") is True
    assert f"{unassigned - 1} unassigned" in js(qtbot, page, summary_js)
