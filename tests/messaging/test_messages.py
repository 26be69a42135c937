"""Messages end to end, on both databases, through a real SMTP server (aiosmtpd) and a real HTTP SMS gateway: a
trigger plans a message per event, the worker renders and sends it in the member's language, and the rules of
contact (consent, address, caps, quiet hours) skip or delay it with the reason in the delivery log; unsubscribe
and tracking links are signed and record what they say."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from random import Random
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from sqlalchemy import Engine

from loyalty.core.errors import Conflict, InvalidInput, NotFound
from loyalty.core.events import EventKind
from loyalty.jobs.worker import Worker
from loyalty.messaging import dispatch, messages, outbox, tracking
from loyalty.messaging.model import Channel
from loyalty.messaging.rules import Conditions, Purpose, Trigger
from tests.messaging.receiver import Receiver, receiver
from tests.usecases import NOW, balance, confirm, order, read, register, run

EMAIL = {
    "ru": {
        "subject": "{{ name }}, вам начислено {{ points_earned | points }}",
        "html": '<p>Баланс: {{ balance | points }}</p><a href="https://shop.example/catalog?a=1&amp;b=2">Каталог</a>'
        '<a href="{{ unsubscribe_url }}">Отписаться</a>',
        "text": "Баланс: {{ balance | points }}",
    },
    "en": {"subject": "You earned {{ points_earned | points }}", "text": "Balance: {{ balance | points }}"},
}
SMS = {"ru": {"text": "{{ name }}: +{{ points_earned | points }}, баланс {{ balance | points }}"}}
PUBLIC = "https://loyalty.shop.example"


class Mailbox:
    def __init__(self) -> None:
        self.received: list[Envelope] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        self.received.append(envelope)
        return "250 OK"

    def messages(self) -> list[EmailMessage]:
        found = []
        for envelope in self.received:
            assert isinstance(envelope.content, bytes)
            parsed = message_from_bytes(envelope.content, policy=policy.default)
            assert isinstance(parsed, EmailMessage)
            found.append(parsed)
        return found


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture
def gateway() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def configure(engine: Engine, port: int, gateway_url: str, **policy: Any) -> None:
    def setup(uow: Any) -> None:
        messages.set_channel(
            uow,
            Channel.EMAIL,
            {"host": "127.0.0.1", "port": port, "security": "none", "from_address": "Shop <news@shop.example>"},
        )
        messages.set_channel(
            uow,
            Channel.SMS,
            {
                "url": gateway_url,
                "headers": {"Authorization": "Bearer sms-secret"},
                "body": json.dumps({"to": "{phone}", "message": "{text}"}),
            },
        )
        messages.set_policy(uow, {"public_url": PUBLIC, **policy})
        messages.save_template(uow, "earned-email", Channel.EMAIL, "Points earned", EMAIL, NOW)
        messages.save_template(uow, "earned-sms", Channel.SMS, "Points earned", SMS, NOW)

    run(engine, setup)


def trigger(engine: Engine, trigger_id: str, channel: Channel, **given: Any) -> dict[str, Any]:
    template = "earned-email" if channel is Channel.EMAIL else "earned-sms"
    made = Trigger(trigger_id, EventKind.POINTS_EARNED, channel, template, **given)
    return run(engine, lambda uow: messages.save_trigger(uow, made, NOW))


def customer(engine: Engine, **consents: bool) -> int:
    return register(
        engine,
        phone="+79161234567",
        email="anna@example.com",
        name="Анна",
        consents=consents or {"email": True, "sms": True},
    )


def tick(engine: Engine, clock: Clock) -> dict[str, Any]:
    with httpx.Client() as client:
        return Worker(engine, clock, name="t", client=client, rng=Random(2)).tick().as_dict()


def log(engine: Engine, channel: Channel) -> list[dict[str, Any]]:
    return read(engine, lambda uow: dispatch.deliveries(uow, dispatch.DeliveryFilter(channel=channel)))


def test_earned_points_are_announced_by_email_and_sms(
    seeded: Engine, mailbox: tuple[Mailbox, int], gateway: Receiver
) -> None:
    box, port = mailbox
    configure(seeded, port, gateway.url)
    trigger(seeded, "earned-by-email", Channel.EMAIL, purpose=Purpose.TRANSACTIONAL)
    trigger(seeded, "earned-by-sms", Channel.SMS, purpose=Purpose.TRANSACTIONAL)
    customer(seeded)
    clock = Clock(NOW)
    done = tick(seeded, clock)
    assert done["deliveries"]["delivered"] == 2, done

    (mail,) = box.messages()
    assert mail["Subject"] == "Анна, вам начислено 500 баллов"
    assert mail["To"] == "anna@example.com"
    assert mail["List-Unsubscribe"].startswith(f"<{PUBLIC}/v1/unsubscribe/")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = mail.get_body(("html",)).get_content()
    assert "Баланс: 500\xa0баллов" in html or "Баланс: 500 баллов" in html
    assert "https://shop.example/catalog" not in html  # links go through signed click redirects
    assert f"{PUBLIC}/v1/t/o/" in html  # and the open pixel is there
    assert mail.get_body(("plain",)).get_content().strip() == "Баланс: 500 баллов"

    (text,) = gateway.requests
    assert text.headers["authorization"] == "Bearer sms-secret"
    assert json.loads(text.body) == {"to": "+79161234567", "message": "Анна: +500 баллов, баланс 500 баллов"}


def test_marketing_without_consent_is_skipped_with_the_reason(
    seeded: Engine, mailbox: tuple[Mailbox, int], gateway: Receiver
) -> None:
    _, port = mailbox
    configure(seeded, port, gateway.url)
    trigger(seeded, "earned-by-sms", Channel.SMS)  # marketing by default
    customer(seeded, email=True)  # never asked for SMS
    tick(seeded, Clock(NOW))
    (skipped,) = log(seeded, Channel.SMS)
    assert skipped["status"] == "skipped"
    assert skipped["error"] == "the member has not consented to sms (marketing message)"
    assert gateway.requests == []
    entry = read(seeded, lambda uow: dispatch.delivery(uow, skipped["delivery_id"]))
    assert entry["log"][0]["outcome"] == "skipped"


def test_quiet_hours_hold_an_sms_until_they_end(
    seeded: Engine, mailbox: tuple[Mailbox, int], gateway: Receiver
) -> None:
    _, port = mailbox
    configure(seeded, port, gateway.url, quiet_hours={"from": "21:00", "to": "09:00", "channels": ["sms"]})
    trigger(seeded, "earned-by-sms", Channel.SMS, purpose=Purpose.TRANSACTIONAL)
    customer(seeded)
    late = Clock(datetime.fromisoformat("2026-11-01T23:00:00+03:00"))  # 23:00 in Moscow, the program's zone
    tick(seeded, late)
    (waiting,) = log(seeded, Channel.SMS)
    assert waiting["status"] == "pending" and waiting["attempts"] == 0
    assert datetime.fromisoformat(waiting["next_attempt_at"]) == datetime.fromisoformat("2026-11-02T09:00:00+03:00")
    assert "quiet hours" in waiting["error"]
    assert gateway.requests == []
    late.at = datetime.fromisoformat("2026-11-02T09:00:00+03:00")
    tick(seeded, late)
    assert len(gateway.requests) == 1
    assert log(seeded, Channel.SMS)[0]["status"] == "delivered"


def test_a_frequency_cap_skips_what_is_over_it(seeded: Engine, mailbox: tuple[Mailbox, int], gateway: Receiver) -> None:
    _, port = mailbox
    configure(seeded, port, gateway.url, caps={"sms": {"count": 1, "per": "day"}})
    trigger(seeded, "earned-by-sms", Channel.SMS, purpose=Purpose.TRANSACTIONAL)
    customer(seeded)
    clock = Clock(NOW)
    tick(seeded, clock)
    confirm(seeded, order("o-1", ("tv", "2000.00", 1), member={"phone": "+79161234567"}))
    clock.at = NOW + timedelta(hours=1)
    tick(seeded, clock)
    statuses = [(d["status"], d["error"]) for d in log(seeded, Channel.SMS)]
    assert statuses == [("delivered", None), ("skipped", "frequency cap: at most 1 sms per day to a member")]
    clock.at = NOW + timedelta(days=1, hours=2)
    confirm(seeded, order("o-2", ("tv", "2000.00", 1), member={"phone": "+79161234567"}), clock.at)
    tick(seeded, clock)
    assert log(seeded, Channel.SMS)[-1]["status"] == "delivered"  # a day later the cap has room again


def test_conditions_and_delay_choose_whom_and_when(
    seeded: Engine, mailbox: tuple[Mailbox, int], gateway: Receiver
) -> None:
    _, port = mailbox
    configure(seeded, port, gateway.url)
    trigger(
        seeded,
        "big-earners",
        Channel.SMS,
        purpose=Purpose.TRANSACTIONAL,
        conditions=Conditions(min_points=1000),
        delay_minutes=3 * 24 * 60,
    )
    customer(seeded)  # 500 points: under the condition
    clock = Clock(NOW)
    tick(seeded, clock)
    assert log(seeded, Channel.SMS) == []
    confirm(seeded, order("big", ("tv", "30000.00", 1), member={"phone": "+79161234567"}))  # 1,500 points
    tick(seeded, clock)
    (planned,) = log(seeded, Channel.SMS)
    assert planned["next_attempt_at"] == (NOW + timedelta(days=3)).isoformat()
    clock.at = NOW + timedelta(days=3)
    tick(seeded, clock)
    assert [json.loads(r.body)["message"] for r in gateway.requests] == [
        "Анна: +1\xa0500 баллов, баланс 2\xa0000 баллов"
    ]


def test_the_unsubscribe_link_withdraws_the_consent(
    seeded: Engine, mailbox: tuple[Mailbox, int], gateway: Receiver
) -> None:
    box, port = mailbox
    configure(seeded, port, gateway.url)
    trigger(seeded, "earned-by-email", Channel.EMAIL)
    member_id = customer(seeded)
    tick(seeded, Clock(NOW))
    (mail,) = box.messages()
    token = re.search(r"/v1/unsubscribe/([^>]+)>", mail["List-Unsubscribe"])[1]  # type: ignore[index]
    key = tracking.secret(seeded)
    done = run(seeded, lambda uow: tracking.unsubscribe(uow, key, token, NOW + timedelta(hours=1)))
    assert done == {"member_id": member_id, "consent": "email", "granted": False}
    consents = read(
        seeded, lambda uow: __import__("loyalty.members.service", fromlist=["profile"]).profile(uow, member_id)
    )
    assert consents["consents"]["email"] == {
        "granted": False,
        "at": (NOW + timedelta(hours=1)).isoformat(),
        "source": "unsubscribe link",
    }

    confirm(seeded, order("o-1", ("tv", "2000.00", 1), member={"member_id": member_id}))
    tick(seeded, Clock(NOW + timedelta(hours=2)))
    assert log(seeded, Channel.EMAIL)[-1]["status"] == "skipped"  # no more marketing email
    assert len(box.messages()) == 1

    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    with pytest.raises(NotFound):
        run(seeded, lambda uow: tracking.unsubscribe(uow, key, forged, NOW))
    other = tracking.sign(key, f"o|{member_id}")  # a valid token of another kind is not an unsubscribe link
    with pytest.raises(NotFound):
        run(seeded, lambda uow: tracking.unsubscribe(uow, key, other, NOW))


def test_opening_an_email_earns_the_action_bonus_once_and_clicks_redirect(
    seeded: Engine, mailbox: tuple[Mailbox, int], gateway: Receiver
) -> None:
    box, port = mailbox
    configure(seeded, port, gateway.url)
    trigger(seeded, "earned-by-email", Channel.EMAIL, purpose=Purpose.TRANSACTIONAL)
    member_id = customer(seeded)
    tick(seeded, Clock(NOW))
    html = box.messages()[0].get_body(("html",)).get_content()
    pixel = re.search(r"/v1/t/o/([A-Za-z0-9_=.-]+)\"", html)[1]  # type: ignore[index]
    link = re.search(r"/v1/t/c/([A-Za-z0-9_=.-]+)\"", html)[1]  # type: ignore[index]
    key = tracking.secret(seeded)
    before = balance(seeded, member_id)["balance"]
    for _ in range(2):  # the pixel loads every time the email is shown
        run(seeded, lambda uow: tracking.record_open(uow, key, pixel, NOW + timedelta(hours=1)))
    assert balance(seeded, member_id, NOW + timedelta(hours=1))["balance"] == before + 10  # the seed's email_open
    url = run(seeded, lambda uow: tracking.record_click(uow, key, link, NOW + timedelta(hours=1)))
    assert url == "https://shop.example/catalog?a=1&b=2"
    found = read(seeded, lambda uow: outbox.events(uow, member_id=member_id))
    kinds = [e["kind"] for e in found]
    assert kinds.count("message.opened") == 1 and kinds.count("message.clicked") == 1
    with pytest.raises(NotFound):
        run(seeded, lambda uow: tracking.record_click(uow, key, link.replace(".", ".x"), NOW))


def test_a_template_that_does_not_render_is_refused_naming_the_part(seeded: Engine) -> None:
    bad = {"ru": {"subject": "Hi {{ nme }}", "text": "{% if %}"}}
    with pytest.raises(InvalidInput) as refused:
        run(seeded, lambda uow: messages.save_template(uow, "broken", Channel.EMAIL, "Broken", bad, NOW))
    paths = {p.path for p in refused.value.problems}
    assert {"wordings.ru.subject", "wordings.ru.text"} <= paths
    no_subject = {"en": {"text": "Hello"}}
    with pytest.raises(InvalidInput) as refused:
        run(seeded, lambda uow: messages.save_template(uow, "broken", Channel.EMAIL, "Broken", no_subject, NOW))
    assert refused.value.problems[0].path == "wordings.en.subject"
    assert read(seeded, messages.list_templates) == []


def test_a_template_in_use_cannot_be_removed_and_a_trigger_needs_a_matching_template(
    seeded: Engine, mailbox: tuple[Mailbox, int], gateway: Receiver
) -> None:
    _, port = mailbox
    configure(seeded, port, gateway.url)
    trigger(seeded, "earned-by-sms", Channel.SMS)
    with pytest.raises(Conflict):
        run(seeded, lambda uow: messages.delete_template(uow, "earned-sms"))
    wrong = Trigger("x", EventKind.POINTS_EARNED, Channel.EMAIL, "earned-sms")
    with pytest.raises(InvalidInput) as refused:
        run(seeded, lambda uow: messages.save_trigger(uow, wrong, NOW))
    assert refused.value.problems[0].path == "template_id"


def test_secrets_are_never_shown(seeded: Engine, mailbox: tuple[Mailbox, int], gateway: Receiver) -> None:
    _, port = mailbox

    def with_password(uow: Any) -> None:
        messages.set_channel(
            uow,
            Channel.EMAIL,
            {
                "host": "127.0.0.1",
                "port": port,
                "from_address": "news@shop.example",
                "username": "u",
                "password": "pw-1",
            },
        )

    run(seeded, with_password)
    configure_sms = {"url": gateway.url, "headers": {"Authorization": "Bearer sms-secret"}}
    run(seeded, lambda uow: messages.set_channel(uow, Channel.SMS, configure_sms))
    shown = json.dumps(read(seeded, lambda uow: [messages.channel_view(uow, c) for c in (Channel.EMAIL, Channel.SMS)]))
    assert "pw-1" not in shown and "sms-secret" not in shown and messages.HIDDEN in shown
    # Sending the view back keeps the secrets.
    view = read(seeded, lambda uow: messages.channel_view(uow, Channel.SMS))["settings"]
    run(seeded, lambda uow: messages.set_channel(uow, Channel.SMS, view))
    stored = read(seeded, lambda uow: messages._read_setting(uow, messages.SETTING[Channel.SMS]))
    assert stored is not None and stored["headers"] == {"Authorization": "Bearer sms-secret"}
