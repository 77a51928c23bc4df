"""Notification texts and backoff: pure functions, no database."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from desk_desktop.services.notification_templates import (
    MessageContext,
    first_name,
    format_time_window,
    render_customer,
    render_technician,
)
from desk_desktop.services.notifications import BACKOFF_CAP_SECONDS, backoff_seconds


def ctx(**kw) -> MessageContext:
    start = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    base = dict(event="work_order.assigned", work_order_number="WO-000042", ticket_number="TK-2026-00007",
                ticket_subject="Heat pump <broken> & noisy", site_address="1 Main St, Springfield",
                scheduled_start=start, scheduled_end=start + timedelta(minutes=90), timezone="America/Chicago",
                technician_name="Grace Brewster Hopper", customer_name="Ada Lovelace", work_type="repair",
                priority="high", organization_name="Acme")
    base.update(kw)
    return MessageContext(**base)


def test_technician_message_has_every_fact_in_text_and_html():
    m = render_technician(ctx())
    assert m.subject == "New job: WO-000042 (ticket TK-2026-00007)"
    assert m.body_text.startswith("Hello Grace,\n")
    for needle in ("WO-000042", "TK-2026-00007", "1 Main St, Springfield", "Tue 01 Dec 2026, 09:00–10:30 (America/Chicago)"):
        assert needle in m.body_text
        assert needle in m.body_html
    # HTML is escaped: a subject cannot inject markup.
    assert "Heat pump &lt;broken&gt; &amp; noisy" in m.body_html
    assert "<broken>" not in m.body_html


def test_customer_message_names_the_technician_by_first_name_only():
    m = render_customer(ctx())
    assert m.body_text.startswith("Dear Ada Lovelace,")
    assert "Grace will visit you" in m.body_text
    assert "Hopper" not in m.body_text
    assert "TK-2026-00007" in m.subject


def test_unscheduled_and_rescheduled_and_unassigned_wording():
    assert "will confirm the time" in render_customer(ctx(scheduled_start=None, scheduled_end=None)).body_text
    assert "not scheduled yet" in render_customer(ctx(scheduled_start=None, scheduled_end=None)).body_text
    assert render_customer(ctx(event="work_order.rescheduled")).subject.startswith("Your visit has been rescheduled")
    un = render_technician(ctx(event="work_order.unassigned"))
    assert un.subject.startswith("Unassigned: WO-000042") and "no longer assigned to you" in un.body_text


def test_missing_facts_are_said_plainly():
    m = render_technician(ctx(site_address=None, technician_name=None, ticket_number=None))
    assert "no site address on file" in m.body_text
    assert m.body_text.startswith("Hello there,")
    assert m.subject == "New job: WO-000042"


def test_time_window_across_midnight_and_unknown_zone():
    start = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
    assert format_time_window(start, start + timedelta(hours=1), "UTC") == \
        "Tue 01 Dec 2026, 23:30 – Wed 02 Dec 2026, 00:30 (UTC)"
    assert format_time_window(start, None, "Not/AZone").endswith("(UTC)")


@given(st.text(max_size=40))
def test_first_name_is_never_empty(name):
    assert first_name(name).strip()


@given(st.integers(min_value=1, max_value=50), st.integers(min_value=0, max_value=2**32))
def test_backoff_grows_exponentially_with_jitter_and_a_cap(attempts, seed):
    rng = random.Random(seed)
    delay = backoff_seconds(attempts, rng=rng)
    ideal = min(BACKOFF_CAP_SECONDS, 30 * 2 ** (attempts - 1))
    assert ideal / 2 <= delay <= ideal


def test_backoff_is_jittered():
    rng = random.Random(1)
    assert len({round(backoff_seconds(3, rng=rng), 6) for _ in range(20)}) > 15
