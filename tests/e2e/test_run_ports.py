"""``eventshop run`` refuses two of its servers on one port instead of starting them both.

Its APIs bind with SO_REUSEPORT (their workers share the port), so a second server on the
same port binds too, silently, and the kernel spreads one port's connections over both:
a token request reached the fake payment gateway and was answered 404 (seen in a bench
fleet whose command API and gateway were handed the same free port).
"""

from __future__ import annotations

import subprocess
import sys

from eventshop.embedded import free_port
from tests.e2e.test_eventshop_run import configured_env, on_ports
from tests.support.stack import Servers


def test_a_port_given_to_two_servers_stops_the_run_with_a_clear_error(servers: Servers) -> None:
    command, query = free_port(), free_port()
    env = configured_env(servers, "ports", **on_ports(command, query))
    env["EVENTSHOP_GATEWAY_PORT"] = str(command)
    done = subprocess.run(
        [sys.executable, "-m", "eventshop.cli", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"127.0.0.1:{command} is configured for two of eventshop's servers" in done.stderr
    assert "eventshop is running" not in done.stdout


def test_free_port_never_answers_a_port_twice() -> None:
    """What tests and benches give their servers: the kernel hands a just-closed free port
    out again (in 2,000 asks, about 125 twice)."""
    ports = [free_port() for _ in range(2000)]
    assert len(set(ports)) == len(ports)
