"""desk-desktop admin …: what the administrator of a shared server types, end to end."""

from __future__ import annotations

import io
import json
import sys
import uuid

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from desk_desktop.cli import main
from desk_desktop.db.session import make_engine
from desk_desktop.services.session_info import dispatcher_url
from tests.pgauth import password_required_for


@pytest.fixture
def shared(test_server):
    url = test_server.create_database("desk_admin_cli")
    suffix = uuid.uuid4().hex[:8]
    created: list[str] = []
    yield url, suffix, created
    test_server.drop_database(url)
    for login in created:
        test_server._admin(f'DROP ROLE IF EXISTS "{login}"')


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _connect(url: str, login: str, password: str | None):
    u = make_url(url)
    return psycopg.connect(host=u.query["host"], dbname=u.database, user=login, password=password, connect_timeout=5)


def test_administrator_sets_up_organizations_and_dispatchers(shared, capsys, test_server, monkeypatch):
    url, suffix, created = shared
    slug = f"north-{suffix}"
    code, out, err = run(capsys, "admin", "add-organization", "--slug", slug, "--name", "North District",
                         "--timezone", "Europe/Berlin", "--database-url", url)
    assert code == 0, err
    assert f"Organization '{slug}'" in out and "add-dispatcher" in out

    login = f"t_jane_{suffix}"
    created.append(login)
    code, out, err = run(capsys, "admin", "add-dispatcher", "--org", slug, "--login", login, "--name", "Jane Doe",
                         "--json", "--database-url", url)
    assert code == 0, err
    data = json.loads(out)
    assert data["login"] == login and data["display_name"] == "Jane Doe" and not data["is_admin"]
    assert data["password_generated"] and len(data["password"]) >= 16
    one_time = data["password"]

    # The printed password is the one that works, and only it (with password auth enforced for the role).
    with password_required_for(test_server, login):
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            _connect(url, login, "not-the-password")
        with _connect(url, login, one_time) as conn:
            row = conn.execute("SELECT o.slug FROM organizations o").fetchall()
            assert row == [(slug,)]
        # The password was not sent in plain text: the server only knows a SCRAM verifier.
        with make_engine(url).connect() as conn:
            stored = conn.execute(text("SELECT rolpassword FROM pg_authid WHERE rolname = :r"), {"r": login}).scalar()
        assert stored.startswith("SCRAM-SHA-256$") and one_time not in stored

        monkeypatch.setattr(sys, "stdin", io.StringIO("correct horse 42\n"))
        code, out, err = run(capsys, "admin", "set-password", "--login", login, "--password-stdin",
                             "--database-url", url)
        assert code == 0, err
        with _connect(url, login, "correct horse 42") as conn:
            assert conn.execute("SELECT session_user").fetchone()[0] == login

    admin_login = f"t_boss_{suffix}"
    created.append(admin_login)
    monkeypatch.setattr(sys, "stdin", io.StringIO("s3cret-enough\n"))
    code, out, err = run(capsys, "admin", "add-dispatcher", "--org", slug, "--login", admin_login, "--admin",
                         "--password-stdin", "--database-url", url)
    assert code == 0, err
    assert "as administrator" in out and "s3cret-enough" not in out

    code, out, err = run(capsys, "admin", "list", "--json", "--database-url", url)
    assert code == 0, err
    orgs = {o["slug"]: o for o in json.loads(out)["organizations"]}
    assert orgs[slug]["timezone"] == "Europe/Berlin"
    people = {d["login"]: d for d in orgs[slug]["dispatchers"]}
    assert people[login]["can_login"] and not people[login]["is_admin"]
    assert people[admin_login]["is_admin"]

    code, out, err = run(capsys, "admin", "list", "--database-url", url)
    assert code == 0 and login in out and "admin" in out

    # The numbering row exists from the start, so a non-admin never has to create it.
    with make_engine(url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ticket_number_sequences s JOIN organizations o "
                                 "ON o.id = s.organization_id WHERE o.slug = :s"), {"s": slug}).scalar() == 1
        audit = conn.execute(text("SELECT action FROM audit_log ORDER BY id")).scalars().all()
    assert audit[:2] == ["organization.created", "dispatcher.added"]

    code, out, err = run(capsys, "admin", "remove-dispatcher", "--login", login, "--database-url", url)
    assert code == 0, err
    assert "Login role dropped" in out
    with make_engine(url).connect() as conn:
        assert conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": login}).first() is None
        assert conn.execute(text("SELECT 1 FROM dispatchers WHERE login_role = :r"), {"r": login}).first() is None


