"""Find the package's data files (desk_desktop/resources, desk_desktop/migrations) through importlib.resources.

The data ships inside the package, so a wheel, an editable install and a PyInstaller
bundle (which keeps the same layout under its ``_MEIPASS`` folder) all find it the same way.
Callers get real file paths: QtWebEngine loads the map's files by ``file://`` URL and
Alembic reads its scripts from a folder.
"""

from __future__ import annotations

import sys
from importlib.resources import files
from pathlib import Path


def package_path() -> Path:
    """The installed ``desk_desktop`` folder (data files are always unpacked on disk)."""
    return Path(str(files("desk_desktop")))


def resource_path(*parts: str) -> Path:
    """Path of a file below ``desk_desktop/resources`` (e.g. ``resource_path("map", "desk_map.js")``)."""
    return package_path().joinpath("resources", *parts)


def migrations_path() -> Path:
    return package_path() / "migrations"


def configure_frozen_environment() -> None:
    """In a PyInstaller bundle, point libmagic at its bundled database."""
    import os

    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        mgc = Path(frozen) / "libmagic" / "magic.mgc"
        if mgc.exists():
            os.environ.setdefault("MAGIC", str(mgc))
