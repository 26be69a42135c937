"""`loyalty worker`: the dispatcher (outbox, deliveries) and the scheduler (every job at its slots), pass after
pass; `--once` makes one pass and prints what it did (for cron, or to drain the outbox by hand)."""

from __future__ import annotations

import json
import logging
import signal
import threading
from typing import Annotated

import typer

from loyalty.cli.terminal import DatabaseOption, err, now, out
from loyalty.storage.database import database_url, make_engine


def worker(
    once: Annotated[bool, typer.Option("--once", help="Make one pass, print what it did, and exit.")] = False,
    poll: Annotated[float, typer.Option(help="Seconds between passes.", min=0.1, max=3600)] = 1.0,
    name: Annotated[str | None, typer.Option(help="This worker's name in job runs (default: host:pid).")] = None,
    database: DatabaseOption = None,
) -> None:
    """Run the worker: sends what the outbox holds (webhooks, messages) and runs every job on its schedule
    (`loyalty jobs schedule`). Several may run at once on PostgreSQL."""
    from loyalty.jobs.worker import Worker

    worker = Worker(make_engine(database), now, name=name)
    if once:
        out.print_json(json.dumps(worker.tick().as_dict()))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    err.print(f"Worker {worker.name} on {database_url(database)}; Ctrl-C stops it after the current pass")
    worker.run(stop, poll)
