"""Prometheus metrics: requests and latency per route, orders confirmed, points issued and spent."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess

REQUESTS = Counter("loyalty_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "loyalty_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
ORDERS = Counter("loyalty_orders_confirmed_total", "Orders confirmed (not counting replays)")
POINTS_ISSUED = Counter("loyalty_points_issued_total", "Points earned by confirmed orders")
POINTS_SPENT = Counter("loyalty_points_spent_total", "Points spent by confirmed orders")


def order_confirmed(result: dict[str, Any]) -> None:
    ORDERS.inc()
    POINTS_ISSUED.inc(result.get("points_to_earn", 0))
    POINTS_SPENT.inc(result.get("points_applied", 0))


def registry() -> CollectorRegistry | None:
    """With several worker processes (PROMETHEUS_MULTIPROC_DIR set), collect from all of them."""
    import os

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
        return collected
    return None
