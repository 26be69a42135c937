"""Email over SMTP, with the standard library: `compose` builds the message, `send` hands it to the relay.

The relay is the retailer's (or a mail service's) SMTP server, reached one of three ways (`Security`): STARTTLS on
the submission port 587, TLS from the first byte on 465, or plain text (a relay on the same host). The certificate
is always verified, against the system's CAs or `ca_file`. Marketing mail carries one-click unsubscription
(RFC 8058): the relay must sign `List-Unsubscribe` and `List-Unsubscribe-Post` with DKIM for mailbox providers to
honour them.

`send` returns once the relay has accepted the message, or raises `DeliveryError`: permanent for a 5xx reply or a
refused recipient (the same message to the same relay will be refused again), transient for a 4xx reply, a time-out,
a refused or broken connection, or a TLS failure."""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from enum import StrEnum

from loyalty.messaging.channels import DeliveryError, redact


class Security(StrEnum):
    STARTTLS = "starttls"  # connect in plain text, then upgrade (port 587)
    SSL = "ssl"  # TLS from the first byte, "implicit TLS" (port 465)
    NONE = "none"  # no encryption: only for a relay on the same host or network


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the SMTP relay and whom messages come from. `password` is never shown (not in `repr`, not in a
    `DeliveryError`). `ca_file` is a PEM bundle of the CAs to trust instead of the system's, for a relay with a
    private CA. `timeout` is in seconds, for connecting and for each reply. `local_hostname` is the name the
    client gives in EHLO; by default the host's fully qualified name, which some relays check and which costs a
    DNS lookup per connection."""

    host: str
    port: int
    from_address: str  # "Shop <news@shop.example>" or "news@shop.example"
    security: Security = Security.STARTTLS
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    reply_to: str | None = None
    timeout: float = 30.0
    ca_file: str | None = None
    local_hostname: str | None = None

    def __post_init__(self) -> None:
        # Settings read from a file give the security as text: hold the enum, refusing anything else.
        object.__setattr__(self, "security", Security(self.security))


# A Message-ID's left part: what RFC 5322 allows in a dot-atom, less the characters a mail client might mangle.
_MESSAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def compose(
    settings: SmtpSettings,
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None,
    message_id: str,
    sent_at: datetime,
    unsubscribe_url: str | None = None,
) -> EmailMessage:
    """A message from `settings.from_address` to `to`: multipart/alternative with `text` beside `html` (or `text`
    alone). `message_id` is this message's unique id (the outbox's), so a retried message carries the same
    Message-ID and a mail system can tell it is one message; it becomes ``<message_id@sender's domain>``.
    `sent_at` (aware) is the Date header. An `unsubscribe_url` adds List-Unsubscribe, and when it is HTTPS, as
    RFC 8058 requires, List-Unsubscribe-Post for one-click unsubscription. A header value with a line break (an
    injected header) is refused with ValueError."""
    if sent_at.tzinfo is None or sent_at.utcoffset() is None:
        raise ValueError("sent_at must carry its time zone")
    if not _MESSAGE_ID.fullmatch(message_id):
        raise ValueError(f"message_id must be letters, digits, '.', '_' or '-', got {message_id!r}")
    message = EmailMessage()
    message["From"] = settings.from_address
    message["To"] = to
    if settings.reply_to:
        message["Reply-To"] = settings.reply_to
    message["Subject"] = subject
    message["Date"] = format_datetime(sent_at)
    message["Message-ID"] = f"<{message_id}@{_domain(settings.from_address)}>"
    if unsubscribe_url is not None:
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        if unsubscribe_url.lower().startswith("https://"):
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def _domain(address: str) -> str:
    domain = Address(addr_spec=parseaddr(address)[1]).domain
    if not domain:
        raise ValueError(f"the sender's address {address!r} has no domain")
    return domain


def send(settings: SmtpSettings, message: EmailMessage) -> None:
    """Hand `message` to the relay, to the recipients of its To header. Returns once the relay accepted it;
    raises DeliveryError otherwise (permanent for 5xx replies and refused recipients, transient for 4xx replies,
    time-outs and connection or TLS failures)."""
    secrets = [settings.password] if settings.password else []
    try:
        _deliver(settings, message)
    except smtplib.SMTPRecipientsRefused as error:
        replies = error.recipients.values()
        permanent = all(code >= 500 for code, _ in replies)
        described = "; ".join(
            f"{address}: {_reply(code, reply)}" for address, (code, reply) in error.recipients.items()
        )
        raise DeliveryError(redact(f"recipient refused: {described}", secrets), permanent=permanent) from None
    except smtplib.SMTPResponseException as error:
        # Sender refused, data refused, authentication failed, a greeting that turns us away: the reply code says.
        described = f"{_where(settings)}: {_reply(error.smtp_code, error.smtp_error)}"
        raise DeliveryError(redact(described, secrets), permanent=error.smtp_code >= 500) from None
    except (smtplib.SMTPException, OSError) as error:
        # OSError covers refused connections, time-outs and TLS failures (ssl.SSLError); SMTPException what is left:
        # a server that hung up, or lacks STARTTLS or AUTH. Any of them may be fixed by the time of the next try.
        described = f"{_where(settings)}: {type(error).__name__}: {error}".rstrip(": ")
        raise DeliveryError(redact(described, secrets), permanent=False) from None


def _deliver(settings: SmtpSettings, message: EmailMessage) -> None:
    context = ssl.create_default_context(cafile=settings.ca_file) if settings.security != Security.NONE else None
    smtp: smtplib.SMTP
    if settings.security == Security.SSL:
        smtp = smtplib.SMTP_SSL(
            settings.host, settings.port, settings.local_hostname, timeout=settings.timeout, context=context
        )
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, settings.local_hostname, timeout=settings.timeout)
    try:
        if settings.security == Security.STARTTLS:
            smtp.starttls(context=context)
        if settings.username is not None:
            smtp.login(settings.username, settings.password or "")
        refused = smtp.send_message(message)
        if refused:  # some recipients accepted, some not: report the refused ones
            raise smtplib.SMTPRecipientsRefused(refused)
    except BaseException:
        smtp.close()
        raise
    # The message is accepted: a failure to say goodbye must not make it look undelivered (and be sent twice).
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _where(settings: SmtpSettings) -> str:
    return f"{settings.host}:{settings.port}"


def _reply(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return f"{code} {' '.join(text.split())}"
