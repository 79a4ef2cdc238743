"""compose.yaml is the production shape: a fleet of one-process containers, each with a
healthcheck, the APIs behind a balancer (no engine runs here, so its shape is checked)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

COMPOSE = Path(__file__).parents[2] / "compose.yaml"


def services() -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return found


def test_every_long_running_container_has_a_healthcheck() -> None:
    for name, service in services().items():
        if service.get("restart") != "no":
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_the_apis_projectors_and_relays_run_as_several_replicas() -> None:
    for name in ("command-api", "query-api", "projector", "relay"):
        assert services()[name]["deploy"]["replicas"] >= 2, name


def test_only_the_balancer_publishes_the_api_ports() -> None:
    published = {n: s["ports"] for n, s in services().items() if s.get("ports")}
    assert published == {"balancer": ["8000:8000", "8001:8001"]}


def test_each_api_healthcheck_probes_its_own_port() -> None:
    for name, port in (("command-api", 8000), ("query-api", 8001), ("projector", 8003)):
        assert f"127.0.0.1:{port}/readyz" in " ".join(services()[name]["healthcheck"]["test"])


def test_the_mail_reactor_runs_beside_an_smtp_service_every_process_is_pointed_at() -> None:
    found = services()
    assert found["reactor"]["command"] == ["react"]
    assert "127.0.0.1:8006/readyz" in " ".join(found["reactor"]["healthcheck"]["test"])
    assert found["mailbox"]["command"] == ["mail", "serve"]
    shared = yaml.safe_load(COMPOSE.read_text())["x-eventshop-env"]
    assert shared["EVENTSHOP_SMTP_URL"] == "smtp://mailbox:8025"
