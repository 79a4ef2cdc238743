"""The base of every event payload, and what the payload schemas share (:mod:`contracts.events`).

A stored event *is* its contract payload (docs/architecture.md, "Stored event = contract").
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from contracts.causation import EventMeta


class ContractEvent(BaseModel):
    """Base of every event payload. ``type_name`` and ``schema_version`` form the stored topic."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type_name: ClassVar[str]
    schema_version: ClassVar[int] = 1
    #: Published events go to ``shop.<context>``; ``None`` keeps an event internal to
    #: the write side (uniqueness claims): stored, never relayed.
    context: ClassVar[str | None]

    occurred_at: datetime
    #: Correlation, causation and actor (:mod:`contracts.causation`); absent on events
    #: stored before it existed and on events no request or process caused.
    meta: EventMeta | None = None


#: A personal field: in payloads of the current version it is sealed under its customer's
#: key (:mod:`contracts.personal`); readers with the key open it, others see ciphertext.
Personal = Annotated[str, Field(json_schema_extra={"x-personal": "sealed"})]


def category_label(label: str) -> str:
    """A category as stored: lower case, inner whitespace collapsed (``" Kitchen  Tools"`` →
    ``"kitchen tools"``). Queries normalize a wanted category the same way."""
    return " ".join(label.split()).casefold()
