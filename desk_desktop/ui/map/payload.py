"""Map data → the compact array rows the page draws (see resources/map/desk_map.js), and
the tooltips the page asks for on hover.

One short row of numbers per marker: the page builds all markers from one array in one
call, instead of one JavaScript block per marker. A full load's arrays are formatted by the
database (``mapdata.load_map_arrays``: the same rows); live changes use the rows below.
Names, addresses and skills stay in Python until someone hovers
(``technician_tooltip``/``order_tooltip``).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable

from desk_desktop.services.mapdata import (
    DEFAULT_PRIORITY_CODE,
    PRIORITY_CODES,
    STATE_AVAILABLE,
    STATE_BUSY,
    STATE_CODES,
    STATE_OFF_SHIFT,
    MapData,
    MapRoute,
    MapTechnician,
    MapWorkOrder,
)
from desk_desktop.ui.map.cells import skill_name, type_name

# Coordinates arrive rounded to 6 decimals (the map data queries do it), so they encode short.


def technician_row(t: MapTechnician) -> list:
    return [t.id, t.lat, t.lon, STATE_CODES.get(t.state, 0)]


def order_title(w: MapWorkOrder, catalogs=None) -> str:
    kind = type_name(catalogs, w.work_type)
    who = w.customer_name or ""
    subject = w.subject or ""
    text = f"{kind} · {who}" if who else kind
    return f"{text} — {subject}" if subject else text


def order_row(w: MapWorkOrder) -> list:
    return [w.id, w.lat, w.lon, PRIORITY_CODES.get(w.priority, DEFAULT_PRIORITY_CODE), 1 if w.technician_id is None else 0,
            w.technician_id]


def route_row(r: MapRoute) -> list:
    return [r.technician_id, r.work_order_id, r.from_lat, r.from_lon, r.to_lat, r.to_lon]


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


STATE_LABELS = {STATE_AVAILABLE: "Available", STATE_BUSY: "Busy", STATE_OFF_SHIFT: "Off shift"}
STATE_COLORS = {STATE_AVAILABLE: "#1e9e5a", STATE_BUSY: "#8e44ad", STATE_OFF_SHIFT: "#9aa0a6"}
PRIORITY_COLORS = {"low": "#607d8b", "medium": "#1565c0", "high": "#e65100", "urgent": "#c62828"}


def technician_tooltip(t: MapTechnician, catalogs=None) -> str:
    """``catalogs``: services.catalogs.Catalogs for the skills' display names."""
    e = html.escape
    where = "At their current location" if t.position_source == "current" else "At their home base"
    skills = ", ".join(f"{skill_name(catalogs, k)} {v}" for k, v in sorted(t.skills.items()))
    return (
        f'<div class="desk-tip"><b>{e(t.name)}</b>'
        f'<div><span class="desk-dot" style="background:{STATE_COLORS.get(t.state, "#555")}"></span>'
        f"{STATE_LABELS.get(t.state, t.state)} · {t.open_jobs}/{t.max_open} open jobs</div>"
        f'<div class="desk-muted">{where}</div>'
        + (f'<div class="desk-muted">{e(skills)}</div>' if skills else "")
        + "</div>"
    )


def order_tooltip(w: MapWorkOrder, catalogs=None) -> str:
    e = html.escape
    if w.technician_id is None:
        who = '<span class="desk-unassigned">Unassigned</span>'
        if w.unassigned_reason:
            who += f'<div class="desk-muted">{e(w.unassigned_reason)}</div>'
    else:
        who = e(w.status.replace("_", " ").capitalize()) + (f" · {e(w.technician_name)}" if w.technician_name else "")
    return (
        f'<div class="desk-tip"><b>{e(w.number)}</b> · '
        f'<span style="color:{PRIORITY_COLORS.get(w.priority, "#1d2733")};font-weight:600">{e(w.priority.capitalize())}</span>'
        f"<div>{e(order_title(w, catalogs))}</div>"
        + (f'<div class="desk-muted">{e(w.address)}</div>' if w.address else "")
        + f"<div>{who}</div></div>"
    )


def js_call(function: str, *args) -> str:
    """``DeskMap.<function>(<json args>)`` — JSON is valid JavaScript."""
    encoded = ",".join(json.dumps(a, separators=(",", ":"), default=str) for a in args)
    return f"DeskMap.{function}({encoded})"
