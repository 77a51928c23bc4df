"""Numbering service against real PostGIS: formats, resets, time zones, admin operations."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from desk_desktop.services import numbering
from desk_desktop.services import tickets as svc
from desk_desktop.services.common import Actor, PermissionDenied
from desk_desktop.services.numbering import NumberingInvalid, NumberWouldCollide
from tests.conftest import make_org
from tests.integration.test_tickets import add_customer

NOV = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def new(uow_factory, actor, now=NOV):
    return svc.create_ticket(uow=uow_factory(), actor=actor, subject="s", category="general", priority="low",
                             customer_ref="C-1", now=now).ticket.number


@pytest.fixture
def acme(uow_factory, org):
    add_customer(uow_factory, org)
    return org


def test_defaults_created_on_first_use(uow_factory, acme):
    fmt = numbering.get_number_format(uow=uow_factory(), actor=acme)
    assert (fmt.prefix, fmt.include_year, fmt.include_month, fmt.padding, fmt.separator, fmt.reset_policy) == (
        "TK", True, False, 5, "-", "yearly")
    assert new(uow_factory, acme) == "TK-2026-00001"


@pytest.mark.parametrize(
    ("changes", "first", "second"),
    [
        (dict(prefix="SR"), "SR-2026-00001", "SR-2026-00002"),
        (dict(include_month=True, reset_policy="monthly"), "TK-2026-11-00001", "TK-2026-11-00002"),
        (dict(include_year=False, reset_policy="never"), "TK-00001", "TK-00002"),
        (dict(padding=1), "TK-2026-1", "TK-2026-2"),
        (dict(padding=12), "TK-2026-000000000001", "TK-2026-000000000002"),
        (dict(separator="_"), "TK_2026_00001", "TK_2026_00002"),
        (dict(separator="."), "TK.2026.00001", "TK.2026.00002"),
        (dict(prefix="AB12345678", include_month=True, padding=3), "AB12345678-2026-11-001", "AB12345678-2026-11-002"),
    ],
)
def test_every_format_option(uow_factory, acme, changes, first, second):
    numbering.update_number_format(uow=uow_factory(), actor=acme, now=NOV, **changes)
    assert numbering.preview_next_number(uow=uow_factory(), actor=acme, now=NOV) == first
    assert new(uow_factory, acme) == first
    assert new(uow_factory, acme) == second


def test_padding_grows_instead_of_truncating(uow_factory, acme):
    numbering.update_number_format(uow=uow_factory(), actor=acme, padding=2)
    numbering.set_next_number(uow=uow_factory(), actor=acme, value=99, now=NOV)
    assert new(uow_factory, acme) == "TK-2026-99"
    assert new(uow_factory, acme) == "TK-2026-100"


def test_yearly_reset_across_the_boundary(uow_factory, acme):
    assert new(uow_factory, acme, datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)) == "TK-2026-00001"
    assert new(uow_factory, acme, datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)) == "TK-2026-00002"
    assert new(uow_factory, acme, datetime(2027, 1, 1, 0, 0, 0, tzinfo=UTC)) == "TK-2027-00001"
    assert new(uow_factory, acme, datetime(2027, 1, 1, 0, 0, 1, tzinfo=UTC)) == "TK-2027-00002"


def test_monthly_reset_across_the_boundary(uow_factory, acme):
    numbering.update_number_format(uow=uow_factory(), actor=acme, include_month=True, reset_policy="monthly")
    assert new(uow_factory, acme, datetime(2026, 11, 30, 23, 0, tzinfo=UTC)) == "TK-2026-11-00001"
    assert new(uow_factory, acme, datetime(2026, 12, 1, 0, 0, tzinfo=UTC)) == "TK-2026-12-00001"
    assert new(uow_factory, acme, datetime(2026, 12, 2, 0, 0, tzinfo=UTC)) == "TK-2026-12-00002"
    assert new(uow_factory, acme, datetime(2027, 1, 1, 0, 0, tzinfo=UTC)) == "TK-2027-01-00001"


def test_never_reset_keeps_counting_across_years(uow_factory, acme):
    numbering.update_number_format(uow=uow_factory(), actor=acme, reset_policy="never")
    assert new(uow_factory, acme, datetime(2026, 12, 31, tzinfo=UTC)) == "TK-2026-00001"
    assert new(uow_factory, acme, datetime(2027, 1, 1, 1, tzinfo=UTC)) == "TK-2027-00002"


def test_boundary_is_in_the_organization_time_zone(uow_factory):
    ny = make_org(uow_factory(), slug="nyc", name="NYC Repairs", timezone="America/New_York")
    add_customer(uow_factory, ny)
    # 03:30 UTC on 1 Jan 2027 is still 22:30 on New Year's Eve in New York.
    assert new(uow_factory, ny, datetime(2027, 1, 1, 3, 30, tzinfo=UTC)) == "TK-2026-00001"
    assert new(uow_factory, ny, datetime(2027, 1, 1, 5, 30, tzinfo=UTC)) == "TK-2027-00001"


def test_preview_does_not_consume(uow_factory, acme):
    for _ in range(3):
        assert numbering.preview_next_number(uow=uow_factory(), actor=acme, now=NOV) == "TK-2026-00001"
    assert new(uow_factory, acme) == "TK-2026-00001"
    assert numbering.preview_next_number(uow=uow_factory(), actor=acme, now=NOV) == "TK-2026-00002"
    s = numbering.get_numbering_settings(uow=uow_factory(), actor=acme, now=NOV)
    assert (s.period, s.next_value, s.timezone) == ("2026", 2, "UTC")


def test_set_next_number_and_collision_refusal(uow_factory, acme):
    for _ in range(3):
        new(uow_factory, acme)
    with pytest.raises(NumberWouldCollide, match="TK-2026-00003 already exists; the next number must be at least 4"):
        numbering.set_next_number(uow=uow_factory(), actor=acme, value=3, now=NOV)
    with pytest.raises(NumberWouldCollide):
        numbering.set_next_number(uow=uow_factory(), actor=acme, value=1, now=NOV)
    assert numbering.set_next_number(uow=uow_factory(), actor=acme, value=1000, now=NOV) == "TK-2026-01000"
    assert new(uow_factory, acme) == "TK-2026-01000"
    # Back down below the highest in use is refused; just above it is fine.
    with pytest.raises(NumberWouldCollide):
        numbering.set_next_number(uow=uow_factory(), actor=acme, value=500, now=NOV)
    with pytest.raises(NumberingInvalid):
        numbering.set_next_number(uow=uow_factory(), actor=acme, value=0, now=NOV)


def test_format_change_affects_new_tickets_only(uow_factory, acme):
    first = new(uow_factory, acme)
    numbering.update_number_format(uow=uow_factory(), actor=acme, prefix="sr", separator="_")
    assert new(uow_factory, acme) == "SR_2026_00002"
    assert svc.get_ticket_or_raise(uow=uow_factory(), actor=acme, number=first).number == "TK-2026-00001"
    # Switching back continues past numbers already in use with that format: no collision.
    numbering.update_number_format(uow=uow_factory(), actor=acme, prefix="TK", separator="-")
    assert new(uow_factory, acme) == "TK-2026-00003"


def test_switching_back_to_an_older_format_skips_numbers_in_use(uow_factory, acme):
    numbering.update_number_format(uow=uow_factory(), actor=acme, reset_policy="never")
    for _ in range(3):
        new(uow_factory, acme)                      # TK-2026-00001..3 on the "never" counter
    numbering.update_number_format(uow=uow_factory(), actor=acme, reset_policy="yearly", now=NOV)
    # The yearly counter for 2026 is new, but 1..3 are taken with this head: it starts at 4.
    assert numbering.preview_next_number(uow=uow_factory(), actor=acme, now=NOV) == "TK-2026-00004"
    assert new(uow_factory, acme) == "TK-2026-00004"


def test_invalid_format_is_refused_and_nothing_changes(uow_factory, acme):
    for changes in (dict(prefix="tk-1"), dict(padding=13), dict(separator="/"), dict(reset_policy="weekly"),
                    dict(include_year=False), dict(reset_policy="monthly")):
        with pytest.raises(NumberingInvalid):
            numbering.update_number_format(uow=uow_factory(), actor=acme, **changes)
    assert numbering.get_number_format(uow=uow_factory(), actor=acme) == numbering.NumberFormat()


def test_only_admins_change_numbering(uow_factory, acme):
    clerk = Actor(organization_id=acme.organization_id, name="clerk", is_admin=False)
    with pytest.raises(PermissionDenied):
        numbering.update_number_format(uow=uow_factory(), actor=clerk, prefix="XX")
    with pytest.raises(PermissionDenied):
        numbering.set_next_number(uow=uow_factory(), actor=clerk, value=50)
    assert numbering.preview_next_number(uow=uow_factory(), actor=clerk, now=NOV) == "TK-2026-00001"


def test_admin_changes_are_audited(uow_factory, acme, connection):
    numbering.update_number_format(uow=uow_factory(), actor=acme, prefix="HD")
    numbering.set_next_number(uow=uow_factory(), actor=acme, value=7, now=NOV)
    rows = connection.execute(text("SELECT action, summary FROM audit_log WHERE organization_id=:o ORDER BY id"),
                              {"o": acme.organization_id}).all()
    assert [r.action for r in rows] == ["numbering.format_changed", "numbering.next_number_set"]
    assert rows[1].summary == "Next ticket number set to HD-2026-00007"


def test_deleting_a_ticket_leaves_a_gap(uow_factory, acme, connection):
    a = new(uow_factory, acme)
    b = new(uow_factory, acme)
    connection.execute(text("DELETE FROM tickets WHERE number = :n AND organization_id = :o"),
                       {"n": b, "o": acme.organization_id})
    assert (a, new(uow_factory, acme)) == ("TK-2026-00001", "TK-2026-00003")
