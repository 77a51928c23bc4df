"""``desk-desktop --self-check``: verify an installation step by step.

Opens the database (starting the private cluster if that is the configuration), runs a
query, renders the map page offscreen with the bundled Leaflet, and reports each step.
Exit status 0 only when every step passed.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from desk_desktop import APP_NAME, __version__
from desk_desktop.config import Settings
from desk_desktop.resources import migrations_path, resource_path

VENDOR_FILES = (
    ("leaflet", "leaflet.js"),
    ("leaflet", "leaflet.css"),
    ("leaflet.markercluster", "leaflet.markercluster.js"),
    ("protomaps-leaflet", "protomaps-leaflet.js"),
    ("world-atlas", "countries-50m.geojson"),
)


def _report(ok: bool, step: str, detail: str) -> None:
    print(f"[{' OK ' if ok else 'FAIL'}] {step}: {detail}", flush=True)


def run_self_check(settings: Settings, *, out: Callable[[bool, str, str], None] = _report) -> int:
    frozen = bool(getattr(sys, "frozen", False))
    out(True, "version", f"{APP_NAME} {__version__} ({'frozen bundle' if frozen else 'Python ' + sys.version.split()[0]})")
    failures = 0

    missing = [str(resource_path("vendor", *p)) for p in VENDOR_FILES if not resource_path("vendor", *p).exists()]
    if not (migrations_path() / "env.py").exists():
        missing.append(str(migrations_path() / "env.py"))
    if missing:
        failures += 1
        out(False, "resources", "missing: " + ", ".join(missing))
    else:
        out(True, "resources", f"bundled files found under {resource_path()}")

    db = None
    try:
        from desk_desktop.bootstrap import open_database

        started = time.monotonic()
        db = open_database(settings)
        where = "private cluster" if db.is_private else "shared server"
        out(True, "database", f"opened the {where} in {time.monotonic() - started:.1f} s; schema up to date")
    except Exception as exc:  # noqa: BLE001 - reported
        failures += 1
        out(False, "database", str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)

    if db is not None:
        try:
            from sqlalchemy import text

            with db.engine.connect() as conn:
                postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
                tickets = conn.execute(text("SELECT count(*) FROM tickets")).scalar_one()
            out(True, "query", f"PostGIS {postgis}; {tickets} tickets visible")
        except Exception as exc:  # noqa: BLE001
            failures += 1
            out(False, "query", str(exc).strip().splitlines()[0])
        finally:
            db.close()

    try:
        markers = _render_map_offscreen()
        out(True, "map", f"Leaflet page rendered offscreen with {markers} clustered markers")
    except Exception as exc:  # noqa: BLE001
        failures += 1
        out(False, "map", str(exc))

    print("Self-check passed." if failures == 0 else f"Self-check FAILED: {failures} step(s).", flush=True)
    return 0 if failures == 0 else 1


MAP_TEST_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="{css}"><script src="{js}"></script><script src="{mc}"></script></head>
<body style="margin:0"><div id="map" style="width:800px;height:600px"></div><script>
var map = L.map('map', {{maxZoom: 18}}).setView([41.88, -87.63], 9);
var group = L.markerClusterGroup();
for (var i = 0; i < 200; i++) {{ group.addLayer(L.marker([41.6 + (i % 20) * 0.03, -88.2 + Math.floor(i / 20) * 0.06])); }}
map.addLayer(group);
window.deskReady = group.getLayers().length;
</script></body></html>"""


def _render_map_offscreen(timeout_s: float = 60.0) -> int:
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from desk_desktop.ui.app import create_application

    app = create_application([])
    from PySide6.QtCore import QEventLoop, QTimer, QUrl
    from PySide6.QtWebEngineWidgets import QWebEngineView

    page_dir = Path(tempfile.mkdtemp(prefix="desk-selfcheck-"))
    page = page_dir / "map.html"
    page.write_text(MAP_TEST_PAGE.format(
        css=QUrl.fromLocalFile(str(resource_path("vendor", "leaflet", "leaflet.css"))).toString(),
        js=QUrl.fromLocalFile(str(resource_path("vendor", "leaflet", "leaflet.js"))).toString(),
        mc=QUrl.fromLocalFile(str(resource_path("vendor", "leaflet.markercluster", "leaflet.markercluster.js"))).toString(),
    ), encoding="utf-8")
    view = QWebEngineView()
    view.resize(800, 600)
    result: dict = {}
    loop = QEventLoop()

    def on_loaded(ok: bool) -> None:
        result["loaded"] = ok
        view.page().runJavaScript("(typeof L === 'object' && window.deskReady) || 0", 0, on_value)

    def on_value(value) -> None:
        result["markers"] = value
        loop.quit()

    view.loadFinished.connect(on_loaded)
    view.load(QUrl.fromLocalFile(str(page)))
    view.show()
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    view.close()
    view.deleteLater()
    app.processEvents()
    if not result.get("loaded"):
        raise RuntimeError("the map page did not load (QtWebEngine failed to start or the file is missing)")
    markers = int(result.get("markers") or 0)
    if markers <= 0:
        raise RuntimeError("the page loaded but Leaflet is not defined (vendored files not found)")
    return markers
