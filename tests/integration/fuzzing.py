"""What the Hypothesis fuzz tests share: how many cases, and what counts as a crash.

The normal run tries ``FUZZ_EXAMPLES`` cases per target (default 300, seconds per
target); issue 17 asks for 10,000 per target: ``./scripts/fuzz`` runs every target with
``BAREOS_FUZZ_EXAMPLES=10000``, one after the other.
"""

import os

from hypothesis import HealthCheck, settings
from twisted.logger import formatEvent

FUZZ_EXAMPLES = int(os.environ.get("BAREOS_FUZZ_EXAMPLES", "300"))

fuzz_settings = settings(
    max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=False,
    # one daemon serves every case, as a long-running daemon serves every peer
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large])


def unexpected_failures(events):
    """Logged tracebacks among log events: ``log.failure`` and unhandled errors in Deferreds
    (``log_failure``), and what the reactor caught from a protocol or selectable, which
    reaches new-style observers through the legacy log (``failure`` only)."""
    return [formatEvent(event) + "\n" + failure.getTraceback()
            for event in events
            if (failure := event.get("log_failure", event.get("failure"))) is not None]
