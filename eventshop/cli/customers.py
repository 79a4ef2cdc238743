"""``eventshop customers …``: the right to erasure, for operators (docs/operations.md,
"Personal data")."""

from __future__ import annotations

import json
from typing import Annotated
from uuid import UUID

import typer

from eventshop import wiring
from eventshop.cli.common import load_settings
from write_side.application.shop import NotFoundError
from write_side.http.models import ErasureReceipt

customers_app = typer.Typer(help="Customers' personal data.", no_args_is_help=True)

CustomerId = Annotated[UUID, typer.Argument(metavar="ID", help="The customer's id")]


@customers_app.command("erase")
def erase(customer_id: CustomerId) -> None:
    """Forget a customer: destroy their key, rewrite their clear history, release their
    email. Idempotent; the read models and mail follow when CustomerErased reaches them."""
    settings = load_settings()
    shop = wiring.shop(settings, pool_size=1)
    try:
        result = shop.erase_customer(customer_id, by="operator")
    except NotFoundError:
        typer.echo(f"eventshop: no customer {customer_id}", err=True)
        raise typer.Exit(1) from None
    finally:
        shop.close()
    typer.echo(f"customer {customer_id} erased (version {result.version})")


@customers_app.command("erasure")
def erasure(
    customer_id: CustomerId, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """The erasure receipt: when, by whom, what was scrubbed where, what was rewritten."""
    settings = load_settings()
    shop = wiring.shop(settings, pool_size=1)
    try:
        found = shop.erasure_receipt(customer_id)
    finally:
        shop.close()
    if found is None:
        typer.echo(f"eventshop: no erasure of customer {customer_id} is recorded", err=True)
        raise typer.Exit(1)
    receipt = ErasureReceipt.of(customer_id, found)
    if as_json:
        typer.echo(json.dumps(receipt.model_dump(mode="json"), indent=2))
        return
    typer.echo(f"customer {customer_id}: erased {receipt.erased_at:%Y-%m-%d %H:%M:%S %Z}")
    typer.echo(f"  by: {receipt.erased_by}")
    for where, what in receipt.scrubbed.items():
        typer.echo(f"  {where}: {what}")
    for each in receipt.rewritten:
        typer.echo(f"  rewritten: {each.aggregate_id} v{each.version} ({each.topic})")
