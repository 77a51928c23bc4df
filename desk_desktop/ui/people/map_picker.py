"""A location typed as coordinates or picked on a small map (Leaflet in QtWebEngine, the map view's
profile and tiles, its offline basemap when tiles are out of reach): a click sets the point,
a marker shows it, typing coordinates moves the marker. The map is made when first shown."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from PySide6.QtCore import QObject, QUrl, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from desk_desktop.config import Settings
from desk_desktop.resources import resource_path
from desk_desktop.ui.people.forms import CoordinateFields

QWEBCHANNEL_JS = "qrc:///qtwebchannel/qwebchannel.js"
OFFLINE_ATTRIBUTION = "Offline map: Protomaps, &copy; OpenStreetMap contributors"
WORLD = ((20.0, 0.0), 2)

PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8">
<link rel="stylesheet" href="{leaflet_css}">
<style>html, body, #map {{ margin: 0; height: 100%; }} .leaflet-container {{ cursor: crosshair; }}</style>
<script src="{leaflet_js}"></script><script src="{qwebchannel_js}"></script>{offline_scripts}
</head><body><div id="map"></div>
<script>
var config = {config};
var map = L.map("map", {{zoomControl: true}}).setView(config.center, config.zoom);
var tiles = config.tileUrl ? L.tileLayer(config.tileUrl, {{maxZoom: 19, attribution: config.attribution}}).addTo(map) : null;
if (config.offlineUrl) {{ DeskOffline.attach(map, tiles, config.offlineUrl, config.offlineAttribution); }}
var marker = null;
function setPoint(lat, lon, pan) {{
  if (lat === null) {{ if (marker) {{ map.removeLayer(marker); marker = null; }} return; }}
  if (!marker) {{ marker = L.circleMarker([lat, lon], {{radius: 8, color: "#1f3a5f", fillColor: "#f5a524", fillOpacity: 1}}).addTo(map); }}
  else {{ marker.setLatLng([lat, lon]); }}
  if (pan) {{ map.setView([lat, lon], Math.max(map.getZoom(), 12)); }}
}}
new QWebChannel(qt.webChannelTransport, function (channel) {{
  var bridge = channel.objects.picker;
  map.on("click", function (e) {{ setPoint(e.latlng.lat, e.latlng.lng, false); bridge.picked(e.latlng.lat, e.latlng.lng); }});
  bridge.ready();
}});
</script></body></html>
"""


def write_page(out_dir: Path, settings: Settings, location: tuple[float, float] | None) -> Path:
    """The picker's HTML, centred on ``location`` (the world when there is none)."""
    center, zoom = (location, 13) if location else WORLD
    config = {"center": list(center), "zoom": zoom, "tileUrl": settings.tile_url,
              "attribution": settings.tile_attribution, "offlineUrl": None,
              "offlineAttribution": OFFLINE_ATTRIBUTION}
    offline_scripts = ""
    if settings.offline_map is not None:
        from desk_desktop.ui.map.profile import OFFLINE_URL

        config["offlineUrl"] = OFFLINE_URL
        offline_scripts = "".join(f'<script src="{resource_path(*p).as_uri()}"></script>' for p in (
            ("vendor", "protomaps-leaflet", "protomaps-leaflet.js"), ("map", "desk_offline.js")))
    html = PAGE.format(leaflet_css=resource_path("vendor", "leaflet", "leaflet.css").as_uri(),
                       leaflet_js=resource_path("vendor", "leaflet", "leaflet.js").as_uri(),
                       qwebchannel_js=QWEBCHANNEL_JS, offline_scripts=offline_scripts,
                       config=json.dumps(config))
    path = out_dir / "picker.html"
    path.write_text(html, encoding="utf-8")
    return path


class PickerBridge(QObject):
    """What the picker page calls: ``picker.picked(lat, lon)`` on a click, ``picker.ready()`` once loaded."""

    point_picked = Signal(float, float)
    page_ready = Signal()

    @Slot(float, float)
    def picked(self, lat: float, lon: float) -> None:
        self.point_picked.emit(float(lat), float(lon))

    @Slot()
    def ready(self) -> None:
        self.page_ready.emit()


