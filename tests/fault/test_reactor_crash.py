"""Kill the mail reactor (a real ``eventshop react`` process) after the SMTP server took a
mail and before the reactor recorded it: the documented resend window.

The mail is sent once more when the reactor comes back, with the same Message-ID; every
other mail is sent exactly once, and none is lost (docs/operations.md, "Mail").
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from uuid import uuid4

from contracts.faults import CRASH_EXIT_CODE
from reactors.mailbox import mailbox_server, stored
from tests.support.served import free_port
from tests.support.stack import PASSWORD, Servers, eventually, running_stack


def test_a_crash_between_sending_and_recording_resends_that_mail_once_and_loses_none(
    servers: Servers, tmp_path: Path
) -> None:
    server = mailbox_server(tmp_path / "mail", port=free_port())
    server.start()
    try:
        with running_stack(servers) as stack:
            ids = []
            for n in range(3):
                created = stack.commands.post(
                    "/customers",
                    json={
                        "email": f"crash{n}-{uuid4().hex[:6]}@example.com",
                        "name": f"Crash{n}",
                        "password": PASSWORD,
                    },
                )
                ids.append(created.json()["id"])
            relay = stack.start_relay()
            eventually(lambda: relay.stats.published >= 3)
            env = {
                "EVENTSHOP_SMTP_URL": f"smtp://127.0.0.1:{server.port}",
                "EVENTSHOP_REACTOR_PROBE_PORT": "0",
                # The reactor takes the mail in itself here: nothing else consumes for it.
                "EVENTSHOP_MAIL_INTAKE": "reactor",
            }

            crashing = stack.child("react", EVENTSHOP_CRASH_AT="reactor.after_send", **env)
            assert crashing.wait(timeout=60) == CRASH_EXIT_CODE
            [first] = stored(tmp_path / "mail")  # the server took it; nobody recorded it
            states = stack.sql("SELECT state, count(*) FROM {rm}.mail_outbox GROUP BY state")
            assert dict(states) == {"pending": 3}

            again = stack.child("react", **env)
            try:
                eventually(
                    lambda: (
                        stack.sql("SELECT count(*) FROM {rm}.mail_outbox WHERE state = 'sent'")[0][
                            0
                        ]
                        == 3
                    ),
                    timeout=60,
                )
            finally:
                again.terminate()
                again.wait(timeout=30)
    finally:
        server.stop()
    sent = Counter(m.message_id for m in stored(tmp_path / "mail"))
    expected = {f"<welcome.{i}.1@eventshop.local>" for i in ids}
    assert set(sent) == expected, "no mail lost, none invented"
    assert sent[first.message_id] == 2, "the mail of the window is sent once more"
    assert sum(sent.values()) == 4, "every other mail exactly once"
