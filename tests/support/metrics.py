"""An app's metrics as its worker's probe port serves them (never its public port)."""

from __future__ import annotations

from typing import Any

from prometheus_client import generate_latest


def metrics_of(client: Any) -> str:
    """The Prometheus text of the app behind ``client`` (a TestClient, or one with headers)."""
    app = getattr(client, "client", client).app
    return generate_latest(app.state.metrics).decode()
