"""Drive an HTTP endpoint with wrk (Debian's ``wrk``): rate and latency from outside Python.

wrk runs in C, so the client does not compete with the server for the GIL; keep-alive
connections on at most one thread per core. The Lua script's ``done`` prints one JSON
line that is parsed here.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

DONE = (
    "function done(summary, latency, requests)\n"
    '  io.write(string.format("JSON {\\"requests\\": %d, \\"seconds\\": %f,'
    ' \\"errors\\": %d, \\"non_2xx\\": %d, \\"p50_us\\": %d, \\"p99_us\\": %d}\\n",'
    " summary.requests, summary.duration / 1e6,"
    " summary.errors.connect + summary.errors.read + summary.errors.write"
    " + summary.errors.timeout, summary.errors.status,"
    " latency:percentile(50), latency:percentile(99)))\n"
    "end\n"
)


@dataclass(frozen=True)
class Measured:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int


def get(path: str, headers: dict[str, str] | None = None) -> str:
    """A script sending ``GET path`` on every connection."""
    lines = "".join(f'wrk.headers["{k}"] = [[{v}]]\n' for k, v in (headers or {}).items())
    return f'wrk.method = "GET"\nwrk.path = "{path}"\n{lines}'


def posts(path: str, headers: dict[str, str], body: str) -> str:
    """A script posting ``body`` to ``path``; ``@N@`` in the body becomes a number unique
    to the request (thread number and a counter), e.g. for SKUs."""
    lines = "".join(f'wrk.headers["{k}"] = [[{v}]]\n' for k, v in headers.items())
    left, _, right = body.partition("@N@")
    return (
        f'wrk.method = "POST"\n{lines}'
        "local threads = 0\n"
        "function setup(thread) threads = threads + 1; thread:set('number', threads) end\n"
        "local counter = 0\n"
        "function request()\n  counter = counter + 1\n"
        f"  return wrk.format(nil, \"{path}\", nil, '{left}' .. number .. '-' .. counter"
        f" .. '{right}')\nend\n"
    )


def run(url: str, script: str, seconds: float, connections: int) -> Measured:
    """Run ``script`` against ``url``; any transport error or non-2xx answer fails."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script + DONE)
    try:
        out = subprocess.run(
            [
                "wrk",
                # One client thread per core at most: more only steal the server's CPU.
                f"-t{min(connections, os.cpu_count() or 1)}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "-s",
                file.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        Path(file.name).unlink()
    found = json.loads(next(line for line in out.splitlines() if line.startswith("JSON "))[5:])
    assert found["errors"] == 0 and found["non_2xx"] == 0, out
    return Measured(
        rps=found["requests"] / found["seconds"],
        p50_ms=found["p50_us"] / 1000,
        p99_ms=found["p99_us"] / 1000,
        requests=found["requests"],
    )
