"""Which projections share a processing group: one consumer reading their topics once
(docs/operations.md, "Processing groups")."""

from __future__ import annotations

from collections.abc import Sequence

from projections.projection import Projection


class GroupSpecError(ValueError):
    """``EVENTSHOP_PROJECTOR_GROUPS`` names a projection twice, or one not run here."""


def processing_groups(projections: Sequence[Projection], spec: str = "") -> list[list[Projection]]:
    """``spec`` ("orders;customers,sales"): each ``;``-separated list is a group, as given
    (a heavy projection alone in one keeps the consumer group it had before groups). The
    projections it does not name are grouped by default: those sharing a topic, directly
    or through another, read it in one group. Groups keep ``projections``' order."""
    by_name = {p.name: p for p in projections}
    named: list[list[Projection]] = []
    seen: set[str] = set()
    for part in filter(None, (g.strip() for g in spec.split(";"))):
        names = [n.strip() for n in part.split(",") if n.strip()]
        for name in names:
            if name not in by_name:
                raise GroupSpecError(f"EVENTSHOP_PROJECTOR_GROUPS: no projection {name!r} here")
            if name in seen:
                raise GroupSpecError(f"EVENTSHOP_PROJECTOR_GROUPS: {name!r} is in two groups")
            seen.add(name)
        named.append([p for p in projections if p.name in names])
    rest = [p for p in projections if p.name not in seen]
    return named + _sharing_topics(rest)


def _sharing_topics(projections: Sequence[Projection]) -> list[list[Projection]]:
    groups: list[tuple[set[str], list[Projection]]] = []
    for projection in projections:
        topics = set(projection.contexts)
        joined = [g for g in groups if g[0] & topics]
        merged_topics, merged = topics, []
        for group in joined:
            merged_topics |= group[0]
            merged += group[1]
            groups.remove(group)
        groups.append((merged_topics, [*merged, projection]))
    order = {p.name: i for i, p in enumerate(projections)}
    ordered = [sorted(g, key=lambda p: order[p.name]) for _, g in groups]
    return sorted(ordered, key=lambda g: order[g[0].name])
