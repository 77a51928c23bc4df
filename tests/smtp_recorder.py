"""A real SMTP server for tests (aiosmtpd on 127.0.0.1) that records what it receives.

``stall(address)`` makes the server hold a RCPT for that address until ``release()``, so a
test can freeze a sender in the middle of a delivery (and, e.g., SIGKILL it there).
"""

from __future__ import annotations

import asyncio
import email
import socket
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    @property
    def to(self) -> str:
        return str(self.message["To"])

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def key(self) -> str:
        return str(self.message["X-Desk-Idempotency-Key"]).strip()

    @property
    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content()

    @property
    def html(self) -> str:
        part = self.message.get_body(("html",))
        return part.get_content() if part is not None else ""


class _Handler:
    def __init__(self, recorder: SmtpRecorder) -> None:
        self.recorder = recorder

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        rec = self.recorder
        if address in rec.refuse:
            return "550 5.1.1 No such user here"
        if address in rec.stalled_addresses:
            rec.stalled.set()
            while not rec.released.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        msg = email.message_from_bytes(envelope.content, policy=default_policy)
        if session.ssl is not None:
            self.recorder.tls_sessions += 1
        with self.recorder.lock:
            self.recorder.messages.append(Received(envelope.mail_from, tuple(envelope.rcpt_tos), msg))
        return "250 Message accepted for delivery"


class SmtpRecorder:
    def __init__(self, port: int | None = None, *, users: dict[str, str] | None = None,
                 starttls_context=None, tls_context=None) -> None:
        """``users`` requires AUTH LOGIN/PLAIN; ``starttls_context`` offers (and requires)
        STARTTLS; ``tls_context`` makes it an implicit-TLS (smtps) server."""
        self.port = port or free_port()
        self.users = users
        self.starttls_context = starttls_context
        self.tls_context = tls_context
        self.logins: list[str] = []
        self.tls_sessions = 0
        self.host = "127.0.0.1"
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        self.refuse: set[str] = set()
        self.stalled_addresses: set[str] = set()
        self.stalled = threading.Event()
        self.released = threading.Event()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def start(self) -> SmtpRecorder:
        server_kwargs: dict = {}
        if self.starttls_context is not None:
            server_kwargs.update(tls_context=self.starttls_context, require_starttls=True)
        if self.users is not None:
            server_kwargs.update(authenticator=self._authenticate, auth_required=True,
                                 auth_require_tls=self.starttls_context is not None or self.tls_context is not None)
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port,
                                      ssl_context=self.tls_context, **server_kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self.released.set()
            self._controller.stop()
            self._controller = None

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if isinstance(auth_data, LoginPassword):
            user, password = auth_data.login.decode(), auth_data.password.decode()
            if self.users and self.users.get(user) == password:
                self.logins.append(user)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def stall(self, address: str) -> None:
        self.stalled_addresses.add(address)

    def release(self) -> None:
        self.released.set()

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.messages)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received()
            if len(got) >= count:
                return got
            time.sleep(0.05)
        return self.received()
