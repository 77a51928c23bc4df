"""The organization's people as choices for pickers: technicians by name."""

from __future__ import annotations

from dataclasses import dataclass

from desk_desktop.db import sql
from desk_desktop.db.session import UnitOfWork
from desk_desktop.services.common import Actor


@dataclass(frozen=True)
class TechnicianChoice:
    id: int
    name: str


def list_technicians(*, uow: UnitOfWork, actor: Actor, active_only: bool = True) -> tuple[TechnicianChoice, ...]:
    """The organization's technicians (only the active ones unless ``active_only`` is False), by name."""
    with uow:
        rows = sql.rows(uow, "SELECT id, name FROM technicians WHERE organization_id = :org"
                             " AND (active OR NOT :active_only) ORDER BY name, id",
                        {"org": actor.organization_id, "active_only": active_only})
        uow.commit()
    return tuple(TechnicianChoice(id=r.id, name=r.name) for r in rows)
