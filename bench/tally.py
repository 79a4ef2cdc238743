"""What the workload's clients saw: latencies, statuses, designed refusals and the answers
that must never happen, for the whole-system bench and the strict chaos oracle."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import httpx2

#: 503 with Retry-After is a designed answer (busy, not ready, too many waiters).
DESIGNED = frozenset({503})


@dataclass(frozen=True)
class Unavailable:
    """A 503 as the client saw it: when (monotonic), for what, its code, its Retry-After."""

    at: float
    op: str
    code: str
    retry_after: bool


@dataclass
class Tally:
    latency: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    visible: list[float] = field(default_factory=list)  # command answered -> token read 200
    #: What must never happen: a 5xx other than a designed 503, with what was asked.
    unexpected: list[str] = field(default_factory=list)
    transport_errors: int = 0
    #: When each transport error happened (monotonic): the strict oracle allows them only
    #: inside a fault window that kills the serving process.
    transport_error_at: list[float] = field(default_factory=list)
    #: Transport errors as ``op:ErrorClass`` (a ReadTimeout is a hang past the client's
    #: timeout).
    transport_error_kinds: Counter[str] = field(default_factory=Counter)
    overloaded: int = 0  # open loop: operations not started, the client was at its cap
    #: Every 503, for the strict oracle (bench.oracle.judge_answers).
    unavailable: list[Unavailable] = field(default_factory=list)
    #: Every 4xx as ``op:status:code``: each must be one the workload causes by design.
    client_errors: Counter[str] = field(default_factory=Counter)

    def record(self, op: str, status: int, seconds: float) -> None:
        self.latency.setdefault(op, []).append(seconds)
        self.statuses[f"{op}:{status}"] += 1

    def answered(self, op: str, response: httpx2.Response) -> None:
        """Note a 503 or a 4xx with its problem code (the latency is ``record``'s)."""
        status = response.status_code
        if status == 503 or 400 <= status < 500:
            code = _problem_code(response)
            if status == 503:
                retry = "retry-after" in response.headers
                self.unavailable.append(Unavailable(time.monotonic(), op, code, retry))
            else:
                self.client_errors[f"{op}:{status}:{code}"] += 1

    def transport_error(self, op: str, error: Exception) -> None:
        self.transport_errors += 1
        self.transport_error_at.append(time.monotonic())
        self.transport_error_kinds[f"{op}:{type(error).__name__}"] += 1


def _problem_code(response: httpx2.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return "-"
    return str(body.get("code", "-")) if isinstance(body, dict) else "-"
