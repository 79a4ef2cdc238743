"""Customer routes: register, log in, change profile, erase."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from http_edge.limits import RateLimits, per_address
from http_edge.problems import ProblemError, problem_responses
from write_side.application.passwords import issue_access_token
from write_side.application.shop import InvalidCredentialsError
from write_side.http.auth import Admin
from write_side.http.deps import CallerCommand, Context, ShopDep, run
from write_side.http.errors import HANDLED, problem_for
from write_side.http.models import (
    Accepted,
    AccessToken,
    ChangeCustomer,
    ErasureReceipt,
    RegisterCustomer,
)

router = APIRouter(tags=["customers"])
_REGISTER_LIMIT = Depends(per_address(lambda limits: limits.register))
_LOGIN_LIMIT = Depends(per_address(lambda limits: limits.login))


@router.post(
    "/customers",
    status_code=201,
    responses=problem_responses(400, 413, 409, 422, 429, 503),
    dependencies=[_REGISTER_LIMIT],
)
async def register_customer(
    body: RegisterCustomer, shop: ShopDep, ctx: Context, response: Response
) -> Accepted:
    answer = await run(
        response,
        shop.register_customer,
        email=body.email,
        name=body.name,
        password=body.password,
        ctx=ctx,
    )
    response.headers["Location"] = f"/customers/{answer.id}"
    return answer


@router.post(
    "/auth/token",
    responses=problem_responses(400, 413, 401, 422, 429, 503),
    dependencies=[_LOGIN_LIMIT],
)
def issue_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], shop: ShopDep, request: Request
) -> AccessToken:
    limits: RateLimits = request.app.state.limits
    address = limits.address(request)
    limits.before_login(form.username, address)
    try:
        customer = shop.authenticate(email=form.username, password=form.password)
    except InvalidCredentialsError as error:
        limits.after_failed_login(form.username, address)
        raise ProblemError(
            401,
            "INVALID_CREDENTIALS",
            "Unknown email or wrong password",
            headers={"WWW-Authenticate": "Bearer"},
        ) from error
    except HANDLED as error:
        raise problem_for(error) from error
    issued = issue_access_token(request.app.state.tokens, customer.id, customer.role)
    return AccessToken(access_token=issued.access_token, expires_in=issued.expires_in)


@router.patch(
    "/customers/{customer_id}",
    responses=problem_responses(400, 413, 401, 404, 409, 410, 412, 422, 429, 503),
)
async def change_customer(customer_id: UUID, body: ChangeCustomer, cmd: CallerCommand) -> Accepted:
    return await cmd.run(
        cmd.shop.change_customer, customer_id, name=body.name, email=body.email, ctx=cmd.mine
    )


@router.delete(
    "/customers/{customer_id}",
    responses=problem_responses(400, 401, 404, 409, 412, 422, 429, 503),
)
async def erase_customer(customer_id: UUID, cmd: CallerCommand) -> Accepted:
    """Forget the customer (the customer themself, or an admin): their personal fields read
    as "erased" everywhere from now on. A repeat answers the same and changes nothing."""
    by = f"admin:{cmd.principal.id}" if cmd.principal.is_admin else "customer"
    return await cmd.run(cmd.shop.erase_customer, customer_id, by=by, ctx=cmd.mine)


@router.get(
    "/customers/{customer_id}/erasure",
    responses=problem_responses(400, 401, 403, 404, 422, 429, 503),
)
def erasure_receipt(customer_id: UUID, admin: Admin, shop: ShopDep) -> ErasureReceipt:
    """When the customer was erased, by whom, and what was scrubbed where (admin only)."""
    found = shop.erasure_receipt(customer_id)
    if found is None:
        raise ProblemError(404, "NOT_ERASED", "No erasure of this customer is recorded")
    return ErasureReceipt.of(customer_id, found)
