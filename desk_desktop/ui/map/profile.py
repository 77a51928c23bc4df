"""The map's web profile: named and persistent, a disk cache for tiles, the app's User-Agent,
and the ``desk-offline:`` scheme that serves the offline basemap file (DESK_OFFLINE_MAP).

The default profile keeps nothing between runs, so every start downloaded every tile
again, and it sent Chromium's own User-Agent, which the OpenStreetMap tile policy asks
applications not to do. ``map_profile()`` gives the profile, stored under
the data folder (``<data>/web``, cache ``<data>/web-cache``).

protomaps-leaflet reads a .pmtiles file with HTTP range requests (``fetch`` with a
``Range`` header), which ``file://`` does not answer. ``OfflineMapHandler`` answers them
for the one configured file at ``desk-offline://map/basemap.pmtiles``. The map page needs
``LocalContentCanAccessRemoteUrls`` (it has it for the tiles) to fetch from this scheme.
``register_scheme()`` must run before the QApplication exists (ui/app.py does it).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QFile, QIODevice, QObject, qVersion
from PySide6.QtWebEngineCore import (
    QWebEngineProfile,
    QWebEngineUrlRequestJob,
    QWebEngineUrlScheme,
    QWebEngineUrlSchemeHandler,
)

from desk_desktop import APP_ID, __version__
from desk_desktop.config import Settings

log = logging.getLogger(__name__)

PROFILE_NAME = "desk-map"
CACHE_MAX_BYTES = 512 * 1024 * 1024
OFFLINE_SCHEME = b"desk-offline"
OFFLINE_URL = "desk-offline://map/basemap.pmtiles"
USER_AGENT = f"DeskDispatcher/{__version__} ({APP_ID}; QtWebEngine/{qVersion()})"


def register_scheme() -> None:
    """Declare ``desk-offline:`` to QtWebEngine (once, before the QApplication is created)."""
    if QWebEngineUrlScheme.schemeByName(OFFLINE_SCHEME).name() == OFFLINE_SCHEME:
        return
    scheme = QWebEngineUrlScheme(OFFLINE_SCHEME)
    scheme.setSyntax(QWebEngineUrlScheme.Syntax.Host)
    scheme.setFlags(QWebEngineUrlScheme.Flag.SecureScheme | QWebEngineUrlScheme.Flag.CorsEnabled
                    | QWebEngineUrlScheme.Flag.FetchApiAllowed | QWebEngineUrlScheme.Flag.LocalAccessAllowed)
    QWebEngineUrlScheme.registerScheme(scheme)


class OfflineMapHandler(QWebEngineUrlSchemeHandler):
    """Serves the offline basemap file; ``requests`` counts the replies.

    The reply is the open file: QtWebEngine answers a ``Range`` request from a seekable
    device itself (status 206 with just those bytes), which is what the PMTiles reader asks.
    """

    def __init__(self, path: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self.requests = 0

    def requestStarted(self, job: QWebEngineUrlRequestJob) -> None:  # noqa: N802 (Qt API)
        file = QFile(str(self.path), job)  # closed and deleted with the job
        if job.requestUrl().toString() != OFFLINE_URL or not file.open(QIODevice.OpenModeFlag.ReadOnly):
            log.warning("offline map: cannot serve %s from %s", job.requestUrl().toString(), self.path)
            job.fail(QWebEngineUrlRequestJob.Error.UrlNotFound)
            return
        self.requests += 1
        job.reply(b"application/octet-stream", file)


def map_profile(settings: Settings) -> QWebEngineProfile:
    """The map views' profile: made on first use and kept by the application, one per process
    (pages using it must be deleted before it, and two profiles must not share a folder)."""
    app = QCoreApplication.instance()
    return app.findChild(QWebEngineProfile, PROFILE_NAME) or create_map_profile(settings, app)


def create_map_profile(settings: Settings, parent: QObject | None = None) -> QWebEngineProfile:
    """A new persistent map profile; the offline handler is installed when a file is configured."""
    profile = QWebEngineProfile(PROFILE_NAME, parent)
    profile.setObjectName(PROFILE_NAME)
    profile.setPersistentStoragePath(str(settings.data_dir / "web"))
    profile.setCachePath(str(settings.data_dir / "web-cache"))
    profile.setHttpCacheType(QWebEngineProfile.HttpCacheType.DiskHttpCache)
    profile.setHttpCacheMaximumSize(CACHE_MAX_BYTES)
    profile.setHttpUserAgent(USER_AGENT)
    if settings.offline_map is not None:
        profile.offline_handler = OfflineMapHandler(settings.offline_map, profile)
        profile.installUrlSchemeHandler(OFFLINE_SCHEME, profile.offline_handler)
    return profile
