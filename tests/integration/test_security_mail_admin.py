"""Mail and administration hardening (issue 21: 12, 14), against real SMTP and real roles.

* Delivery is at least once, and says so: a sender process killed after the mail server
  accepted a message (before its "sent" commit) leads to a second delivery, with the SAME
  Message-ID, so the receiver can drop it.
* An SMTP password is never sent over an unencrypted connection.
* ``add-dispatcher --existing-role`` refuses roles that could do more than a dispatcher.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from desk_desktop.config import Settings, SmtpSettings
from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from desk_desktop.services import admin, notifications
from desk_desktop.services.channels import ChannelRegistry, EmailChannel, InboxChannel, channels_from_settings
from desk_desktop.services.common import ValidationFailed
from desk_desktop.services.notifications import EVENT_ASSIGNED
from tests.notify_seed import assigned_order, seed
from tests.smtp_recorder import SmtpRecorder

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def smtp():
    rec = SmtpRecorder().start()
    yield rec
    rec.stop()


# --------------------------------------------------------------------- 12: at least once, one Message-ID
DIE_AFTER_SEND = textwrap.dedent("""
    import os, sys
    from desk_desktop.config import SmtpSettings
    from desk_desktop.db.session import UnitOfWorkFactory, make_engine
    from desk_desktop.services import notifications
    from desk_desktop.services.channels import ChannelRegistry, EmailChannel

    class DiesAfterSending(EmailChannel):
        def send(self, message):
            super().send(message)
            self.close()
            os._exit(9)  # the process dies: the mail server has it, the database does not know

    url, port = sys.argv[1], int(sys.argv[2])
    channel = DiesAfterSending(SmtpSettings(host="127.0.0.1", port=port, timeout=5, from_address="d@acme.example"))
    notifications.send_due(uow_factory=UnitOfWorkFactory(make_engine(url)), channel_registry=ChannelRegistry([channel]),
                           lease_seconds=60)
""")


def test_a_sender_killed_after_the_mail_server_accepted_resends_with_the_same_message_id(fresh_db, smtp):
    from tests.conftest import url_as

    engine = make_engine(fresh_db)
    try:
        factory = UnitOfWorkFactory(engine)
        sd = seed(factory, technicians=1, customers=1, rule=False, customer_email=False)
        wo_id = assigned_order(factory, sd)
        assert notifications.enqueue_work_order_event(uow=factory(), work_order_id=wo_id, event=EVENT_ASSIGNED) == 3
        url = url_as(fresh_db, sd.actor)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run([sys.executable, "-c", DIE_AFTER_SEND, url, str(smtp.port)], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 9, proc.stderr
        [first] = smtp.received()
        # Still pending under the dead process's lease; once it expires, another sender sends it again.
        later = _db_now(factory) + timedelta(minutes=5)
        registry = ChannelRegistry([InboxChannel(), EmailChannel(SmtpSettings(
            host="127.0.0.1", port=smtp.port, timeout=5, from_address="d@acme.example"))])
        report = notifications.send_due(uow_factory=factory, channel_registry=registry, now=later)
        assert report.sent >= 1
        emails = [m for m in smtp.received() if m.to == first.to]
        assert len(emails) == 2  # at least once: the receiver got it twice...
        assert emails[0].message["Message-ID"] == emails[1].message["Message-ID"]  # ...and can tell
        assert emails[0].message["Message-ID"].startswith("<") and "@desk-dispatcher>" in emails[0].message["Message-ID"]
    finally:
        engine.dispose()
    doc = notifications.__doc__
    assert "at least once" in doc and "exactly" not in doc.replace("nothing here can promise exactly once", "")


def _db_now(factory):
    with factory() as uow:
        return uow.session.execute(text("SELECT now()")).scalar_one()


# --------------------------------------------------------------------- 14: SMTP login in clear text
def test_an_smtp_login_over_an_unencrypted_connection_is_refused(smtp):
    plain = SmtpSettings(host="127.0.0.1", port=smtp.port, user="dispatch", password="s3cret", timeout=5)
    with pytest.raises(ValueError, match="unencrypted"):
        EmailChannel(plain)
    registry = channels_from_settings(Settings(smtp=plain))
    assert registry.names == ("inbox",)  # no email from this process rather than a password in clear
    # Encrypted, or without a login, is fine.
    EmailChannel(SmtpSettings(host="127.0.0.1", port=smtp.port, user="dispatch", password="s3cret", starttls=True))
    EmailChannel(SmtpSettings(host="127.0.0.1", port=smtp.port, user="dispatch", password="s3cret", use_tls=True))
    EmailChannel(SmtpSettings(host="127.0.0.1", port=smtp.port))


# --------------------------------------------------------------------- 14: --existing-role
@pytest.fixture
def admin_db(test_server):
    url = test_server.create_database("desk_sec_admin")
    engine = make_engine(url)
    suffix = uuid.uuid4().hex[:8]
    roles: list[str] = []
    factory = UnitOfWorkFactory(engine)
    org = admin.add_organization(uow=factory(), slug=f"sec-adm-{suffix}", name="Acme")

    def role(kind: str, sql: str) -> str:
        name = f"t_sec_{kind}_{suffix}"
        roles.append(name)
        test_server._admin(sql.format(name=f'"{name}"'))
        return name

    yield factory, org, role
    engine.dispose()
    test_server.drop_database(url)
    for name in reversed(roles):
        test_server._admin(f'DROP ROLE IF EXISTS "{name}"')


def test_an_existing_role_that_can_do_more_than_a_dispatcher_is_refused(admin_db):
    factory, org, role = admin_db
    strong = {
        "createrole": role("createrole", "CREATE ROLE {name} LOGIN CREATEROLE"),
        "createdb": role("createdb", "CREATE ROLE {name} LOGIN CREATEDB"),
        "replication": role("replication", "CREATE ROLE {name} LOGIN REPLICATION"),
    }
    for name in strong.values():
        with pytest.raises(ValidationFailed, match="create roles or databases"):
            admin.add_dispatcher(uow=factory(), org_slug=org.slug, login=name, existing_role=True)
    group = role("ops", "CREATE ROLE {name} NOLOGIN")
    member = role("member", f'CREATE ROLE {{name}} LOGIN IN ROLE "{group}"')
    with pytest.raises(ValidationFailed, match=f"member of {group}"):
        admin.add_dispatcher(uow=factory(), org_slug=org.slug, login=member, existing_role=True)
    # Also a member of pg_read_all_data (reads every organization's rows).
    reader = role("reader", "CREATE ROLE {name} LOGIN IN ROLE pg_read_all_data")
    with pytest.raises(ValidationFailed, match="pg_read_all_data"):
        admin.add_dispatcher(uow=factory(), org_slug=org.slug, login=reader, existing_role=True)
    with factory() as uow:
        assert uow.session.execute(text("SELECT count(*) FROM dispatchers")).scalar_one() == 0
    plain = role("plain", "CREATE ROLE {name} LOGIN")
    created = admin.add_dispatcher(uow=factory(), org_slug=org.slug, login=plain, existing_role=True)
    assert created.dispatcher.login == plain
