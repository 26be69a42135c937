"""Moves this process's wall clock when LOYALTY_TEST_CLOCK_SHIFT_DAYS is set: `make test-moved-clock` puts this
folder on PYTHONPATH, so pytest and every Python process a test starts (the CLI, `loyalty serve`) run that many
days ahead, the clock still ticking. Only the wall clock moves; monotonic clocks, sleeps and timed waits keep
real time. (Debian's libfaketime 0.9.10 breaks Python's sleeps and timed waits, hence this.)"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

_shift = os.environ.get("LOYALTY_TEST_CLOCK_SHIFT_DAYS")
if _shift:
    import time_machine

    # The real clock is read once, here, to know where the moved clock starts from.
    _traveller = time_machine.travel(datetime.now(UTC) + timedelta(days=int(_shift)), tick=True)
    _traveller.start()
