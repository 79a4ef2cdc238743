"""No password, access token or Authorization header reaches a log line (guarantee 9,
docs/architecture.md).

Real `eventshop serve` processes at DEBUG, driven through sign-up, sign-in (right and
wrong), bearer reads, a token in a query string and rejected requests; then every line
they wrote is searched for each secret.
"""

from __future__ import annotations

import subprocess
import sys
import time
from uuid import uuid4

import httpx2
import orjson

from tests.support.served import free_port
from tests.support.stack import Servers, running_stack, settings_env

RIGHT, WRONG, IN_QUERY, SHORT = "Right-Pa55word-x1", "Wrong-Pa55word-x2", "Qu3ry-Pa55-x3", "Xq9shr"
BAD_TOKEN = "not-a-real-token-S3CR3T"


def _serve(api: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    variable = "EVENTSHOP_COMMAND_PORT" if api == "command" else "EVENTSHOP_QUERY_PORT"
    return subprocess.Popen(
        [sys.executable, "-m", "eventshop.cli", "serve", api],
        env={**env, variable: str(port), "EVENTSHOP_LOG_LEVEL": "DEBUG"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _up(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx2.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx2.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not start")


def test_no_secret_appears_in_any_log_line(servers: Servers) -> None:
    with running_stack(servers) as stack:
        env = settings_env(stack.settings)
        ports = {"command": free_port(), "query": free_port()}
        processes = [_serve(api, port, env) for api, port in ports.items()]
        try:
            commands = f"http://127.0.0.1:{ports['command']}"
            queries = f"http://127.0.0.1:{ports['query']}"
            _up(commands)
            _up(queries)
            email = f"log-{uuid4().hex[:8]}@example.com"
            created = httpx2.post(
                f"{commands}/customers", json={"email": email, "name": "L", "password": RIGHT}
            )
            assert created.status_code == 201, created.text
            token_url = f"{commands}/auth/token"
            wrong = httpx2.post(token_url, data={"username": email, "password": WRONG})
            assert wrong.status_code == 401
            access = httpx2.post(token_url, data={"username": email, "password": RIGHT}).json()
            jwt = access["access_token"]
            bearer = {"Authorization": f"Bearer {jwt}"}
            assert httpx2.get(f"{queries}/customers/me", headers=bearer).status_code in {200, 404}
            httpx2.get(f"{queries}/products", params={"access_token": jwt, "password": IN_QUERY})
            refused = httpx2.patch(
                f"{commands}/customers/{created.json()['id']}",
                json={"name": "M"},
                headers={"Authorization": f"Bearer {BAD_TOKEN}"},
            )
            assert refused.status_code == 401
            short = httpx2.post(
                f"{commands}/customers", json={"email": f"s{email}", "name": "S", "password": SHORT}
            )
            assert short.status_code == 422
        finally:
            for process in processes:
                process.terminate()
            output = "\n".join(p.communicate(timeout=30)[0].decode() for p in processes)
    # Every line is a JSON object; the access log's line for the query string is redacted.
    lines = [orjson.loads(line) for line in output.splitlines() if line.strip()]
    events = [line["event"] for line in lines]
    redacted = '"GET /products?access_token=[redacted]&password=[redacted] HTTP/1.1" 200'
    [access] = [line for line in lines if redacted in line["event"]]
    assert access["logger"] == "uvicorn.access" and access["request_id"]  # correlated too
    assert any("POST /auth/token" in event for event in events)  # the access log was captured
    signature = jwt.rsplit(".", 1)[1]
    for secret in (RIGHT, WRONG, IN_QUERY, SHORT, BAD_TOKEN, jwt, signature):
        assert secret not in output, f"{secret!r} leaked into the logs"
