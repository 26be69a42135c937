"""Prometheus metrics: requests and latency per route, orders confirmed, points issued and spent.

The totals are business figures, so `/metrics` is not public: it answers an analytics (or admin) key, or the
token the operator gives the Prometheus scraper in LOYALTY_METRICS_TOKEN (a scraper should not need an API key
that also reads the program's data)."""

from __future__ import annotations

import hmac
import os
from typing import Any

from fastapi import Request
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess

from loyalty.http import deps

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


def authorise(request: Request) -> None:
    """Let the scraper's token or an analytics key through; else 401 (no or unknown credential) or 403."""
    scraper_token = os.environ.get("LOYALTY_METRICS_TOKEN")
    header = request.headers.get("authorization", "")
    offered = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if scraper_token and offered and hmac.compare_digest(offered.encode(), scraper_token.encode()):
        return
    deps.authorise(request, "analytics")


def registry() -> CollectorRegistry | None:
    """With several worker processes (PROMETHEUS_MULTIPROC_DIR set), collect from all of them."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
        return collected
    return None
