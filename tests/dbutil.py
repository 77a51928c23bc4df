"""Test database plumbing: a throw-away private cluster (the project's own code) or
DESK_TEST_DATABASE_URL, a migrated template database, and cheap copies of it."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from desk_desktop.db import migrate
from desk_desktop.db.local_cluster import LocalCluster
from desk_desktop.db.session import make_engine, normalize_url

TEMPLATE_DB = "desk_test_template"


class TestServer:
    """Where test databases are created: our own cluster, or a given server."""

    def __init__(self) -> None:
        self.cluster: LocalCluster | None = None
        given = os.environ.get("DESK_TEST_DATABASE_URL")
        if given:
            self.admin_url = normalize_url(given)
        else:
            base = Path(tempfile.mkdtemp(prefix="desk-test-"))
            os.chmod(base, 0o711)
            self.cluster = LocalCluster(base / "cluster", cluster_user=os.environ.get("DESK_CLUSTER_USER", "postgres"))
            self.cluster.start()
            self.admin_url = self.cluster.url_for("postgres")
        self._template_ready = False

    def url_for(self, db_name: str) -> str:
        return make_url(self.admin_url).set(database=db_name).render_as_string(hide_password=False)

    def _admin(self, sql: str) -> None:
        eng = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with eng.connect() as conn:
                conn.execute(text(sql))
        finally:
            eng.dispose()

    def ensure_template(self) -> None:
        if self._template_ready:
            return
        self._admin(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}" WITH (FORCE)')
        self._admin(f'CREATE DATABASE "{TEMPLATE_DB}"')
        eng = make_engine(self.url_for(TEMPLATE_DB))
        try:
            migrate.upgrade(eng)
        finally:
            eng.dispose()
        self._template_ready = True

    def create_database(self, prefix: str = "desk_test") -> str:
        """A fresh, migrated database (a copy of the template). Returns its URL."""
        self.ensure_template()
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"')
        return self.url_for(name)

    def create_empty_database(self, prefix: str = "desk_empty") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, url: str) -> None:
        name = make_url(url).database
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.destroy()
