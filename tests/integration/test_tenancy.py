"""Organizations are kept apart by the database itself, not by the app.

Two organizations, dispatcher login roles in each, and every check made while connected
AS those dispatchers (never as the owner or a superuser): through raw SQL, through the
services, with forged Actors and with any session variable set. Role names are
cluster-wide, so they carry a per-run suffix and are dropped at the end.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError

from desk_desktop.db.base import TENANT_TABLES
from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from desk_desktop.services import admin
from desk_desktop.services.common import Actor, NotFound, PermissionDenied
from desk_desktop.services.session_info import (
    NotADispatcher,
    current_actor,
    current_session,
    dispatcher_url,
    ensure_private_setup,
)

SECRET_A = "Boiler leaks at Alpha HQ secret-a-7731"
SECRET_B = "Server room flooded at Bravo secret-b-4410"


@dataclass
class Tenants:
    url: str
    suffix: str
    a: int
    b: int
    logins: dict[str, str]
    ids: dict[str, dict[str, int]]
    admin_engine: Engine
    engines: dict[str, Engine] = field(default_factory=dict)

    def engine(self, who: str) -> Engine:
        if who not in self.engines:
            self.engines[who] = make_engine(dispatcher_url(self.url, self.logins[who]), pool_size=2)
        return self.engines[who]

    def uows(self, who: str) -> UnitOfWorkFactory:
        return UnitOfWorkFactory(self.engine(who))


def _seed(conn, org: int, tag: str, secret: str) -> dict[str, int]:
    one = lambda sql, **kw: conn.execute(text(sql), {"o": org, **kw}).scalar_one()  # noqa: E731
    ids: dict[str, int] = {}
    ids["customer"] = one("INSERT INTO customers (organization_id, ref, name, customer_type, email) "
                          "VALUES (:o, :r, :n, 'business', :e) RETURNING id",
                          r=f"C-{tag}", n=f"Customer {tag}", e=f"{tag}@example.com")
    ids["site"] = one("INSERT INTO sites (organization_id, ref, customer_id, name, address, location) "
                      "VALUES (:o, :r, :c, 'HQ', 'Main street 1', ST_GeogFromText('POINT(13.4 52.5)')) RETURNING id",
                      r=f"S-{tag}", c=ids["customer"])
    ids["technician"] = one("INSERT INTO technicians (organization_id, name, home_base) "
                            "VALUES (:o, :n, ST_GeogFromText('POINT(13.4 52.5)')) RETURNING id", n=f"Tech {tag}")
    conn.execute(text("INSERT INTO technician_skills (organization_id, technician_id, skill, proficiency) "
                      "VALUES (:o, :t, 'electrical', 3)"), {"o": org, "t": ids["technician"]})
    ids["absence"] = one("INSERT INTO technician_absences (organization_id, technician_id, starts_at, ends_at, "
                         "reason, created_by) VALUES (:o, :t, now(), now() + interval '2 days', :r, 'seed') "
                         "RETURNING id", t=ids["technician"], r=f"Holiday {tag}")
    ids["ticket"] = one("INSERT INTO tickets (organization_id, number, customer_id, customer_name, category, priority, "
                        "subject, description, created_by) VALUES (:o, :num, :c, :cn, 'hvac', 'high', CAST(:s AS text), CAST(:s AS text), 'seed') "
                        "RETURNING id", num=f"TK-{tag}-00001", c=ids["customer"], cn=f"Customer {tag}", s=secret)
    ids["rule"] = one("INSERT INTO ticket_work_order_rules (organization_id, name, wo_type, wo_priority) "
                      "VALUES (:o, :n, 'repair', 'high') RETURNING id", n=f"Rule {tag}")
    ids["work_order"] = one("INSERT INTO work_orders (organization_id, source_ticket_id, source, rule_id, work_type, "
                            "priority, status, technician_id) VALUES (:o, :t, 'auto_rule', :r, 'repair', 'high', "
                            "'assigned', :tech) RETURNING id",
                            t=ids["ticket"], r=ids["rule"], tech=ids["technician"])
    conn.execute(text("INSERT INTO assignment_state (organization_id, rule_id, last_technician_id) "
                      "VALUES (:o, :r, :t)"), {"o": org, "r": ids["rule"], "t": ids["technician"]})
    for kind, status in (("clean", "clean"), ("infected", "infected")):
        blob = one("INSERT INTO blobs (organization_id, sha256, size, chunk_count, mime_type, scan_status) "
                   "VALUES (:o, :h, 5, 1, 'text/plain', :st) RETURNING id",
                   h=uuid.uuid4().hex + uuid.uuid4().hex, st=status)
        conn.execute(text("INSERT INTO blob_chunks (organization_id, blob_id, seq, data) VALUES (:o, :b, 0, :d)"),
                     {"o": org, "b": blob, "d": secret.encode()})
        ids[f"blob_{kind}"] = blob
        ids[f"attachment_{kind}"] = one(
            "INSERT INTO attachments (organization_id, ticket_id, blob_id, original_name, mime_type, category, "
            "uploaded_by) VALUES (:o, :t, :b, :n, 'text/plain', 'document', 'seed') RETURNING id",
            t=ids["ticket"], b=blob, n=f"{kind}-{tag}.txt")
    ids["notification"] = one("INSERT INTO notifications (organization_id, idempotency_key, event, channel, "
                              "recipient_kind, recipient_address, work_order_id, subject, body_text) "
                              "VALUES (:o, :k, 'work_order.assigned', 'email', 'technician', :e, :w, :s, :s) "
                              "RETURNING id", k=f"seed-{tag}-{uuid.uuid4().hex}", e=f"tech-{tag}@example.com",
                              w=ids["work_order"], s=secret)
    conn.execute(text("INSERT INTO ticket_number_counters (organization_id, period, next_value) "
                      "VALUES (:o, '2026', 42)"), {"o": org})
    conn.execute(text("INSERT INTO audit_log (organization_id, actor, action, entity, entity_id, summary) "
                      "VALUES (:o, 'seed', 'ticket.created', 'ticket', :t, :s)"), {"o": org, "t": ids["ticket"], "s": secret})
    return ids


@pytest.fixture(scope="module")
def tenants(test_server):
    url = test_server.create_database("desk_tenancy")
    suffix = uuid.uuid4().hex[:8]
    admin_engine = make_engine(url)
    uows = UnitOfWorkFactory(admin_engine)
    a = admin.add_organization(uow=uows(), slug=f"alpha-{suffix}", name="Alpha Services")
    b = admin.add_organization(uow=uows(), slug=f"bravo-{suffix}", name="Bravo Repairs")
    logins = {"alice": f"t_alice_{suffix}", "ann": f"t_ann_{suffix}", "bob": f"t_bob_{suffix}",
              "eve": f"t_eve_{suffix}"}
    admin.add_dispatcher(uow=uows(), org_slug=a.slug, login=logins["alice"], display_name="Alice")
    admin.add_dispatcher(uow=uows(), org_slug=a.slug, login=logins["ann"], display_name="Ann", is_admin=True)
    admin.add_dispatcher(uow=uows(), org_slug=b.slug, login=logins["bob"], display_name="Bob")
    with admin_engine.begin() as conn:
        # A member of the group that is not mapped to any organization.
        conn.execute(text(f'CREATE ROLE "{logins["eve"]}" LOGIN IN ROLE desk_dispatcher'))
        ids = {"a": _seed(conn, a.id, "a", SECRET_A), "b": _seed(conn, b.id, "b", SECRET_B)}
    t = Tenants(url=url, suffix=suffix, a=a.id, b=b.id, logins=logins, ids=ids, admin_engine=admin_engine)
    try:
        yield t
    finally:
        for eng in t.engines.values():
            eng.dispose()
        admin_engine.dispose()
        test_server.drop_database(url)
        test_server._admin("; ".join(f'DROP ROLE IF EXISTS "{r}"' for r in logins.values()))


def _as(tenants_: Tenants, who: str, sql: str, **params):
    """Run one statement as a dispatcher in a transaction that is rolled back."""
    with tenants_.engine(who).connect() as conn:
        with conn.begin():
            result = conn.execute(text(sql), params)
            rows = result.all() if result.returns_rows else result.rowcount
            conn.rollback()
    return rows


def _denied(tenants_: Tenants, who: str, sql: str, **params) -> str:
    with pytest.raises(DBAPIError) as info:
        _as(tenants_, who, sql, **params)
    # insufficient_privilege: what a missing grant, a policy's WITH CHECK and our own triggers
    # (migrations/versions/0002_tenancy.py) raise. Nothing else counts as a denial.
    assert info.value.orig.sqlstate == "42501", info.value.orig
    return str(info.value.orig)


# --------------------------------------------------------------------------- reading
@pytest.mark.parametrize("table", sorted(TENANT_TABLES))
def test_each_dispatcher_sees_only_its_own_rows_of_every_tenant_table(tenants, table):
    for who, own, other in (("alice", tenants.a, tenants.b), ("bob", tenants.b, tenants.a)):
        orgs = {r[0] for r in _as(tenants, who, f"SELECT DISTINCT organization_id FROM {table}")}
        assert orgs == {own}, f"{who} sees organizations {orgs} in {table}"
        assert _as(tenants, who, f"SELECT count(*) FROM {table} WHERE organization_id = :o", o=other)[0][0] == 0


def test_organizations_and_mapping_show_only_the_own_organization(tenants):
    assert [r.slug for r in _as(tenants, "alice", "SELECT slug FROM organizations")] == [f"alpha-{tenants.suffix}"]
    assert [r.slug for r in _as(tenants, "bob", "SELECT slug FROM organizations")] == [f"bravo-{tenants.suffix}"]
    logins = {r[0] for r in _as(tenants, "alice", "SELECT login_role FROM dispatchers")}
    assert logins == {tenants.logins["alice"], tenants.logins["ann"]}


def test_looking_up_another_organizations_rows_by_id_finds_nothing(tenants):
    b = tenants.ids["b"]
    for table, key in (("tickets", "ticket"), ("work_orders", "work_order"), ("ticket_work_order_rules", "rule"),
                       ("technicians", "technician"), ("attachments", "attachment_clean"),
                       ("notifications", "notification"), ("customers", "customer"), ("blobs", "blob_clean")):
        assert _as(tenants, "alice", f"SELECT * FROM {table} WHERE id = :i", i=b[key]) == [], table
    assert _as(tenants, "alice", "SELECT * FROM blob_chunks WHERE blob_id = :i", i=b["blob_clean"]) == []
    # Full-text search does not reach into the other organization either.
    assert _as(tenants, "alice", "SELECT id FROM tickets WHERE search_text LIKE '%secret-b%'") == []
    assert len(_as(tenants, "alice", "SELECT id FROM tickets WHERE search_text LIKE '%secret-a%'")) == 1


def test_current_actor_resolves_the_login_role_through_the_mapping(tenants):
    alice = current_session(uow=tenants.uows("alice")())
    assert alice.actor.organization_id == tenants.a and not alice.actor.is_admin
    assert alice.actor.name == "Alice" and alice.organization_name == "Alpha Services"
    assert "Alpha Services" in alice.status_text() and tenants.logins["alice"] in alice.status_text()
    ann = current_actor(uow=tenants.uows("ann")())
    assert ann.organization_id == tenants.a and ann.is_admin
    assert current_actor(uow=tenants.uows("bob")()).organization_id == tenants.b
    with pytest.raises(NotADispatcher, match="add-dispatcher"):
        current_actor(uow=tenants.uows("eve")())


def test_a_mapped_group_member_without_mapping_sees_nothing(tenants):
    for table in ("tickets", "organizations", "dispatchers", "notifications", "blob_chunks"):
        assert _as(tenants, "eve", f"SELECT count(*) FROM {table}")[0][0] == 0, table


def test_services_with_a_forged_actor_still_see_only_the_own_organization(tenants):
    from desk_desktop.services import numbering

    mine = numbering.get_numbering_settings(uow=tenants.uows("alice")(), actor=current_actor(uow=tenants.uows("alice")()))
    assert mine.next_value == 42
    forged = Actor(organization_id=tenants.b, name="Alice pretending", is_admin=True)
    with pytest.raises(NotFound):
        numbering.get_numbering_settings(uow=tenants.uows("alice")(), actor=forged)


def test_services_show_each_dispatcher_only_its_own_organization(tenants):
    """Through the services, as the dispatchers; a forged Actor for the other organization gets nothing."""
    from desk_desktop.services import assignment, attachments, notifications, rules, tickets

    for who, own, other in (("alice", "a", "b"), ("bob", "b", "a")):
        me = current_actor(uow=tenants.uows(who)())
        uows = tenants.uows(who)
        forged = Actor(organization_id=tenants.b if own == "a" else tenants.a, name=f"{who} pretending",
                       is_admin=True)
        mine, theirs = tenants.ids[own], tenants.ids[other]
        secret_other = SECRET_B if own == "a" else SECRET_A

        page = tickets.list_tickets(uow=uows(), actor=me)
        assert [t.id for t in page.rows] == [mine["ticket"]]
        assert tickets.list_tickets(uow=uows(), actor=forged).rows == ()
        assert tickets.count_tickets(uow=uows(), actor=forged, filters=tickets.TicketFilter()) == 0
        with pytest.raises(NotFound):
            tickets.get_ticket_or_raise(uow=uows(), actor=forged, ticket_id=theirs["ticket"])
        with pytest.raises(NotFound):
            tickets.get_ticket_or_raise(uow=uows(), actor=me, ticket_id=theirs["ticket"])
        assert [c.id for c in tickets.list_customers(uow=uows(), actor=me)] == [mine["customer"]]
        assert tickets.list_customers(uow=uows(), actor=forged) == ()

        assert [r.id for r in rules.list_rules(uow=uows(), actor=me)] == [mine["rule"]]
        assert rules.list_rules(uow=uows(), actor=forged) == ()

        assert [w.id for w in assignment.list_open_work_orders(uow=uows(), actor=me)] == [mine["work_order"]]
        assert assignment.list_open_work_orders(uow=uows(), actor=forged) == ()
        with pytest.raises(NotFound):
            assignment.list_candidates(uow=uows(), actor=forged, work_order_id=theirs["work_order"])
        techs = assignment.list_candidates(uow=uows(), actor=me, work_order_id=mine["work_order"]).candidates
        assert {c.technician_id for c in techs} <= {mine["technician"]}

        names = {a.original_name for a in attachments.list_attachments(uow=uows(), actor=me, ticket_id=mine["ticket"])}
        assert names == {f"clean-{own}.txt", f"infected-{own}.txt"}
        assert attachments.list_attachments(uow=uows(), actor=forged, ticket_id=theirs["ticket"]) == ()

        notes = notifications.list_notifications(uow=uows(), actor=me)
        assert [n.id for n in notes] == [mine["notification"]]
        assert notifications.list_notifications(uow=uows(), actor=forged) == ()
        assert secret_other not in repr(page) + repr(notes)


# --------------------------------------------------------------------------- writing
def test_inserting_rows_for_the_other_organization_fails(tenants):
    b = tenants.ids["b"]
    _denied(tenants, "alice", "INSERT INTO customers (organization_id, ref, name, customer_type) "
                              "VALUES (:o, 'X1', 'Intruder', 'business')", o=tenants.b)
    _denied(tenants, "alice", "INSERT INTO tickets (organization_id, number, customer_id, customer_name, category, "
                              "priority, subject, created_by) VALUES (:o, 'TK-X', :c, 'x', 'hvac', 'low', 'x', 'x')",
            o=tenants.b, c=b["customer"])
    _denied(tenants, "alice", "INSERT INTO technicians (organization_id, name) VALUES (:o, 'Mole')", o=tenants.b)
    _denied(tenants, "alice", "INSERT INTO notifications (organization_id, idempotency_key, event, channel, "
                              "recipient_kind, subject, body_text) VALUES (:o, 'x', 'e', 'inbox', 'technician', 's', 'b')",
            o=tenants.b)
    _denied(tenants, "alice", "INSERT INTO ticket_number_counters (organization_id, period, next_value) "
                              "VALUES (:o, '2031', 1)", o=tenants.b)
    _denied(tenants, "alice", "INSERT INTO audit_log (organization_id, actor, action, entity) "
                              "VALUES (:o, 'x', 'x', 'x')", o=tenants.b)
    # The same statements for the own organization work (so the refusals above are RLS, not typos).
    assert _as(tenants, "alice", "INSERT INTO customers (organization_id, ref, name, customer_type) "
                                 "VALUES (:o, 'X1', 'Fine', 'business')", o=tenants.a) == 1


def test_updating_or_deleting_the_other_organizations_rows_changes_nothing(tenants):
    b = tenants.ids["b"]
    assert _as(tenants, "alice", "UPDATE tickets SET subject = 'pwned' WHERE id = :i", i=b["ticket"]) == 0
    assert _as(tenants, "alice", "UPDATE work_orders SET status = 'cancelled' WHERE id = :i", i=b["work_order"]) == 0
    assert _as(tenants, "alice", "DELETE FROM notifications WHERE id = :i", i=b["notification"]) == 0
    assert _as(tenants, "alice", "DELETE FROM tickets") == 1  # only its own one (rolled back)
    with tenants.admin_engine.connect() as conn:
        assert conn.execute(text("SELECT subject FROM tickets WHERE id = :i"), {"i": b["ticket"]}).scalar_one() == SECRET_B


def test_moving_an_own_row_into_the_other_organization_fails(tenants):
    a = tenants.ids["a"]
    _denied(tenants, "alice", "UPDATE tickets SET organization_id = :o WHERE id = :i", o=tenants.b, i=a["ticket"])
    _denied(tenants, "alice", "UPDATE technicians SET organization_id = :o WHERE id = :i", o=tenants.b,
            i=a["technician"])


def test_own_rows_cannot_point_at_the_other_organizations_rows(tenants):
    """Foreign-key checks bypass RLS; the same-organization triggers do not."""
    a, b = tenants.ids["a"], tenants.ids["b"]
    msg = _denied(tenants, "alice", "UPDATE work_orders SET technician_id = :t WHERE id = :w",
                  t=b["technician"], w=a["work_order"])
    assert "same organization" in msg
    _denied(tenants, "alice", "UPDATE tickets SET customer_id = :c WHERE id = :t", c=b["customer"], t=a["ticket"])
    _denied(tenants, "alice", "INSERT INTO attachments (organization_id, ticket_id, blob_id, original_name, "
                              "mime_type, category, uploaded_by) VALUES (:o, :t, :b, 'x', 'text/plain', 'document', 'x')",
            o=tenants.a, t=a["ticket"], b=b["blob_clean"])
    # A made-up id gets the same answer as another organization's (nothing to probe).
    assert "same organization" in _denied(tenants, "alice", "UPDATE work_orders SET technician_id = 987654321 "
                                                            "WHERE id = :w", w=a["work_order"])
    # Pointing at own rows works, and so does clearing a reference.
    assert _as(tenants, "alice", "UPDATE work_orders SET technician_id = :t WHERE id = :w",
               t=a["technician"], w=a["work_order"]) == 1
    assert _as(tenants, "alice", "UPDATE work_orders SET technician_id = NULL WHERE id = :w", w=a["work_order"]) == 1
    # Even an administrator connection (exempt from RLS) cannot mix organizations.
    with pytest.raises(DBAPIError, match="same organization"):
        with tenants.admin_engine.begin() as conn:
            conn.execute(text("UPDATE work_orders SET rule_id = :r WHERE id = :w"),
                         {"r": b["rule"], "w": a["work_order"]})


def test_absences_of_another_organization_can_be_neither_seen_nor_written(tenants):
    """Time off (migration 0012): row-level security and the same-organization trigger."""
    from desk_desktop.services import absences

    a, b = tenants.ids["a"], tenants.ids["b"]
    insert = ("INSERT INTO technician_absences (organization_id, technician_id, starts_at, ends_at, reason, "
              "created_by) VALUES (:o, :t, now() + interval '10 days', now() + interval '11 days', 'x', 'x')")
    _denied(tenants, "alice", insert, o=tenants.b, t=b["technician"])  # into the other organization
    assert "same organization" in _denied(tenants, "alice", insert, o=tenants.a, t=b["technician"])
    assert _as(tenants, "alice", "UPDATE technician_absences SET reason = 'pwned' WHERE id = :i", i=b["absence"]) == 0
    assert _as(tenants, "alice", "DELETE FROM technician_absences WHERE id = :i", i=b["absence"]) == 0
    assert _as(tenants, "alice", insert, o=tenants.a, t=a["technician"]) == 1  # the own one works (rolled back)
    alice = current_actor(uow=tenants.uows("alice")())
    assert [x.reason for x in absences.list_absences(uow=tenants.uows("alice")(), actor=alice)] == ["Holiday a"]
    with pytest.raises(NotFound):
        absences.remove_absence(uow=tenants.uows("alice")(), actor=alice, absence_id=b["absence"])
    forged = Actor(organization_id=tenants.b, name="Alice pretending", is_admin=True)
    assert absences.list_absences(uow=tenants.uows("alice")(), actor=forged) == ()
    with tenants.admin_engine.connect() as conn:
        assert conn.execute(text("SELECT reason FROM technician_absences WHERE id = :i"),
                            {"i": b["absence"]}).scalar_one() == "Holiday b"


def test_audit_log_is_append_only_for_dispatchers(tenants):
    _denied(tenants, "alice", "UPDATE audit_log SET summary = 'nothing happened'")
    _denied(tenants, "alice", "DELETE FROM audit_log")


def test_no_truncate_no_ddl_no_bypass(tenants):
    _denied(tenants, "alice", "TRUNCATE tickets")
    _denied(tenants, "alice", "CREATE TABLE loot (x int)")
    _denied(tenants, "alice", "ALTER TABLE tickets DISABLE ROW LEVEL SECURITY")
    _denied(tenants, "alice", "DROP POLICY desk_tenant ON tickets")
    _denied(tenants, "alice", "CREATE ROLE sneaky LOGIN")
    _denied(tenants, "alice", f'SET SESSION AUTHORIZATION "{tenants.logins["bob"]}"')
    _denied(tenants, "alice", "SET ROLE desk_owner")
    _denied(tenants, "alice", f'SET ROLE "{tenants.logins["bob"]}"')
    _denied(tenants, "alice", "INSERT INTO dispatchers (organization_id, login_role, display_name, is_admin) "
                              "VALUES (:o, 'x', 'x', true)", o=tenants.a)
    _denied(tenants, "alice", "UPDATE dispatchers SET is_admin = true")
    row = _as(tenants, "alice", "SELECT rolsuper, rolbypassrls, rolcreaterole FROM pg_roles WHERE rolname = session_user")
    assert tuple(row[0]) == (False, False, False)


def test_setting_session_variables_changes_nothing(tenants):
    with tenants.engine("alice").connect() as conn:
        for stmt in (
            f"SET app.organization_id = '{tenants.b}'",
            f"SET desk.organization_id = '{tenants.b}'",
            f"SELECT set_config('request.jwt.claims', '{{\"org\": {tenants.b}}}', false)",
            "SET ROLE desk_dispatcher",  # allowed (a member), but policies key on session_user
            "SET search_path = pg_temp, public",
            "SET application_name = 'desk-admin'",
        ):
            conn.execute(text(stmt))
        # A look-alike function in the temp schema does not replace the real one.
        conn.execute(text(f"CREATE FUNCTION pg_temp.desk_current_org() RETURNS bigint LANGUAGE sql "
                          f"AS 'SELECT {tenants.b}::bigint'"))
        orgs = {r[0] for r in conn.execute(text("SELECT DISTINCT organization_id FROM tickets"))}
        assert orgs == {tenants.a}
        assert conn.execute(text("SELECT count(*) FROM organizations WHERE id = :b"), {"b": tenants.b}).scalar() == 0
        # row_security = off does not switch policies off: the query is refused instead.
        conn.execute(text("SET row_security = off"))
        with pytest.raises(DBAPIError, match="row-level security"):
            conn.execute(text("SELECT * FROM tickets"))
        conn.rollback()


# --------------------------------------------------------------------------- admin-only
def test_a_non_admin_cannot_change_rules(tenants):
    a = tenants.ids["a"]
    _denied(tenants, "alice", "INSERT INTO ticket_work_order_rules (organization_id, name, wo_type, wo_priority) "
                              "VALUES (:o, 'Mine', 'repair', 'low')", o=tenants.a)
    assert _as(tenants, "alice", "UPDATE ticket_work_order_rules SET active = false WHERE id = :i", i=a["rule"]) == 0
    assert _as(tenants, "alice", "DELETE FROM ticket_work_order_rules WHERE id = :i", i=a["rule"]) == 0
    # The admin of the same organization can (and still not the other organization's rules).
    assert _as(tenants, "ann", "UPDATE ticket_work_order_rules SET active = false WHERE id = :i", i=a["rule"]) == 1
    assert _as(tenants, "ann", "INSERT INTO ticket_work_order_rules (organization_id, name, wo_type, wo_priority) "
                               "VALUES (:o, 'Mine', 'repair', 'low')", o=tenants.a) == 1
    assert _as(tenants, "ann", "UPDATE ticket_work_order_rules SET active = false WHERE id = :i",
               i=tenants.ids["b"]["rule"]) == 0


def test_a_non_admin_cannot_change_numbering_settings_or_move_the_counter(tenants):
    from desk_desktop.services import numbering

    assert _as(tenants, "alice", "UPDATE ticket_number_sequences SET prefix = 'HACK'") == 0
    assert _as(tenants, "alice", "DELETE FROM ticket_number_sequences") == 0
    _denied(tenants, "alice", "UPDATE ticket_number_counters SET next_value = 1")
    assert _as(tenants, "alice", "DELETE FROM ticket_number_counters") == 0
    # Taking the next number (what creating a ticket does) is allowed.
    assert _as(tenants, "alice", "UPDATE ticket_number_counters SET next_value = next_value + 1") == 1
    # The service refuses the real actor; a forged admin Actor gets nothing past the database.
    alice = current_actor(uow=tenants.uows("alice")())
    with pytest.raises(PermissionDenied):
        numbering.update_number_format(uow=tenants.uows("alice")(), actor=alice, prefix="HACK")
    forged = Actor(organization_id=tenants.a, name="Alice", dispatcher_id=alice.dispatcher_id, is_admin=True)
    try:
        numbering.update_number_format(uow=tenants.uows("alice")(), actor=forged, prefix="HACK")
    except Exception:
        pass
    with pytest.raises(DBAPIError):
        numbering.set_next_number(uow=tenants.uows("alice")(), actor=forged, value=1)
    with tenants.admin_engine.connect() as conn:
        assert conn.execute(text("SELECT prefix FROM ticket_number_sequences WHERE organization_id = :o"),
                            {"o": tenants.a}).scalar_one() == "TK"
        assert conn.execute(text("SELECT next_value FROM ticket_number_counters WHERE organization_id = :o"),
                            {"o": tenants.a}).scalar_one() == 42
    # The organization's admin can.
    ann = current_actor(uow=tenants.uows("ann")())
    assert _as(tenants, "ann", "UPDATE ticket_number_sequences SET prefix = 'AL'") == 1
    numbering.preview_next_number(uow=tenants.uows("ann")(), actor=ann)


def test_quarantined_files_are_readable_only_by_an_admin(tenants):
    a = tenants.ids["a"]
    assert _as(tenants, "alice", "SELECT data FROM blob_chunks WHERE blob_id = :b", b=a["blob_infected"]) == []
    assert len(_as(tenants, "alice", "SELECT data FROM blob_chunks WHERE blob_id = :b", b=a["blob_clean"])) == 1
    assert _as(tenants, "alice", "UPDATE blobs SET scan_status = 'clean' WHERE id = :b", b=a["blob_infected"]) == 0
    # The attachment itself stays listed (so the dispatcher sees it is quarantined).
    assert len(_as(tenants, "alice", "SELECT id FROM attachments WHERE id = :i", i=a["attachment_infected"])) == 1
    rows = _as(tenants, "ann", "SELECT data FROM blob_chunks WHERE blob_id = :b", b=a["blob_infected"])
    assert [bytes(r[0]) for r in rows] == [SECRET_A.encode()]
    assert _as(tenants, "ann", "SELECT data FROM blob_chunks WHERE blob_id = :b",
               b=tenants.ids["b"]["blob_infected"]) == []


def test_a_disabled_dispatcher_sees_nothing(tenants):
    with tenants.admin_engine.begin() as conn:
        conn.execute(text("UPDATE dispatchers SET active = false WHERE login_role = :l"), {"l": tenants.logins["bob"]})
    try:
        assert _as(tenants, "bob", "SELECT count(*) FROM tickets")[0][0] == 0
        with pytest.raises(NotADispatcher):
            current_actor(uow=tenants.uows("bob")())
    finally:
        with tenants.admin_engine.begin() as conn:
            conn.execute(text("UPDATE dispatchers SET active = true WHERE login_role = :l"), {"l": tenants.logins["bob"]})


# --------------------------------------------------------------------------- NOTIFY
def test_notify_payloads_carry_ids_only(tenants):
    """NOTIFY is not filtered by RLS: what Bob's listener receives of Alice's change holds no data."""
    u = make_url(dispatcher_url(tenants.url, tenants.logins["bob"]))
    listener = psycopg.connect(host=u.query["host"], dbname=u.database, user=u.username, autocommit=True)
    try:
        listener.execute("LISTEN desk_changes")
        uow = tenants.uows("alice")()
        with uow:
            tid = tenants.ids["a"]["ticket"]
            uow.session.execute(text("UPDATE tickets SET description = :d WHERE id = :i"),
                                {"d": SECRET_A + " updated", "i": tid})
            uow.record_change("ticket", tid, tenants.a, "updated")
            uow.commit()
        got = [n.payload for n in listener.notifies(timeout=5, stop_after=1)]
    finally:
        listener.close()
    assert len(got) == 1
    payload = json.loads(got[0])
    assert set(payload) <= {"e", "id", "org", "a"}
    assert payload["id"] == tid and payload["e"] == "ticket"
    assert all(isinstance(v, (int, type(None))) or len(v) <= 40 for v in payload.values())
    assert "secret" not in got[0] and "Alpha" not in got[0]


# --------------------------------------------------------------------------- private cluster
def test_private_setup_creates_an_admin_dispatcher_the_app_connects_as(test_server):
    url = test_server.create_database("desk_private")
    login = f"t_local_{uuid.uuid4().hex[:8]}"
    eng = make_engine(url)
    try:
        first = ensure_private_setup(engine=eng, login_role=login)
        assert first.created_organization and first.created_role
        again = ensure_private_setup(engine=eng, login_role=login)
        assert not again.created_organization and not again.created_role
        assert again.organization_id == first.organization_id
        assert make_url(first.url).username == login and make_url(first.url).database == make_url(url).database
        app = make_engine(first.url)
        try:
            uows = UnitOfWorkFactory(app)
            actor = current_actor(uow=uows())
            assert actor.organization_id == first.organization_id and actor.is_admin
            with app.connect() as conn:
                assert conn.execute(text("SELECT session_user")).scalar() == login
                su = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = session_user")).scalar()
                assert su is False
            from desk_desktop.services import numbering

            # The admin can change numbering; a ticket number can be taken.
            numbering.update_number_format(uow=uows(), actor=actor, prefix="LOC")
            assert numbering.preview_next_number(uow=uows(), actor=actor).startswith("LOC")
        finally:
            app.dispose()
    finally:
        eng.dispose()
        test_server.drop_database(url)
        test_server._admin(f'DROP ROLE IF EXISTS "{login}"')


def test_use_private_dispatcher_switches_an_open_database_to_the_dispatcher_role(test_server):
    from desk_desktop.bootstrap import Database
    from desk_desktop.services import demo
    from desk_desktop.services.session_info import use_private_dispatcher

    url = test_server.create_database("desk_private_switch")
    login = f"t_local_{uuid.uuid4().hex[:8]}"
    eng = make_engine(url)
    db = Database(url=url, engine=eng, uow_factory=UnitOfWorkFactory(eng))
    try:
        demo.load_demo(uow_factory=db.uow_factory, tickets=5)  # as the superuser, like the first start
        session = use_private_dispatcher(db, login_role=login)
        assert session.actor.is_admin and session.login_role == login
        assert make_url(db.url).username == login
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT session_user")).scalar() == login
        assert current_actor(uow=db.uow_factory()).organization_id == session.actor.organization_id
        from desk_desktop.services import tickets

        assert tickets.count_tickets(uow=db.uow_factory(), actor=session.actor,
                                     filters=tickets.TicketFilter()) == 5
        assert login in db.describe()  # the status line names the dispatcher role
    finally:
        db.engine.dispose()
        test_server.drop_database(url)
        test_server._admin(f'DROP ROLE IF EXISTS "{login}"')


def test_a_non_admin_dispatcher_creates_tickets_with_gapless_numbers_in_its_own_organization(test_server):
    """The ordinary work (ticket, automation, number counter) runs under RLS as a non-admin."""
    from desk_desktop.services import tickets

    url = test_server.create_database("desk_tenancy_work")
    suffix = uuid.uuid4().hex[:8]
    logins = [f"t_carl_{suffix}", f"t_dora_{suffix}"]
    admin_engine = make_engine(url)
    engines = []
    try:
        uows = UnitOfWorkFactory(admin_engine)
        for slug, login in zip(("c", "d"), logins, strict=True):
            admin.add_organization(uow=uows(), slug=f"{slug}-{suffix}", name=f"Org {slug}")
            admin.add_dispatcher(uow=uows(), org_slug=f"{slug}-{suffix}", login=login)
        with admin_engine.begin() as conn:
            for slug in ("c", "d"):
                conn.execute(text("INSERT INTO customers (organization_id, ref, name, customer_type) "
                                  "SELECT id, 'CUST', 'Customer', 'business' FROM organizations WHERE slug = :s"),
                             {"s": f"{slug}-{suffix}"})
            d_customer = conn.execute(text("SELECT c.id FROM customers c JOIN organizations o ON o.id = "
                                           "c.organization_id WHERE o.slug = :s"), {"s": f"d-{suffix}"}).scalar_one()
        engines = [make_engine(dispatcher_url(url, login)) for login in logins]
        carl_uows, dora_uows = (UnitOfWorkFactory(e) for e in engines)
        carl = current_actor(uow=carl_uows())
        assert not carl.is_admin
        numbers = [tickets.create_ticket(uow=carl_uows(), actor=carl, subject=f"Broken heater {i}", category="hvac",
                                         priority="high", customer_ref="CUST").ticket.number for i in range(3)]
        assert [n[-5:] for n in numbers] == ["00001", "00002", "00003"]
        dora = current_actor(uow=dora_uows())
        assert tickets.create_ticket(uow=dora_uows(), actor=dora, subject="Flood", category="plumbing",
                                     priority="urgent", customer_ref="CUST").ticket.number.endswith("00001")
        # Carl, pretending to be Dora's organization, cannot file a ticket there.
        forged = Actor(organization_id=dora.organization_id, name="carl", is_admin=True)
        with pytest.raises((NotFound, DBAPIError)):
            tickets.create_ticket(uow=carl_uows(), actor=forged, subject="Sneaky", category="hvac",
                                  priority="low", customer_id=d_customer)
        with engines[1].connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM tickets")).scalar() == 1
            assert conn.execute(text("SELECT next_value FROM ticket_number_counters")).scalars().all() == [2]
    finally:
        for e in engines:
            e.dispose()
        admin_engine.dispose()
        test_server.drop_database(url)
        test_server._admin("; ".join(f'DROP ROLE IF EXISTS "{r}"' for r in logins))


def test_ticket_search_can_use_the_trigram_index_for_a_dispatcher(tenants):
    """RLS must not turn the search into a scan of the whole organization (LEAKPROOF ILIKE).

    Without LEAKPROOF the ILIKE may only filter rows after the policy: the trigram index is
    then unusable for a dispatcher. To see the planner's options rather than its cost
    guesses on a tiny table, the indexes that serve the policy's organization_id condition
    are dropped inside a transaction that is rolled back, and sequential scans are off."""
    with tenants.admin_engine.connect() as conn:
        with conn.begin():
            org_indexes = conn.execute(text(
                "SELECT ic.relname, c.conname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
                "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
                "LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid "
                "WHERE i.indrelid = 'tickets'::regclass AND a.attname = 'organization_id'")).all()
            assert org_indexes
            for index, constraint in org_indexes:
                conn.execute(text(f'ALTER TABLE tickets DROP CONSTRAINT "{constraint}"' if constraint
                                  else f'DROP INDEX "{index}"'))
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            conn.execute(text(f'SET LOCAL SESSION AUTHORIZATION "{tenants.logins["alice"]}"'))
            assert conn.execute(text("SELECT count(*) FROM tickets")).scalar() == 1  # RLS applies
            plan = "\n".join(r[0] for r in conn.execute(text(
                "EXPLAIN SELECT id FROM tickets WHERE search_text ILIKE '%boiler leaks%'")))
            conn.rollback()
    # The search condition itself is answered by an index (whichever), not filtered row by row.
    assert re.search(r"Index Cond: \(search_text ~~\* ", plan), plan
