"""Find bundled data (resources/, migrations/) whether frozen by PyInstaller or not."""

from __future__ import annotations

import sys
from pathlib import Path


def base_path() -> Path:
    """The folder that holds ``resources/`` and ``migrations/``."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen)
    return Path(__file__).resolve().parent.parent


def resource_path(*parts: str) -> Path:
    """Path of a file below ``resources/`` (e.g. ``resource_path("map", "page.html")``)."""
    return base_path().joinpath("resources", *parts)


def migrations_path() -> Path:
    return base_path() / "migrations"


def configure_frozen_environment() -> None:
    """In a PyInstaller bundle, point libmagic at its bundled database."""
    import os

    if getattr(sys, "frozen", False):
        mgc = base_path() / "libmagic" / "magic.mgc"
        if mgc.exists():
            os.environ.setdefault("MAGIC", str(mgc))
