"""A real uvicorn server for an app a test builds itself (settings of its own, an engine behind a proxy), and a
raw HTTP/1.1 exchange over a socket, for what an HTTP client library would not send (a body cut short, a length
that lies, chunks sent one by one while watching for the answer)."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from .conftest import free_port


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Serve `app` on a free port until the block ends; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not runner.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        runner.should_exit = True
        thread.join(timeout=10)


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
