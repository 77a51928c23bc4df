"""Help → About: the app's version, the versions of Qt, PySide6, PostgreSQL and PostGIS, and
the licences of the vendored web assets (read from their LICENSE files)."""

from __future__ import annotations

import html
import sys

import PySide6
from PySide6.QtCore import qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTextBrowser, QVBoxLayout, QWidget

from desk_desktop import APP_NAME, __version__
from desk_desktop.resources import resource_path
from desk_desktop.ui.context import UiContext

# (folder under resources/vendor, what it is, version, licence) — as in resources/vendor/README.md.
VENDORED = (
    ("leaflet", "Leaflet 1.9.4 (map)", "BSD-2-Clause"),
    ("leaflet.markercluster", "Leaflet.markercluster 1.5.3 (marker clusters)", "MIT"),
    ("protomaps-leaflet", "protomaps-leaflet 5.1.0 (offline basemap)", "BSD-3-Clause"),
    ("world-atlas", "world-atlas 2.0.2, Natural Earth data (country outlines)", "ISC; data public domain"),
)


class AboutDialog(QDialog):
    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"About {APP_NAME}")
        self.resize(620, 560)
        self.versions = QLabel()
        self.versions.setTextFormat(self.versions.textFormat().RichText)
        self._lines = {
            APP_NAME: __version__,
            "Python": sys.version.split()[0],
            "Qt": qVersion(),
            "PySide6": PySide6.__version__,
            "PostgreSQL": "asking the server…",
            "PostGIS": "asking the server…",
        }
        self._show_versions()
        self.licences = QTextBrowser()
        self.licences.setOpenExternalLinks(True)
        self.licences.setHtml(licences_html())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.versions)
        layout.addWidget(QLabel("Bundled web components and their licences:"))
        layout.addWidget(self.licences, 1)
        layout.addWidget(buttons)
        from desk_desktop.services.server_info import server_versions

        ctx.runner.submit(lambda: server_versions(uow=ctx.uow_factory()), owner=self,
                          on_done=self._on_server_versions, on_error=self._on_server_error)

    def version_text(self) -> str:
        return "\n".join(f"{name} {value}" for name, value in self._lines.items())

    def _show_versions(self) -> None:
        rows = "".join(f"<tr><td><b>{html.escape(name)}</b></td><td>{html.escape(value)}</td></tr>"
                       for name, value in self._lines.items())
        self.versions.setText(f"<table cellspacing='4'>{rows}</table>")

    def _on_server_versions(self, versions) -> None:
        self._lines["PostgreSQL"] = versions.postgresql
        self._lines["PostGIS"] = versions.postgis
        self._show_versions()

    def _on_server_error(self, exc: BaseException) -> None:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        self._lines["PostgreSQL"] = self._lines["PostGIS"] = f"unknown ({first})"
        self._show_versions()


def licences_html() -> str:
    parts = []
    for folder, what, licence in VENDORED:
        path = resource_path("vendor", folder, "LICENSE")
        text = path.read_text(encoding="utf-8") if path.exists() else f"(missing: {path})"
        parts.append(f"<h4>{html.escape(what)} — {html.escape(licence)}</h4><pre style='white-space: pre-wrap'>{html.escape(text)}</pre>")
    return "".join(parts)
