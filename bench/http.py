"""HTTP throughput and latency of the product next to a ceiling, printed as one JSON line (`make bench-http`).

On a fresh PostgreSQL database (members registered and given their starting points as bench.confirm does), with
`wrk` as the load generator (`connections` connections over `threads` threads, the same Lua script,
bench/wrk/orders.lua, for every run; a warm-up of `warmup` seconds, then `duration` measured seconds):

1. `ceiling_confirm_*` — bench/ceiling.py: a bare FastAPI app whose one endpoint does the raw confirm writes of
   bench.confirm.raw_confirm, served as the product is (uvicorn, `server_workers` processes sharing one TCP socket,
   access log off). It is what confirm over HTTP costs with this stack when nothing but the writes is done.
2. `http_confirm_*` — `loyalty serve --workers N`, POST /v1/orders/confirm, the same orders (3-line carts as
   bench.confirm.cart_order draws them, a `spend_share` also paying 10..200 points, each with its own order_id).
   `http_confirm_vs_ceiling_ratio` is the share of the ceiling the product reaches.
3. `http_calculate_*` — the same server, POST /v1/orders/calculate of bench.confirm.big_cart_order (20 lines,
   paying no points) for members drawn at random.

Before them, unless `--no-inprocess`, the use case and the raw writes in `inprocess_workers` worker processes
without HTTP (bench.confirm's measurement, one round, the servers started and idle): `inprocess_confirm_per_s`,
`inprocess_raw_confirm_per_s`.

Afterwards the ledger audit runs over the database (`audit_violations`, 0 or the writes are wrong), and the confirmed
orders of the measured product run are counted against the 2xx responses wrk saw: `orders_recorded` must equal
`http_confirm_ok`. wrk stops at the end of its duration without waiting for the responses still due, so each
connection may leave a confirm behind that the server records (or drops, if it had not read it yet) and wrk never
counts: the Lua script lists the order_ids it sent and had no answer to (`http_confirm_abandoned` of them), and
`orders_recorded` leaves those out (`http_confirm_abandoned_recorded` says how many were written all the same,
`orders_recorded_total` counts everything). The same for the ceiling.

Latencies are wrk's (with its correction for coordinated omission), in ms; per-second figures are 2xx responses over
wrk's measured duration. Server, database and wrk share the machine, with whatever else runs on it: the 1-minute load
average is reported before the run and after it (when it includes the run's own load). Nothing asserts on time;
tests/bench runs it at a tiny size.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from bench.confirm import (
    Config,
    Workers,
    bench_database_url,
    big_cart_order,
    fresh_database,
    log,
    measure_throughput,
    publish_program,
    report,
    settle,
)
from loyalty.access import service as access
from loyalty.audit import service as audit
from loyalty.storage.database import UnitOfWork, make_engine

ROOT = Path(__file__).resolve().parents[1]
WRK_SCRIPT = ROOT / "bench" / "wrk" / "orders.lua"
# Order ids of the measured runs start with these; warm-ups and the in-process runs use others, so each run's
# orders can be counted in the database.
HTTP_PREFIX = "http"
CEILING_PREFIX = "ceiling"
_MEMBER_MARK = -424242  # stands for the member id in the calculate body until the Lua script puts one there


@dataclass
class HttpConfig:
    url: str
    connections: int = 16
    threads: int = 2
    server_workers: int = 2
    members: int = 500
    duration: int = 10  # measured seconds per run; wrk counts time in whole seconds
    warmup: int = 3  # seconds of the same load before each measured run, not counted
    spend_share: float = 0.2
    inprocess: bool = True
    inprocess_workers: int = 8
    seed: int = 20261123


# wrk


def ensure_wrk() -> str:
    """The path of wrk, installed from Debian's packages first when it is missing and we may (root)."""
    found = shutil.which("wrk")
    if found:
        return found
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError(
            "wrk is not installed, and the benchmark installs it only as root with apt-get: run "
            "`sudo apt-get install -y wrk` (Debian, Ubuntu; elsewhere your package manager's wrk), "
            "then `make bench-http` again"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log("wrk is not installed: apt-get install -y wrk")
    # The package lists of a fresh machine may be missing or stale: update them once if the first try fails.
    if subprocess.run(["apt-get", "install", "-y", "wrk"], env=env, stdout=2, stderr=2, check=False).returncode:
        subprocess.run(["apt-get", "update"], env=env, stdout=2, stderr=2, check=True)
        subprocess.run(["apt-get", "install", "-y", "wrk"], env=env, stdout=2, stderr=2, check=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("apt-get installed wrk but it is not on PATH")
    return found


def wrk_version(wrk: str) -> str:
    # `wrk -v` prints "wrk 4.1.0 [epoll] Copyright ..." and then its usage, exiting 1.
    done = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    match = re.search(r"wrk (\S+)", done.stdout + done.stderr)
    return match.group(1) if match else "unknown"


@dataclass
class Load:
    """What one wrk run reported (its `done` line): responses, errors and latencies."""

    requests: int
    duration_s: float
    abandoned: list[str]  # the order_ids of confirms sent and not answered when wrk stopped
    errors_status: int
    errors_socket: int  # connect, read and write errors
    errors_timeout: int
    p50_ms: float
    p99_ms: float

    @property
    def ok(self) -> int:
        return self.requests - self.errors_status

    @property
    def per_s(self) -> float:
        return self.ok / self.duration_s

    @property
    def errors(self) -> int:
        return self.errors_status + self.errors_socket + self.errors_timeout


def run_wrk(wrk: str, url: str, duration: int, config: HttpConfig, script_args: Sequence[str]) -> Load:
    command = [
        wrk,
        f"-t{config.threads}",
        f"-c{config.connections}",
        f"-d{duration}s",
        "--timeout=60s",  # a slow response is still a response: counted, and in the latencies
        f"--script={WRK_SCRIPT}",
        url,
        "--",
        *script_args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 120, check=False)
    found = [line for line in done.stdout.splitlines() if line.startswith("WRK_RESULT ")]
    if done.returncode != 0 or len(found) != 1:
        raise RuntimeError(f"wrk failed ({done.returncode}): {' '.join(command)}\n{done.stdout}\n{done.stderr}")
    raw = json.loads(found[0].removeprefix("WRK_RESULT "))
    return Load(
        requests=raw["requests"],
        duration_s=raw["duration_us"] / 1e6,
        abandoned=raw["unanswered"],
        errors_status=raw["errors_status"],
        errors_socket=raw["errors_connect"] + raw["errors_read"] + raw["errors_write"],
        errors_timeout=raw["errors_timeout"],
        p50_ms=round(raw["latency_p50_us"] / 1000, 3),
        p99_ms=round(raw["latency_p99_us"] / 1000, 3),
    )


def measure(wrk: str, name: str, url: str, config: HttpConfig, script_args: list[str]) -> Load:
    """A warm-up (its orders under a prefix of their own), then the measured run."""
    mode, prefix, *rest = script_args
    if config.warmup:
        warm = run_wrk(wrk, url, config.warmup, config, [mode, f"warmup-{prefix}", *rest])
        log(f"{name} warm-up: {warm.ok} responses in {warm.duration_s:.1f} s, {warm.errors} errors")
    load = run_wrk(wrk, url, config.duration, config, script_args)
    log(
        f"{name}: {load.ok} responses in {load.duration_s:.2f} s = {load.per_s:.0f}/s, p50 {load.p50_ms} ms, "
        f"p99 {load.p99_ms} ms, errors {load.errors} (non-2xx {load.errors_status}), abandoned {len(load.abandoned)}"
    )
    return load


# Servers


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A server process started in the background, its output in a log file (the product logs every request),
    stopped however the run ends: terminated (uvicorn's supervisor stops its workers gracefully), then killed
    with its whole process group if it takes over 30 s."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_file: Path) -> None:
        self.name = name
        self.log_file = log_file
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        with log_file.open("wb") as output:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port)],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so that a kill reaches its workers too
            )

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited during start-up ({self.process.returncode}):\n{self.tail()}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.base}/readyz", timeout=1) as response:
                if response.status == 200:
                    log(f"{self.name} ready at {self.base}")
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not become ready in {timeout:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            log(f"{self.name} did not stop in 30 s: killing its process group")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


# Set-up and checks


def register_and_seed(workers: Workers, members: int, now: datetime) -> list[int]:
    """Members registered and given their starting points (a confirmed order each) by the worker processes."""
    workers.call("ready", [{}] * len(workers))
    numbers = list(range(1, members + 1))
    shares = [numbers[i :: len(workers)] for i in range(len(workers))]
    got = workers.call("register", [{"numbers": s, "registered_at": now - timedelta(days=40)} for s in shares])
    ids = sorted(m for part in got for m in part)
    workers.call("seed", [{"member_ids": ids[i :: len(workers)], "now": now} for i in range(len(workers))])
    log(f"registered {len(ids)} members with their starting points")
    return ids


def inprocess_figures(workers: Workers, config: HttpConfig, ids: list[int], program_version: int) -> dict[str, Any]:
    """bench.confirm's measurement, one round: the use case and the raw writes, no HTTP."""
    workers.call("configure", [{"member_ids": ids, "program_version": program_version}] * len(workers))
    core = Config(
        url=config.url,
        workers=len(workers),
        members=config.members,
        duration=config.duration,
        rounds=1,
        spend_share=config.spend_share,
        sqlite=False,
        seed=config.seed,
    )
    got = measure_throughput(workers, core)
    return {
        "inprocess_confirm_per_s": got["confirm_per_s"],
        "inprocess_raw_confirm_per_s": got["raw_confirm_per_s"],
        "inprocess_workers": len(workers),
    }


def recorded(engine: Engine, prefix: str, load: Load) -> dict[str, int]:
    """The confirmed orders of a measured run: all of them, those of the requests wrk abandoned, and the others,
    which must be as many as the 2xx responses wrk counted."""
    with engine.connect() as conn:
        total = conn.execute(
            text("SELECT count(*) FROM orders WHERE status = 'confirmed' AND starts_with(order_key, :p)"),
            {"p": f"{prefix}-"},
        ).scalar_one()
        abandoned = conn.execute(
            text("SELECT count(*) FROM orders WHERE status = 'confirmed' AND order_key = ANY(:keys)"),
            {"keys": load.abandoned},
        ).scalar_one()
    return {"total": int(total), "abandoned": int(abandoned), "answered": int(total) - int(abandoned)}


def calculate_template(path: Path) -> None:
    """big_cart_order as JSON with `%d` where the member id goes (and any other % doubled), for string.format."""
    body = json.dumps(big_cart_order(_MEMBER_MARK, points=0), separators=(",", ":")).replace("%", "%%")
    if body.count(str(_MEMBER_MARK)) != 1:
        raise RuntimeError("the member mark must occur once in the calculate body")
    path.write_text(body.replace(str(_MEMBER_MARK), "%d"), encoding="utf-8")


# The whole run


def run(config: HttpConfig) -> dict[str, Any]:
    began = time.perf_counter()
    wrk = ensure_wrk()
    version = wrk_version(wrk)
    load_before = os.getloadavg()[0]
    now = datetime.now(UTC)
    result: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="loyalty-bench-http-") as tmp,
        fresh_database(config.url) as url,
        contextlib.ExitStack() as stack,
    ):
        files = Path(tmp)
        engine = make_engine(url)
        stack.callback(engine.dispose)
        program_version = publish_program(engine, now)
        with UnitOfWork(engine) as uow:
            _, key = access.create_key(uow, "bench", "checkout", now)
            uow.commit()
        workers = Workers(config.inprocess_workers if config.inprocess else 2, url, config.seed)
        stack.callback(workers.close)
        # Both servers start now, and take their seconds of imports while the workers register the members; each
        # idles while the other one is measured.
        server_workers = ["--workers", str(config.server_workers)]
        ceiling = Server(
            "ceiling",
            [sys.executable, "-m", "bench.ceiling", *server_workers],
            {
                **os.environ,
                "LOYALTY_CEILING_DATABASE_URL": url,
                "LOYALTY_CEILING_PROGRAM_VERSION": str(program_version),
            },
            files / "ceiling.log",
        )
        stack.callback(ceiling.stop)
        (files / "metrics").mkdir()
        product = Server(
            "loyalty serve",
            [sys.executable, "-m", "loyalty.cli", "serve", "--database", url, *server_workers],
            {
                **os.environ,
                "LOYALTY_DATABASE_URL": url,
                "LOYALTY_SECRET_KEY": secrets.token_urlsafe(32),  # set, as in production, so serve does not warn
                "PROMETHEUS_MULTIPROC_DIR": str(files / "metrics"),  # the one serve would make, removed with tmp
            },
            files / "loyalty.log",
        )
        stack.callback(product.stop)

        ids = register_and_seed(workers, config.members, now)
        members_file = files / "members.txt"
        members_file.write_text("".join(f"{m}\n" for m in ids), encoding="utf-8")
        template = files / "calculate.json"
        calculate_template(template)
        settle(engine, vacuum=False)  # planner statistics, as a database in service has them
        ceiling.wait_ready()
        product.wait_ready()
        if config.inprocess:
            result.update(inprocess_figures(workers, config, ids, program_version))
        workers.close()

        confirm_args = [str(members_file), key, str(config.spend_share), str(config.seed)]
        settle(engine, vacuum=True)  # each measured run starts on a database without dead rows
        ceiling_load = measure(
            wrk, "ceiling confirm", f"{ceiling.base}/confirm", config, ["confirm", CEILING_PREFIX, *confirm_args]
        )
        settle(engine, vacuum=True)
        confirm = measure(
            wrk, "http confirm", f"{product.base}/v1/orders/confirm", config, ["confirm", HTTP_PREFIX, *confirm_args]
        )
        settle(engine, vacuum=True)
        calculate = measure(
            wrk,
            "http calculate",
            f"{product.base}/v1/orders/calculate",
            config,
            ["calculate", "calculate", str(members_file), key, str(template)],
        )
        # Stopped, the servers have finished every order they were still writing: count and audit now.
        ceiling.stop()
        product.stop()
        orders = recorded(engine, HTTP_PREFIX, confirm)
        ceiling_orders = recorded(engine, CEILING_PREFIX, ceiling_load)
        with UnitOfWork(engine, read_only=True) as uow:
            violations, checked = audit.run(uow)
        for violation in violations[:5]:
            log(f"audit: {violation}")
        for name, load, got in (("product", confirm, orders), ("ceiling", ceiling_load, ceiling_orders)):
            log(
                f"{name}: {got['answered']} orders recorded for {load.ok} 2xx responses; of the {len(load.abandoned)}"
                f" requests abandoned at wrk's end, {got['abandoned']} recorded"
            )
        with engine.connect() as conn:
            server_version = conn.execute(text("SHOW server_version")).scalar()
    result.update(
        {
            "http_confirm_per_s": round(confirm.per_s, 1),
            "ceiling_confirm_per_s": round(ceiling_load.per_s, 1),
            "http_confirm_vs_ceiling_ratio": round(confirm.per_s / ceiling_load.per_s, 4),
            "http_confirm_p50_ms": confirm.p50_ms,
            "http_confirm_p99_ms": confirm.p99_ms,
            "ceiling_confirm_p50_ms": ceiling_load.p50_ms,
            "ceiling_confirm_p99_ms": ceiling_load.p99_ms,
            "http_calculate_per_s": round(calculate.per_s, 1),
            "http_calculate_p50_ms": calculate.p50_ms,
            "http_calculate_p99_ms": calculate.p99_ms,
            "http_confirm_errors": confirm.errors,
            "http_confirm_non_2xx": confirm.errors_status,
            "http_calculate_errors": calculate.errors,
            "ceiling_confirm_errors": ceiling_load.errors,
            "http_confirm_ok": confirm.ok,
            "orders_recorded": orders["answered"],
            "http_confirm_abandoned": len(confirm.abandoned),
            "http_confirm_abandoned_recorded": orders["abandoned"],
            "orders_recorded_total": orders["total"],
            "ceiling_confirm_ok": ceiling_load.ok,
            "ceiling_orders_recorded": ceiling_orders["answered"],
            "ceiling_confirm_abandoned": len(ceiling_load.abandoned),
            "ceiling_confirm_abandoned_recorded": ceiling_orders["abandoned"],
            "audit_violations": len(violations),
            "audit_checked": checked,
            "server_workers": config.server_workers,
            "connections": config.connections,
            "wrk_threads": config.threads,
            "duration_s": config.duration,
            "warmup_s": config.warmup,
            "members": config.members,
            "spend_share": config.spend_share,
            "cart_lines": 3,
            "calculate_cart_lines": 20,
            "cpu_count": os.cpu_count(),
            # Server, database and wrk share this machine, and so does any other work on it: this shows how much.
            "load_avg_1m_before": round(load_before, 2),
            "load_avg_1m_after": round(os.getloadavg()[0], 2),
            "wrk_version": version,
            "postgresql": server_version,
            "run_s": round(time.perf_counter() - began, 1),
        }
    )
    if config.inprocess:
        result["http_vs_inprocess_ratio"] = round(confirm.per_s / result["inprocess_confirm_per_s"], 4)
    return result


