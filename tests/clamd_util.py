"""A real clamd for the tests: a tiny signature database that detects only the EICAR test
file (one ``.hdb`` line made with ``sigtool --md5``), a Unix socket and a TCP port in a
temporary folder. Starts in well under a second; can be stopped and restarted."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from desk_desktop.services.scanning import ClamdScanner

CLAMD = os.environ.get("DESK_TEST_CLAMD", "/usr/sbin/clamd")
SIGTOOL = shutil.which("sigtool") or "/usr/bin/sigtool"

# The 68-byte EICAR anti-virus test string (harmless by design), without a newline.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
assert len(EICAR) == 68

# What the tests' clamd is configured to scan; bigger streams are refused by clamd.
STREAM_MAX_BYTES = 4 * 1024 * 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ClamdServer:
    """``archive_alerts=False``: Debian's defaults (AlertExceedsMax no, AlertEncrypted no),
    under which clamd says OK for what it skips inside archives."""

    def __init__(self, *, archive_alerts: bool = True) -> None:
        if not Path(CLAMD).exists():
            raise RuntimeError(f"{CLAMD} not found: install the Debian package clamav-daemon")
        self.dir = Path(tempfile.mkdtemp(prefix="desk-clamd-"))
        os.chmod(self.dir, 0o755)
        self.db_dir = self.dir / "db"
        self.db_dir.mkdir()
        eicar = self.dir / "eicar.txt"
        eicar.write_bytes(EICAR)
        sig = subprocess.run([SIGTOOL, "--md5", str(eicar)], check=True, capture_output=True, text=True).stdout
        eicar.unlink()
        (self.db_dir / "eicar.hdb").write_text(sig.strip() + "\n")
        self.socket_path = self.dir / "clamd.sock"
        self.tcp_port = _free_port()
        self.log = self.dir / "clamd.log"
        self.conf = self.dir / "clamd.conf"
        user = "root" if os.geteuid() == 0 else None
        lines = [
            "Foreground yes",
            f"LocalSocket {self.socket_path}",
            "LocalSocketMode 666",
            "TCPAddr 127.0.0.1",
            f"TCPSocket {self.tcp_port}",
            f"DatabaseDirectory {self.db_dir}",
            f"LogFile {self.log}",
            f"PidFile {self.dir / 'clamd.pid'}",
            f"StreamMaxLength {STREAM_MAX_BYTES // 1024}K",
            f"MaxFileSize {STREAM_MAX_BYTES // 1024}K",
            f"MaxScanSize {STREAM_MAX_BYTES // 1024}K",
            "SelfCheck 3600",
            # The EICAR-only database has no image signatures; without this clamd decodes
            # every image for its fuzzy hash (seconds for the decompression-bomb samples).
            "ScanImageFuzzyHash no",
            "MaxThreads 4",
            # What the product requires (README, administrator section): report archive
            # members past the limits and encrypted members instead of saying OK.
            f"AlertExceedsMax {'yes' if archive_alerts else 'no'}",
            f"AlertEncrypted {'yes' if archive_alerts else 'no'}",
        ]
        if user:
            lines.append(f"User {user}")
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"unix:{self.socket_path}"

    @property
    def tcp_address(self) -> str:
        return f"tcp:127.0.0.1:{self.tcp_port}"

    def scanner(self, **kw) -> ClamdScanner:
        kw.setdefault("timeout", 10.0)
        kw.setdefault("trusted_max_bytes", STREAM_MAX_BYTES)
        return ClamdScanner(self.address, **kw)

    def start(self, timeout: float = 30.0) -> None:
        if self.running:
            return
        self.socket_path.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [CLAMD, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
        )
        probe = ClamdScanner(self.address, timeout=2.0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                log = self.log.read_text(errors="replace") if self.log.exists() else ""
                raise RuntimeError(f"clamd exited with {self.proc.returncode}: {err}\n{log[-2000:]}")
            if probe.ping():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"clamd did not answer PING within {timeout} s")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None
        self.socket_path.unlink(missing_ok=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    @contextlib.contextmanager
    def stopped(self):
        """Inside the block clamd is down; it is running again afterwards."""
        self.stop()
        try:
            yield self
        finally:
            self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
