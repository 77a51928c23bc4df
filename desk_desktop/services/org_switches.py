"""The organization's switches that administrators set: whether completing a ticket's last work
order resolves the ticket too, and whether the next day is optimized every evening.

Everybody reads them; only an administrator changes them (here, and in the database by the
admin-only UPDATE policy on ``organizations``). Each change is audited and announced.
"""

from __future__ import annotations

from dataclasses import dataclass

from desk_desktop.db.models import Organization
from desk_desktop.db.session import UnitOfWork
from desk_desktop.services.common import Actor, PermissionDenied, audit


@dataclass(frozen=True)
class Switch:
    action: str  # the audit action
    on: str  # the audit summary when turned on
    off: str
    what: str  # "whether …", for the refusal


SWITCHES = {
    "auto_resolve_tickets": Switch(
        "organization.auto_resolve_changed",
        "Tickets are resolved automatically when their last work order is completed",
        "Tickets are no longer resolved automatically",
        "whether tickets are resolved automatically"),
    "nightly_optimize": Switch(
        "organization.nightly_optimize_changed",
        "The next day is optimized and applied every evening",
        "The next day is no longer optimized in the evening",
        "whether the next day is optimized every evening"),
}


def get_switches(*, uow: UnitOfWork, actor: Actor) -> dict[str, bool]:
    """Every switch of the acting organization, by name."""
    with uow:
        org = uow.session.get(Organization, actor.organization_id)
        found = {name: bool(getattr(org, name)) for name in SWITCHES}
        uow.commit()
    return found


def set_switch(*, uow: UnitOfWork, actor: Actor, name: str, enabled: bool) -> bool:
    """Administrators: turn the switch ``name`` (one of ``SWITCHES``) on or off."""
    switch = SWITCHES[name]
    if not actor.is_admin:
        raise PermissionDenied(f"Only an administrator can change {switch.what}.")
    with uow:
        org = uow.session.get(Organization, actor.organization_id, with_for_update=True)
        previous = bool(getattr(org, name))
        setattr(org, name, bool(enabled))
        audit(uow, actor=actor, action=switch.action, entity="organization", entity_id=actor.organization_id,
              summary=switch.on if enabled else switch.off, details={"from": previous, "to": bool(enabled)})
        uow.record_change("organization", actor.organization_id, actor.organization_id, "updated")
        uow.commit()
    return bool(enabled)
