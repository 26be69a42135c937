"""A TCP forwarder between the application and PostgreSQL that a test controls: cutting it is a database outage
for the application alone (the shared server keeps running), and a trap can drop the connection that carries the
next COMMIT, before or after the server has executed it."""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field

# psycopg sends COMMIT as a simple query: 'Q', the length (4 bytes, itself included), the text and a NUL.
COMMIT = b"Q\x00\x00\x00\x0bCOMMIT\x00"


@dataclass(eq=False)
class _Link:
    client: socket.socket
    server: socket.socket
    swallow: bool = False  # drop what the server says next (the COMMIT's answer), then close

    def close(self) -> None:
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@dataclass(eq=False)
class Proxy:
    target: tuple[str, int]
    port: int = 0
    up: bool = True
    trap: str | None = None  # "drop" the next COMMIT, or "lose" its answer after the server executed it
    sprung: threading.Event = field(default_factory=threading.Event)
    _links: set[_Link] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        """Drop every connection and refuse new ones until `restore`."""
        with self._lock:
            self.up = False
            links, self._links = self._links, set()
        for link in links:
            link.close()

    def restore(self) -> None:
        self.up = True

    def set_trap(self, trap: str) -> None:
        self.sprung.clear()
        self.trap = trap

    def close(self) -> None:
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            link = _Link(client, socket.create_connection(self.target))
            with self._lock:
                self._links.add(link)
            threading.Thread(target=self._upstream, args=(link,), daemon=True).start()
            threading.Thread(target=self._downstream, args=(link,), daemon=True).start()

    def _upstream(self, link: _Link) -> None:
        """Client to server, watching for the trapped COMMIT."""
        try:
            while data := link.client.recv(65536):
                if self.trap is not None and COMMIT in data:
                    trap, self.trap = self.trap, None
                    if trap == "drop":
                        self._spring(link)
                        return
                    link.swallow = True
                link.server.sendall(data)
        except OSError:
            pass
        self._forget(link)

    def _downstream(self, link: _Link) -> None:
        try:
            while data := link.server.recv(65536):
                if link.swallow:  # the server committed; the application never hears it
                    self._spring(link)
                    return
                link.client.sendall(data)
        except OSError:
            pass
        self._forget(link)

    def _spring(self, link: _Link) -> None:
        # Set before the cut: the application answers as soon as its connection closes, and the test reads `sprung`
        # as soon as it has that answer.
        self.sprung.set()
        self._forget(link)

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)
        link.close()
