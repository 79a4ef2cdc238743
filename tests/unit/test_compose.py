"""compose.yaml is the production shape: a fleet of one-process containers, each with a
healthcheck, the APIs behind a balancer. Its shape is checked here, with no engine; it is run
for real by tests/containers/test_compose.py (podman)."""

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


def probe(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(test)


def test_only_the_balancer_publishes_the_api_ports() -> None:
    published = {n: s["ports"] for n, s in services().items() if s.get("ports")}
    assert list(published) == ["balancer"]
    assert [p.rsplit(":", 1)[1] for p in published["balancer"]] == ["8000", "8001"]


def test_each_api_healthcheck_probes_its_own_port() -> None:
    for name, port in (("command-api", 8000), ("query-api", 8001), ("projector", 8003)):
        assert f"127.0.0.1:{port}/readyz" in probe(services()[name])


def test_the_mail_reactor_runs_beside_an_smtp_service_every_process_is_pointed_at() -> None:
    found = services()
    assert found["reactor"]["command"] == ["react"]
    assert "127.0.0.1:8006/readyz" in probe(found["reactor"])
    assert found["mailbox"]["command"] == ["mail", "serve"]
    shared = yaml.safe_load(COMPOSE.read_text())["x-eventshop-env"]
    assert shared["EVENTSHOP_SMTP_URL"] == "smtp://mailbox:8025"


def test_healthchecks_are_strings_so_replicas_and_overrides_keep_them() -> None:
    """podman-compose consumes a list-form test while starting the first replica (the
    second then fails to start), and an override file appends to lists instead of
    replacing them; a string is a shell command either way."""
    for name, service in services().items():
        if "healthcheck" in service:
            assert isinstance(service["healthcheck"]["test"], str), name


def test_one_shot_jobs_wait_for_their_server_and_stand_ins_only_swap_images() -> None:
    found = services()
    assert found["migrate"]["command"][:2] == ["migrate", "--wait"]
    assert found["create-topics"]["command"][:3] == ["relay", "topics", "--wait"]
    dev = yaml.safe_load((COMPOSE.parent / "compose.dev.yaml").read_text())["services"]
    assert set(dev) == {"postgres", "kafka", "balancer"}
    for name, override in dev.items():
        assert override["image"].startswith("eventshop-dev/"), name
        assert set(override) <= {"image", "healthcheck"}, name
