"""The suite stays off the internet: the socket guard and the web engine's trap work
(conftest.py, tests/local_net.py)."""

from __future__ import annotations

import os
import socket
import urllib.request

import pytest

from tests.conftest import local_tile_url


def test_a_connection_to_a_public_address_is_refused_and_reported(socket_guard):
    with pytest.raises(ConnectionRefusedError, match="must not reach the internet"):
        socket.create_connection(("192.0.2.1", 80), timeout=2)  # TEST-NET-1
    with pytest.raises(ConnectionRefusedError):
        socket.socket(socket.AF_INET6, socket.SOCK_STREAM).connect_ex(("2001:db8::1", 443, 0, 0))
    # Taken here, so this test itself passes; left alone it would fail the test (conftest).
    assert socket_guard.take() == ["('192.0.2.1', 80)", "('2001:db8::1', 443, 0, 0)"]


def test_the_local_tile_server_answers_and_the_app_is_pointed_at_it():
    assert os.environ["DESK_TILE_URL"] == local_tile_url()
    assert local_tile_url().startswith("http://127.0.0.1:")
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
            local_tile_url().format(z=3, x=2, y=1), timeout=5) as resp:
        assert resp.headers["Content-Type"] == "image/png"
        assert resp.read().startswith(b"\x89PNG")
    from desk_desktop.config import load_settings

    assert load_settings().tile_url == local_tile_url()
