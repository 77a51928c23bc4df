"""Build the map page with folium, pointing at the vendored Leaflet files (no CDN).

folium links Leaflet, jQuery, Bootstrap and awesome-markers from CDNs by default
(``folium.folium._default_js`` / ``_default_css``); with no network such a page shows
nothing. Here the map's ``default_js`` / ``default_css`` are replaced (on the instance,
not the shared class lists) with the files under ``desk_desktop/resources/vendor`` and
``desk_desktop/resources/map``. The page is written to a file and loaded from it (``setHtml`` stops
at 2 MB). This module imports no Qt: the page is plain files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import folium
from folium.elements import MacroElement
from folium.template import Template

from desk_desktop.resources import resource_path

QWEBCHANNEL_JS = "qrc:///qtwebchannel/qwebchannel.js"
MAX_ZOOM = 19
DEFAULT_CENTER = (41.8781, -87.6298)  # replaced by the data's bounds on the first load
BASEMAP_GEOJSON = ("vendor", "world-atlas", "countries-50m.geojson")
OFFLINE_ATTRIBUTION = "Offline map: Protomaps, &copy; OpenStreetMap contributors"


def _uri(*parts: str) -> str:
    path = resource_path(*parts)
    if not path.is_file():
        raise FileNotFoundError(f"map resource missing: {path}")
    return path.as_uri()


def vendored_js() -> list[tuple[str, str]]:
    return [
        ("leaflet", _uri("vendor", "leaflet", "leaflet.js")),
        ("markercluster", _uri("vendor", "leaflet.markercluster", "leaflet.markercluster.js")),
    ]


def vendored_css() -> list[tuple[str, str]]:
    return [
        ("leaflet_css", _uri("vendor", "leaflet", "leaflet.css")),
        ("markerclustercss", _uri("vendor", "leaflet.markercluster", "MarkerCluster.css")),
        ("desk_map_css", _uri("map", "desk_map.css")),
    ]


class _DeskOfflineInit(MacroElement):
    """Runs ``DeskOffline.attach(map, tileLayer, url, attribution)``: the offline basemap, shown when tiles fail."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            DeskOffline.attach({{ this._parent.get_name() }}, {{ this.tile_name }}, {{ this.url|tojson }},
                               {{ this.attribution|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, tile_name: str | None, url: str, attribution: str) -> None:
        super().__init__()
        self._name = "DeskOfflineInit"
        self.tile_name = tile_name or "null"
        self.url = url
        self.attribution = attribution


class _DeskMapInit(MacroElement):
    """Runs ``DeskMap.init(map, tileLayer, config)`` after folium created the map and tiles."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            DeskMap.init({{ this._parent.get_name() }}, {{ this.tile_name }}, {{ this.config|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, tile_name: str | None, config: dict) -> None:
        super().__init__()
        self._name = "DeskMapInit"
        self.tile_name = tile_name or "null"
        self.config = config


@dataclass(frozen=True)
class BuiltPage:
    html_path: Path
    size: int


def write_basemap_script(out_dir: Path) -> Path:
    """The bundled GeoJSON as a script (``window.DESK_BASEMAP = …``): loads from file:// with no XHR."""
    src = resource_path(*BASEMAP_GEOJSON)
    target = out_dir / "basemap.js"
    stat = src.stat()
    if target.is_file() and target.stat().st_mtime >= stat.st_mtime and target.stat().st_size > stat.st_size:
        return target
    tmp = target.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        out.write("window.DESK_BASEMAP = ")
        out.write(src.read_text(encoding="utf-8"))
        out.write(";\n")
    tmp.replace(target)
    return target


def build_map_page(
    out_dir: Path,
    *,
    tile_url: str | None,
    tile_attribution: str,
    center: tuple[float, float] = DEFAULT_CENTER,
    zoom: int = 10,
    with_bridge: bool = True,
    offline_map_url: str | None = None,
) -> BuiltPage:
    """Write ``map.html`` (and ``basemap.js``) into ``out_dir``; return its path.

    With ``offline_map_url`` (profile.OFFLINE_URL when DESK_OFFLINE_MAP is set) the page also
    draws that PMTiles basemap when the tiles cannot be reached.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    basemap = write_basemap_script(out_dir)
    m = folium.Map(
        location=list(center),
        zoom_start=zoom,
        tiles=None,
        prefer_canvas=True,
        control_scale=True,
        zoom_control=True,
    )
    js = vendored_js()
    if with_bridge:
        js.append(("qwebchannel", QWEBCHANNEL_JS))
    js += [("desk_basemap", basemap.as_uri()), ("desk_map", _uri("map", "desk_map.js"))]
    if offline_map_url:
        js += [("protomaps_leaflet", _uri("vendor", "protomaps-leaflet", "protomaps-leaflet.js")),
               ("desk_offline", _uri("map", "desk_offline.js"))]
    m.default_js = js
    m.default_css = vendored_css()
    tile_name = None
    if tile_url:
        tiles = folium.TileLayer(
            tiles=tile_url, attr=tile_attribution or " ", name="Street map", max_zoom=MAX_ZOOM, control=False
        )
        tiles.add_to(m)
        tile_name = tiles.get_name()
    m.add_child(_DeskMapInit(tile_name, {"maxZoom": MAX_ZOOM}))
    if offline_map_url:
        m.add_child(_DeskOfflineInit(tile_name, offline_map_url, OFFLINE_ATTRIBUTION))
    html = m.get_root().render()
    path = out_dir / "map.html"
    path.write_text(html, encoding="utf-8")
    return BuiltPage(html_path=path, size=len(html))
