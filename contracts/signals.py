"""What a loop waits on instead of polling on a short timer (docs/operations.md, "Idle").

The composition root hands each loop one (``projections.live.wakeups.Wakeups``: the event
store's NOTIFY, or the projectors' for the query API's position watcher); a loop given
none polls on its interval, as unit tests run it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol


class Signal(Protocol):
    #: Moves on with each piece of news.
    generation: int

    def wait_while(self, seen: int, timeout: float, holds: Callable[[], bool]) -> int:
        """Wait until the generation is not ``seen``, ``timeout`` s pass or ``holds()``
        turns false; the generation then."""
        ...


class News(Protocol):
    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (quickly: it runs on the listener's thread) with each piece of
        news, and after a reconnect; returns the call that unsubscribes it."""
        ...


def wait_paced(
    news: Signal, seen: int, stop: threading.Event, spacing: float, pause: float
) -> None:
    """Rest ``spacing`` s, then wait for news after ``seen`` until ``pause`` s have passed in
    all (or ``stop``). Rounds stay ``spacing`` apart under load, where news comes with every
    event or batch and would otherwise cost a round each; news that came meanwhile is kept
    in ``seen``'s generation, so it ends the wait at once."""
    stop.wait(spacing)
    news.wait_while(seen, pause - spacing, lambda: not stop.is_set())
