"""Keep the test suite off the internet: a local tile server, a trap for the web engine's
outbound requests, and a guard on this process's sockets.

- ``TileServer``: answers every ``/{z}/{x}/{y}.png`` on 127.0.0.1 with one plain map tile,
  so maps draw without OpenStreetMap (``DESK_TILE_URL`` points here for the session).
- ``OutboundTrap``: an HTTP proxy on 127.0.0.1 that forwards nothing. QtWebEngine (in this
  process and in the GUI processes the tests start, which inherit the environment) is
  told to use it with ``--proxy-server``; Chromium always goes direct to loopback, so
  every request that reaches the trap was headed for a non-local host. It answers 403
  and remembers the host.
- ``SocketGuard``: ``socket.socket.connect``/``connect_ex`` refuse (and remember) any
  address that is neither a Unix socket nor loopback.

conftest.py starts these for the whole session and fails a test that tried to reach
a non-local address through either path.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def tile_png() -> bytes:
    """One 256x256 tile: pale land with a faint grid, so screenshots show where tiles are."""
    from io import BytesIO

    from PIL import Image, ImageDraw

    img = Image.new("RGB", (256, 256), (236, 233, 226))
    draw = ImageDraw.Draw(img)
    for i in range(0, 256, 64):
        draw.line([(i, 0), (i, 255)], fill=(222, 218, 208))
        draw.line([(0, i), (255, i)], fill=(222, 218, 208))
    out = BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


class _Server:
    handler: type[BaseHTTPRequestHandler]

    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self.handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name=type(self).__name__, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _TileHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        body = self.server.owner.tile  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # noqa: A002 - quiet
        pass


class TileServer(_Server):
    handler = _TileHandler

    def __init__(self) -> None:
        self.tile = tile_png()
        super().__init__()

    @property
    def url_template(self) -> str:
        return f"http://127.0.0.1:{self.port}/{{z}}/{{x}}/{{y}}.png"


class _TrapHandler(BaseHTTPRequestHandler):
    def _refuse(self) -> None:
        # CONNECT host:port (https) or GET http://host/… (plain http through a proxy).
        self.server.owner.record(self.path)  # type: ignore[attr-defined]
        self.send_error(403, "tests must not reach the internet")

    do_CONNECT = do_GET = do_POST = do_HEAD = do_PUT = do_OPTIONS = _refuse  # noqa: N815

    def log_message(self, format, *args) -> None:  # noqa: A002 - quiet
        pass


class OutboundTrap(_Server):
    handler = _TrapHandler

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: list[str] = []
        super().__init__()

    def record(self, target: str) -> None:
        with self._lock:
            self._seen.append(target)

    def take(self) -> list[str]:
        """What was tried since the last call."""
        with self._lock:
            seen, self._seen = self._seen, []
        return seen

    @property
    def chromium_flags(self) -> str:
        return f"--proxy-server=http://127.0.0.1:{self.port}"


def is_local(family: int, address) -> bool:
    if family == getattr(socket, "AF_UNIX", None):
        return True
    if family not in (socket.AF_INET, socket.AF_INET6):
        return False
    host = address[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:  # a host name other than localhost: resolving it already leaves the machine
        return False


class SocketGuard:
    """Refuses (and remembers) connections of this process to non-local addresses."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: list[str] = []
        self._saved = None

    def install(self) -> None:
        cls = socket.socket
        self._saved = (cls.connect, cls.connect_ex)
        connect, connect_ex = self._saved
        guard = self

        def guarded_connect(sock, address):
            guard.check(sock, address)
            return connect(sock, address)

        def guarded_connect_ex(sock, address):
            guard.check(sock, address)
            return connect_ex(sock, address)

        cls.connect = guarded_connect
        cls.connect_ex = guarded_connect_ex

    def uninstall(self) -> None:
        if self._saved is not None:
            socket.socket.connect, socket.socket.connect_ex = self._saved
            self._saved = None

    def check(self, sock: socket.socket, address) -> None:
        if is_local(sock.family, address):
            return
        with self._lock:
            self._seen.append(repr(address))
        raise ConnectionRefusedError(f"tests must not reach the internet: connect to {address!r} refused")

    def take(self) -> list[str]:
        with self._lock:
            seen, self._seen = self._seen, []
        return seen