def test_mistakes_get_messages_an_administrator_can_act_on(shared, capsys):
    url, suffix, created = shared
    slug = f"south-{suffix}"
    assert run(capsys, "admin", "add-organization", "--slug", slug, "--name", "South", "--database-url", url)[0] == 0

    code, _, err = run(capsys, "admin", "add-organization", "--slug", slug, "--name", "Again", "--database-url", url)
    assert code == 1 and "already exists" in err
    code, _, err = run(capsys, "admin", "add-organization", "--slug", "Bad Slug!", "--name", "X", "--database-url", url)
    assert code == 1 and "slug" in err
    code, _, err = run(capsys, "admin", "add-organization", "--slug", f"x-{suffix}", "--name", "X",
                       "--timezone", "Mars/Olympus", "--database-url", url)
    assert code == 1 and "time zone" in err
    code, _, err = run(capsys, "admin", "add-dispatcher", "--org", "nope", "--login", f"t_x_{suffix}",
                       "--database-url", url)
    assert code == 1 and "no organization 'nope'" in err
    code, _, err = run(capsys, "admin", "add-dispatcher", "--org", slug, "--login", "Robert'); DROP TABLE x;--",
                       "--database-url", url)
    assert code == 1 and "login name" in err
    code, _, err = run(capsys, "admin", "add-dispatcher", "--org", slug, "--login", "desk_owner", "--database-url", url)
    assert code == 1 and "reserved" in err
    code, _, err = run(capsys, "admin", "remove-dispatcher", "--login", f"t_ghost_{suffix}", "--database-url", url)
    assert code == 1 and "no dispatcher" in err

    login = f"t_sam_{suffix}"
    created.append(login)
    assert run(capsys, "admin", "add-dispatcher", "--org", slug, "--login", login, "--database-url", url)[0] == 0
    code, _, err = run(capsys, "admin", "add-dispatcher", "--org", slug, "--login", login, "--database-url", url)
    assert code == 1 and "already a dispatcher" in err

    # A dispatcher's own connection is not an administrator's: said clearly, nothing changed.
    as_dispatcher = dispatcher_url(url, login)
    code, _, err = run(capsys, "admin", "add-organization", "--slug", f"evil-{suffix}", "--name", "Evil",
                       "--database-url", as_dispatcher)
    assert code == 1 and "cannot administer" in err and "superuser" in err
    code, _, err = run(capsys, "admin", "list", "--database-url", as_dispatcher)
    assert code == 1 and "cannot administer" in err


def test_a_role_that_exists_already_is_mapped_only_when_asked(shared, capsys, test_server):
    url, suffix, created = shared
    slug = f"east-{suffix}"
    login = f"t_ldap_{suffix}"
    created.append(login)
    test_server._admin(f'CREATE ROLE "{login}" LOGIN')
    assert run(capsys, "admin", "add-organization", "--slug", slug, "--name", "East", "--database-url", url)[0] == 0
    code, _, err = run(capsys, "admin", "add-dispatcher", "--org", slug, "--login", login, "--database-url", url)
    assert code == 1 and "--existing-role" in err
    code, out, err = run(capsys, "admin", "add-dispatcher", "--org", slug, "--login", login, "--existing-role",
                         "--database-url", url)
    assert code == 0, err
    assert "Password unchanged" in out
    with _connect(url, login, None) as conn:  # trust on the test cluster's socket
        assert conn.execute("SELECT slug FROM organizations").fetchall() == [(slug,)]
    code, out, err = run(capsys, "admin", "remove-dispatcher", "--login", login, "--keep-role", "--database-url", url)
    assert code == 0 and "kept" in out
    with _connect(url, login, None) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM organizations")
