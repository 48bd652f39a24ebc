"""Outgoing mail: the `Mailer` port, its two adapters (an SMTP server over STARTTLS, and a mail drop
folder of `.eml` files for development and tests), and `MailSender`, which sends on a thread of its
own so that no request waits for a mail server."""

from __future__ import annotations

import logging
import os
import secrets
import smtplib
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from supply_auth.service_layer.ports import Mail

__all__ = ["Mail", "MailDrop", "MailSender", "Mailer", "SmtpMailer", "compose"]

log = logging.getLogger("supply_auth.events")


class Mailer(Protocol):
    def send(self, mail: Mail) -> None:
        """Deliver one message, or raise."""


def compose(mail: Mail, sender: str) -> EmailMessage:
    """An RFC 5322 message (CRLF line ends; UTF-8 headers only where an address needs them)."""
    message = EmailMessage(policy=policy.SMTPUTF8)
    message["From"] = sender
    local, _, domain = mail.to.rpartition("@")
    message["To"] = Address(username=local, domain=domain)  # quotes a local part that needs it
    message["Subject"] = mail.subject
    message["Date"] = formatdate(usegmt=True)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.text)
    return message


class SmtpMailer:
    """Sends through `smtp://[user:password@]host[:port]` (port 587 unless given). The connection is
    always upgraded with STARTTLS and the server's certificate checked; a server that does not
    offer STARTTLS gets nothing."""

    def __init__(self, url: str, sender: str, *, timeout_s: float = 10.0, tls: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme != "smtp" or not parts.hostname:
            raise ValueError("AUTH_SMTP_URL must look like smtp://user:password@host:587")
        self.host = parts.hostname
        self.port = parts.port or 587
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password or "")
        self.sender = sender
        self.timeout_s = timeout_s
        self.tls = tls or ssl.create_default_context()

    def send(self, mail: Mail) -> None:
        message = compose(mail, self.sender)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            smtp.ehlo()
            smtp.starttls(context=self.tls)
            smtp.ehlo()
            if self.user is not None:
                smtp.login(self.user, self.password)
            smtp.send_message(message)


class MailDrop:
    """Writes each message as one `.eml` file in `folder` instead of sending it. File names start with
    the UTC time, so they sort oldest first; a file appears whole (written aside, then renamed)."""

    def __init__(self, folder: Path, sender: str) -> None:
        self.folder = folder
        self.sender = sender

    def send(self, mail: Mail) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(4)}.eml"
        aside = self.folder / f".{name}.part"
        descriptor = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(bytes(compose(mail, self.sender)))
        os.replace(aside, self.folder / name)


class MailSender:
    """Takes mail off the caller's path: `send` queues the message and returns at once; one thread
    delivers through the `Mailer`. A failure is logged (with the fields the caller gave, never the
    message, which may hold a link that works); at most `max_pending` messages wait, and any more
    are dropped with a log line rather than piling up while the mail server is away."""

    def __init__(self, mailer: Mailer, *, max_pending: int = 1000) -> None:
        self.mailer = mailer
        self.max_pending = max_pending
        self._pending = 0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="mail")

    def send(self, mail: Mail, **log_fields: object) -> None:
        with self._lock:
            if self._pending >= self.max_pending:
                log.error("mail dropped", extra={"event": "mail.dropped", "pending": self._pending, **log_fields})
                return
            self._pending += 1
        self._pool.submit(self._deliver, mail, log_fields)

    def _deliver(self, mail: Mail, log_fields: dict[str, object]) -> None:
        try:
            self.mailer.send(mail)
        except Exception as exc:  # noqa: BLE001 - any failure is logged; the request is long answered
            log.error("mail not sent", extra={"event": "mail.failed", **log_fields, **_error_fields(exc)})
        else:
            log.info("mail sent", extra={"event": "mail.sent", **log_fields})
        finally:
            with self._lock:
                self._pending -= 1

    def close(self) -> None:
        """Deliver what is queued, then stop."""
        self._pool.shutdown(wait=True)


def _error_fields(exc: Exception) -> dict[str, object]:
    """What went wrong, without the text of server answers (they may quote the message)."""
    fields: dict[str, object] = {"error": type(exc).__name__}
    if isinstance(exc, smtplib.SMTPResponseException):
        fields["smtp_code"] = exc.smtp_code
    elif isinstance(exc, OSError) and exc.errno is not None:
        fields["errno"] = exc.errno
    return fields
