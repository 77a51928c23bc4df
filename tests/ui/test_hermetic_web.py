"""The web engine stays off the internet too: its requests for other hosts end in the
local trap (conftest.py, tests/local_net.py), local tiles load."""

from __future__ import annotations

from PySide6.QtCore import QUrl
from PySide6.QtWebEngineCore import QWebEngineSettings
from PySide6.QtWebEngineWidgets import QWebEngineView

from tests.conftest import local_tile_url


def test_the_web_engine_reaches_local_tiles_and_nothing_else(qtbot, tmp_path, outbound_trap):
    page = tmp_path / "page.html"
    local = local_tile_url().format(z=0, x=0, y=0)
    page.write_text(
        "<html><body>"
        f"<img src='{local}' onload=\"document.title += 'local-ok '\">"
        "<img src='https://tile.openstreetmap.org/0/0/0.png' onerror=\"document.title += 'public-failed '\">"
        "</body></html>", encoding="utf-8")
    view = QWebEngineView()
    view.settings().setAttribute(QWebEngineSettings.WebAttribute.LocalContentCanAccessRemoteUrls, True)  # as the map
    qtbot.addWidget(view)
    view.load(QUrl.fromLocalFile(str(page)))
    qtbot.waitUntil(lambda: "local-ok" in view.title() and "public-failed" in view.title(), timeout=20_000)
    # Taken here, so this test itself passes; any other test doing this fails (conftest).
    assert outbound_trap.take() == ["tile.openstreetmap.org:443"]
