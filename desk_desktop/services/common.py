"""What every service shares: who is acting, the error base class, and the audit writer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from desk_desktop.db.session import UnitOfWork
from desk_desktop.services.audit import audit_row, write_audit_rows


def insert_json_rows_sql(table: str, columns: tuple[tuple[str, str], ...], *, jsonb: bool = False,
                         tail: str = "") -> str:
    """``INSERT INTO table (columns…)`` of the rows in one JSON document ``:rows`` (an array of
    objects, one parameter), in the order of the array. ``columns``: (name, SQL type) pairs.
    ``jsonb``: read the document as jsonb — cheaper when a column is jsonb itself (a json
    document would parse each such value a second time). ``tail``: e.g. an ON CONFLICT clause."""
    names = ", ".join(c for c, _ in columns)
    fn = "jsonb_to_recordset" if jsonb else "json_to_recordset"
    return (f"INSERT INTO {table} ({names}) "
            f"SELECT {', '.join(f'r.{c}' for c, _ in columns)} "
            f"FROM ROWS FROM ({fn}(CAST(:rows AS {'jsonb' if jsonb else 'json'})) AS ("
            + ", ".join(f"{c} {t}" for c, t in columns) + f")) WITH ORDINALITY AS r({names}, n) "
            f"ORDER BY r.n{' ' + tail if tail else ''}")



@dataclass(frozen=True)
class Actor:
    """Who is doing something: a dispatcher, the scheduler, the CLI, an import."""

    organization_id: int
    name: str
    dispatcher_id: int | None = None
    is_admin: bool = False

    @classmethod
    def system(cls, organization_id: int, name: str = "scheduler") -> Actor:
        return cls(organization_id=organization_id, name=name, dispatcher_id=None, is_admin=True)


class DeskError(Exception):
    """Base of all domain errors. ``str(err)`` is a message a dispatcher can act on."""


class NotFound(DeskError):
    pass


class PermissionDenied(DeskError):
    pass


class ValidationFailed(DeskError):
    """Bad input. ``field`` names the offending field when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def audit(
    uow: UnitOfWork,
    *,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: int | None,
    summary: str = "",
    details: dict[str, Any] | None = None,
    organization_id: int | None = None,
) -> None:
    """Record who did what and why, in the caller's transaction (``services.audit``)."""
    write_audit_rows(uow, [audit_row(actor=actor, action=action, entity=entity, entity_id=entity_id,
                                     summary=summary, details=details, organization_id=organization_id)])
