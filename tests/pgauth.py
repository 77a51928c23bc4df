"""Password authentication for one role on the test cluster (which trusts its socket).

Prepends ``local all <role> scram-sha-256`` to the throw-away cluster's pg_hba.conf and
reloads, so a test can check real password handling without touching other roles.
The role must exist and be allowed to connect (it is used to see the reload happen).
"""

from __future__ import annotations

import contextlib
import os
import time

import psycopg
import pytest


@contextlib.contextmanager
def password_required_for(test_server, role: str, dbname: str = "postgres"):
    if test_server.cluster is None:
        pytest.skip("password checks need the project's own throw-away cluster (DESK_TEST_DATABASE_URL is set)")
    hba = test_server.cluster.data_dir / "pg_hba.conf"
    original = hba.read_text()
    _write(hba, f'local all "{role}" scram-sha-256\n' + original)
    test_server._admin("SELECT pg_reload_conf()")
    _wait_until(test_server, role, dbname, password_needed=True)
    try:
        yield
    finally:
        _write(hba, original)
        test_server._admin("SELECT pg_reload_conf()")
        _wait_until(test_server, role, dbname, password_needed=False)


def _write(path, content: str) -> None:
    st = path.stat()
    path.write_text(content)
    os.chown(path, st.st_uid, st.st_gid)
    os.chmod(path, st.st_mode & 0o777)


def _wait_until(test_server, role: str, dbname: str, *, password_needed: bool) -> None:
    """pg_reload_conf() only signals the postmaster: wait until logins behave accordingly."""
    deadline = time.monotonic() + 10
    while True:
        try:
            psycopg.connect(host=str(test_server.cluster.socket_dir), dbname=dbname, user=role,
                            connect_timeout=3).close()
            needed = False
        except psycopg.OperationalError as exc:
            if "password" not in str(exc):
                raise
            needed = True
        if needed == password_needed:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("the test cluster did not reload pg_hba.conf")
        time.sleep(0.05)
