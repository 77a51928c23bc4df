"""Per-organization ticket numbering: the format settings and the gapless counter.

How a number is taken (see DESIGN.md "Numbering"):

* The counter is one row per (organization, period) in ``ticket_number_counters``;
  ``next_value`` is the value the next ticket of that period gets.
* A ticket takes its number in the statement that inserts it (``services.tickets``): it
  upserts the counter row (``INSERT … ON CONFLICT … DO UPDATE … RETURNING``) and inserts
  the ticket with the formatted value. That statement is the last one of the ticket's
  transaction before COMMIT and the first that writes: the row lock it takes is held
  until commit, so taking it last keeps the lock short. A concurrent writer *waits* for that lock (no
  ``NOWAIT``) and then continues with the committed value — under READ COMMITTED, which
  this module insists on. A rollback gives the number back, so numbers are gapless.
* Deleting a ticket leaves a gap; that is by design and documented.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from desk_desktop.db import sql
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.numbering import (
    NumberFormat,
    NumberFormatInvalid,
    format_number,
    local_time,
    number_head,
    period_key,
    validate_format,
)
from desk_desktop.services.common import Actor, DeskError, NotFound, PermissionDenied, ValidationFailed, audit

__all__ = [
    "NumberFormat",
    "NumberingInvalid",
    "NumberWouldCollide",
    "NumberingContext",
    "NumberingSettings",
    "get_number_format",
    "get_numbering_settings",
    "update_number_format",
    "preview_next_number",
    "set_next_number",
    "load_numbering_context",
    "numbering_context",
    "counter_params",
    "number_taken",
    "TAKEN_NUMBER_CONSTRAINT",
]


class NumberingInvalid(ValidationFailed):
    """A numbering setting that cannot be used (``field`` names it)."""


class NumberWouldCollide(DeskError):
    """Setting the next number would hand out a number an existing ticket already has."""


class NumberingConflict(DeskError):
    """The number the counter produced already belongs to a ticket (the counter was moved by hand)."""


@dataclass(frozen=True)
class NumberingContext:
    """What a ticket transaction needs to take its number (read once, early, no locks)."""

    organization_id: int
    timezone: str
    format: NumberFormat


@dataclass(frozen=True)
class NumberingSettings:
    format: NumberFormat
    timezone: str
    period: str
    next_number: str
    next_value: int


def _check_read_committed(uow: UnitOfWork) -> None:
    level = sql.scalar(uow, "SHOW transaction_isolation")
    if level != "read committed":
        # Under REPEATABLE READ/SERIALIZABLE a second writer fails with 40001 instead of waiting.
        raise DeskError(f"Ticket numbers must be taken under READ COMMITTED, not {level}.")


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


_FORMAT_COLUMNS = "s.prefix, s.include_year, s.include_month, s.padding, s.separator, s.reset_policy"


# The format row is created with the organization (by the database: migration 0007);
# ticket creation never writes it.
_CONTEXT_SQL = (
    f"SELECT o.timezone, s.organization_id IS NOT NULL AS has_format, {_FORMAT_COLUMNS} "
    "FROM organizations o LEFT JOIN ticket_number_sequences s ON s.organization_id = o.id WHERE o.id = :org"
)


def numbering_context(row: Any, organization_id: int) -> NumberingContext:
    """The context from a row with ``timezone``, ``has_format`` and the format columns."""
    if not row.has_format:
        raise NotFound("This organization has no ticket number format; an administrator should run "
                       "'desk-desktop db upgrade' (it gives every organization the default format).")
    fmt = NumberFormat(
        prefix=row.prefix,
        include_year=row.include_year,
        include_month=row.include_month,
        padding=row.padding,
        separator=row.separator,
        reset_policy=row.reset_policy,
    )
    return NumberingContext(organization_id=organization_id, timezone=row.timezone, format=fmt)


def load_numbering_context(*, uow: UnitOfWork, organization_id: int) -> NumberingContext:
    """The organization's time zone and number format."""
    row = sql.one_or_none(uow, _CONTEXT_SQL, {"org": organization_id})
    if row is None:
        raise NotFound("The organization does not exist.")
    return numbering_context(row, organization_id)


