"""Connection details and login error messages (no database, no Qt)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from desk_desktop.services.session_info import (
    ConnectionDetails,
    describe_connect_error,
    load_login_details,
    save_login_details,
)

REMOTE = ConnectionDetails(host="dispatch.example.com", user="jdoe", port=6543, database="desk", sslmode="verify-full")


def test_url_carries_password_and_ssl_mode_and_round_trips():
    url = REMOTE.url("p@ss:w/rd?&")
    u = make_url(url)
    assert u.password == "p@ss:w/rd?&" and u.username == "jdoe" and u.host == "dispatch.example.com"
    assert u.port == 6543 and u.query["sslmode"] == "verify-full"
    assert ConnectionDetails.from_url(url) == REMOTE
    assert "p@ss" not in REMOTE.keyring_username and REMOTE.keyring_username == "jdoe@dispatch.example.com:6543/desk"


def test_socket_folder_as_host():
    d = ConnectionDetails(host="/run/desk", user="me", database="x")
    u = make_url(d.url(None))
    assert u.query["host"] == "/run/desk" and u.password is None
    assert ConnectionDetails.from_url(d.url(None)) == d


@pytest.mark.parametrize("server_message, expected, field", [
    ('connection failed: FATAL:  password authentication failed for user "jdoe"', "Wrong user name or password", "password"),
    ("connection failed: fe_sendauth: no password supplied", "needs a password", "password"),
    ('connection failed: connection to server at "10.0.0.9", port 6543 failed: Connection refused',
     "Cannot reach the server dispatch.example.com:6543", "host"),
    ('could not translate host name "dispatch.example.com" to address: Name or service not known',
     "Cannot reach the server", "host"),
    ("connection failed: timeout expired", "Cannot reach the server", "host"),
    ('FATAL:  database "desk" does not exist', "The database 'desk' does not exist", "database"),
    ('FATAL:  no pg_hba.conf entry for host "10.1.1.1", user "jdoe", database "desk", no encryption',
     "does not accept logins from this computer for 'jdoe' without SSL", "sslmode"),
    ("server does not support SSL, but SSL was required", "Secure connection", "sslmode"),
    ("root certificate file \"/root/.postgresql/root.crt\" does not exist", "Secure connection", "sslmode"),
])
def test_connect_errors_become_messages_a_dispatcher_can_act_on(server_message, expected, field):
    message, got_field = describe_connect_error(REMOTE, Exception(server_message))
    assert expected in message and got_field == field
    assert "FATAL" not in message or field is None


def test_login_details_file_never_holds_a_password(tmp_path):
    save_login_details(tmp_path, REMOTE)
    text = (tmp_path / "login.toml").read_text()
    assert "password" not in text.split("\n", 1)[1]  # only the comment mentions it
    assert load_login_details(tmp_path) == REMOTE
    assert load_login_details(tmp_path / "nowhere") is None


def test_a_transaction_pool_address_keeps_its_pooler_option_through_login_and_the_saved_file(tmp_path):
    details = ConnectionDetails.from_url("postgresql://jdoe@bouncer:6432/desk?sslmode=verify-full&pooler=transaction")
    assert details.pooler == "transaction"
    assert make_url(details.url("pw")).query["pooler"] == "transaction"  # no server-side prepared statements
    save_login_details(tmp_path, details)
    assert load_login_details(tmp_path) == details
