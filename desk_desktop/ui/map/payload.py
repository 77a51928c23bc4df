"""Map data → the compact arrays the page draws (see resources/map/desk_map.js).

One array per layer, one short row per marker: the page builds all markers from it in one
call, instead of one JavaScript block per marker.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from desk_desktop.services.mapdata import (
    STATE_AVAILABLE,
    STATE_BUSY,
    STATE_OFF_SHIFT,
    MapData,
    MapRoute,
    MapTechnician,
    MapWorkOrder,
)

STATE_CODES = {STATE_AVAILABLE: 0, STATE_BUSY: 1, STATE_OFF_SHIFT: 2}
PRIORITY_CODES = {"low": 0, "medium": 1, "high": 2, "urgent": 3}


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def technician_row(t: MapTechnician) -> list:
    return [
        t.id, _r(t.lat), _r(t.lon), STATE_CODES.get(t.state, 0), t.name, t.open_jobs, t.max_open,
        0 if t.position_source == "current" else 1, t.skills_json,  # JSON text: the page parses it on hover
    ]


def order_title(w: MapWorkOrder) -> str:
    kind = w.work_type.replace("_", " ").capitalize()
    who = w.customer_name or ""
    subject = w.subject or ""
    text = f"{kind} · {who}" if who else kind
    return f"{text} — {subject}" if subject else text


def order_row(w: MapWorkOrder) -> list:
    return [
        w.id, _r(w.lat), _r(w.lon), PRIORITY_CODES.get(w.priority, 1), 1 if w.technician_id is None else 0,
        w.number, w.technician_id, w.status, order_title(w), w.address,
    ]


def route_row(r: MapRoute) -> list:
    return [r.technician_id, r.work_order_id, _r(r.from_lat), _r(r.from_lon), _r(r.to_lat), _r(r.to_lon)]


def full_payload(data: MapData, *, fit: bool = False) -> dict:
    return {
        "t": [technician_row(t) for t in data.technicians],
        "o": [order_row(w) for w in data.work_orders],
        "r": [route_row(r) for r in data.routes],
        "fit": fit,
    }


def technicians_payload(data: MapData) -> dict:
    return {"t": [technician_row(t) for t in data.technicians], "r": [route_row(r) for r in data.routes]}


def orders_payload(data: MapData, *, fit: bool = False) -> dict:
    return {"o": [order_row(w) for w in data.work_orders], "fit": fit}


def changes_payload(data: MapData, *, route_technician_ids: Iterable[int] = ()) -> dict:
    """Upserts for what came back; removals for requested ids that did not."""
    tech_ids = {t.id for t in data.technicians}
    order_ids = {w.id for w in data.work_orders}
    routed = {r.technician_id for r in data.routes}
    # Every refreshed technician's route is redrawn (or removed when they have no next job).
    route_gone = (set(data.requested_technician_ids) | set(route_technician_ids)) - routed
    return {
        "t": [technician_row(t) for t in data.technicians],
        "o": [order_row(w) for w in data.work_orders],
        "r": [route_row(r) for r in data.routes],
        "gone": {
            "t": sorted(set(data.requested_technician_ids) - tech_ids),
            "o": sorted(set(data.requested_work_order_ids) - order_ids),
            "r": sorted(route_gone),
        },
    }


def js_call(function: str, *args) -> str:
    """``DeskMap.<function>(<json args>)`` — JSON is valid JavaScript."""
    encoded = ",".join(json.dumps(a, separators=(",", ":"), default=str) for a in args)
    return f"DeskMap.{function}({encoded})"
