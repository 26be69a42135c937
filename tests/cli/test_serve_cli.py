"""`loyalty serve` as an operator starts it: a real process on a free port. It never migrates; it refuses a
database whose schema is not this version's, and warns when member tokens are signed with a secret kept in the
database."""

from __future__ import annotations

import http.client
import os
import socket
import statistics
import subprocess
import sys
import time

import httpx
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect
from typer.testing import CliRunner

from loyalty.cli.main import app
from loyalty.storage.database import normalise_url
from loyalty.storage.migrate import alembic_config, upgrade

runner = CliRunner()
NOT_SET = "LOYALTY_SECRET_KEY is not set"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LOYALTY_SECRET_KEY", "LOYALTY_DATABASE_URL")}
    return {**env, **extra}


def serve(url: str, port: int, env: dict[str, str]) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "loyalty.cli", "serve", "--port", str(port), "--database", url]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def refused(url: str) -> str:
    """Start `serve` on a database it must refuse; return what it said."""
    process = serve(url, free_port(), environment())
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2, stderr
    return " ".join(stderr.split())


def serving(url: str, env: dict[str, str]) -> str:
    """Start `serve`, wait for /healthz, stop it; return what it wrote to stderr."""
    port = free_port()
    process = serve(url, port, env)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()[1]
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    return " ".join(stderr.split())


def tables(url: str) -> set[str]:
    engine = create_engine(normalise_url(url))
    with engine.connect() as conn:
        names = set(inspect(conn).get_table_names())
    engine.dispose()
    return names


def test_serve_refuses_a_database_without_this_schema_and_serves_it_after_db_upgrade(empty_database_url: str) -> None:
    url = empty_database_url
    said = refused(url)
    assert "Not serving: the database has no schema yet: run `loyalty db upgrade` first" in said
    assert tables(url) == set()  # serve changed nothing

    # The schema of the release before: what a database is after an upgrade of loyalty that brings a migration.
    head = ScriptDirectory.from_config(alembic_config(url)).get_revision("head")
    assert head is not None and isinstance(head.down_revision, str)
    upgrade(url, head.down_revision)
    said = refused(url)
    assert f"the database's schema is outdated ({head.down_revision}, this version needs {head.revision})" in said
    assert "run `loyalty db upgrade` first" in said

    result = runner.invoke(app, ["db", "upgrade", "--database", url])
    assert result.exit_code == 0, result.output
    said = serving(url, environment())
    assert f"Warning: {NOT_SET}: member tokens are signed with a secret kept in the database" in said


def test_serve_does_not_warn_when_the_secret_key_is_set(database_url: str) -> None:
    said = serving(database_url, environment(LOYALTY_SECRET_KEY="k" * 64))
    assert NOT_SET not in said
    assert "Serving http://127.0.0.1:" in said


def test_two_workers_answer_keep_alive_requests_without_waiting_for_the_clients_delayed_ack(database_url: str) -> None:
    """With more than one worker, uvicorn's supervisor binds the socket without naming TCP, so asyncio never set
    TCP_NODELAY on the connections it accepted: a response written in two parts waited for the client's delayed ACK,
    about 40 ms on Linux, on every keep-alive request after the first (uvicorn issue #3149). Each request on one
    connection to /healthz (no database work) must take far less than that timer."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loyalty.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
            "--database",
            database_url,
        ],
        env=environment(LOYALTY_SECRET_KEY="k" * 64),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()[1]
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/healthz")
                assert connection.getresponse().read() == b'{"status":"ok"}'
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        took = []
        for _ in range(30):
            start = time.perf_counter()
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b'{"status":"ok"}')
            took.append(time.perf_counter() - start)
        connection.close()
        # The stall is the kernel's delayed-ACK timer (40 ms minimum), every time; an answer from a busy machine is
        # slow now and then. The median tells the two apart.
        assert statistics.median(took) < 0.020, [round(t * 1000, 1) for t in took]
    finally:
        process.terminate()
        process.communicate(timeout=30)