# How a ticket takes its number (``services.tickets``, the statement that inserts it, which
# is the LAST statement of the ticket's transaction before COMMIT): it upserts the counter
# row of the period — the row lock waits for a concurrent writer (never NOWAIT) and is held
# until COMMIT — and formats the value it got with these parameters.
TAKEN_NUMBER_CONSTRAINT = "uq_tickets_organization_id_number"


def counter_params(ctx: NumberingContext, now: datetime | None = None) -> dict:
    """The counter's period and the number's head and padding for a ticket created at ``now``."""
    local = local_time(_now(now), ctx.timezone)
    return {
        "org": ctx.organization_id,
        "period": period_key(ctx.format.reset_policy, local),
        "head": number_head(ctx.format, local),
        "pad": ctx.format.padding,
    }


def number_taken() -> NumberingConflict:
    """The error for a counter that produced a number an existing ticket has (violation of
    ``TAKEN_NUMBER_CONSTRAINT``)."""
    return NumberingConflict(
        "The next ticket number is already taken by an existing ticket; "
        "an administrator should set the next number above the highest one in use."
    )


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise PermissionDenied("Only an administrator can change ticket numbering.")


def _counter_value(uow: UnitOfWork, org: int, period: str, *, lock: bool = False) -> int:
    if lock:
        # Make sure the row exists, then lock it (waits for writers in flight, never NOWAIT).
        sql.execute(uow, "INSERT INTO ticket_number_counters (organization_id, period, next_value) "
                         "VALUES (:org, :period, 1) ON CONFLICT DO NOTHING", {"org": org, "period": period})
        return sql.one(uow, "SELECT next_value FROM ticket_number_counters "
                            "WHERE organization_id = :org AND period = :period FOR UPDATE",
                       {"org": org, "period": period}).next_value
    value = sql.scalar(uow, "SELECT next_value FROM ticket_number_counters WHERE organization_id = :org "
                            "AND period = :period", {"org": org, "period": period})
    return value if value is not None else 1


def _highest_in_use(uow: UnitOfWork, org: int, head: str) -> int:
    """Highest counter value among existing tickets whose number starts with ``head``."""
    value = sql.scalar(
        uow,
        "SELECT max(substr(number, :n + 1)::numeric) FROM tickets "
        "WHERE organization_id = :org AND left(number, :n) = :head AND substr(number, :n + 1) ~ '^[0-9]+$'",
        {"org": org, "head": head, "n": len(head)},
    )
    return int(value) if value is not None else 0


def get_number_format(*, uow: UnitOfWork, actor: Actor) -> NumberFormat:
    with uow:
        ctx = load_numbering_context(uow=uow, organization_id=actor.organization_id)
        uow.commit()
    return ctx.format


def get_numbering_settings(*, uow: UnitOfWork, actor: Actor, now: datetime | None = None) -> NumberingSettings:
    """Format, time zone, current period and the next number (not consumed)."""
    with uow:
        ctx = load_numbering_context(uow=uow, organization_id=actor.organization_id)
        local = local_time(_now(now), ctx.timezone)
        period = period_key(ctx.format.reset_policy, local)
        value = _counter_value(uow, actor.organization_id, period)
        uow.commit()
    return NumberingSettings(
        format=ctx.format,
        timezone=ctx.timezone,
        period=period,
        next_number=format_number(ctx.format, value, local),
        next_value=value,
    )


def preview_next_number(*, uow: UnitOfWork, actor: Actor, now: datetime | None = None) -> str:
    """The number the next ticket would get now, without consuming it.

    A preview, not a reservation: another workstation may take it first."""
    return get_numbering_settings(uow=uow, actor=actor, now=now).next_number


