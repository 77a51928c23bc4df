"""Addresses to coordinates through an optional Nominatim-compatible geocoder (``DESK_GEOCODER_URL``).

Plain HTTP (``GET {url}/search?format=json&limit=1&q=…``) with a short timeout. The answer is
a location or the reason there is none, in words a dispatcher can act on; nothing here raises
for a missing, slow or broken geocoder, and nothing here touches the database, so a save
never waits for or fails on it. Call it off the GUI thread.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from desk_desktop import __version__

TIMEOUT_S = 5.0
USER_AGENT = f"DeskDispatcher/{__version__}"

NOT_CONFIGURED = "No geocoder configured — click the map to place the site."
NO_MATCH = "No match for this address — check it, or click the map to place the site."


@dataclass(frozen=True)
class Geocoded:
    """``location`` (lat, lon) when found, else ``reason`` says why not."""

    location: tuple[float, float] | None
    reason: str = ""
    label: str = ""  # what the geocoder says it found, e.g. "12 Rue de Rivoli, Paris, France"


def geocode(address: str, *, url: str | None, timeout: float = TIMEOUT_S) -> Geocoded:
    """The first match for ``address`` from the geocoder at ``url`` (None: not configured)."""
    if not url:
        return Geocoded(None, NOT_CONFIGURED)
    if not address.strip():
        return Geocoded(None, "Type the address first.")
    query = urllib.parse.urlencode({"format": "json", "limit": "1", "q": address.strip()})
    request = urllib.request.Request(f"{url.rstrip('/')}/search?{query}",
                                     headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - URL is a setting
            body = response.read()
    except TimeoutError:
        return Geocoded(None, f"The geocoder did not answer in {timeout:g} s — click the map to place the site.")
    except urllib.error.HTTPError as exc:
        return Geocoded(None, f"The geocoder refused the request (HTTP {exc.code}) — click the map to place the site.")
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            return Geocoded(None, f"The geocoder did not answer in {timeout:g} s — click the map to place the site.")
        return Geocoded(None, f"The geocoder could not be reached ({exc.reason}) — click the map to place the site.")
    try:
        found = json.loads(body)
        if not found:
            return Geocoded(None, NO_MATCH)
        first = found[0]
        lat, lon = float(first["lat"]), float(first["lon"])
    except (ValueError, KeyError, TypeError, IndexError):
        return Geocoded(None, "The geocoder's answer was not understood — click the map to place the site.")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return Geocoded(None, "The geocoder's answer was not understood — click the map to place the site.")
    return Geocoded((lat, lon), label=str(first.get("display_name", "")))
