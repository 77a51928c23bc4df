"""Driving estimates: the straight line between two places on the sphere, and the time to
drive it — the one measure of the board, the day planner and the slot search (pure).

PostGIS gives the same line with ``ST_Distance(a, b, false)`` (its sphere has the same mean
radius), which the database side of each of them uses."""

from __future__ import annotations

from math import asin, cos, radians, sin, sqrt

EARTH_KM = 6371.0088  # the mean radius PostGIS's sphere has


def km_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle kilometres between two (lat, lon) points."""
    (la1, lo1), (la2, lo2) = a, b
    h = sin(radians(la2 - la1) / 2) ** 2 + cos(radians(la1)) * cos(radians(la2)) * sin(radians(lo2 - lo1) / 2) ** 2
    return 2 * EARTH_KM * asin(sqrt(h))


def travel_minutes(distance_m: float | None, speed_kmh: float) -> int:
    """Straight-line driving time at ``speed_kmh``, whole minutes (rounded up); 0 when unknown."""
    if distance_m is None or speed_kmh <= 0:
        return 0
    return int(-(-distance_m * 60 // (speed_kmh * 1000)))
