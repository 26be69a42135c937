"""Email: messages composed and sent to a real SMTP server (aiosmtpd on 127.0.0.1), in plain text, over STARTTLS
and over implicit TLS with a throw-away CA, with and without AUTH, and the server's refusals as delivery errors."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from loyalty.messaging.channels import DeliveryError
from loyalty.messaging.email import Security, SmtpSettings, compose, send

SENT_AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PASSWORD = "s3cret-Passw0rd"
UNSUBSCRIBE = "https://shop.example/unsubscribe/abc123"


@dataclass
class Mailbox:
    """An SMTP server's handler: keeps what it receives, and answers DATA or RCPT with a chosen reply."""

    data_reply: str = "250 OK"
    rcpt_reply: str | None = None
    received: list[Envelope] = field(default_factory=list)
    greeted: list[str] = field(default_factory=list)

    async def handle_EHLO(  # noqa: N802 (aiosmtpd's hook names)
        self, _server: SMTP, session: Session, _envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        self.greeted.append(hostname)
        session.host_name = hostname
        return responses

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook names)
        self, _server: SMTP, _session: Session, envelope: Envelope, address: str, _options: list[str]
    ) -> str:
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self.data_reply.startswith("250"):
            self.received.append(envelope)
        return self.data_reply

    def message(self) -> EmailMessage:
        (envelope,) = self.received
        assert isinstance(envelope.content, bytes)
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


def body(part: Any) -> str:
    """A part's decoded text, with the line ends it had before SMTP made them CRLF."""
    assert isinstance(part, EmailMessage)
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


Server = Callable[..., tuple[Mailbox, int]]


@pytest.fixture
def smtp_server() -> Iterator[Server]:
    """Starts an aiosmtpd server on 127.0.0.1 with the given mailbox and aiosmtpd options; stops it after."""
    controllers: list[Controller] = []

    def start(mailbox: Mailbox | None = None, **options: Any) -> tuple[Mailbox, int]:
        mailbox = mailbox or Mailbox()
        port = free_port()
        controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return mailbox, port

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


def settings(port: int, **changes: Any) -> SmtpSettings:
    plain = SmtpSettings(
        host="127.0.0.1",
        port=port,
        from_address="Магазин <news@shop.example>",
        security=Security.NONE,
        reply_to="care@shop.example",
        timeout=5,
        local_hostname="loyalty.test",
    )
    return replace(plain, **changes)


def offer_message(smtp: SmtpSettings, **changes: Any) -> EmailMessage:
    fields: dict[str, Any] = {
        "to": "anna@example.org",
        "subject": "Анна, у вас 1 250 баллов",
        "text": "Здравствуйте, Анна!\nУ вас 1 250 баллов.",
        "html": "<p>Здравствуйте, <b>Анна</b>!</p>",
        "message_id": "outbox-42",
        "sent_at": SENT_AT,
        "unsubscribe_url": UNSUBSCRIBE,
    }
    return compose(smtp, **(fields | changes))


