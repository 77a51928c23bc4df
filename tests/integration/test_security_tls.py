"""Passwords over a stripped TLS connection (issue 21, item 6).

An active attacker on the LAN answers "no SSL" and asks for the password in clear text.
The attacker here is a real TCP server on this machine speaking just enough of the
PostgreSQL protocol for that; the app's connections are made by the real libpq, reached
under a remote server name (``hostaddr`` points the name at the attacker).
"""

from __future__ import annotations

import socket
import struct
import threading

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from desk_desktop.db.listen import libpq_conninfo
from desk_desktop.db.session import make_engine, secure_url
from desk_desktop.services.session_info import ConnectionDetails

PASSWORD = "correct-horse-battery-staple"
SSL_REQUEST, GSS_REQUEST = 80877103, 80877104


class PasswordThief:
    """Refuses SSL, then asks every client for its password in clear text; keeps what it gets."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.received = bytearray()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    self._one(conn)
                except OSError:
                    pass

    def _one(self, conn: socket.socket) -> None:
        while True:
            length = struct.unpack("!I", _read(conn, 4))[0]
            body = _read(conn, length - 4)
            code = struct.unpack("!I", body[:4])[0]
            if code in (SSL_REQUEST, GSS_REQUEST):
                conn.sendall(b"N")  # "no encryption here"
                continue
            break  # the startup message
        conn.sendall(b"R" + struct.pack("!II", 8, 3))  # AuthenticationCleartextPassword
        while True:
            data = conn.recv(4096)
            if not data:
                return
            self.received += data

    def close(self) -> None:
        self.sock.close()


def _read(conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        part = conn.recv(n - len(buf))
        if not part:
            raise OSError("closed")
        buf += part
    return buf


@pytest.fixture
def thief():
    t = PasswordThief()
    yield t
    t.close()


def _url(thief: PasswordThief, sslmode: str) -> str:
    return (f"postgresql+psycopg://dana:{PASSWORD}@desk.example.com:{thief.port}/desk"
            f"?hostaddr=127.0.0.1&sslmode={sslmode}&connect_timeout=5")


def test_remote_servers_get_verify_full_and_scram_only_by_default():
    q = make_url(secure_url("postgresql://dana@desk.example.com/desk")).query
    assert (q["sslmode"], q["require_auth"]) == ("verify-full", "scram-sha-256")
    # What the URL chooses stays.
    q = make_url(secure_url("postgresql://dana@desk.example.com/desk?sslmode=require&require_auth=cert")).query
    assert (q["sslmode"], q["require_auth"]) == ("require", "cert")
    # This computer: a Unix socket, localhost.
    for local in ("postgresql://me@/desk?host=/run/desk", "postgresql://me@localhost/desk"):
        assert "sslmode" not in make_url(secure_url(local)).query
    assert ConnectionDetails(host="desk.example.com", user="dana").sslmode == "verify-full"
    assert "require_auth=scram-sha-256" in libpq_conninfo("postgresql://dana@desk.example.com/desk")


def test_a_stripped_connection_never_gets_the_password(thief):
    # What a plain client does (the weakness): it hands the password over.
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(f"host=desk.example.com hostaddr=127.0.0.1 port={thief.port} dbname=desk user=dana "
                        f"password='{PASSWORD}' sslmode=prefer connect_timeout=5")
    assert PASSWORD.encode() in thief.received
    thief.received.clear()
    # The app's connections, even where the user chose sslmode=prefer: no password leaves.
    engine = make_engine(_url(thief, "prefer"))
    try:
        with pytest.raises(DBAPIError, match="require_auth|cleartext|password"):
            engine.connect()
    finally:
        engine.dispose()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(libpq_conninfo(_url(thief, "prefer")))
    assert PASSWORD.encode() not in thief.received
