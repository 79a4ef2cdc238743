"""What the mail sender pays to claim the next owed mail, on a young outbox and a lived one.

The sender claims one mail per transaction (reactors/sender.py), so a claim whose cost grows
with the outbox makes draining a backlog quadratic. Two outboxes, each in a schema of its
own on one PostgreSQL (embedded, or ``EVENTSHOP_BENCH_DATABASE_URL``): a young one (no sent
history, ``--young-backlog`` owed) and a lived one (``--history`` sent mails, ``--backlog``
owed: the queue after an SMTP outage). On each, ``--mails`` mails are sent through
``MailSender.send_next`` to a mailer that accepts everything at once (claim, render, record
``sent``, commit), the sides alternating ``--repeat`` times. Per mail: wall time, this
process's CPU, and its PostgreSQL backend's. One JSON line; target: a mail on the lived
outbox costs at most ``LIMIT`` times the young one's wall time.
Run: .venv/bin/python -m bench.mail_claim [--history 1000000] [--backlog 100000]
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

import psutil
import psycopg
from psycopg import sql

from bench.accounting import cpu_seconds, per_call
from bench.support import drop_schemas
from eventshop import wiring
from eventshop.settings import Settings
from reactors.mailer import Mail, SmtpMailer
from reactors.sender import MailSender
from tests.support.postgres import postgres_from
from tests.support.stack import Servers, isolated_settings

LIMIT = 2.0
CUSTOMERS = 500


def fill(conn: psycopg.Connection[Any], schema: str, *, history: int, backlog: int) -> None:
    """``history`` sent mails, then ``backlog`` pending ones, due a minute ago: two per
    order (versions 1 and 2), the customers known. Mail ``k<n>`` is the n-th."""
    s = sql.Identifier(schema)
    conn.execute(
        sql.SQL(
            "INSERT INTO {}.mail_recipients SELECT md5('c' || c)::uuid, 'c' || c || '@x', 'C'"
            " FROM generate_series(0, %s - 1) c"
        ).format(s),
        (CUSTOMERS,),
    )
    conn.execute(
        sql.SQL(
            "INSERT INTO {}.mail_outbox (key, kind, aggregate_id, aggregate_version,"
            " notification_id, customer_id, order_id, state, next_attempt_at)"
            " SELECT 'k' || i, 'order_paid', md5('o' || (i / 2))::uuid, 1 + i %% 2, i,"
            " md5('c' || (i %% %s))::uuid, md5('o' || (i / 2))::uuid,"
            " CASE WHEN i < %s THEN 'sent' ELSE 'pending' END, now() - interval '1 minute'"
            " FROM generate_series(0, %s - 1) i"
        ).format(s),
        (CUSTOMERS, history, history + backlog),
    )
    conn.execute(sql.SQL("VACUUM ANALYZE {}.mail_outbox").format(s))


class Accepting:
    """An SMTP session that accepts every mail at once."""

    def send(self, mail: Mail) -> None:
        del mail


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.mail_claim", description=__doc__.split("\n")[0])
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--young-backlog", type=int, default=2_000)
    parser.add_argument("--mails", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    with postgres_from("EVENTSHOP_BENCH_DATABASE_URL") as url:
        sizes = {"young": (0, args.young_backlog), "lived": (args.history, args.backlog)}
        settings = {name: isolated_settings(Servers(url, "127.0.0.1:9")) for name in sizes}
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in sizes}
        with psycopg.connect(url) as conn:
            try:
                senders = {name: outbox(url, settings[name], *sizes[name]) for name in sizes}
                for _ in range(args.repeat):
                    for name, mail_sender in senders.items():
                        runs[name].append(drain(conn, mail_sender, args.mails))
            finally:  # an external server keeps nothing of the bench
                conn.rollback()
                for made in settings.values():
                    drop_schemas(conn, made)
                conn.commit()
    ratio = statistics.median(
        lived["wall_us"] / young["wall_us"]
        for lived, young in zip(runs["lived"], runs["young"], strict=True)
    )
    best = {name: min(r, key=lambda m: m["wall_us"]) for name, r in runs.items()}
    line = {"bench": "mail_claim", "sizes": sizes, "mails": args.mails, "per_mail": best}
    line |= {"wall_ratio": round(ratio, 2), "limit": LIMIT, "ok": ratio <= LIMIT}
    print(json.dumps(line))


def outbox(url: str, settings: Settings, history: int, backlog: int) -> MailSender:
    wiring.migrate(settings)
    with psycopg.connect(url, autocommit=True) as conn:
        fill(conn, settings.read_schema, history=history, backlog=backlog)
    never = SmtpMailer("smtp://127.0.0.1:9")  # drain() hands its own session
    return MailSender(database_url=url, schema=settings.read_schema, mailer=never)


def drain(conn: psycopg.Connection[Any], mail_sender: MailSender, mails: int) -> dict[str, float]:
    session: Any = Accepting()
    backend = psutil.Process(conn.info.backend_pid)  # the one doing the claims

    def send() -> None:
        assert mail_sender.send_next(conn, session), "the backlog ran dry: raise --backlog"

    return per_call(send, mails, lambda: cpu_seconds(backend) or 0.0)


if __name__ == "__main__":
    main()
