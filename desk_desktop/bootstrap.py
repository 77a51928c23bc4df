"""Composition root: settings → (private cluster) → engine → unit-of-work factory → scheduler.

Nothing here runs at import time. The GUI, the CLI and the tests all build their
objects through these functions, so they run the exact same code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text

from desk_desktop.config import Settings
from desk_desktop.db import migrate
from desk_desktop.db.local_cluster import LocalCluster
from desk_desktop.db.session import UnitOfWorkFactory, make_engine

log = logging.getLogger(__name__)


@dataclass
class Database:
    """An open database: where it is, its engine and the unit-of-work factory."""

    url: str
    engine: Engine
    uow_factory: UnitOfWorkFactory
    cluster: LocalCluster | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def is_private(self) -> bool:
        return self.cluster is not None

    def describe(self) -> str:
        """One line for the status bar: private or shared, and the server version."""
        with self.engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar_one()
            user = conn.execute(text("SELECT session_user")).scalar_one()
        where = "private database" if self.is_private else f"shared server {self.engine.url.host or 'local socket'}"
        return f"{where} · PostgreSQL {version.split()[0]} · {user}"

    def close(self) -> None:
        self.engine.dispose()
        if self.cluster is not None:
            self.cluster.release_lease_and_stop_if_last()


def private_cluster(settings: Settings) -> LocalCluster:
    return LocalCluster(settings.data_dir / "cluster", cluster_user=settings.cluster_user, bindir=settings.pg_bindir)


def open_database(settings: Settings, *, migrate_private: bool = True, check_schema: bool = True,
                  start_cluster: bool = True) -> Database:
    """Connect to the configured database, starting and migrating the private cluster if needed.

    Against a shared server the schema must match this app exactly (``SchemaMismatch``
    otherwise, with the command an administrator should run).
    """
    cluster = None
    if settings.uses_private_cluster:
        cluster = private_cluster(settings)
        if start_cluster:
            cluster.start()
            cluster.acquire_lease()
        url = cluster.url
    else:
        url = settings.database_url  # type: ignore[assignment]
    engine = make_engine(url)
    try:
        if cluster is not None and migrate_private:
            migrate.upgrade(engine)
        elif check_schema:
            migrate.check_schema(engine)
    except Exception:
        engine.dispose()
        if cluster is not None:
            cluster.release_lease_and_stop_if_last()
        raise
    return Database(url=url, engine=engine, uow_factory=UnitOfWorkFactory(engine), cluster=cluster)