def test_a_message_arrives_with_its_text_and_html_parts_and_headers(smtp_server: Server) -> None:
    mailbox, port = smtp_server()
    smtp = settings(port)
    send(smtp, offer_message(smtp))

    (envelope,) = mailbox.received
    assert mailbox.greeted == ["loyalty.test"]
    assert envelope.mail_from == "news@shop.example"
    assert envelope.rcpt_tos == ["anna@example.org"]
    received = mailbox.message()
    assert received.get_content_type() == "multipart/alternative"
    text, html = received.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert body(text) == "Здравствуйте, Анна!\nУ вас 1 250 баллов.\n"
    assert html.get_content_type() == "text/html"
    assert body(html) == "<p>Здравствуйте, <b>Анна</b>!</p>\n"
    assert received["Subject"] == "Анна, у вас 1 250 баллов"
    assert received["From"] == "Магазин <news@shop.example>"
    assert received["To"] == "anna@example.org"
    assert received["Reply-To"] == "care@shop.example"
    assert received["Message-ID"] == "<outbox-42@shop.example>"
    assert received["Date"] == "Mon, 30 Nov 2026 12:00:00 +0000"
    assert received["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_the_raw_subject_is_encoded_for_any_relay(smtp_server: Server) -> None:
    mailbox, port = smtp_server()
    smtp = settings(port)
    send(smtp, offer_message(smtp))
    (envelope,) = mailbox.received
    assert isinstance(envelope.content, bytes)
    raw_subject = next(line for line in envelope.content.split(b"\r\n") if line.startswith(b"Subject:"))
    assert raw_subject.isascii()
    assert b"=?utf-8?" in raw_subject


def test_a_text_only_message_and_no_unsubscribe_link() -> None:
    message = offer_message(settings(25, reply_to=None), html=None, unsubscribe_url=None)
    assert message.get_content_type() == "text/plain"
    assert message["Reply-To"] is None
    assert message["List-Unsubscribe"] is None
    assert message["List-Unsubscribe-Post"] is None


def test_one_click_unsubscription_is_offered_for_https_links_only() -> None:
    message = offer_message(settings(25), unsubscribe_url="http://shop.example/unsubscribe/abc123")
    assert message["List-Unsubscribe"] == "<http://shop.example/unsubscribe/abc123>"
    assert message["List-Unsubscribe-Post"] is None


def test_the_date_keeps_the_offset_given() -> None:
    moscow = timezone(timedelta(hours=3))
    message = offer_message(settings(25), sent_at=datetime(2026, 11, 30, 15, 0, tzinfo=moscow))
    assert message["Date"] == "Mon, 30 Nov 2026 15:00:00 +0300"


@pytest.mark.parametrize(
    ("changes", "refused"),
    [
        ({"sent_at": datetime(2026, 11, 30, 12, 0)}, "sent_at must carry its time zone"),  # noqa: DTZ001
        ({"message_id": "<42>"}, "message_id must be"),
        ({"subject": "Hi\r\nBcc: everyone@example.org"}, "linefeed or carriage return"),
        ({"to": "anna@example.org\nBcc: everyone@example.org"}, "linefeed or carriage return"),
    ],
)
def test_compose_refuses_what_would_break_the_headers(changes: dict[str, Any], refused: str) -> None:
    with pytest.raises(ValueError, match=refused):
        offer_message(settings(25), **changes)


def test_starttls_with_login(smtp_server: Server, ca_file: str, server_tls: ssl.SSLContext) -> None:
    logins: list[tuple[str, str]] = []

    def authenticator(_server: SMTP, _session: Session, _envelope: Envelope, _mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=data.password == PASSWORD.encode(), handled=False)

    mailbox, port = smtp_server(
        tls_context=server_tls,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=True,
    )
    smtp = settings(port, security=Security.STARTTLS, ca_file=ca_file, username="shop", password=PASSWORD)
    send(smtp, offer_message(smtp))
    assert logins == [("shop", PASSWORD)]
    assert mailbox.message()["Subject"] == "Анна, у вас 1 250 баллов"

    wrong = replace(smtp, password="not-" + PASSWORD)
    with pytest.raises(DeliveryError) as failed:
        send(wrong, offer_message(wrong))
    assert failed.value.permanent
    assert failed.value.detail.startswith(f"127.0.0.1:{port}: 535 ")
    assert PASSWORD not in failed.value.detail
    assert PASSWORD not in repr(wrong)


def test_implicit_tls(smtp_server: Server, ca_file: str, server_tls: ssl.SSLContext) -> None:
    mailbox, port = smtp_server(ssl_context=server_tls)
    smtp = settings(port, security="ssl", ca_file=ca_file)  # as a settings file gives it
    assert smtp.security is Security.SSL
    send(smtp, offer_message(smtp))
    assert mailbox.message()["Message-ID"] == "<outbox-42@shop.example>"


def test_a_certificate_from_an_unknown_ca_is_a_transient_failure(
    smtp_server: Server, server_tls: ssl.SSLContext
) -> None:
    mailbox, port = smtp_server(ssl_context=server_tls)
    smtp = settings(port, security=Security.SSL)  # trusts the system's CAs, not the test's
    with pytest.raises(DeliveryError) as failed:
        send(smtp, offer_message(smtp))
    assert not failed.value.permanent
    assert "CERTIFICATE_VERIFY_FAILED" in failed.value.detail
    assert mailbox.received == []


def test_starttls_required_but_not_offered_is_a_transient_failure(smtp_server: Server) -> None:
    _, port = smtp_server()
    smtp = settings(port, security=Security.STARTTLS)
    with pytest.raises(DeliveryError) as failed:
        send(smtp, offer_message(smtp))
    assert not failed.value.permanent
    assert "STARTTLS" in failed.value.detail


@pytest.mark.parametrize(
    ("reply", "permanent"),
    [("550 5.7.1 Message rejected as spam", True), ("451 4.3.0 Try again later", False)],
)
def test_a_refused_message(smtp_server: Server, reply: str, permanent: bool) -> None:
    _, port = smtp_server(Mailbox(data_reply=reply))
    smtp = settings(port)
    with pytest.raises(DeliveryError) as failed:
        send(smtp, offer_message(smtp))
    assert failed.value.permanent is permanent
    assert failed.value.detail == f"127.0.0.1:{port}: {reply}"


@pytest.mark.parametrize(
    ("reply", "permanent"),
    [("550 5.1.1 No such mailbox", True), ("452 4.2.2 Mailbox full", False)],
)
def test_a_refused_recipient(smtp_server: Server, reply: str, permanent: bool) -> None:
    _, port = smtp_server(Mailbox(rcpt_reply=reply))
    smtp = settings(port)
    with pytest.raises(DeliveryError) as failed:
        send(smtp, offer_message(smtp))
    assert failed.value.permanent is permanent
    assert failed.value.detail == f"recipient refused: anna@example.org: {reply}"


def test_a_closed_port_is_a_transient_failure() -> None:
    smtp = settings(free_port())
    with pytest.raises(DeliveryError) as failed:
        send(smtp, offer_message(smtp))
    assert not failed.value.permanent
    assert failed.value.detail.startswith(f"127.0.0.1:{smtp.port}: ConnectionRefusedError")


def test_a_server_that_never_answers_is_a_transient_failure() -> None:
    with socket.socket() as silent:  # accepts connections (in its backlog) and never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        smtp = settings(silent.getsockname()[1], timeout=0.3)
        with pytest.raises(DeliveryError) as failed:
            send(smtp, offer_message(smtp))
    assert not failed.value.permanent
    assert "timed out" in failed.value.detail
