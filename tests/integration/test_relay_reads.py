"""The relay reads the notification log once per NOTIFY it wakes for, not once more to find
it empty: after a batch shorter than its limit it waits for the next insert's NOTIFY
(queued on its listening connection meanwhile), as an idle relay does."""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from tests.support.stack import PASSWORD, Servers, eventually, running_stack


def test_one_read_per_command_when_commands_come_one_at_a_time(servers: Servers) -> None:
    with running_stack(servers) as stack:
        relay = stack.start_relay()
        eventually(relay.active.is_set)
        time.sleep(0.5)  # its first reads at start are done
        reads: list[int] = []
        select = relay.recorder.select_notifications

        def counted(*args: Any, **kwargs: Any) -> Any:
            found = select(*args, **kwargs)
            reads.append(len(found))
            return found

        relay.recorder.select_notifications = counted  # type: ignore[method-assign]
        first = relay.stats.batches

        def batches_reach(n: int) -> bool:
            return relay.stats.batches >= first + n

        for n in range(8):
            registered = stack.commands.post(
                "/customers", json={"email": f"rr{n}@x.io", "name": "R", "password": PASSWORD}
            )
            assert registered.status_code == 201, registered.text
            eventually(partial(batches_reach, n + 1), interval=0.01)
            time.sleep(0.05)
        # One read per command, and at most two safety polls (every 2 s) that found nothing:
        # reading on after each batch until a read comes back empty doubled the reads.
        assert reads.count(0) <= 2, reads
        assert len(reads) <= 8 + 2, reads
