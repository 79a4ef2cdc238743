"""Named crash points, so fault tests can kill a real process exactly where they mean to.

Set ``EVENTSHOP_CRASH_AT=<name>`` in a process's environment and it exits abruptly
(no clean-up, like ``kill -9``) the first time it reaches that point.
"""

from __future__ import annotations

import os

CRASH_EXIT_CODE = 86


def crash_point(name: str) -> None:
    if os.environ.get("EVENTSHOP_CRASH_AT") == name:
        os._exit(CRASH_EXIT_CODE)
