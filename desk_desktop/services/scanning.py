"""A small clamd client: ``PING`` and ``INSTREAM`` over a Unix socket or TCP.

Protocol (clamd(8)): commands prefixed with ``z`` are NUL-terminated, and so are the
replies. ``zINSTREAM\\0`` is followed by chunks, each prefixed with its length as a 4-byte
big-endian integer, and a zero-length chunk; clamd answers ``stream: OK``,
``stream: <signature> FOUND``, ``INSTREAM size limit exceeded. ERROR`` or ``... ERROR``.

Only ``OK`` for a file no bigger than the scanner's trusted size limit is *clean*:
clamd reports files above its MaxFileSize/MaxScanSize as OK without looking at them, so
a bigger file is *not scanned* (size limit exceeded). Errors are *not scanned* too.
A scanner that cannot be reached raises ``ScannerUnavailable``: the caller leaves the
file *pending* and the ``rescan`` job tries again later.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from desk_desktop.domain.enums import ScanStatus

# clamd's defaults: StreamMaxLength 25M, MaxFileSize 25M (Debian's clamd.conf too). Files
# above what we trust clamd to really scan are not sent at all.
DEFAULT_TRUSTED_MAX_BYTES = 25 * 1024 * 1024
SEND_CHUNK = 256 * 1024

REASON_UNAVAILABLE = "scanner unavailable"
REASON_SIZE_LIMIT = "size limit exceeded"
REASON_ERROR = "error"


class ScannerUnavailable(Exception):
    """clamd could not be reached (not running, wrong address, refused, timed out on connect)."""


@dataclass(frozen=True)
class ScanResult:
    status: ScanStatus
    signature: str | None = None
    reason: str | None = None

    @property
    def is_clean(self) -> bool:
        return self.status == ScanStatus.CLEAN


def parse_address(address: str) -> tuple[int, object]:
    """``unix:/path`` or a bare ``/path`` -> (AF_UNIX, path); ``tcp:host:port`` -> (AF_INET*, (host, port))."""
    addr = address.strip()
    if addr.startswith("unix:"):
        return socket.AF_UNIX, addr[len("unix:"):]
    if addr.startswith("/"):
        return socket.AF_UNIX, addr
    if addr.startswith("tcp:"):
        rest = addr[len("tcp:"):].lstrip("/")
        host, sep, port = rest.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"clamd address {address!r}: expected tcp:HOST:PORT")
        host = host.strip("[]") or "127.0.0.1"
        return socket.AF_INET, (host, int(port))
    raise ValueError(f"clamd address {address!r}: expected unix:/path/to/clamd.ctl or tcp:HOST:PORT")


class ClamdScanner:
    """Talks to one clamd. Thread-safe: every call uses its own connection."""

    def __init__(
        self,
        address: str,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        trusted_max_bytes: int = DEFAULT_TRUSTED_MAX_BYTES,
    ) -> None:
        self.address = address
        self.family, self.target = parse_address(address)
        self.timeout = timeout
        self.connect_timeout = min(connect_timeout, timeout)
        self.trusted_max_bytes = trusted_max_bytes

    def __repr__(self) -> str:
        return f"ClamdScanner({self.address!r})"

    # --- connection ---------------------------------------------------------------------
    def _connect(self) -> socket.socket:
        if self.family == socket.AF_UNIX:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target = self.target
        else:
            host, port = self.target  # type: ignore[misc]
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise ScannerUnavailable(f"clamd at {self.address}: {exc}") from exc
            family, _, _, _, target = infos[0]
            sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(self.connect_timeout)
        try:
            sock.connect(target)
        except OSError as exc:
            sock.close()
            raise ScannerUnavailable(f"clamd at {self.address}: {exc.strerror or exc}") from exc
        sock.settimeout(self.timeout)
        return sock

    @staticmethod
    def _read_reply(sock: socket.socket) -> str:
        buf = bytearray()
        while True:
            data = sock.recv(4096)
            if not data:
                break
            buf += data
            if b"\0" in buf:
                buf = buf[: buf.index(b"\0")]
                break
            if len(buf) > 65536:
                break
        return buf.decode("utf-8", "replace").strip()

    # --- commands -----------------------------------------------------------------------
    def ping(self) -> bool:
        """True when clamd answers PONG."""
        try:
            with self._connect() as sock:
                sock.sendall(b"zPING\0")
                return self._read_reply(sock) == "PONG"
        except (ScannerUnavailable, OSError):
            return False

    def version(self) -> str:
        with self._connect() as sock:
            sock.sendall(b"zVERSION\0")
            return self._read_reply(sock)

    def scan_stream(self, chunks: Iterable[bytes], *, size: int | None = None) -> ScanResult:
        """Scan the bytes yielded by ``chunks`` with INSTREAM.

        Raises ``ScannerUnavailable`` only when clamd cannot be reached at all; every other
        failure is a ``not_scanned`` result with the reason.
        """
        if size is not None and size > self.trusted_max_bytes:
            return ScanResult(
                ScanStatus.NOT_SCANNED,
                reason=f"{REASON_SIZE_LIMIT}: the file ({_mib(size)}) is larger than the scanner's "
                       f"{_mib(self.trusted_max_bytes)} limit",
            )
        sock = self._connect()
        sent = 0
        try:
            try:
                sock.sendall(b"zINSTREAM\0")
                for chunk in chunks:
                    view = memoryview(chunk)
                    for start in range(0, len(view), SEND_CHUNK):
                        part = view[start:start + SEND_CHUNK]
                        sent += len(part)
                        if sent > self.trusted_max_bytes:
                            return ScanResult(
                                ScanStatus.NOT_SCANNED,
                                reason=f"{REASON_SIZE_LIMIT}: the file is larger than the scanner's "
                                       f"{_mib(self.trusted_max_bytes)} limit",
                            )
                        sock.sendall(struct.pack("!L", len(part)) + part)
                sock.sendall(struct.pack("!L", 0))
            except (BrokenPipeError, ConnectionResetError) as exc:
                # clamd closes the stream early when it exceeds StreamMaxLength; its reply
                # is usually waiting in the socket.
                try:
                    reply = self._read_reply(sock)
                except OSError:
                    reply = ""
                if reply:
                    return self._interpret(reply)
                return ScanResult(ScanStatus.NOT_SCANNED, reason=f"{REASON_ERROR}: connection to clamd lost ({exc})")
            reply = self._read_reply(sock)
        except TimeoutError:
            return ScanResult(ScanStatus.NOT_SCANNED, reason=f"{REASON_ERROR}: clamd did not answer within {self.timeout:g} s")
        except OSError as exc:
            return ScanResult(ScanStatus.NOT_SCANNED, reason=f"{REASON_ERROR}: {exc}")
        finally:
            sock.close()
        return self._interpret(reply)

    def scan_bytes(self, data: bytes) -> ScanResult:
        return self.scan_stream([data], size=len(data))

    @staticmethod
    def _interpret(reply: str) -> ScanResult:
        if not reply:
            return ScanResult(ScanStatus.NOT_SCANNED, reason=f"{REASON_ERROR}: empty reply from clamd")
        if "size limit exceeded" in reply.lower():
            return ScanResult(ScanStatus.NOT_SCANNED, reason=f"{REASON_SIZE_LIMIT}: clamd said '{reply}'")
        body = reply.split(":", 1)[1].strip() if reply.startswith("stream:") else reply
        if body == "OK":
            return ScanResult(ScanStatus.CLEAN)
        if body.endswith(" FOUND"):
            signature = body[: -len(" FOUND")].strip()
            if signature.startswith("Heuristics.Limits.Exceeded"):
                # AlertExceedsMax: the file was too big to scan completely.
                return ScanResult(ScanStatus.NOT_SCANNED, reason=f"{REASON_SIZE_LIMIT}: {signature}")
            return ScanResult(ScanStatus.INFECTED, signature=signature or "unknown")
        return ScanResult(ScanStatus.NOT_SCANNED, reason=f"{REASON_ERROR}: clamd said '{reply}'")


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB" if n % (1024 * 1024) else f"{n // (1024 * 1024)} MiB"


def scanner_from_settings(settings) -> ClamdScanner:
    """The scanner configured by ``DESK_CLAMD`` / ``DESK_CLAMD_TIMEOUT``."""
    return ClamdScanner(
        settings.clamd_address,
        timeout=float(settings.clamd_timeout),
        trusted_max_bytes=int(getattr(settings, "clamd_max_file_bytes", DEFAULT_TRUSTED_MAX_BYTES)),
    )
