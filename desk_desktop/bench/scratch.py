"""A scratch database for a benchmark: a fresh migrated database on the private cluster
(or on the server given with --database-url), dropped afterwards."""

from __future__ import annotations

import uuid
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from desk_desktop.bootstrap import private_cluster
from desk_desktop.config import Settings
from desk_desktop.db import migrate
from desk_desktop.db.session import make_engine, normalize_url


@contextmanager
def scratch_database(settings: Settings, prefix: str = "bench"):
    """Yields the URL of a new, migrated database; drops it on exit."""
    cluster = None
    if settings.database_url:
        admin_url = normalize_url(settings.database_url)
    else:
        cluster = private_cluster(settings)
        cluster.start()
        cluster.acquire_lease()
        admin_url = cluster.url_for("postgres")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(admin_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    eng = make_engine(url)
    try:
        migrate.upgrade(eng)
        eng.dispose()
        yield url
    finally:
        eng.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        if cluster is not None:
            cluster.release_lease_and_stop_if_last()
