"""The optional geocoder against a real local HTTP server: a match, no match, a geocoder that
does not answer in time, one that is not configured — each gives a location or a reason."""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler

import pytest

from desk_desktop.config import SettingsError, load_settings
from desk_desktop.services.geocoding import USER_AGENT, geocode
from tests.local_net import _Server


class _NominatimHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        owner = self.server.owner  # type: ignore[attr-defined]
        parts = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(parts.query)
        owner.seen.append((parts.path, query, self.headers.get("User-Agent")))
        if owner.hold is not None:
            owner.hold.wait(10)  # answer only once the test is done waiting
        q = query.get("q", [""])[0]
        found = [{"lat": "48.8606", "lon": "2.3376", "display_name": "Musée du Louvre, Paris"}] if "Louvre" in q else []
        body = json.dumps(found).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # noqa: A002 - quiet
        pass


class Nominatim(_Server):
    handler = _NominatimHandler

    def __init__(self) -> None:
        super().__init__()
        self.seen: list = []
        self.hold: threading.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def nominatim():
    server = Nominatim().start()
    yield server
    if server.hold is not None:
        server.hold.set()
    server.stop()


def test_an_address_the_geocoder_knows_gives_its_location(nominatim):
    found = geocode("Rue de Rivoli, Louvre, Paris", url=nominatim.url)
    assert found.location == pytest.approx((48.8606, 2.3376))
    assert found.reason == "" and found.label == "Musée du Louvre, Paris"
    path, query, agent = nominatim.seen[0]
    assert path == "/search" and query["format"] == ["json"] and query["q"] == ["Rue de Rivoli, Louvre, Paris"]
    assert agent == USER_AGENT and agent.startswith("DeskDispatcher/")


def test_an_unknown_address_says_no_match(nominatim):
    found = geocode("1 Nowhere Lane", url=nominatim.url)
    assert found.location is None
    assert found.reason.startswith("No match for this address")


def test_a_geocoder_that_does_not_answer_in_time_gives_the_reason(nominatim):
    nominatim.hold = threading.Event()
    found = geocode("Louvre", url=nominatim.url, timeout=0.5)
    assert found.location is None
    assert found.reason.startswith("The geocoder did not answer in 0.5 s")


def test_without_a_geocoder_the_dispatcher_is_told_to_click_the_map():
    found = geocode("Louvre", url=None)
    assert found.location is None and "click the map" in found.reason


def test_the_geocoder_url_setting_is_read_and_checked(tmp_path):
    env = {"DESK_CONFIG_DIR": str(tmp_path)}
    assert load_settings({**env, "DESK_GEOCODER_URL": "http://127.0.0.1:9/"}).geocoder_url == "http://127.0.0.1:9/"
    assert load_settings(env).geocoder_url is None
    with pytest.raises(SettingsError, match="DESK_GEOCODER_URL"):
        load_settings({**env, "DESK_GEOCODER_URL": "nominatim.example.org"})
