"""Named crash points for recovery tests.

``crash_point("after-send")`` ends the process on the spot (like a power cut: no cleanup, no
flush) when the environment variable ``INBOXD_CRASH_AT`` names that point. Recovery tests use it
to stop inboxd between two steps and check that the next run finishes the job without losing or
repeating anything. With the variable unset it does nothing.
"""

from __future__ import annotations

import os

CRASH_ENV = "INBOXD_CRASH_AT"
CRASH_EXIT_CODE = 86


def crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os._exit(CRASH_EXIT_CODE)
