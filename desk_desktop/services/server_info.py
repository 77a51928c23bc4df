"""What the About box reports of the database server: PostgreSQL and PostGIS versions."""

from __future__ import annotations

from dataclasses import dataclass

from desk_desktop.db import sql
from desk_desktop.db.session import UnitOfWork


@dataclass(frozen=True)
class ServerVersions:
    postgresql: str
    postgis: str


def server_versions(*, uow: UnitOfWork) -> ServerVersions:
    with uow:
        row = sql.one(uow, "SELECT current_setting('server_version') AS postgresql, "
                           "postgis_lib_version() AS postgis")
    return ServerVersions(postgresql=row.postgresql, postgis=row.postgis)
