"""The mail adapters: the drop folder writes RFC 5322 files, SMTP always upgrades with STARTTLS, and
the sender keeps failures off the request and out of the logs' reach of any link."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import smtplib
import socket
import ssl
import threading
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from supply_auth.adapters.mail import Mail, MailDrop, MailSender, SmtpMailer
from supply_auth.service_layer import notices
from supply_common.testing.mail import link_in, read_inbox, token_in, wait_for_mail

SENDER = "Supply Store <no-reply@example.com>"
MAIL = Mail(to="ada@example.com", subject="Hello", text="Open https://store.example.com/x?token=abc\n")


def test_the_mail_drop_writes_one_rfc_5322_file_per_message(tmp_path):
    drop = MailDrop(tmp_path / "mail", SENDER)

    drop.send(MAIL)
    drop.send(Mail(to="o'brien+x@example.ie", subject="Second", text="Two\n"))

    files = sorted((tmp_path / "mail").iterdir())
    assert [f.suffix for f in files] == [".eml", ".eml"]
    raw = files[0].read_bytes()
    assert b"\r\n" in raw
    assert all(line.endswith(b"\r") for line in raw.split(b"\n")[:-1])
    message = message_from_bytes(raw, policy=policy.default)
    assert message["From"] == SENDER
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Hello"
    assert message["Message-ID"].endswith("@example.com>")
    assert message["Date"]
    assert link_in(message) == "https://store.example.com/x?token=abc"
    assert (files[0].stat().st_mode & 0o777) == 0o600
    assert [m["Subject"] for m in read_inbox(tmp_path / "mail", "O'Brien+X@example.ie")] == ["Second"]


def test_an_address_with_special_characters_is_quoted_not_spliced_into_the_header(tmp_path):
    MailDrop(tmp_path, SENDER).send(Mail(to="x');drop,table@example.com", subject="s", text="t\n"))

    [message] = read_inbox(tmp_path, "x');drop,table@example.com")
    assert message["To"] == '"x\');drop,table"@example.com'
    assert len(message["To"].addresses) == 1


def test_the_password_mail_carries_a_link_to_the_gateway_page_and_nothing_the_registrant_typed(tmp_path):
    message = notices.choose_password(
        "ada@example.com", base_url="https://store.example.com/", token="T0k-en_", ttl_s=86400
    )
    MailDrop(tmp_path, SENDER).send(message)

    received = wait_for_mail(tmp_path, "ada@example.com")
    assert link_in(received) == "https://store.example.com/verify-email?token=T0k-en_"
    assert token_in(received) == "T0k-en_"
    assert "24 hours" in message.text
    assert "choose your password" in message.text
    assert "no password until then" in message.text
    notice = notices.already_registered("ada@example.com", base_url="https://store.example.com")
    assert "token" not in notice.text
    assert "https://store.example.com/login" in notice.text


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class SmtpServer:
    """A one-connection SMTP server: STARTTLS (if offered), AUTH PLAIN, one message. It records the
    commands it got before TLS and after, and the message."""

    def __init__(self, tmp_path: Path, *, offer_starttls: bool = True) -> None:
        self.cert, self.key = _certificate(tmp_path)
        self.offer_starttls = offer_starttls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.plain: list[str] = []
        self.secure: list[str] = []
        self.data = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        stream = connection.makefile("rwb")
        log, tls = self.plain, False

        def reply(text: str) -> None:
            stream.write(text.encode() + b"\r\n")
            stream.flush()

        reply("220 localhost ready")
        while True:
            line = stream.readline().decode().rstrip("\r\n")
            if not line:
                break
            log.append(line)
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                extensions = ["AUTH PLAIN"] if tls else (["STARTTLS"] if self.offer_starttls else ["SIZE 1000000"])
                reply(
                    "250-localhost\r\n"
                    + "\r\n".join(f"250{'-' if i < len(extensions) - 1 else ' '}{e}" for i, e in enumerate(extensions))
                )
            elif verb == "STARTTLS":
                reply("220 go ahead")
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(self.cert, self.key)
                stream.close()
                connection = context.wrap_socket(connection, server_side=True)
                stream = connection.makefile("rwb")
                log, tls = self.secure, True
            elif verb == "AUTH":
                reply("235 ok")
            elif verb == "DATA":
                reply("354 go on")
                while (chunk := stream.readline()) != b".\r\n":
                    self.data += chunk
                reply("250 queued")
            elif verb == "QUIT":
                reply("221 bye")
                break
            else:
                reply("250 ok")
        connection.close()

    def client_tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


def test_smtp_upgrades_with_starttls_before_logging_in_and_sending(tmp_path):
    server = SmtpServer(tmp_path)
    mailer = SmtpMailer(f"smtp://mailer:p%40ss@localhost:{server.port}", SENDER, tls=server.client_tls())

    mailer.send(MAIL)
    server.thread.join(5)

    assert [line.split(" ")[0].upper() for line in server.plain] == ["EHLO", "STARTTLS"]
    commands = [line.split(" ")[0].upper() for line in server.secure]
    assert commands == ["EHLO", "AUTH", "MAIL", "RCPT", "DATA", "QUIT"]
    assert base64.b64decode(server.secure[1].split(" ")[2]) == b"\0mailer\0p@ss"
    assert b"token=abc" in server.data
    assert "<ada@example.com>" in server.secure[3]


def test_smtp_sends_nothing_to_a_server_without_starttls(tmp_path):
    server = SmtpServer(tmp_path, offer_starttls=False)
    mailer = SmtpMailer(f"smtp://localhost:{server.port}", SENDER, tls=server.client_tls())

    with pytest.raises(smtplib.SMTPNotSupportedError):
        mailer.send(MAIL)
    server.thread.join(5)

    assert [line.split(" ")[0].upper() for line in server.plain] == ["EHLO", "QUIT"]
    assert server.data == b""


def test_the_sender_returns_at_once_and_logs_a_failure_without_the_message(caplog):
    released = threading.Event()

    class Refusing:
        def send(self, mail: Mail) -> None:
            released.wait(5)
            raise smtplib.SMTPDataError(554, f"rejected: {mail.text}".encode())

    sender = MailSender(Refusing())
    caplog.set_level(logging.INFO, logger="supply_auth.events")

    sender.send(MAIL, kind="confirmation", user_id="U1")
    assert not caplog.records
    released.set()
    sender.close()

    [record] = caplog.records
    assert record.event == "mail.failed"  # type: ignore[attr-defined]
    assert (record.kind, record.user_id, record.error, record.smtp_code) == (  # type: ignore[attr-defined]
        "confirmation",
        "U1",
        "SMTPDataError",
        554,
    )
    assert not any("abc" in str(value) for value in vars(record).values())


def test_the_sender_drops_mail_beyond_its_queue_rather_than_piling_it_up(caplog):
    released = threading.Event()
    delivered: list[Mail] = []

    class Slow:
        def send(self, mail: Mail) -> None:
            released.wait(5)
            delivered.append(mail)

    sender = MailSender(Slow(), max_pending=2)
    caplog.set_level(logging.INFO, logger="supply_auth.events")
    for _ in range(3):
        sender.send(MAIL, kind="confirmation")
    released.set()
    sender.close()

    assert len(delivered) == 2
    assert [r.event for r in caplog.records].count("mail.dropped") == 1  # type: ignore[attr-defined]
