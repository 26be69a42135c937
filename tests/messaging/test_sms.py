"""SMS: requests made to a real local HTTP server standing for the gateway, and its answers as delivery results."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from loyalty.messaging.channels import DeliveryError
from loyalty.messaging.sms import GatewayResponse, SmsGateway, send

TOKEN = "Bearer tok-9f8e7d6c5b4a"
PHONE = "+79161234567"
BODY = '{"messages": [{"to": "{phone}", "from": "{sender}", "content": "{text}", "channel": "sms"}], "priority": 1}'


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Gateway:
    """A local HTTP server answering every request with `status` and `answer` (after `delay` seconds), and keeping
    the requests it received."""

    status: int = 200
    answer: str = '{"status": "queued"}'
    delay: float = 0.0
    requests: list[Request] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/sms"


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    state = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            split = urlsplit(self.path)
            state.requests.append(
                Request(self.command, split.path, parse_qs(split.query), dict(self.headers), self.rfile.read(length))
            )
            time.sleep(state.delay)
            payload = state.answer.encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer  # noqa: N815 (http.server's method names)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def json_gateway(gateway: Gateway, **changes: Any) -> SmsGateway:
    described: dict[str, Any] = {
        "url": gateway.url,
        "headers": {"Authorization": TOKEN},
        "body": BODY,
        "sender": "Shop",
        "timeout": 5,
    }
    return SmsGateway(**(described | changes))


def test_the_body_is_the_template_with_the_values_inside_its_strings(gateway: Gateway, client: httpx.Client) -> None:
    text = 'Анна, у вас 1\u00a0250 баллов.\nКод: "SPRING" \\ {phone} {}'
    answer = send(json_gateway(gateway), PHONE, text, client)

    assert answer == GatewayResponse(200, '{"status": "queued"}')
    (request,) = gateway.requests
    assert request.method == "POST"
    assert request.path == "/v1/sms"
    assert request.headers["Authorization"] == TOKEN
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(request.body) == {
        "messages": [{"to": PHONE, "from": "Shop", "content": text, "channel": "sms"}],
        "priority": 1,
    }


def test_form_fields_and_query_parameters(gateway: Gateway, client: httpx.Client) -> None:
    described = SmsGateway(
        url=gateway.url,
        query={"api_key": "k-123", "to": "{phone_digits}"},
        form={"To": "{phone}", "Body": "{text}", "From": "{sender}"},
        sender="+15550001111",
    )
    send(described, PHONE, "Ваш код: 1234 & more=yes", client)
    (request,) = gateway.requests
    assert request.query == {"api_key": ["k-123"], "to": ["79161234567"]}
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.body.decode()) == {
        "To": [PHONE],
        "Body": ["Ваш код: 1234 & more=yes"],
        "From": ["+15550001111"],
    }


def test_a_get_gateway_carries_everything_in_the_query(gateway: Gateway, client: httpx.Client) -> None:
    described = SmsGateway(url=gateway.url, method="GET", query={"msg": "{text}", "to": "{phone}", "json": "1"})
    send(described, PHONE, "Привет & до свидания", client)
    (request,) = gateway.requests
    assert request.method == "GET"
    assert request.query == {"msg": ["Привет & до свидания"], "to": [PHONE], "json": ["1"]}
    assert request.body == b""


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(400, True), (401, True), (404, True), (408, False), (429, False), (500, False), (503, False)],
)
def test_a_refusal_is_permanent_for_4xx_but_408_and_429(
    gateway: Gateway, client: httpx.Client, status: int, permanent: bool
) -> None:
    gateway.status, gateway.answer = status, '{"error": "no"}'
    with pytest.raises(DeliveryError) as failed:
        send(json_gateway(gateway), PHONE, "Hi", client)
    assert failed.value.permanent is permanent
    assert failed.value.detail == f'{gateway.url}: HTTP {status}: {{"error": "no"}}'


def test_a_timeout_is_transient(gateway: Gateway, client: httpx.Client) -> None:
    gateway.delay = 1.0
    with pytest.raises(DeliveryError) as failed:
        send(json_gateway(gateway, timeout=0.2), PHONE, "Hi", client)
    assert not failed.value.permanent
    assert failed.value.detail == f"{gateway.url}: timed out (ReadTimeout)"


def test_a_closed_port_is_transient(client: httpx.Client) -> None:
    closed = Gateway(port=1)  # nothing listens on port 1 of the loopback
    with pytest.raises(DeliveryError) as failed:
        send(json_gateway(closed), PHONE, "Hi", client)
    assert not failed.value.permanent
    assert failed.value.detail.startswith(f"{closed.url}: ConnectError")


def test_credentials_are_never_shown(gateway: Gateway, client: httpx.Client) -> None:
    described = json_gateway(gateway, query={"key": "q-secret-42"})
    assert TOKEN not in repr(described)
    assert "q-secret-42" not in repr(described)

    gateway.status, gateway.answer = 401, f'{{"error": "bad token {TOKEN}", "key": "q-secret-42"}}'
    with pytest.raises(DeliveryError) as failed:
        send(described, PHONE, "Hi", client)
    assert failed.value.detail == f'{gateway.url}: HTTP 401: {{"error": "bad token ***", "key": "***"}}'


def test_a_long_answer_is_cut_for_the_log(gateway: Gateway, client: httpx.Client) -> None:
    gateway.answer = "x" * 5000
    answer = send(json_gateway(gateway), PHONE, "Hi", client)
    assert len(answer.body) == 1000


@pytest.mark.parametrize(
    ("changes", "refused"),
    [
        ({"body": '{"to": "{phone_number}"}'}, r"body: unknown placeholder \{phone_number\}"),
        ({"query": {"to": "{tel}"}}, r"query: unknown placeholder \{tel\}"),
        ({"body": '{"to": '}, "body is not JSON"),
        ({"body": None, "form": {"a": "b"}, "method": "GET"}, "a GET request has no body"),
        ({"form": {"a": "b"}}, "a JSON body or form fields, not both"),
        ({"url": "ftp://gateway.example/sms"}, "url must be an http"),
        ({"url": "https://gateway.example/sms/{phone}"}, "url takes no placeholders"),
    ],
)
def test_an_inconsistent_gateway_is_refused_when_described(changes: dict[str, Any], refused: str) -> None:
    with pytest.raises(ValueError, match=refused):
        json_gateway(Gateway(port=8000), **changes)
