"""Ticket numbers for rows a test writes itself: taken from the organization's counter as
the app takes them (the only numbers a dispatcher's connection may insert, migration 0014)."""

from __future__ import annotations

from sqlalchemy import text

from desk_desktop.domain.numbering import pad_counter
from desk_desktop.services import numbering

_TAKE = """INSERT INTO ticket_number_counters AS k (organization_id, period, next_value) VALUES (:org, :period, 2)
ON CONFLICT (organization_id, period) DO UPDATE SET next_value = k.next_value + 1 RETURNING k.next_value - 1"""


def take_number(uow, organization_id: int) -> str:
    """The organization's next ticket number, taken inside ``uow``'s open transaction."""
    params = numbering.counter_params(numbering.load_numbering_context(uow=uow, organization_id=organization_id))
    value = uow.session.execute(text(_TAKE), params).scalar_one()
    return params["head"] + pad_counter(value, params["pad"])


def number_of(uow, ticket_id: int) -> str:
    with uow:
        return uow.session.execute(text("SELECT number FROM tickets WHERE id = :t"), {"t": ticket_id}).scalar_one()
