"""Which projections share a processing group (projections/groups.py)."""

from __future__ import annotations

import pytest

from eventshop import wiring
from eventshop.cli.errors import explain
from eventshop.settings import Settings
from projections.groups import GroupSpecError, processing_groups
from projections.projection import Projection
from projections.registry import PROJECTIONS

ALL = list(PROJECTIONS.values())


def names(groups: list[list[Projection]]) -> list[list[str]]:
    return [[p.name for p in g] for g in groups]


def test_by_default_projections_sharing_a_topic_share_a_group() -> None:
    # customers and orders share "customers" and "orders"; products joins through "catalog"
    # (orders reads it), sales through "orders": one consumer reads each topic once.
    assert names(processing_groups(ALL)) == [["customers", "products", "orders", "sales"]]
    assert names(processing_groups([PROJECTIONS["products"], PROJECTIONS["sales"]])) == [
        ["products"],
        ["sales"],
    ]


def test_named_groups_come_first_and_the_rest_are_grouped_by_topic() -> None:
    groups = processing_groups(ALL, " orders ; customers,sales ")
    assert names(groups) == [["orders"], ["customers", "sales"], ["products"]]


@pytest.mark.parametrize(
    ("spec", "says"),
    [("orders;nope", "no projection 'nope'"), ("orders;orders,sales", "'orders' is in two")],
)
def test_a_wrong_spec_is_a_configuration_error(spec: str, says: str) -> None:
    with pytest.raises(GroupSpecError, match=says) as error:
        processing_groups(ALL, spec)
    message, code = explain(error.value)
    assert code == 2
    assert message.startswith("EVENTSHOP_PROJECTOR_GROUPS:")


@pytest.mark.parametrize(
    ("where", "members"),
    [
        ("projectors", ["customers", "products", "orders", "sales", "mail"]),
        ("reactor", ["customers", "products", "orders", "sales"]),
    ],
)
def test_the_mail_intake_joins_the_group_that_reads_its_topics(
    where: str, members: list[str]
) -> None:
    settings = Settings(
        database_url="postgresql://nobody@/nowhere",
        kafka_bootstrap_servers="127.0.0.1:1",
        mail_intake=where,
    )
    assert [[m.name for m in p.members] for p in wiring.projectors(settings)] == [members]
    # Named, it runs wherever it is named, whatever the setting.
    [alone] = wiring.projectors(settings, ["mail"])
    assert alone.group_id.endswith(".reactor.mail")
