"""Where a technician is: the one definition of the position rule, as SQL fragments.

A technician is at their ``current_location`` when it was reported in the last
``FRESH_LOCATION_HOURS`` hours — or when they have no home base at all — otherwise at
their ``home_base``. The assignment queries and the map data both build their SQL from
these fragments, so a candidate's distance is measured from where the map draws them.
The fragments take the freshness limit as a bind parameter (``:fresh`` by default; its
value is ``fresh_after(now)``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

FRESH_LOCATION_HOURS = 12
POSITION_RULE = f"current location if reported within {FRESH_LOCATION_HOURS} h, else home base"


def fresh_after(now: datetime) -> datetime:
    """The value of the ``:fresh`` parameter: a location reported after it is fresh."""
    return now - timedelta(hours=FRESH_LOCATION_HOURS)


def uses_current_location(t: str = "t", fresh: str = ":fresh") -> str:
    """True when technician ``t`` is placed at their current location."""
    return (f"({t}.current_location IS NOT NULL AND "
            f"(coalesce({t}.location_updated_at >= {fresh}, false) OR {t}.home_base IS NULL))")


def position(t: str = "t", fresh: str = ":fresh") -> str:
    """The geography where technician ``t`` is (NULL when they have no position at all)."""
    return f"(CASE WHEN {uses_current_location(t, fresh)} THEN {t}.current_location ELSE {t}.home_base END)"


def position_source(t: str = "t", fresh: str = ":fresh") -> str:
    """``'current'``, ``'home'`` or NULL: which of the two ``position`` is."""
    return (f"(CASE WHEN {uses_current_location(t, fresh)} THEN 'current' "
            f"WHEN {t}.home_base IS NOT NULL THEN 'home' END)")
