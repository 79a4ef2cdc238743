"""What each consumer does with each published type is a decision written down: handled, or
ignored on purpose by name. A declaration that leaves a type undecided is refused at import,
so "not handled" never becomes a silent default (docs/architecture.md, "Changing an event")."""

from __future__ import annotations

from dataclasses import replace

import pytest

from contracts.readmodels import SOURCES
from contracts.upcasting import EVENTS_BY_NAME
from eventshop.wiring import MAIL_INTAKE
from projections.models.products import PRODUCTS
from projections.projection import Projection
from projections.registry import PROJECTIONS


@pytest.mark.parametrize("projection", [*PROJECTIONS.values(), MAIL_INTAKE], ids=lambda p: p.name)
def test_every_published_type_of_a_consumers_topics_is_decided(projection: Projection) -> None:
    contexts = projection.contexts
    published = {c.type_name for c in EVENTS_BY_NAME.values() if c.context in contexts}
    handled = {c.type_name for c in projection.handlers}
    ignored = projection.ignored
    assert published == handled | ignored and not handled & ignored


def test_a_declaration_that_leaves_a_type_undecided_is_refused() -> None:
    forgetful = {k: v for k, v in PRODUCTS.handlers.items() if k.type_name != "StockReserved"}
    folds = {k: v for k, v in PRODUCTS.folds.items() if k.type_name != "StockReserved"}
    with pytest.raises(ValueError, match="undecided: \\['StockReserved'\\]"):
        replace(PRODUCTS, handlers=forgetful, folds=folds)
    replace(PRODUCTS, handlers=forgetful, folds=folds, ignored=frozenset({"StockReserved"}))


def test_every_read_model_is_declared() -> None:
    assert set(PROJECTIONS) == set(SOURCES)
