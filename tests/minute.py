"""Keep a test clear of pg_cron's next tick.

The sandbox scheduler is real: at every minute boundary it runs the `* * * * *` jobs a test scheduled, adding a
run the test did not write. Tests that judge exact run histories start early enough in a minute to finish first.
"""

from __future__ import annotations

import time


def before_next_tick(needed: float = 10.0) -> None:
    """Sleep past the coming minute boundary if fewer than `needed` seconds remain before it."""
    left = 60 - (time.time() % 60)
    if left < needed:
        time.sleep(left + 0.5)
