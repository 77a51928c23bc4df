"""The map's web profile: an offline basemap from a PMTiles file drawn when tiles cannot be reached,
a disk cache for tiles and the application's User-Agent."""

from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import mapbox_vector_tile
import pytest
from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import write
from PySide6.QtCore import QBuffer, QIODevice, QTimer, QUrl
from PySide6.QtGui import QColor, QImage
from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineProfile, QWebEngineSettings
from PySide6.QtWebEngineWidgets import QWebEngineView

from desk_desktop.config import Settings
from desk_desktop.ui.map.builder import DEFAULT_CENTER, build_map_page
from desk_desktop.ui.map.profile import OFFLINE_URL, USER_AGENT, create_map_profile, register_scheme

register_scheme()  # at import, before pytest-qt creates the QApplication (as ui/app.py does)

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
UNREACHABLE_TILES = "http://127.0.0.1:9/{z}/{x}/{y}.png"  # the discard port: connection refused at once
EXTENT = 4096


def _tile_of(lat: float, lon: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def make_region(path: Path, *, center=DEFAULT_CENTER, zooms=range(0, 14), radius: int = 3) -> Path:
    """A small PMTiles file: around ``center``, every tile has land and, on its left half, water."""
    tile = mapbox_vector_tile.encode([
        {"name": "earth", "features": [{"geometry": f"POLYGON((0 0, {EXTENT} 0, {EXTENT} {EXTENT}, 0 {EXTENT}, 0 0))",
                                        "properties": {"kind": "earth"}}]},
        {"name": "water", "features": [{"geometry": f"POLYGON((0 0, {EXTENT // 2} 0, {EXTENT // 2} {EXTENT}, "
                                                    f"0 {EXTENT}, 0 0))", "properties": {"kind": "water"}}]},
    ], default_options={"extents": EXTENT, "y_coord_down": True})
    ids = set()
    for z in zooms:
        cx, cy = _tile_of(*center, z)
        for x in range(max(cx - radius, 0), min(cx + radius, 2 ** z - 1) + 1):
            for y in range(max(cy - radius, 0), min(cy + radius, 2 ** z - 1) + 1):
                ids.add(zxy_to_tileid(z, x, y))
    with write(str(path)) as writer:
        for tile_id in sorted(ids):
            writer.write_tile(tile_id, tile)
        writer.finalize({"tile_type": TileType.MVT, "tile_compression": Compression.NONE},
                        {"vector_layers": [{"id": "earth", "fields": {}}, {"id": "water", "fields": {}}]})
    return path


# The colour in the middle of each of the offline layer's tile canvases.
PIXELS_JS = """
Array.from(DeskOffline.layer.getContainer().querySelectorAll("canvas")).map(function (c) {
  return Array.from(c.getContext("2d").getImageData(c.width / 2, c.height / 2, 1, 1).data);
})
"""
WATER = [0x80, 0xDE, 0xEA, 255]  # protomaps' "light" flavour
LAND = [0xE2, 0xDF, 0xDA, 255]


def _js(qtbot, page: QWebEnginePage, script: str):
    result = {}
    page.runJavaScript(f"JSON.stringify({script})", 0, lambda text: result.setdefault("value", json.loads(text)))
    qtbot.waitUntil(lambda: "value" in result, timeout=10000)
    return result["value"]


def _wait_js(qtbot, page: QWebEnginePage, script: str, done, timeout: int = 30000):
    """Ask ``script`` (an expression) every 100 ms until ``done(value)``; returns that value."""
    latest: dict = {}
    timer = QTimer()
    def ask() -> None:
        page.runJavaScript(f"JSON.stringify({script})", 0, lambda text: latest.update(value=json.loads(text)))

    timer.timeout.connect(ask)
    timer.start(100)
    try:
        qtbot.waitUntil(lambda: "value" in latest and bool(done(latest["value"])), timeout=timeout)
    finally:
        timer.stop()
    return latest["value"]


@pytest.fixture
def offline_view(qtbot, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", offline_map=make_region(tmp_path / "region.pmtiles"))
    profile = create_map_profile(settings)
    view = QWebEngineView()
    page = QWebEnginePage(profile, view)
    view.setPage(page)
    page.settings().setAttribute(QWebEngineSettings.WebAttribute.LocalContentCanAccessRemoteUrls, True)  # as the map
    view.resize(800, 600)
    yield view, page, profile
    view.close()
    page.deleteLater()
    view.deleteLater()
    qtbot.wait(50)
    del profile


def test_the_offline_map_draws_its_features_when_tiles_cannot_be_reached(qtbot, tmp_path, offline_view):
    view, page, profile = offline_view
    built = build_map_page(tmp_path / "page", tile_url=UNREACHABLE_TILES, tile_attribution="Tiles",
                           with_bridge=False, offline_map_url=OFFLINE_URL)
    with qtbot.waitSignal(view.loadFinished, timeout=30000) as loaded:
        view.load(QUrl.fromLocalFile(str(built.html_path)))
        view.show()
    assert loaded.args == [True]
    status = _wait_js(qtbot, page, "DeskOffline.status()", lambda s: s and s["drawn"] >= 4)
    assert status["shown"] and status["errors"] == 0
    assert profile.offline_handler.requests >= 2  # the header, then the tiles' byte ranges
    centres = _js(qtbot, page, PIXELS_JS)
    assert len(centres) >= 4
    # Each data tile is water on its left half and land on its right: both were drawn.
    assert WATER in centres and LAND in centres
    badge = _js(qtbot, page, "document.getElementById('desk-offline').textContent")
    assert badge == "Street map unavailable: showing the offline map"
    SHOTS.mkdir(parents=True, exist_ok=True)
    qtbot.wait(200)
    view.grab().save(str(SHOTS / "map_offline_basemap.png"))


def test_the_profile_keeps_a_disk_cache_and_names_the_application(tmp_path, offline_view):
    _view, _page, profile = offline_view
    assert profile.storageName() == "desk-map" and not profile.isOffTheRecord()
    assert profile.httpCacheType() == QWebEngineProfile.HttpCacheType.DiskHttpCache
    assert Path(profile.cachePath()).is_relative_to(tmp_path / "data")
    assert profile.httpUserAgent() == USER_AGENT and USER_AGENT.startswith("DeskDispatcher/0.1.0 (desk-desktop;")


class _TileServer(ThreadingHTTPServer):
    """Answers every tile with a small PNG that may be cached for a day; records each request's User-Agent."""

    def __init__(self) -> None:
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image = QImage(256, 256, QImage.Format.Format_RGB32)
        image.fill(QColor("#dfe9d8"))
        image.save(buffer, "PNG")
        self.png = bytes(buffer.data())
        self.agents: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                server.agents.append(self.headers.get("User-Agent", ""))
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(server.png)))
                self.send_header("Cache-Control", "max-age=86400")
                self.end_headers()
                self.wfile.write(server.png)

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def test_tiles_are_fetched_with_the_app_user_agent_and_kept_on_disk(qtbot, tmp_path, offline_view):
    view, page, profile = offline_view
    server = _TileServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        built = build_map_page(tmp_path / "page", tile_url=f"http://127.0.0.1:{server.server_port}/{{z}}/{{x}}/{{y}}.png",
                               tile_attribution="Tiles", with_bridge=False, offline_map_url=OFFLINE_URL)
        with qtbot.waitSignal(view.loadFinished, timeout=30000):
            view.load(QUrl.fromLocalFile(str(built.html_path)))
            view.show()
        status = _wait_js(qtbot, page, "DeskMap.tileStatus()", lambda s: s["loaded"] >= 4)
        assert status["errors"] == 0
        assert _js(qtbot, page, "DeskOffline.status()")["shown"] is False  # tiles work: no offline basemap
    finally:
        server.shutdown()
        server.server_close()
    assert server.agents and set(server.agents) == {USER_AGENT}
    cache = Path(profile.cachePath())
    qtbot.waitUntil(lambda: sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) > len(server.png),
                    timeout=10000)
