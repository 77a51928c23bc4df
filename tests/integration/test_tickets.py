"""Ticket service against real PostGIS (per-test transaction rolled back)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from desk_desktop.db.models import Customer, Site
from desk_desktop.services import tickets as svc
from desk_desktop.services.common import Actor
from desk_desktop.services.tickets import (
    InvalidStatusTransition,
    TicketFilter,
    TicketInvalid,
    TicketNotFound,
)
from tests.conftest import acting_as, as_superuser, make_org

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def add_customer(uow_factory, actor, ref="C-1", name="Northwind Traders", ctype="business", site=None):
    from geoalchemy2 import WKTElement

    uow = uow_factory()
    with uow:
        c = Customer(organization_id=actor.organization_id, ref=ref, name=name, customer_type=ctype,
                     email=f"{ref.lower()}@example.com", phone="+1 555 0100")
        uow.session.add(c)
        uow.session.flush()
        site_id = None
        if site:
            s = Site(organization_id=actor.organization_id, ref=site[0], customer_id=c.id, name="Main office",
                     address=site[1], location=WKTElement(f"POINT({site[3]} {site[2]})", srid=4326))
            uow.session.add(s)
            uow.session.flush()
            site_id = s.id
        uow.commit()
        return c.id, site_id


def create(uow_factory, actor, **kw):
    args = dict(subject="Boiler makes a noise", category="hvac", priority="high", customer_ref="C-1")
    args.update(kw)
    return svc.create_ticket(uow=uow_factory(), actor=actor, **args)


def counts(uow_factory, actor):
    uow = uow_factory()
    with uow:
        n_t = uow.session.execute(text("SELECT count(*) FROM tickets WHERE organization_id=:o"),
                                  {"o": actor.organization_id}).scalar_one()
        n_c = uow.session.execute(text("SELECT coalesce(sum(next_value),0) FROM ticket_number_counters "
                                       "WHERE organization_id=:o"), {"o": actor.organization_id}).scalar_one()
        n_a = uow.session.execute(text("SELECT count(*) FROM audit_log WHERE organization_id=:o AND entity='ticket'"),
                                  {"o": actor.organization_id}).scalar_one()
    return n_t, n_c, n_a


def test_create_gives_number_audit_and_change(uow_factory, org):
    add_customer(uow_factory, org, site=("S-1", "1 Main St", 52.52, 13.40))
    seen = []
    uow_factory.add_commit_listener(lambda changes: seen.extend(changes))
    created = create(uow_factory, org, tags=["VIP", " vip ", "boiler"], site_ref="S-1", description="  loud  ", now=NOW)
    t = created.ticket
    assert t.number == "TK-2026-00001"
    assert t.status == "new"
    assert t.tags == ("vip", "boiler")
    assert t.customer_name == "Northwind Traders"
    assert t.site_address == "1 Main St"
    assert t.lat == pytest.approx(52.52) and t.lon == pytest.approx(13.40)
    assert t.created_at is not None
    assert any(c.entity == "ticket" and c.entity_id == t.id and c.action == "created" for c in seen)

    detail = svc.get_ticket_or_raise(uow=uow_factory(), actor=org, number="tk-2026-00001")
    assert detail.id == t.id
    assert detail.description == "loud"
    assert detail.customer_email == "c-1@example.com"
    assert detail.customer_type == "business"
    assert detail.site_ref == "S-1"
    assert detail.created_by == org.name
    history = svc.ticket_history(uow=uow_factory(), actor=org, ticket_id=t.id)
    assert [h.action for h in history] == ["ticket.created"]

    second = create(uow_factory, org, now=NOW)
    assert second.ticket.number == "TK-2026-00002"


def test_two_organizations_count_independently(uow_factory, org):
    other = make_org(uow_factory(), slug="globex", name="Globex")
    add_customer(uow_factory, org)
    with acting_as(uow_factory, other):
        add_customer(uow_factory, other)
    assert create(uow_factory, org, now=NOW).ticket.number == "TK-2026-00001"
    with acting_as(uow_factory, other):
        assert create(uow_factory, other, now=NOW).ticket.number == "TK-2026-00001"
    assert create(uow_factory, org, now=NOW).ticket.number == "TK-2026-00002"
    # One organization never sees the other's tickets.
    with acting_as(uow_factory, other):
        with pytest.raises(TicketNotFound):
            svc.get_ticket_or_raise(uow=uow_factory(), actor=other, number="TK-2026-00002")
        assert svc.count_tickets(uow=uow_factory(), actor=other, filters=TicketFilter()) == 1


@pytest.mark.parametrize(
    ("overrides", "field", "needle"),
    [
        ({"customer_ref": "NOPE"}, "customer", "No customer 'NOPE'"),
        ({"category": "gardening"}, "category", "Unknown category 'gardening'"),
        ({"priority": "whenever"}, "priority", "Unknown priority 'whenever'"),
        ({"subject": "   "}, "subject", "subject must not be empty"),
        ({"subject": "x" * 201}, "subject", "at most 200"),
        ({"description": "d" * 20_001}, "description", "at most 20000"),
        ({"tags": ["t" * 41]}, "tags", "longer than 40"),
        ({"lat": 95, "lon": 10}, "lat", "outside -90"),
        ({"lat": 10}, "lon", "both latitude and longitude"),
        ({"site_ref": "S-404"}, "site", "No site 'S-404'"),
    ],
)
def test_bad_input_writes_nothing_and_consumes_no_number(uow_factory, org, overrides, field, needle):
    add_customer(uow_factory, org)
    before = counts(uow_factory, org)
    with pytest.raises(TicketInvalid) as err:
        create(uow_factory, org, now=NOW, **overrides)
    assert err.value.field == field
    assert needle in str(err.value)
    assert counts(uow_factory, org) == before
    # The next good ticket still gets number 1: nothing was consumed.
    assert create(uow_factory, org, now=NOW).ticket.number == "TK-2026-00001"


def test_site_of_another_customer_is_refused(uow_factory, org):
    add_customer(uow_factory, org)
    add_customer(uow_factory, org, ref="C-2", name="Other", site=("S-2", "2 Side St", 1.0, 2.0))
    with pytest.raises(TicketInvalid, match="belongs to another customer"):
        create(uow_factory, org, site_ref="S-2")


def test_status_transitions(uow_factory, org):
    add_customer(uow_factory, org)
    t = create(uow_factory, org).ticket
    assert svc.allowed_status_changes("new") == ("open", "pending", "resolved")
    with pytest.raises(InvalidStatusTransition, match="is new and cannot become closed; it can become: open"):
        svc.change_ticket_status(uow=uow_factory(), actor=org, ticket_id=t.id, status="closed")
    for status in ("open", "pending", "open", "resolved", "closed", "open"):
        s = svc.change_ticket_status(uow=uow_factory(), actor=org, ticket_id=t.id, status=status)
        assert s.status == status
    with pytest.raises(InvalidStatusTransition, match="already open"):
        svc.change_ticket_status(uow=uow_factory(), actor=org, ticket_id=t.id, status="open")
    with pytest.raises(TicketInvalid, match="Unknown status"):
        svc.change_ticket_status(uow=uow_factory(), actor=org, ticket_id=t.id, status="done")
    actions = [h.action for h in svc.ticket_history(uow=uow_factory(), actor=org, ticket_id=t.id)]
    assert actions.count("ticket.status_changed") == 5
    assert actions[-1] == "ticket.reopened"


def test_update_ticket_validates_and_audits(uow_factory, org):
    add_customer(uow_factory, org, site=("S-1", "1 Main St", 52.5, 13.4))
    t = create(uow_factory, org).ticket
    s = svc.update_ticket(uow=uow_factory(), actor=org, ticket_id=t.id, subject="Boiler fixed?", priority="urgent",
                          tags="a, b", site_ref="S-1")
    assert (s.subject, s.priority, s.tags, s.site_address) == ("Boiler fixed?", "urgent", ("a", "b"), "1 Main St")
    assert s.lat == pytest.approx(52.5)
    assert s.number == t.number
    with pytest.raises(TicketInvalid) as err:
        svc.update_ticket(uow=uow_factory(), actor=org, ticket_id=t.id, category="nope")
    assert err.value.field == "category"
    with pytest.raises(TicketInvalid):
        svc.update_ticket(uow=uow_factory(), actor=org, ticket_id=t.id, number="X-1")
    hist = svc.ticket_history(uow=uow_factory(), actor=org, ticket_id=t.id)
    assert hist[-1].action == "ticket.updated"
    assert set(hist[-1].details["changes"]) == {"subject", "priority", "tags", "site_id"}


def test_list_filters_search_and_keyset_pages(uow_factory, org):
    add_customer(uow_factory, org)
    add_customer(uow_factory, org, ref="C-2", name="Contoso Plumbing")
    made = []
    for i in range(7):
        made.append(create(uow_factory, org, subject=f"Leak number {i}", category="plumbing" if i % 2 else "hvac",
                           priority="low" if i < 3 else "high", tags=["roof"] if i == 4 else [],
                           customer_ref="C-2" if i == 6 else "C-1",
                           now=datetime(2026, 11, 25, 12, i, tzinfo=UTC)).ticket)
    svc.change_ticket_status(uow=uow_factory(), actor=org, ticket_id=made[0].id, status="open")

    page1 = svc.list_tickets(uow=uow_factory(), actor=org, limit=3)
    assert [r.number for r in page1.rows] == [m.number for m in reversed(made)][:3]
    page2 = svc.list_tickets(uow=uow_factory(), actor=org, limit=3, after=page1.next_cursor)
    page3 = svc.list_tickets(uow=uow_factory(), actor=org, limit=3, after=page2.next_cursor)
    assert [r.number for r in page1.rows + page2.rows + page3.rows] == [m.number for m in reversed(made)]
    assert page3.next_cursor is None

    asc = svc.list_tickets(uow=uow_factory(), actor=org, sort="number_asc", limit=100)
    assert [r.number for r in asc.rows] == sorted(m.number for m in made)

    def numbers(**f):
        return {r.number for r in svc.list_tickets(uow=uow_factory(), actor=org, filters=TicketFilter(**f)).rows}

    assert numbers(status=("open",)) == {made[0].number}
    assert numbers(priority=("low",)) == {m.number for m in made[:3]}
    assert numbers(category=("plumbing",)) == {made[1].number, made[3].number, made[5].number}
    assert numbers(tag="ROOF") == {made[4].number}
    assert numbers(text="contoso") == {made[6].number}            # customer name
    assert numbers(text="NUMBER 5") == {made[5].number}           # subject, any case
    assert numbers(text=made[2].number.lower()) == {made[2].number}  # the number itself
    assert numbers(text="100%") == set()                          # LIKE wildcards are literal
    assert svc.count_tickets(uow=uow_factory(), actor=org, filters=TicketFilter(priority=("high",))) == 4


def test_search_uses_trigram_index(uow_factory, org, connection):
    """Free-text search stays an index lookup, also for a dispatcher under row-level security."""
    cid, _ = add_customer(uow_factory, org)
    with as_superuser(connection):  # 5,000 tickets at once: numbers not from the counter (migration 0014)
        connection.execute(text(
            "INSERT INTO tickets (organization_id, number, customer_id, customer_name, category, priority, "
            "subject, created_by) SELECT :o, 'TK-2026-' || lpad(g::text, 5, '0'), :c, 'Northwind Traders', "
            "'hvac', 'medium', 'Routine visit ' || md5(g::text), 'test' FROM generate_series(1, 5000) g"),
            {"o": org.organization_id, "c": cid})
    connection.execute(text("UPDATE tickets SET subject = 'Boiler pressure drop at plant 7' "
                            "WHERE organization_id = :o AND number = 'TK-2026-01234'"), {"o": org.organization_id})
    with as_superuser(connection):  # what autovacuum does on a live server
        connection.execute(text("SELECT gin_clean_pending_list('ix_tickets_search_trgm')"))
        connection.execute(text("ANALYZE tickets"))
    from desk_desktop.services.tickets.reads import _where

    clauses, params = _where(org, TicketFilter(text="pressure drop"))
    sql = "SELECT t.id, t.number FROM tickets t WHERE " + " AND ".join(clauses)
    plan = "\n".join(r[0] for r in connection.execute(text("EXPLAIN " + sql), params))
    assert "ix_tickets_search_trgm" in plan, plan
    assert [r.number for r in connection.execute(text(sql), params)] == ["TK-2026-01234"]


def test_pickers(uow_factory, org):
    cid, _ = add_customer(uow_factory, org, site=("S-1", "1 Main St", 52.5, 13.4))
    add_customer(uow_factory, org, ref="C-2", name="Contoso")
    assert [c.ref for c in svc.list_customers(uow=uow_factory(), actor=org, text="cont")] == ["C-2"]
    sites = svc.list_sites(uow=uow_factory(), actor=org, customer_id=cid)
    assert [(s.ref, round(s.lat, 1)) for s in sites] == [("S-1", 52.5)]


def test_non_admin_can_create_tickets(uow_factory, org):
    add_customer(uow_factory, org)
    clerk = Actor(organization_id=org.organization_id, name="clerk", is_admin=False)
    assert create(uow_factory, clerk).ticket.number.startswith("TK-")


def test_matching_rule_creates_work_order_in_same_transaction(uow_factory, org):
    from desk_desktop.services.rules import RuleDraft, create_rule

    add_customer(uow_factory, org)
    create_rule(uow=uow_factory(), actor=org, draft=RuleDraft(
        name="HVAC urgent", trigger_categories=("hvac",), trigger_priorities=("urgent",),
        wo_type="emergency", wo_priority="urgent", wo_duration_minutes=90))
    miss = create(uow_factory, org, priority="low")
    assert miss.work_order is None
    hit = create(uow_factory, org, priority="urgent")
    assert hit.work_order is not None and hit.work_order.rule_name == "HVAC urgent"
    assert hit.ticket.work_order_id == hit.work_order.work_order_id
    detail = svc.get_ticket_or_raise(uow=uow_factory(), actor=org, number=hit.ticket.number)
    assert detail.work_order is not None
    assert (detail.work_order.work_type, detail.work_order.rule_name, detail.work_order.status) == (
        "emergency", "HVAC urgent", "unassigned")
    assert detail.work_order_status == "unassigned"
    assert svc.list_tickets(uow=uow_factory(), actor=org, filters=TicketFilter(unassigned_only=True)).rows[0].id \
        == hit.ticket.id
    actions = [h.action for h in svc.ticket_history(uow=uow_factory(), actor=org, ticket_id=hit.ticket.id)]
    assert "work_order.created" in actions and "ticket.created" in actions


def test_failure_in_automation_rolls_back_ticket_and_number(uow_factory, org, monkeypatch):
    from desk_desktop.services import automation

    add_customer(uow_factory, org)

    def boom(**kw):
        raise RuntimeError("rule engine exploded")

    monkeypatch.setattr(automation, "plan_work_order", boom)
    before = counts(uow_factory, org)
    with pytest.raises(RuntimeError):
        create(uow_factory, org, now=NOW)
    assert counts(uow_factory, org) == before
    monkeypatch.undo()
    assert create(uow_factory, org, now=NOW).ticket.number == "TK-2026-00001"


def test_rule_changes_take_effect_for_the_next_ticket_despite_the_rules_cache(uow_factory, org):
    """Automation caches the compiled rules per process; every change to the rules (edit,
    deactivate, reactivate, delete, a new rule) must still decide the very next ticket."""
    from desk_desktop.services.rules import RuleDraft, create_rule, delete_rule, set_rule_active, update_rule

    add_customer(uow_factory, org)
    draft = RuleDraft(name="HVAC", trigger_categories=("hvac",), wo_type="emergency", wo_priority="urgent",
                      wo_duration_minutes=90)
    rule = create_rule(uow=uow_factory(), actor=org, draft=draft)
    first = create(uow_factory, org)
    assert (first.work_order.work_type, first.work_order.priority) == ("emergency", "urgent")
    assert create(uow_factory, org).work_order.rule_id == rule.id  # served from the cache

    update_rule(uow=uow_factory(), actor=org, rule_id=rule.id,
                draft=RuleDraft(name="HVAC", trigger_categories=("hvac",), wo_type="repair", wo_priority="low",
                                wo_duration_minutes=45))
    edited = create(uow_factory, org)
    assert (edited.work_order.work_type, edited.work_order.priority) == ("repair", "low")
    update_rule(uow=uow_factory(), actor=org, rule_id=rule.id,
                draft=RuleDraft(name="HVAC", trigger_categories=("plumbing",), wo_type="repair", wo_priority="low"))
    assert create(uow_factory, org).work_order is None  # same transaction, second edit: seen too

    set_rule_active(uow=uow_factory(), actor=org, rule_id=rule.id, active=False)
    other = create_rule(uow=uow_factory(), actor=org, draft=RuleDraft(name="All", wo_type="inspection",
                                                                         wo_priority="medium"))
    assert create(uow_factory, org).work_order.rule_id == other.id
    delete_rule(uow=uow_factory(), actor=org, rule_id=other.id)
    assert create(uow_factory, org).work_order is None


def test_work_order_audit_row_is_unchanged_by_the_fast_path(uow_factory, org):
    from sqlalchemy import select

    from desk_desktop.db.models import AuditEntry, WorkOrder
    from desk_desktop.services.rules import RuleDraft, create_rule

    add_customer(uow_factory, org)
    rule = create_rule(uow=uow_factory(), actor=org, draft=RuleDraft(
        name="Urgent HVAC", trigger_categories=("hvac",), wo_type="repair", wo_priority="high",
        wo_duration_minutes=120, auto_assign=True, assignment_logic="workload", required_skills=("hvac",),
        auto_schedule=True, schedule_offset_minutes=30, notify_customer=True))
    hit = create(uow_factory, org, now=NOW)
    wo_id = hit.work_order.work_order_id
    assert hit.work_order.number == f"WO-{wo_id:06d}"
    uow = uow_factory()
    with uow:
        wo = uow.session.get(WorkOrder, wo_id)
        assert (wo.source, wo.rule_id, wo.source_ticket_id, wo.status) == ("auto_rule", rule.id, hit.ticket.id,
                                                                           "unassigned")
        assert (wo.work_type, wo.priority, wo.duration_minutes, wo.assignment_logic) == ("repair", "high", 120,
                                                                                         "workload")
        assert wo.required_skills == ["hvac"] and wo.auto_schedule and wo.schedule_offset_minutes == 30
        assert wo.notify_customer and not wo.notify_technician
        assert wo.needs_assignment and wo.assign_attempts == 0 and wo.next_assign_at == NOW
        assert wo.scheduled_start == NOW + timedelta(minutes=30)
        assert wo.scheduled_end == NOW + timedelta(minutes=150)
        assert wo.created_at == NOW and wo.updated_at == NOW
        [row] = uow.session.scalars(select(AuditEntry).where(AuditEntry.entity == "work_order",
                                                             AuditEntry.entity_id == wo_id)).all()
        assert (row.actor, row.action, row.organization_id) == (org.name, "work_order.created", org.organization_id)
        assert row.summary == f"WO-{wo_id:06d} created from a new ticket by rule 'Urgent HVAC'"
        assert row.details == {
            "source": "auto_rule", "ticket_id": hit.ticket.id, "ticket_number": None, "rule_id": rule.id,
            "rule_name": "Urgent HVAC", "work_type": "repair", "priority": "high", "duration_minutes": 120,
            "auto_assign": True, "assignment_logic": "workload",
            "scheduled_start": (NOW + timedelta(minutes=30)).isoformat(),
        }
        uow.commit()
