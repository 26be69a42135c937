"""SMS through an HTTP gateway that configuration describes, so that any provider plugs in without code.

An `SmsGateway` says where to send (`url`, `method`), with which credentials (`headers`, `query`), and what the
request carries: a JSON `body`, or `form` fields. Its texts may hold placeholders, each a name in braces, replaced
when a message is sent:

- ``{phone}``: the recipient as given, in E.164 (``+79161234567``);
- ``{phone_digits}``: the same without the ``+`` (``79161234567``), for gateways that want digits only;
- ``{text}``: the message;
- ``{sender}``: the gateway's `sender` (a registered sender name or number).

The JSON body is parsed when the gateway is described and the placeholders are replaced inside its string values,
so a text with quotes, backslashes or line breaks stays one valid JSON string (no text is ever pasted into JSON
source). Query and form values are encoded by the HTTP client; `url` takes no placeholders. A placeholder with another name is refused when the
gateway is described, as a typo; braces around anything else (``{}``, ``{"a": 1}`` in a string) are left as they are.

Header and query values are credentials: they are not shown by `repr` and are blanked out of what the gateway
answers before it reaches a delivery log. Keep secrets there, not in `url`, `body` or `form`, which are shown.

`send` returns the gateway's answer for a 2xx status, or raises `DeliveryError`: permanent for a 4xx status (the
request is wrong and will stay wrong) except 408 and 429 (time-out, too many requests), transient for those, for
5xx and for network failures and time-outs. A gateway that answers 200 with an error in its body is taken at its
status."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from loyalty.messaging.channels import DeliveryError, clip, redact

PLACEHOLDERS = ("phone", "phone_digits", "text", "sender")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
RESPONSE_KEPT = 1000  # characters of the gateway's answer a delivery log keeps
_TRANSIENT_CLIENT_ERRORS = frozenset({408, 429})


@dataclass(frozen=True)
class SmsGateway:
    """An HTTP SMS gateway, as configured. `body` is JSON text (sent as application/json); `form` holds fields sent
    as application/x-www-form-urlencoded; a gateway has at most one of them, and a GET has neither. `timeout` is in
    seconds, for each of connecting, sending and reading. ValueError if the description is inconsistent."""

    url: str
    method: Literal["POST", "GET"] = "POST"
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    query: Mapping[str, str] = field(default_factory=dict, repr=False)
    body: str | None = None
    form: Mapping[str, str] = field(default_factory=dict)
    sender: str = ""
    timeout: float = 10.0
    _body_template: Any = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if not self.url.lower().startswith(("https://", "http://")):
            raise ValueError(f"url must be an http(s) URL, got {self.url!r}")
        if self.method not in ("POST", "GET"):
            raise ValueError(f"method must be POST or GET, got {self.method!r}")
        if self.body is not None and self.form:
            raise ValueError("a gateway sends a JSON body or form fields, not both")
        if self.method == "GET" and (self.body is not None or self.form):
            raise ValueError("a GET request has no body: put the fields in query")
        template = None
        if self.body is not None:
            try:
                template = json.loads(self.body)
            except json.JSONDecodeError as error:
                raise ValueError(f"body is not JSON: {error}") from None
        if _PLACEHOLDER.search(self.url):
            raise ValueError("url takes no placeholders: put them in query, where they are encoded")
        for where, value in (("query", self.query), ("form", self.form), ("body", template)):
            _refuse_unknown_placeholders(value, where)
        object.__setattr__(self, "_body_template", template)

    def secrets(self) -> list[str]:
        """What must never be shown: the header and query values."""
        return [*self.headers.values(), *self.query.values()]


@dataclass(frozen=True)
class GatewayResponse:
    """What the gateway answered: its status and the start of its body, credentials blanked out."""

    status: int
    body: str


def send(gateway: SmsGateway, phone: str, text: str, client: httpx.Client) -> GatewayResponse:
    """Send `text` to `phone` (E.164) through `gateway` with `client` (which the caller owns and reuses).
    Returns the answer for a 2xx status; raises DeliveryError otherwise (see the module)."""
    values = {"phone": phone, "phone_digits": phone.removeprefix("+"), "text": text, "sender": gateway.sender}
    headers = dict(gateway.headers)
    content: bytes | None = None
    if gateway.body is not None:
        content = json.dumps(_fill(gateway._body_template, values), ensure_ascii=False).encode()
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json; charset=utf-8"
    where = _where(gateway.url)
    try:
        response = client.request(
            gateway.method,
            gateway.url,
            params=_fill(dict(gateway.query), values) or None,
            headers=headers,
            content=content,
            data=_fill(dict(gateway.form), values) or None,
            timeout=gateway.timeout,
        )
    except httpx.TimeoutException as error:
        raise DeliveryError(f"{where}: timed out ({type(error).__name__})", permanent=False) from None
    except httpx.TransportError as error:
        described = redact(f"{where}: {type(error).__name__}: {error}", gateway.secrets())
        raise DeliveryError(described, permanent=False) from None
    answer = GatewayResponse(response.status_code, clip(redact(response.text, gateway.secrets()), RESPONSE_KEPT))
    if response.is_success:
        return answer
    permanent = response.is_client_error and response.status_code not in _TRANSIENT_CLIENT_ERRORS
    said = f": {clip(answer.body, 300)}" if answer.body else ""
    raise DeliveryError(f"{where}: HTTP {answer.status}{said}", permanent=permanent)


def _fill(value: Any, values: Mapping[str, str]) -> Any:
    """`value` (a parsed JSON value, or a mapping of texts) with the placeholders in its strings replaced; keys,
    numbers, booleans and nulls are kept as they are."""
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda found: values.get(found.group(1), found.group(0)), value)
    if isinstance(value, list):
        return [_fill(item, values) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, values) for key, item in value.items()}
    return value


def _refuse_unknown_placeholders(value: Any, where: str) -> None:
    if isinstance(value, str):
        for found in _PLACEHOLDER.finditer(value):
            if found.group(1) not in PLACEHOLDERS:
                known = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
                raise ValueError(f"{where}: unknown placeholder {found.group(0)}; the placeholders are {known}")
    elif isinstance(value, list):
        for item in value:
            _refuse_unknown_placeholders(item, where)
    elif isinstance(value, Mapping):
        for item in value.values():
            _refuse_unknown_placeholders(item, where)


def _where(url: str) -> str:
    """The gateway's address for a delivery log: scheme, host and path, never a query (it may hold a key)."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(query=None, fragment=None))
