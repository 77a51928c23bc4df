"""What a dispatcher cannot do with raw SQL (issue 21): each check connected AS a dispatcher.

The attacks of the outside review, tried over a dispatcher's own login (never the owner
or a superuser): planting objects in the schema, reading sequences, forging scan
verdicts or stored bytes, swapping thumbnails, sending any e-mail through the outbox,
blocking ticket numbering, signing audit rows with someone else's name, forging NOTIFY
payloads. Role names are cluster-wide, so they carry a per-run suffix.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from desk_desktop.db import migrate
from desk_desktop.db.listen import ChangeListener
from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from desk_desktop.services import admin
from desk_desktop.services.session_info import current_actor, dispatcher_url
from desk_desktop.services.tickets import create_ticket

PNG_1PX = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


@dataclass
class World:
    url: str
    org: int
    logins: dict[str, str]
    ids: dict[str, int]
    admin_engine: Engine
    engines: dict[str, Engine] = field(default_factory=dict)

    def engine(self, who: str) -> Engine:
        if who not in self.engines:
            self.engines[who] = make_engine(dispatcher_url(self.url, self.logins[who]), pool_size=1)
        return self.engines[who]


def _seed(conn, org: int) -> dict[str, int]:
    one = lambda sql, **kw: conn.execute(text(sql), {"o": org, **kw}).scalar_one()  # noqa: E731
    ids: dict[str, int] = {}
    ids["customer"] = one("INSERT INTO customers (organization_id, ref, name, customer_type, email) "
                          "VALUES (:o, 'C-1', 'Northwind', 'business', 'facilities@northwind.example') RETURNING id")
    ids["technician"] = one("INSERT INTO technicians (organization_id, name, email, home_base) VALUES "
                            "(:o, 'Tess', 'tess@acme.example', ST_GeogFromText('POINT(13.4 52.5)')) RETURNING id")
    ids["ticket"] = one("INSERT INTO tickets (organization_id, number, customer_id, customer_name, category, priority, "
                        "subject, description, created_by) VALUES (:o, 'TK-SEED-1', :c, 'Northwind', 'hvac', 'high', "
                        "'Boiler', 'Boiler leaks', 'seed') RETURNING id", c=ids["customer"])
    ids["work_order"] = one("INSERT INTO work_orders (organization_id, source_ticket_id, source, work_type, priority, "
                            "status, technician_id) VALUES (:o, :t, 'manual', 'repair', 'high', 'assigned', :tech) "
                            "RETURNING id", t=ids["ticket"], tech=ids["technician"])
    for status in ("clean", "pending", "not_scanned"):
        blob = one("INSERT INTO blobs (organization_id, sha256, size, chunk_count, mime_type, scan_status) "
                   "VALUES (:o, :h, 5, 1, 'image/png', :st) RETURNING id", h=uuid.uuid4().hex * 2, st=status)
        conn.execute(text("INSERT INTO blob_chunks (organization_id, blob_id, seq, data) VALUES (:o, :b, 0, :d)"),
                     {"o": org, "b": blob, "d": f"bytes of the {status} file".encode()})
        ids[f"blob_{status}"] = blob
        ids[f"attachment_{status}"] = one(
            "INSERT INTO attachments (organization_id, ticket_id, blob_id, original_name, mime_type, category, "
            "uploaded_by, thumbnail, thumbnail_mime) VALUES (:o, :t, :b, :n, 'image/png', 'image', 'seed', :th, :tm) "
            "RETURNING id", t=ids["ticket"], b=blob, n=f"{status}.png",
            th=PNG_1PX if status == "clean" else None, tm="image/png" if status == "clean" else None)
    return ids


@pytest.fixture(scope="module")
def world(test_server):
    url = test_server.create_database("desk_secdb")
    suffix = uuid.uuid4().hex[:8]
    admin_engine = make_engine(url)
    uows = UnitOfWorkFactory(admin_engine)
    org = admin.add_organization(uow=uows(), slug=f"sec-{suffix}", name="Acme")
    logins = {"alice": f"t_sec_alice_{suffix}", "ann": f"t_sec_ann_{suffix}", "sam": f"t_sec_sam_{suffix}"}
    admin.add_dispatcher(uow=uows(), org_slug=org.slug, login=logins["alice"], display_name="Alice")
    admin.add_dispatcher(uow=uows(), org_slug=org.slug, login=logins["ann"], display_name="Ann", is_admin=True)
    admin.add_dispatcher(uow=uows(), org_slug=org.slug, login=logins["sam"], display_name="Sam", scanner=True)
    with admin_engine.begin() as conn:
        ids = _seed(conn, org.id)
    w = World(url=url, org=org.id, logins=logins, ids=ids, admin_engine=admin_engine)
    try:
        yield w
    finally:
        for eng in w.engines.values():
            eng.dispose()
        admin_engine.dispose()
        test_server.drop_database(url)
        test_server._admin("; ".join(f'DROP ROLE IF EXISTS "{r}"' for r in logins.values()))


def _as(w: World, who: str, sql: str, **params):
    """One statement as a dispatcher, in a transaction that is rolled back."""
    with w.engine(who).connect() as conn:
        with conn.begin():
            result = conn.execute(text(sql), params)
            rows = result.all() if result.returns_rows else result.rowcount
            conn.rollback()
    return rows


def _denied(w: World, who: str, sql: str, match: str | None = None, **params) -> str:
    with pytest.raises(DBAPIError, match=match) as info:
        _as(w, who, sql, **params)
    assert info.value.orig.sqlstate in ("42501", "42P17"), info.value.orig
    return str(info.value.orig)


def _admin_scalar(w: World, sql: str, **params):
    with w.admin_engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


# --------------------------------------------------------------------- 1 / 9: privileges
def test_public_loses_create_and_connect_even_on_a_database_made_by_postgresql_14(test_server):
    """PostgreSQL <= 14 gave PUBLIC CREATE on the public schema (clusters upgraded from it
    keep that): the migration takes it away, and CONNECT/TEMP go to the group only."""
    url = test_server.create_empty_database("desk_pg14")
    suffix = uuid.uuid4().hex[:8]
    disp, stranger = f"t_pg14_disp_{suffix}", f"t_pg14_stranger_{suffix}"
    db = make_url(url).database
    eng = make_engine(url)
    try:
        with eng.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
            conn.execute(text("GRANT CREATE ON SCHEMA public TO PUBLIC"))  # as PostgreSQL 14 made it
            conn.execute(text(f'GRANT ALL ON DATABASE "{db}" TO PUBLIC'))
        migrate.upgrade(eng)
        test_server._admin(f'CREATE ROLE "{disp}" LOGIN IN ROLE desk_dispatcher; CREATE ROLE "{stranger}" LOGIN')
        with eng.connect() as conn:
            priv = lambda sql: conn.execute(text(sql), {"d": disp, "s": stranger, "db": db}).scalar()  # noqa: E731
            assert priv("SELECT has_schema_privilege(:d, 'public', 'CREATE')") is False
            assert priv("SELECT has_schema_privilege(:s, 'public', 'CREATE')") is False
            assert priv("SELECT has_database_privilege(:s, :db, 'CONNECT')") is False
            assert priv("SELECT has_database_privilege(:s, :db, 'TEMP')") is False
            assert priv("SELECT has_database_privilege(:d, :db, 'CONNECT')") is True
            assert priv("SELECT has_database_privilege(:d, :db, 'TEMP')") is True
        # The attack itself: an operator planted for the superuser scheduler to run.
        d_eng = create_engine(dispatcher_url(url, disp), poolclass=NullPool)
        try:
            with pytest.raises(DBAPIError) as info, d_eng.begin() as conn:
                conn.execute(text('CREATE FUNCTION public.desk_eq(varchar, varchar) RETURNS boolean '
                                  'LANGUAGE sql AS $$ SELECT true $$'))
            assert info.value.orig.sqlstate == "42501"
        finally:
            d_eng.dispose()
        s_eng = create_engine(dispatcher_url(url, stranger), poolclass=NullPool)
        try:
            with pytest.raises(DBAPIError, match="permission denied for database"), s_eng.connect():
                pass
        finally:
            s_eng.dispose()
    finally:
        eng.dispose()
        test_server.drop_database(url)
        test_server._admin(f'DROP ROLE IF EXISTS "{disp}"; DROP ROLE IF EXISTS "{stranger}"')


def test_sequences_do_not_show_other_organizations_totals(world):
    seq = _admin_scalar(world, "SELECT pg_get_serial_sequence('tickets', 'id')")
    _denied(world, "alice", f"SELECT last_value FROM {seq}")
    assert _admin_scalar(world, f"SELECT has_sequence_privilege(:r, '{seq}', 'SELECT')",
                         r=world.logins["alice"]) is False


# --------------------------------------------------------------------- 5: scan verdicts and bytes
def test_a_new_blob_is_always_pending_and_in_progress(world):
    _denied(world, "alice", "INSERT INTO blobs (organization_id, sha256, size, chunk_count, mime_type, scan_status) "
                            "VALUES (:o, :h, 5, 1, 'text/plain', 'clean')", o=world.org, h="ab" * 32)
    rows = _as(world, "alice", "INSERT INTO blobs (organization_id, sha256, size, chunk_count, mime_type, scan_status, "
                               "scan_reason) VALUES (:o, '~forged', 5, 1, 'text/plain', 'clean', 'trust me') "
                               "RETURNING scan_status, scan_reason", o=world.org)
    assert [tuple(r) for r in rows] == [("pending", None)]


@pytest.mark.parametrize("status", ["pending", "not_scanned"])
def test_a_dispatcher_cannot_mark_a_file_clean(world, status):
    blob = world.ids[f"blob_{status}"]
    for who in ("alice", "ann"):  # not even an administrator, by hand
        _denied(world, who, "UPDATE blobs SET scan_status = 'clean' WHERE id = :b", match="virus scanner", b=blob)
        _denied(world, who, "UPDATE blobs SET scanned_at = now(), scan_signature = NULL WHERE id = :b", b=blob)
    if status == "not_scanned":
        _denied(world, "alice", "SELECT desk_record_scan(:b, 'clean', NULL, NULL, NULL)", match="cannot become",
                b=blob)


def test_only_a_scanner_login_marks_a_pending_file_clean(world):
    """Not through desk_record_scan either: a dispatcher's workstation that is no scanner
    (nor an administrator's) cannot vouch for a file every workstation would then open."""
    blob = world.ids["blob_pending"]
    record = "SELECT desk_record_scan(:b, CAST(:v AS text), NULL, NULL, NULL)"
    for who in ("alice", "ann"):
        _denied(world, who, record, match="virus scanner's connection", b=blob, v="clean")
        # Locking a file away needs no trust.
        assert _as(world, who, record, b=blob, v="infected") == [(True,)]
    assert _as(world, "sam", record, b=blob, v="clean") == [(True,)]  # admin add-dispatcher --scanner
    assert _admin_scalar(world, "SELECT scan_status FROM blobs WHERE id = :b", b=blob) == "pending"  # rolled back


def test_a_workstation_that_is_no_scanner_leaves_its_upload_to_the_server(test_server, clamd):
    from desk_desktop.services import attachments as att
    from tests.integration.test_attachments import upload

    url = test_server.create_database("desk_scanrole")
    login = f"t_scan_{uuid.uuid4().hex[:8]}"
    server = make_engine(url)  # the server's scheduler: a superuser
    workstation = make_engine(dispatcher_url(url, login), pool_size=1)
    try:
        servers = UnitOfWorkFactory(server)
        org = admin.add_organization(uow=servers(), slug="scan", name="Acme")
        admin.add_dispatcher(uow=servers(), org_slug=org.slug, login=login, display_name="Alice")
        with server.begin() as conn:
            ticket = _seed(conn, org.id)["ticket"]
            conn.execute(text("DELETE FROM attachments"))  # the seed's files: only the upload is pending
            conn.execute(text("DELETE FROM blobs"))
        alice = UnitOfWorkFactory(workstation)
        info = upload(alice, current_actor(uow=alice()), ticket, b"meter readings", "readings.txt",
                      scanner=clamd.scanner())
        assert (info.scan_status, info.scan_reason) == ("pending", "waiting for the server's virus scanner")
        assert att.rescan_pending(uow_factory=alice, scanner=clamd.scanner()) == 0  # its own scheduler leaves it
        assert att.rescan_pending(uow_factory=servers, scanner=clamd.scanner()) == 1
        with server.connect() as conn:
            assert conn.execute(text("SELECT b.scan_status FROM attachments a JOIN blobs b ON b.id = a.blob_id "
                                     "WHERE a.id = :a"), {"a": info.id}).scalar() == "clean"
    finally:
        workstation.dispose()
        server.dispose()
        test_server.drop_database(url)
        test_server._admin(f'DROP ROLE IF EXISTS "{login}"')


def test_a_verdict_needs_the_final_bytes(world):
    """No verdict for a file still being stored (its chunks could change afterwards)."""
    with world.engine("alice").connect() as conn, conn.begin():
        blob = conn.execute(text("INSERT INTO blobs (organization_id, sha256, size, chunk_count, mime_type) "
                                 "VALUES (:o, '~x', 1, 1, 'text/plain') RETURNING id"), {"o": world.org}).scalar()
        assert conn.execute(text("SELECT desk_record_scan(:b, 'clean', NULL, NULL, NULL)"), {"b": blob}).scalar() is False
        assert conn.execute(text("SELECT scan_status FROM blobs WHERE id = :b"), {"b": blob}).scalar() == "pending"
        conn.rollback()


def test_stored_bytes_cannot_be_rewritten(world):
    clean = world.ids["blob_clean"]
    _denied(world, "alice", "UPDATE blob_chunks SET data = 'evil' WHERE blob_id = :b", b=clean)
    assert _as(world, "alice", "DELETE FROM blob_chunks WHERE blob_id = :b", b=clean) == 0
    _denied(world, "alice", "INSERT INTO blob_chunks (organization_id, blob_id, seq, data) VALUES (:o, :b, 1, 'evil')",
            o=world.org, b=clean)
    _denied(world, "alice", "UPDATE blobs SET size = 4, sha256 = :h WHERE id = :b", match="stored file",
            b=clean, h="cd" * 32)
    _denied(world, "ann", "UPDATE blobs SET sha256 = '~again' WHERE id = :b", b=clean)
    assert _admin_scalar(world, "SELECT count(*) FROM blob_chunks WHERE blob_id = :b", b=clean) == 1


def test_thumbnails_and_what_was_attached_cannot_be_swapped(world):
    a = world.ids["attachment_clean"]
    _denied(world, "alice", "UPDATE attachments SET thumbnail = 'crafted' WHERE id = :a", match="thumbnail", a=a)
    _denied(world, "alice", "UPDATE attachments SET blob_id = :b WHERE id = :a", b=world.ids["blob_pending"], a=a)
    _denied(world, "alice", "UPDATE attachments SET original_name = 'x.hta', mime_type = 'text/html' WHERE id = :a",
            a=a)
    # A file that is not clean gets no thumbnail, and none is given at insert time.
    _denied(world, "alice", "UPDATE attachments SET thumbnail = 'crafted' WHERE id = :a",
            a=world.ids["attachment_pending"])
    _denied(world, "alice", "INSERT INTO attachments (organization_id, ticket_id, blob_id, original_name, mime_type, "
                            "category, uploaded_by, thumbnail) VALUES (:o, :t, :b, 'p.png', 'image/png', 'image', 'x', "
                            "'crafted')", o=world.org, t=world.ids["ticket"], b=world.ids["blob_clean"])
    # What a dispatcher may change still works: visibility, removing a thumbnail.
    assert _as(world, "alice", "UPDATE attachments SET is_public = true WHERE id = :a", a=a) == 1
    assert _as(world, "alice", "UPDATE attachments SET thumbnail = NULL, thumbnail_mime = NULL WHERE id = :a", a=a) == 1


@pytest.mark.parametrize("status", ["pending", "not_scanned"])
def test_bytes_of_a_file_not_scanned_clean_are_for_an_administrator_only(world, status):
    blob = world.ids[f"blob_{status}"]
    assert _as(world, "alice", "SELECT data FROM blob_chunks WHERE blob_id = :b", b=blob) == []
    rows = _as(world, "ann", "SELECT data FROM blob_chunks WHERE blob_id = :b", b=blob)
    assert [bytes(r[0]) for r in rows] == [f"bytes of the {status} file".encode()]
    assert len(_as(world, "alice", "SELECT data FROM blob_chunks WHERE blob_id = :b", b=world.ids["blob_clean"])) == 1
    if status == "not_scanned":  # the scanner's door opens only for pending files
        assert _as(world, "alice", "SELECT data FROM desk_scan_chunks(:b)", b=blob) == []


# --------------------------------------------------------------------- 8: the outbox
def _outbox_insert(**over):
    row = dict(kind="technician", rid=None, addr="tess@acme.example", event="work_order.assigned", channel="email")
    row.update(over)
    return row


OUTBOX_SQL = ("INSERT INTO notifications (organization_id, idempotency_key, event, channel, recipient_kind, "
              "recipient_id, recipient_address, work_order_id, subject, body_text) VALUES (:o, :k, :event, :channel, "
              ":kind, :rid, :addr, :wo, 'Your visit', 'Click here') RETURNING id")


def test_a_dispatcher_cannot_send_any_email_from_the_organization(world):
    ids = world.ids
    base = dict(o=world.org, wo=ids["work_order"])
    ok = _outbox_insert(rid=ids["technician"])
    assert len(_as(world, "alice", OUTBOX_SQL, k=uuid.uuid4().hex, **base, **ok)) == 1
    cust = _outbox_insert(kind="customer", rid=ids["customer"], addr="facilities@northwind.example")
    assert len(_as(world, "alice", OUTBOX_SQL, k=uuid.uuid4().hex, **base, **cust)) == 1
    for bad in (
        _outbox_insert(rid=ids["technician"], addr="victim@elsewhere.example"),
        _outbox_insert(kind="customer", rid=ids["customer"], addr="victim@elsewhere.example"),
        _outbox_insert(kind="dispatcher", rid=None, addr="victim@elsewhere.example"),
        _outbox_insert(kind="customer", rid=None, addr=None, channel="inbox"),
    ):
        _denied(world, "alice", OUTBOX_SQL, k=uuid.uuid4().hex, **base, **bad)
    _denied(world, "alice", OUTBOX_SQL, match="work order", k=uuid.uuid4().hex, o=world.org, wo=None,
            **_outbox_insert(rid=ids["technician"]))


def test_a_queued_message_cannot_be_redirected_or_rewritten(world):
    with world.admin_engine.begin() as conn:
        n = conn.execute(text(OUTBOX_SQL), dict(o=world.org, wo=world.ids["work_order"], k=uuid.uuid4().hex,
                                                **_outbox_insert(rid=world.ids["technician"]))).scalar()
    _denied(world, "alice", "UPDATE notifications SET recipient_address = 'victim@elsewhere.example' WHERE id = :n", n=n)
    _denied(world, "ann", "UPDATE notifications SET body_text = 'Pay here' WHERE id = :n", n=n)
    _denied(world, "ann", "UPDATE notifications SET calendar_method = 'REQUEST', calendar_ics = 'BEGIN:VCALENDAR' "
                          "WHERE id = :n", match="cannot be rewritten", n=n)  # the invitation it carries
    assert _as(world, "alice", "UPDATE notifications SET status = 'dead' WHERE id = :n", n=n) == 1


# --------------------------------------------------------------------- 10: ticket numbers
def test_a_non_admin_cannot_block_numbering_by_renumbering_a_ticket(world):
    uows = UnitOfWorkFactory(world.engine("alice"))
    actor = current_actor(uow=uows())
    first = create_ticket(uow=uows(), actor=actor, subject="Heating", category="hvac", priority="high",
                          customer_ref="C-1").ticket
    head, _, value = first.number.rpartition("-")
    taken = f"{head}-{int(value) + 1:0{len(value)}d}"
    with pytest.raises(DBAPIError, match="number cannot be changed"), world.engine("alice").begin() as conn:
        conn.execute(text("UPDATE tickets SET number = :n WHERE id = :t"), {"n": taken, "t": first.id})
    with pytest.raises(DBAPIError, match="number cannot be changed"), world.engine("ann").begin() as conn:
        conn.execute(text("UPDATE tickets SET number = :n WHERE id = :t"), {"n": taken, "t": first.id})
    second = create_ticket(uow=uows(), actor=actor, subject="Heating 2", category="hvac", priority="high",
                           customer_ref="C-1").ticket
    assert second.number == taken
    # Other columns stay editable.
    assert _as(world, "alice", "UPDATE tickets SET subject = 'Heating (urgent)' WHERE id = :t", t=first.id) == 1


_FORGED_TICKET = ("INSERT INTO tickets (organization_id, number, customer_id, customer_name, category, priority, "
                  "subject, created_by) VALUES (:o, :n, :c, 'Northwind', 'hvac', 'low', 'forged', 'x')")
_TAKE_A_NUMBER = ("UPDATE ticket_number_counters SET next_value = next_value + 1 "
                  "WHERE organization_id = :o AND period = :p")


@pytest.mark.parametrize("who", ["alice", "ann"])  # a dispatcher, and an administrator
def test_nobody_can_block_numbering_by_inserting_a_ticket_with_a_future_number(world, who):
    uows = UnitOfWorkFactory(world.engine(who))
    actor = current_actor(uow=uows())
    made = create_ticket(uow=uows(), actor=actor, subject="Heating", category="hvac", priority="high",
                         customer_ref="C-1").ticket
    head, _, value = made.number.rpartition("-")  # "TK-2026", "00007": yearly reset, the default
    year = head.rpartition("-")[2]
    future = f"{head}-{int(value) + 2:0{len(value)}d}"
    params = {"o": world.org, "c": world.ids["customer"]}
    _denied(world, who, _FORGED_TICKET, "next one from the organization's counter", n=future, **params)

    # Taking a number from the counter (as the application does) and writing it under another
    # year's head is refused too: next year's counter would hand that number out.
    with pytest.raises(DBAPIError, match="next one from the organization's counter"), \
            world.engine(who).begin() as conn:
        conn.execute(text(_TAKE_A_NUMBER), {"o": world.org, "p": year})
        taken = f"{int(value) + 1:0{len(value)}d}"
        conn.execute(text(_FORGED_TICKET), {**params, "n": head.replace(year, str(int(year) + 1)) + "-" + taken})
    # With its own period's head it is just a ticket created by hand with the number it took.
    with world.engine(who).begin() as conn:
        conn.execute(text(_TAKE_A_NUMBER), {"o": world.org, "p": year})
        conn.execute(text(_FORGED_TICKET), {**params, "n": f"{head}-{taken}"})

    after = create_ticket(uow=uows(), actor=actor, subject="Heating 2", category="hvac", priority="high",
                          customer_ref="C-1").ticket
    assert after.number == future  # numbering goes on: nothing was planted ahead of it


# --------------------------------------------------------------------- 11: the audit actor
def test_the_audit_actor_is_the_connected_dispatcher(world):
    with world.engine("alice").begin() as conn:
        row = conn.execute(text(
            "INSERT INTO audit_log (organization_id, actor, action, entity, entity_id, summary) "
            "VALUES (:o, 'dana.whitfield', 'ticket.updated', 'ticket', :t, 'Approved') RETURNING actor, details"),
            {"o": world.org, "t": world.ids["ticket"]}).one()
    assert row.actor == "Alice"
    assert row.details == {"app_actor": "dana.whitfield", "login_role": world.logins["alice"]}
    _denied(world, "alice", "UPDATE audit_log SET actor = 'dana.whitfield'")


# --------------------------------------------------------------------- 9: NOTIFY
def test_a_notify_without_organization_reaches_no_listener(world):
    got: list = []
    arrived = threading.Event()
    ready = threading.Event()

    def on_change(change):
        got.append(change)
        arrived.set()

    listener = ChangeListener(world.url, on_change, on_status=lambda up, _err: up and ready.set())
    listener.start()
    try:
        assert ready.wait(10)
        with world.engine("alice").begin() as conn:
            conn.execute(text("SELECT pg_notify('desk_changes', '{\"e\": \"work_order\", \"id\": 1, \"org\": null, "
                              "\"a\": \"updated\"}')"))
        with world.engine("alice").begin() as conn:
            conn.execute(text("SELECT pg_notify('desk_changes', :p)"),
                         {"p": f'{{"e": "ticket", "id": 7, "org": {world.org}, "a": "updated"}}'})
        assert arrived.wait(10)
    finally:
        listener.stop()
    assert [(c.entity, c.entity_id, c.organization_id) for c in got] == [("ticket", 7, world.org)]
