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

Inside archives clamd says OK for a member past its limits, or an encrypted one, unless
``clamd.conf`` has ``AlertExceedsMax yes`` and ``AlertEncrypted yes`` (Debian's default is
``no`` for both). Before its first scan a scanner sends two canary archives (a small zip
whose member unpacks past the trusted size, and an encrypted zip); if clamd does not
report both, every archive (zip, rar, 7z, tar, gzip, bzip2, xz, cab…, and the zip-based
office files) is *not scanned*, never clean.
"""

from __future__ import annotations

import functools
import io
import socket
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from desk_desktop.domain.enums import ScanStatus

# clamd's defaults: StreamMaxLength 25M, MaxFileSize 25M (Debian's clamd.conf too). Files
# above what we trust clamd to really scan are not sent at all.
DEFAULT_TRUSTED_MAX_BYTES = 25 * 1024 * 1024
SEND_CHUNK = 256 * 1024

REASON_UNAVAILABLE = "scanner unavailable"
REASON_SIZE_LIMIT = "size limit exceeded"
REASON_ERROR = "error"
REASON_CONTAINERS = ("archive not checked: the scanner does not report archive members past its limits or "
                     "encrypted members (clamd.conf needs AlertExceedsMax yes and AlertEncrypted yes)")

# The first bytes of archives clamd unpacks (and could wave through unchecked).
_CONTAINER_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08", b"Rar!\x1a\x07", b"7z\xbc\xaf\x27\x1c",
                    b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd", b"MSCF", b"ISc(", b"\x60\xea",
                    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"!<arch>", b"\xed\xab\xee\xdb", b"xar!", b"LZIP")


def is_container(head: bytes) -> bool:
    """True when these first bytes (at least 512 for tar) start an archive clamd unpacks."""
    return head.startswith(_CONTAINER_MAGIC) or head[257:262] == b"ustar"


@functools.cache
def canary_oversized(trusted_max_bytes: int) -> bytes:
    """A small zip whose one member unpacks to more than ``trusted_max_bytes``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("big.bin", "w") as member:
        block = bytes(1024 * 1024)
        for _ in range(trusted_max_bytes // len(block) + 2):
            member.write(block)
    return buf.getvalue()


def canary_encrypted() -> bytes:
    """A zip whose one member is marked encrypted (traditional PKWARE encryption)."""
    data = b"\x00" * 12 + b"canary"
    crc = zlib.crc32(b"canary")
    name = b"secret.txt"
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 1, 0, 0, 0, crc, len(data), 6, len(name), 0) + name + data
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 1, 0, 0, 0, crc, len(data), 6, len(name),
                          0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local), 0)
    return local + central + end


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
        self._containers_checked: bool | None = None  # the canaries' verdict, once known

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
        return self._scan_raw(chunks)

    def _scan_raw(self, chunks: Iterable[bytes]) -> ScanResult:
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

    def reports_container_limits(self) -> bool:
        """Whether clamd reports archive members past its limits and encrypted members
        (sends the two canaries once; raises ``ScannerUnavailable`` if clamd is down)."""
        if self._containers_checked is None:
            results = [self._scan_raw([canary]) for canary in (canary_oversized(self.trusted_max_bytes),
                                                                canary_encrypted())]
            self._containers_checked = all(r.status != ScanStatus.CLEAN for r in results)
        return self._containers_checked

    def scan_file(self, chunks: Iterable[bytes], *, size: int | None = None) -> ScanResult:
        """``scan_stream``, except that an archive is *not scanned* when clamd does not report
        what it skips inside archives (see the module docstring)."""
        it = iter(chunks)
        head = b""
        first: list[bytes] = []
        for chunk in it:
            first.append(chunk)
            head += bytes(chunk[:512])
            if len(head) >= 512:
                break
        if is_container(head) and not self.reports_container_limits():
            return ScanResult(ScanStatus.NOT_SCANNED, reason=REASON_CONTAINERS)
        return self.scan_stream(_chain(first, it), size=size)

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


def _chain(first: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    yield from first
    yield from rest


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB" if n % (1024 * 1024) else f"{n // (1024 * 1024)} MiB"


def scanner_from_settings(settings) -> ClamdScanner:
    """The scanner configured by ``DESK_CLAMD`` / ``DESK_CLAMD_TIMEOUT``."""
    return ClamdScanner(
        settings.clamd_address,
        timeout=float(settings.clamd_timeout),
        trusted_max_bytes=int(getattr(settings, "clamd_max_file_bytes", DEFAULT_TRUSTED_MAX_BYTES)),
    )
