"""What every channel (email, SMS) shares: how a failed delivery is reported to whoever retries it.

A channel's `send` either returns (the message was handed over: the SMTP server or the gateway accepted it) or
raises `DeliveryError`. `permanent` tells the retry policy whether the same message, sent again with the same
settings, can succeed: a refused mailbox or a rejected request will not (stop and log it), a timeout or a busy
server may (retry later). A permanent error caused by the settings themselves (a wrong password, a wrong API key)
stops only that message; the operator fixes the settings and queues it again."""

from __future__ import annotations

from collections.abc import Iterable

from loyalty.core import limits

REDACTED = "***"


class DeliveryError(Exception):
    """A message was not handed over. `detail` is short, for a delivery log, and never holds a secret."""

    def __init__(self, detail: str, *, permanent: bool) -> None:
        self.detail = clip(detail)
        self.permanent = permanent
        super().__init__(self.detail)

    def __repr__(self) -> str:
        return f"DeliveryError({self.detail!r}, permanent={self.permanent})"


def clip(text: str, length: int = limits.DELIVERY_DETAIL) -> str:
    """`text` cut to `length` characters, so that a server's long answer does not flood a delivery log."""
    return text if len(text) <= length else text[: length - 1] + "…"


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of each secret replaced, for a server that echoes back what it was sent."""
    # The longest first, so that a secret containing a shorter one is replaced whole.
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text
