"""Facts about the acting organization that forms show: its time zone."""

from __future__ import annotations

from desk_desktop.db.session import UnitOfWork
from desk_desktop.services.assignment.job import organization_timezone as _timezone
from desk_desktop.services.common import Actor


def organization_timezone(*, uow: UnitOfWork, actor: Actor) -> str:
    """The IANA time zone working hours are kept in (e.g. "Europe/Paris")."""
    with uow:
        zone = _timezone(uow, actor.organization_id)
        uow.commit()
    return zone