def update_number_format(
    *,
    uow: UnitOfWork,
    actor: Actor,
    prefix: str | None = None,
    include_year: bool | None = None,
    include_month: bool | None = None,
    padding: int | None = None,
    separator: str | None = None,
    reset_policy: str | None = None,
    now: datetime | None = None,
) -> NumberFormat:
    """Change the format (admins only). Existing tickets keep their numbers.

    If the new format's numbers for the current period already exist (e.g. switching
    back to a format used earlier), the counter moves past them so nothing collides."""
    _require_admin(actor)
    if isinstance(prefix, str):
        prefix = prefix.strip().upper()
    with uow:
        ctx = load_numbering_context(uow=uow, organization_id=actor.organization_id)
        old = ctx.format
        new = old.with_changes(
            prefix=prefix,
            include_year=include_year,
            include_month=include_month,
            padding=padding,
            separator=separator,
            reset_policy=str(reset_policy) if reset_policy is not None else None,
        )
        try:
            validate_format(new)
        except NumberFormatInvalid as exc:
            raise NumberingInvalid(str(exc), exc.field) from exc
        if new == old:
            uow.commit()
            return new
        sql.execute(
            uow,
            "UPDATE ticket_number_sequences SET prefix = :prefix, include_year = :iy, include_month = :im, "
            "padding = :pad, separator = :sep, reset_policy = :rp, updated_at = now() WHERE organization_id = :org",
            {
                "prefix": new.prefix,
                "iy": new.include_year,
                "im": new.include_month,
                "pad": new.padding,
                "sep": new.separator,
                "rp": new.reset_policy,
                "org": actor.organization_id,
            },
        )
        local = local_time(_now(now), ctx.timezone)
        period = period_key(new.reset_policy, local)
        current = _counter_value(uow, actor.organization_id, period, lock=True)
        highest = _highest_in_use(uow, actor.organization_id, number_head(new, local))
        if highest >= current:
            _set_counter(uow, actor.organization_id, period, highest + 1)
        changed = {
            k: [getattr(old, k), getattr(new, k)]
            for k in ("prefix", "include_year", "include_month", "padding", "separator", "reset_policy")
            if getattr(old, k) != getattr(new, k)
        }
        audit(
            uow,
            actor=actor,
            action="numbering.format_changed",
            entity="organization",
            entity_id=actor.organization_id,
            summary=f"Ticket number format changed; next number {format_number(new, max(current, highest + 1), local)}",
            details={"changed": changed},
        )
        uow.record_change("numbering", actor.organization_id, actor.organization_id, "updated")
        uow.commit()
    return new


def _set_counter(uow: UnitOfWork, org: int, period: str, value: int) -> None:
    sql.execute(
        uow,
        "INSERT INTO ticket_number_counters (organization_id, period, next_value) VALUES (:org, :period, :v) "
        "ON CONFLICT (organization_id, period) DO UPDATE SET next_value = EXCLUDED.next_value",
        {"org": org, "period": period, "v": value},
    )


def set_next_number(*, uow: UnitOfWork, actor: Actor, value: int, now: datetime | None = None) -> str:
    """Make the next ticket of the current period get counter ``value`` (admins only).

    Refused when an existing ticket of this period already has that value or a higher
    one, since the counter would run into it. Returns the next number."""
    _require_admin(actor)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise NumberingInvalid("The next number must be a whole number of at least 1.", "value")
    if value >= 10**15:
        raise NumberingInvalid("The next number is too large.", "value")
    with uow:
        _check_read_committed(uow)
        ctx = load_numbering_context(uow=uow, organization_id=actor.organization_id)
        local = local_time(_now(now), ctx.timezone)
        period = period_key(ctx.format.reset_policy, local)
        previous = _counter_value(uow, actor.organization_id, period, lock=True)
        head = number_head(ctx.format, local)
        highest = _highest_in_use(uow, actor.organization_id, head)
        if value <= highest:
            raise NumberWouldCollide(
                f"Ticket {format_number(ctx.format, highest, local)} already exists; "
                f"the next number must be at least {highest + 1}."
            )
        _set_counter(uow, actor.organization_id, period, value)
        next_number = format_number(ctx.format, value, local)
        audit(
            uow,
            actor=actor,
            action="numbering.next_number_set",
            entity="organization",
            entity_id=actor.organization_id,
            summary=f"Next ticket number set to {next_number}",
            details={"period": period, "previous": previous, "value": value},
        )
        uow.record_change("numbering", actor.organization_id, actor.organization_id, "updated")
        uow.commit()
    return next_number
