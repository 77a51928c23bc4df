"""Audit rows: the one builder of an audit-log row and the one statement that writes them.

Every change a service makes is recorded in ``audit_log`` in the same transaction, always
built by ``audit_row`` and always written by ``INSERT_AUDIT_ROWS`` (one row or a whole
batch, in the order given)::

    rows = [audit_row(actor=actor, action="work_order.assigned", entity="work_order",
                      entity_id=wo.id, summary="…", details={…}) for wo in orders]
    write_audit_rows(uow, rows)

A statement that writes its audit rows itself (e.g. as a CTE of the statement that
inserts a ticket) uses ``INSERT_AUDIT_ROWS`` with ``{"audit_rows": audit_rows_json(rows)}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from desk_desktop.db import sql
from desk_desktop.db.session import UnitOfWork

if TYPE_CHECKING:
    from desk_desktop.services.common import Actor

ACTOR_MAX = 100  # audit_log.actor is varchar(100)

# The rows arrive as one jsonb array (parameter ``:audit_rows``) and are inserted in its
# order, so ids (and the order of a history) follow the order they were built in.
INSERT_AUDIT_ROWS = """INSERT INTO audit_log (organization_id, actor, action, entity, entity_id, summary, details)
SELECT r.organization_id, r.actor, r.action, r.entity, r.entity_id, r.summary, r.details
  FROM ROWS FROM (jsonb_to_recordset(CAST(:audit_rows AS jsonb)) AS (
           organization_id bigint, actor text, action text, entity text, entity_id bigint, summary text,
           details jsonb)) WITH ORDINALITY AS r(organization_id, actor, action, entity, entity_id, summary,
                                                details, n)
 ORDER BY r.n"""


def audit_row(
    *,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: int | None,
    summary: str = "",
    details: Mapping[str, Any] | None = None,
    organization_id: int | None = None,
) -> dict[str, Any]:
    """One row of the audit log: who (``actor``) did what (``action``, e.g.
    ``"ticket.created"``) to which ``entity``/``entity_id``, a one-line ``summary`` for
    people and ``details`` (JSON-able; datetimes become ISO text) for the record.
    ``organization_id`` defaults to the actor's."""
    return {
        "organization_id": organization_id if organization_id is not None else actor.organization_id,
        "actor": actor.name[:ACTOR_MAX],
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "summary": summary,
        "details": dict(details) if details is not None else None,
    }


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} cannot be written to the audit log")


def audit_rows_json(rows: Sequence[Mapping[str, Any]]) -> str:
    """The ``:audit_rows`` parameter of ``INSERT_AUDIT_ROWS``."""
    return json.dumps(list(rows), default=_json_value, separators=(",", ":"))


def write_audit_rows(uow: UnitOfWork, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (built by ``audit_row``) in one statement, in the caller's transaction."""
    if rows:
        sql.execute(uow, INSERT_AUDIT_ROWS, {"audit_rows": audit_rows_json(rows)})


def audit(uow: UnitOfWork, **row: Any) -> None:
    """Record one row (``audit_row``'s arguments) in the caller's transaction."""
    write_audit_rows(uow, [audit_row(**row)])
