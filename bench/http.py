"""HTTP throughput and latency next to the in-process figures, printed as one JSON line (`make bench-http`).

On a fresh PostgreSQL database: `loyalty serve --workers 2` in its own process, and a load generator in another
process (httpx + asyncio, `clients` concurrent connections):

* `http_confirm_per_s` — POST /v1/orders/confirm of typical 3-line carts (a share also paying with points);
* `inprocess_confirm_per_s` — the same orders through the use case in worker processes (bench.confirm's
  workers), in the same run, so `http_vs_inprocess_ratio` compares like with like on this machine;
* `http_calculate_p50_ms` / `http_calculate_p99_ms` — POST /v1/orders/calculate of a 20-line cart at `clients`
  concurrent clients, measured at the client (so it includes HTTP, JSON and the network stack).
Nothing asserts on time; tests/bench runs it at a tiny size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench.confirm import (
    Config,
    Workers,
    bench_database_url,
    big_cart_order,
    cart_order,
    fresh_database,
    latency_ms,
    log,
    measure_throughput,
    publish_program,
    settle,
)
from loyalty.access import service as access
from loyalty.storage.database import UnitOfWork, make_engine


@dataclass
class HttpConfig:
    url: str
    clients: int = 16
    server_workers: int = 2
    inprocess_workers: int = 8
    members: int = 500
    duration: float = 8.0
    calc_requests: int = 2000
    spend_share: float = 0.2
    seed: int = 20261123


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _load(
    base: str,
    key: str,
    kind: str,
    clients: int,
    duration: float | None,
    total: int | None,
    member_ids: list[int],
    seed: int,
    spend_share: float,
) -> dict[str, Any]:
    rng = random.Random(seed)
    latencies: list[float] = []
    failures: dict[int, int] = {}
    counter = 0
    deadline = time.perf_counter() + duration if duration else float("inf")
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {key}"}, limits=limits, timeout=60
    ) as client:

        async def one_client(index: int) -> None:
            nonlocal counter
            while time.perf_counter() < deadline and (total is None or counter < total):
                counter += 1
                member_id = rng.choice(member_ids)
                if kind == "confirm":
                    body = cart_order(rng, f"http-{seed}-{index}-{counter}", member_id, spend_share)
                    path = "/v1/orders/confirm"
                else:
                    body = big_cart_order(member_id, points=0)  # the confirm load may have spent their points
                    path = "/v1/orders/calculate"
                t0 = time.perf_counter()
                response = await client.post(path, json=body)
                elapsed = time.perf_counter() - t0
                if response.status_code == 200:
                    latencies.append(elapsed)
                else:
                    failures[response.status_code] = failures.get(response.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(one_client(i) for i in range(clients)))
        return {
            "ok": len(latencies),
            "elapsed": time.perf_counter() - started,
            "latencies": latencies,
            "failures": failures,
        }


def _load_process(args: tuple[Any, ...], results: Any) -> None:
    results.put(asyncio.run(_load(*args)))


def run_load(*args: Any) -> dict[str, Any]:
    """The load generator in its own process, so it does not share the server's or this process's GIL."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_load_process, args=(args, results))
    process.start()
    answer = results.get(timeout=600)
    process.join(timeout=30)
    return dict(answer)


def _wait_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the server exited during start-up")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not become ready")


def run(config: HttpConfig) -> dict[str, Any]:
    now = datetime.now(UTC)
    with fresh_database(config.url) as url:
        engine = make_engine(url)
        publish_program(engine, now)
        with UnitOfWork(engine) as uow:
            _, key = access.create_key(uow, "bench", "checkout", now)
            uow.commit()
        core = Config(
            url=url,
            workers=config.inprocess_workers,
            members=config.members,
            duration=config.duration,
            rounds=1,
            spend_share=config.spend_share,
            sqlite=False,
            seed=config.seed,
        )
        workers = Workers(config.inprocess_workers, url, config.seed)
        try:
            workers.call("ready", [{}] * len(workers))
            numbers = list(range(1, config.members + 1))
            shares = [numbers[i :: len(workers)] for i in range(len(workers))]
            ids = [
                m
                for got in workers.call(
                    "register", [{"numbers": s, "registered_at": now - timedelta(days=40)} for s in shares]
                )
                for m in got
            ]
            workers.call("seed", [{"member_ids": ids[i :: len(workers)], "now": now} for i in range(len(workers))])
            workers.call("configure", [{"member_ids": ids, "program_version": 1}] * len(workers))
            settle(engine, vacuum=False)
            inprocess = measure_throughput(workers, core)
        finally:
            workers.close()
        log(f"in-process confirm: {inprocess['confirm_per_s']}/s")
        port = _free_port()
        env = {**os.environ, "LOYALTY_DATABASE_URL": url}
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "loyalty.cli",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(config.server_workers),
                "--database",
                url,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(base, server)
            run_load(base, key, "confirm", config.clients, None, 200, ids, config.seed, config.spend_share)  # warm up
            confirm = run_load(
                base, key, "confirm", config.clients, config.duration, None, ids, config.seed + 1, config.spend_share
            )
            log(f"http confirm: {confirm['ok']} in {confirm['elapsed']:.1f} s, failures {confirm['failures']}")
            calculate = run_load(
                base, key, "calculate", config.clients, None, config.calc_requests, ids, config.seed + 2, 0.0
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
        engine.dispose()
    http_rate = confirm["ok"] / confirm["elapsed"]
    return {
        "http_confirm_per_s": round(http_rate, 1),
        "inprocess_confirm_per_s": inprocess["confirm_per_s"],
        "http_vs_inprocess_ratio": round(http_rate / inprocess["confirm_per_s"], 4),
        "raw_confirm_per_s": inprocess["raw_confirm_per_s"],
        **latency_ms("http_confirm_latency", confirm["latencies"]),
        **latency_ms("http_calculate", calculate["latencies"]),
        "http_confirm_failures": confirm["failures"],
        "http_calculate_failures": calculate["failures"],
        "clients": config.clients,
        "server_workers": config.server_workers,
        "inprocess_workers": config.inprocess_workers,
        "members": config.members,
        "duration_s": config.duration,
        "calculate_cart_lines": 20,
        "cpu_count": os.cpu_count(),
        "load_avg_1m_after": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--server-workers", type=int, default=2)
    parser.add_argument("--inprocess-workers", type=int, default=8)
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--calc-requests", type=int, default=2000)
    args = parser.parse_args(argv)
    config = HttpConfig(
        bench_database_url(),
        args.clients,
        args.server_workers,
        args.inprocess_workers,
        args.members,
        args.duration,
        args.calc_requests,
    )
    print(json.dumps(run(config)), flush=True)


if __name__ == "__main__":
    main()
