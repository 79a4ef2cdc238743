"""`eventshop run` as a small fleet: two processes per API on one port, two projector
processes per consumer group; a SIGKILLed worker is restarted and nothing is lost."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from uuid import uuid4

import httpx2
import psutil

from eventshop.embedded import free_port
from tests.e2e.test_eventshop_run import fleet_env
from tests.support.events import ready
from tests.support.stack import PASSWORD, Servers, eventually

TOKEN = "X-Consistency-Token"


def workers(run: psutil.Process, *args: str) -> list[psutil.Process]:
    return [
        c
        for c in run.children(recursive=True)
        if c.is_running()
        and c.status() != psutil.STATUS_ZOMBIE
        and c.cmdline()[-len(args) :] == list(args)
    ]


def test_two_workers_per_api_share_a_port_and_survive_a_sigkill(servers: Servers) -> None:
    tag = uuid4().hex[:8]
    command, query = free_port(), free_port()
    env = fleet_env(
        servers,
        "fleet",
        command,
        query,
        EVENTSHOP_API_WORKERS="2",
        EVENTSHOP_PROJECTOR_PROCESSES="2",
        EVENTSHOP_REGISTER_LIMIT="1000",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "eventshop.cli", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    run = psutil.Process(process.pid)
    commands, queries = f"http://127.0.0.1:{command}", f"http://127.0.0.1:{query}"
    try:
        eventually(lambda: ready(f"{commands}/readyz") and ready(f"{queries}/readyz"), timeout=60)
        eventually(lambda: len(workers(run, "serve", "command")) == 2, timeout=30)
        assert len(workers(run, "serve", "query")) == 2
        assert len(workers(run, "project")) == 2

        victim = workers(run, "serve", "command")[0]
        victim.send_signal(signal.SIGKILL)
        created = []
        for n in range(20):  # the surviving worker answers meanwhile
            response = _post_retrying(
                f"{commands}/customers",
                {"email": f"f{n}-{tag}@example.com", "name": "F", "password": PASSWORD},
            )
            assert response.status_code == 201, response.text
            created.append(response)
        eventually(lambda: len(workers(run, "serve", "command")) == 2, timeout=30)
        assert victim.pid not in {w.pid for w in workers(run, "serve", "command")}

        workers(run, "project")[0].send_signal(signal.SIGKILL)
        email = f"f0-{tag}@example.com"
        login = httpx2.post(
            f"{commands}/auth/token", data={"username": email, "password": PASSWORD}
        ).json()
        last = created[0]

        def visible() -> bool:
            read = httpx2.get(
                f"{queries}/customers/me",
                headers={
                    "Authorization": f"Bearer {login['access_token']}",
                    TOKEN: last.headers[TOKEN],
                },
                timeout=10,
            )
            assert read.status_code in (200, 503), read.text
            return read.status_code == 200

        eventually(visible, timeout=60)
        eventually(lambda: len(workers(run, "project")) == 2, timeout=30)
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=60)[0].decode()
    assert process.returncode == 0, output
    assert "restarting" in output  # the supervisor noticed both kills


def _post_retrying(url: str, body: dict[str, str]) -> httpx2.Response:
    """A connection the killed worker held may break: a client retries that one."""
    for _ in range(5):
        try:
            return httpx2.post(url, json=body, timeout=10)
        except httpx2.TransportError:
            time.sleep(0.1)
    raise AssertionError("the command API did not answer")
