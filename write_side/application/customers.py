"""Customer commands: register, sign in, change name or email."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate

from write_side.application.base import ShopBase, use_case
from write_side.application.types import (
    MIN_PASSWORD_LENGTH,
    NO_CONTEXT,
    CommandContext,
    CommandResult,
    ConcurrencyConflictError,
    InvalidCredentialsError,
)
from write_side.domain.claims import Credentials, EmailClaim, normalize_email
from write_side.domain.customer import Customer
from write_side.domain.errors import (
    EmailTakenError,
    InvalidValueError,
)


class CustomerCommands(ShopBase):
    # Customers

    @use_case()
    def register_customer(
        self,
        *,
        email: str,
        name: str,
        password: str,
        role: str = "customer",
        ctx: CommandContext = NO_CONTEXT,
    ) -> CommandResult:
        customer = Customer.register(email=email, name=name, role=role)
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidValueError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
        claim = self._claim_email(customer.email, customer.id)
        credentials = Credentials(
            customer_id=customer.id, password_hash=self.passwords.hash(password)
        )
        try:
            return self._save(customer, claim, credentials, subject=customer, ctx=ctx)
        except ConcurrencyConflictError as error:
            # The customer's id is fresh, so only the claim can have collided.
            raise EmailTakenError(customer.email) from error

    def authenticate(self, *, email: str, password: str) -> Customer:
        """The customer with these credentials; the same error for any mismatch."""
        claim = self._find(EmailClaim, EmailClaim.create_id(email))
        customer_id = claim.customer_id if claim else None
        credentials = (
            self._find(Credentials, Credentials.create_id(customer_id)) if customer_id else None
        )
        # Verify even for an unknown email (against a decoy hash): both cost the same, so
        # timing does not tell which emails are registered.
        matches = self.passwords.verify(
            credentials.password_hash if credentials else None, password
        )
        if customer_id is None or not matches:
            raise InvalidCredentialsError
        return self.get_customer(customer_id)

    @use_case()
    def change_customer(
        self,
        customer_id: UUID,
        *,
        name: str | None = None,
        email: str | None = None,
        ctx: CommandContext = NO_CONTEXT,
    ) -> CommandResult:
        customer = self._get(Customer, customer_id, ctx.expected_version, ctx.acting_for)
        changed: list[Aggregate] = [customer]
        if name is not None:
            customer.rename(name)
        if email is not None and normalize_email(email) != customer.email:
            new_claim = self._claim_email(email, customer.id)
            old_claim = self._get(EmailClaim, EmailClaim.create_id(customer.email))
            old_claim.release()
            customer.change_email(email)
            changed += [new_claim, old_claim]
        try:
            return self._save(*changed, subject=customer, ctx=ctx)
        except ConcurrencyConflictError:
            if email is not None and self._email_held_by_other(email, customer_id):
                raise EmailTakenError(normalize_email(email)) from None
            raise

    def _claim_email(self, email: str, customer_id: UUID) -> EmailClaim:
        claim = self._find(EmailClaim, EmailClaim.create_id(email))
        if claim is None:
            return EmailClaim(email=normalize_email(email), customer_id=customer_id)
        claim.reclaim(customer_id)  # EmailTakenError while someone holds it
        return claim

    def _email_held_by_other(self, email: str, customer_id: UUID) -> bool:
        claim = self._find(EmailClaim, EmailClaim.create_id(email))
        return claim is not None and claim.customer_id not in (None, customer_id)
