"""Named crash points, so fault tests can kill a real process exactly where they mean to.

Two ways to arm one:

- ``EVENTSHOP_CRASH_AT=<name>`` in a process's environment: it exits abruptly (no clean-up,
  like ``kill -9``) the first time it reaches that point.
- ``EVENTSHOP_FAULTS_DIR=<dir>`` in the environment of a whole fleet, then :func:`arm` (a
  file named after the point in that directory): the first process of the fleet to reach
  the point removes the file and exits. Removing a file is atomic, so exactly one process
  dies per arming, and a restarted process does not die again. This is how the chaos
  bench kills a process of a running fleet, under load, at a point it names.

Neither is set in production; the check then costs one dictionary lookup.
"""

from __future__ import annotations

import os
from pathlib import Path

CRASH_EXIT_CODE = 86


def crash_point(name: str) -> None:
    if os.environ.get("EVENTSHOP_CRASH_AT") == name:
        os._exit(CRASH_EXIT_CODE)
    faults = os.environ.get("EVENTSHOP_FAULTS_DIR")
    if faults:
        try:
            os.unlink(os.path.join(faults, name))
        except FileNotFoundError:
            return
        os._exit(CRASH_EXIT_CODE)


def arm(faults_dir: Path, name: str) -> Path:
    """Arm ``name`` once for the fleet whose ``EVENTSHOP_FAULTS_DIR`` is ``faults_dir``."""
    faults_dir.mkdir(parents=True, exist_ok=True)
    armed = faults_dir / name
    armed.touch()
    return armed