def parse_args(argv: Sequence[str] | None = None) -> HttpConfig:
    defaults = HttpConfig(url="")
    parser = argparse.ArgumentParser(prog="python -m bench.http", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--database",
        default=None,
        help="PostgreSQL server URL (default: $LOYALTY_BENCH_DATABASE_URL, else $LOYALTY_TEST_DATABASE_URL, else "
        "the local test server)",
    )
    parser.add_argument("--connections", type=int, default=defaults.connections, help="wrk -c")
    parser.add_argument("--threads", type=int, default=defaults.threads, help="wrk -t")
    parser.add_argument("--server-workers", type=int, default=defaults.server_workers)
    parser.add_argument("--members", type=int, default=defaults.members)
    parser.add_argument("--duration", type=int, default=defaults.duration, help="measured seconds per run")
    parser.add_argument("--warmup", type=int, default=defaults.warmup, help="seconds of warm-up before each run")
    parser.add_argument("--spend-share", type=float, default=defaults.spend_share)
    parser.add_argument("--inprocess-workers", type=int, default=defaults.inprocess_workers)
    parser.add_argument("--no-inprocess", action="store_true", help="skip the in-process figures")
    args = parser.parse_args(argv)
    if args.duration < 1 or args.warmup < 0:
        parser.error("--duration must be at least 1 s and --warmup at least 0 s (whole seconds: wrk counts so)")
    return HttpConfig(
        url=args.database or bench_database_url(),
        connections=args.connections,
        threads=args.threads,
        server_workers=args.server_workers,
        members=args.members,
        duration=args.duration,
        warmup=args.warmup,
        spend_share=args.spend_share,
        inprocess=not args.no_inprocess,
        inprocess_workers=args.inprocess_workers,
    )


def main(argv: Sequence[str] | None = None) -> None:
    report(parse_args(argv), run)


if __name__ == "__main__":
    main()
