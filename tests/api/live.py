"""A raw HTTP/1.1 exchange over a socket, for what an HTTP client library would not send (a body cut short, a length
that lies, chunks sent one by one while watching for the answer). Serve an app with conftest's `serve`."""

from __future__ import annotations

import select
import socket
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: int  # body bytes sent before the answer came


def exchange(url: str, head: str, chunks: Iterable[bytes] = (), timeout: float = 10) -> RawResponse:
    """Send `head` (request line and headers, without the blank line), then the chunks one by one, stopping as soon
    as the server answers; the answer is read to its end."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n\r\n")
        sent = 0
        for chunk in chunks:
            if select.select([sock], [], [], 0)[0]:
                break  # the server has answered (or closed): send no more
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        return _read(sock, sent)


def _read(sock: socket.socket, sent: int) -> RawResponse:
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        if not part:
            raise ConnectionError(f"the server closed the connection without an answer: {data!r}")
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        part = sock.recv(65536)
        if not part:
            break
        body += part
    return RawResponse(int(status_line.split()[1]), headers, body[:length], sent)
