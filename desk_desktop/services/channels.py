"""Delivery channels for the notification outbox.

A channel knows how to hand one message to the outside world. ``send`` returns when the
message was accepted and raises ``DeliveryFailed`` otherwise (``permanent=True`` when
trying again cannot help, e.g. the server refused the address). New channels (SMS, chat)
implement the same two methods and are added to a ``ChannelRegistry``.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol

from desk_desktop.config import Settings, SmtpSettings
from desk_desktop.domain.enums import NotificationChannel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutgoingMessage:
    notification_id: int
    idempotency_key: str
    channel: str
    recipient_address: str | None
    subject: str
    body_text: str
    body_html: str | None
    organization_id: int
    # A technician's visit: the iCalendar invitation (REQUEST or CANCEL) stored with the row.
    calendar_method: str | None = None
    calendar_ics: str | None = None

    @property
    def message_id(self) -> str:
        """Stable across retries (delivery is at least once), so a receiving system can drop a
        duplicate delivery."""
        digest = hashlib.sha256(self.idempotency_key.encode()).hexdigest()[:32]
        return f"<{digest}.{self.notification_id}@desk-dispatcher>"


class DeliveryFailed(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Channel(Protocol):
    name: str

    def send(self, message: OutgoingMessage) -> None: ...

    def close(self) -> None: ...


class InboxChannel:
    """The in-app inbox: the outbox row *is* the inbox entry, so delivering it means marking
    it delivered (``send_due`` sets ``sent_at``); reading it later sets ``read_at``."""

    name = NotificationChannel.INBOX.value

    def send(self, message: OutgoingMessage) -> None:
        return None

    def close(self) -> None:
        return None


class EmailChannel:
    """Email over SMTP (plain, STARTTLS or implicit TLS, optional login). One connection is
    reused for a batch and closed by ``close()``."""

    name = NotificationChannel.EMAIL.value

    def __init__(self, smtp: SmtpSettings, *, ssl_context: ssl.SSLContext | None = None) -> None:
        if not smtp.enabled:
            raise ValueError("SMTP is not configured (set DESK_SMTP_URL)")
        if smtp.user and not (smtp.use_tls or smtp.starttls):
            raise ValueError("DESK_SMTP_URL logs in over an unencrypted connection (the password would travel in "
                             "clear text): use smtps:// or add ?starttls=1")
        self.smtp = smtp
        self._ssl_context = ssl_context
        self._conn: smtplib.SMTP | None = None

    def _context(self) -> ssl.SSLContext:
        return self._ssl_context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        s = self.smtp
        try:
            if s.use_tls:
                conn: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=self._context())
            else:
                conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            conn.ehlo_or_helo_if_needed()
            if s.starttls and not s.use_tls:
                conn.starttls(context=self._context())
                conn.ehlo()
            if s.user:
                conn.login(s.user, s.password)
            return conn
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryFailed(f"the mail server refused the login for {s.user!r}: {_smtp_text(exc)}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryFailed(f"cannot reach the mail server {s.host}:{s.port}: {_describe(exc)}") from exc

    def build(self, message: OutgoingMessage) -> EmailMessage:
        """The message: text, HTML and — for a visit — its invitation, the way calendar-aware
        clients (Outlook, Gmail, Apple Mail, Thunderbird) look for it: a ``text/calendar;
        method=…`` alternative of the body (they offer "add to calendar" from it) and the same
        bytes as an ``invite.ics`` attachment for the clients that only import files."""
        em = EmailMessage()
        em["From"] = self.smtp.from_address
        em["To"] = message.recipient_address or ""
        em["Subject"] = message.subject
        em["Date"] = formatdate(localtime=False, usegmt=True)
        em["Message-ID"] = message.message_id
        em["X-Desk-Notification"] = str(message.notification_id)
        em["X-Desk-Idempotency-Key"] = message.idempotency_key
        em.set_content(message.body_text)
        if message.body_html:
            em.add_alternative(message.body_html, subtype="html")
        if message.calendar_ics:
            em.add_alternative(message.calendar_ics, subtype="calendar", params={"method": message.calendar_method})
            em.add_attachment(message.calendar_ics.encode(), maintype="application", subtype="ics",
                              filename="cancel.ics" if message.calendar_method == "CANCEL" else "invite.ics")
        return em

    def send(self, message: OutgoingMessage) -> None:
        if not message.recipient_address:
            raise DeliveryFailed("no email address", permanent=True)
        em = self.build(message)
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = self._connect()
            try:
                refused = self._conn.send_message(em, from_addr=self.smtp.from_address,
                                                  to_addrs=[message.recipient_address])
            except smtplib.SMTPServerDisconnected as exc:
                self._drop()
                if attempt == 2:
                    raise DeliveryFailed(f"the mail server closed the connection: {_describe(exc)}") from exc
                continue  # a reused connection may have timed out: reconnect once
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = next(iter(exc.recipients.values()))
                raise DeliveryFailed(f"the mail server refused {message.recipient_address}: {code} "
                                     f"{_decode(text)}", permanent=500 <= code < 600) from exc
            except smtplib.SMTPResponseException as exc:
                self._drop()
                raise DeliveryFailed(f"the mail server answered {exc.smtp_code} {_decode(exc.smtp_error)}",
                                     permanent=500 <= exc.smtp_code < 600) from exc
            except (OSError, smtplib.SMTPException) as exc:
                self._drop()
                raise DeliveryFailed(f"sending failed: {_describe(exc)}") from exc
            if refused:
                raise DeliveryFailed(f"the mail server refused {', '.join(refused)}", permanent=True)
            return

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                try:
                    conn.close()
                except Exception:  # noqa: BLE001
                    pass


def _decode(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _smtp_text(exc: smtplib.SMTPResponseException) -> str:
    return f"{exc.smtp_code} {_decode(exc.smtp_error)}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or exc.__class__.__name__


class ChannelRegistry:
    """The channels this process can deliver through, by name."""

    def __init__(self, channels: Iterable[Channel] = ()) -> None:
        self._channels: dict[str, Channel] = {}
        for ch in channels:
            self.add(ch)

    def add(self, channel: Channel) -> None:
        self._channels[channel.name] = channel

    def get(self, name: str) -> Channel | None:
        return self._channels.get(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._channels))

    def close(self) -> None:
        for ch in self._channels.values():
            try:
                ch.close()
            except Exception:  # noqa: BLE001 - closing must not mask the real outcome
                pass


def channels_from_settings(settings: Settings) -> ChannelRegistry:
    """Inbox always; email when SMTP is configured. A process without email leaves email rows
    for a process that has it (they stay pending and show in the attention list)."""
    registry = ChannelRegistry([InboxChannel()])
    if settings.smtp.enabled:
        try:
            registry.add(EmailChannel(settings.smtp))
        except ValueError as exc:  # refused settings: no email from this process, said loudly
            log.error("email notifications are off: %s", exc)
    return registry