class LocationPicker(QWidget):
    """Coordinates fields with a "Pick on map" toggle that shows the small map under them."""

    edited = Signal()

    def __init__(self, settings: Settings, parent: QWidget | None = None, *, map_height: int = 220) -> None:
        super().__init__(parent)
        self.settings = settings
        self.fields = CoordinateFields()
        self.map_button = QPushButton("Pick on map")
        self.map_button.setCheckable(True)
        self.hint = QLabel("Click the map to place the point; type coordinates to move it.")
        self.hint.setObjectName("Muted")
        self.hint.setVisible(False)
        self.map_box = QWidget()
        self.map_box.setFixedHeight(map_height)
        self.map_box.setVisible(False)
        self._map_layout = QVBoxLayout(self.map_box)
        self._map_layout.setContentsMargins(0, 0, 0, 0)
        self.bridge = PickerBridge(self)
        self.view = None
        self._page_ready = False
        self._tmp: tempfile.TemporaryDirectory | None = None

        top = QWidget()
        row = QHBoxLayout(top)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.fields, 1)
        row.addWidget(self.map_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(top)
        layout.addWidget(self.hint)
        layout.addWidget(self.map_box)

        self.map_button.toggled.connect(self.show_map)
        self.fields.edited.connect(self._on_fields_edited)
        self.bridge.point_picked.connect(self._on_point_picked)
        self.bridge.page_ready.connect(self._on_page_ready)

    # the value
    def value(self) -> tuple[float, float] | None:
        return self.fields.value()

    def set_value(self, location: tuple[float, float] | None) -> None:
        self.fields.set_value(location)
        self._draw(location, pan=True)

    # the map
    def show_map(self, shown: bool) -> None:
        self.map_box.setVisible(shown)
        self.hint.setVisible(shown)
        if shown and self.view is None:
            self._start()

    def _start(self) -> None:
        from PySide6.QtWebChannel import QWebChannel
        from PySide6.QtWebEngineCore import QWebEngineSettings
        from PySide6.QtWebEngineWidgets import QWebEngineView

        from desk_desktop.ui.map.bridge import WebPage
        from desk_desktop.ui.map.profile import map_profile

        self._tmp = tempfile.TemporaryDirectory(prefix="desk-picker-")
        self.view = QWebEngineView(self.map_box)
        page = WebPage(map_profile(self.settings), self.view)
        self.view.setPage(page)
        s = page.settings()
        s.setAttribute(QWebEngineSettings.WebAttribute.LocalContentCanAccessFileUrls, True)
        s.setAttribute(QWebEngineSettings.WebAttribute.LocalContentCanAccessRemoteUrls, True)  # tiles
        channel = QWebChannel(page)
        channel.registerObject("picker", self.bridge)
        page.setWebChannel(channel)
        self._map_layout.addWidget(self.view)
        try:
            location = self.fields.value()
        except ValueError:
            location = None
        self.view.load(QUrl.fromLocalFile(str(write_page(Path(self._tmp.name), self.settings, location))))

    @property
    def map_ready(self) -> bool:
        return self._page_ready

    def _on_page_ready(self) -> None:
        self._page_ready = True
        try:
            self._draw(self.fields.value(), pan=False)
        except ValueError:
            pass

    def _draw(self, location: tuple[float, float] | None, *, pan: bool) -> None:
        if self.view is None or not self._page_ready:
            return
        args = "null, null" if location is None else f"{float(location[0])!r}, {float(location[1])!r}"
        self.view.page().runJavaScript(f"setPoint({args}, {'true' if pan else 'false'});")

    def _on_point_picked(self, lat: float, lon: float) -> None:
        self.fields.set_value((round(lat, 6), round(lon, 6)))
        self.edited.emit()

    def _on_fields_edited(self) -> None:
        try:
            location = self.fields.value()
        except ValueError:
            location = None
        if location is not None:
            self._draw(location, pan=True)
        self.edited.emit()

    def shutdown(self) -> None:
        """Delete the web view before the dialog (and the shared profile) go."""
        if self.view is not None:
            self.view.setParent(None)
            self.view.deleteLater()
            self.view = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
