"""Domain errors: raised by aggregates before any event is triggered."""


class DomainError(Exception):
    """Base of every rule the domain refuses to break."""


class InvalidValueError(DomainError, ValueError):
    """A value the domain cannot hold (negative price, blank title…)."""


class InsufficientStockError(DomainError):
    def __init__(self, on_hand: int, requested_delta: int) -> None:
        super().__init__(f"stock on hand {on_hand} cannot change by {requested_delta}")
        self.on_hand = on_hand
        self.requested_delta = requested_delta


class EmailTakenError(DomainError):
    def __init__(self, email: str) -> None:
        super().__init__(f"email {email!r} is already registered")
        self.email = email


class SkuTakenError(DomainError):
    def __init__(self, sku: str) -> None:
        super().__init__(f"sku {sku!r} already exists")
        self.sku = sku


class InvalidTransitionError(DomainError):
    """The aggregate's state does not allow this command (ship a cancelled order…)."""

    def __init__(self, kind: str, state: str, action: str) -> None:
        super().__init__(f"cannot {action} a {state} {kind}")
        self.state = state
        self.action = action


class NotPurchasableError(DomainError):
    def __init__(self, product_id: object, status: str) -> None:
        super().__init__(f"product {product_id} is {status}, not published")
        self.product_id = product_id
        self.status = status


class CustomerErasedError(DomainError):
    """The customer was erased (forgotten): nothing changes them or acts for them again."""

    def __init__(self, customer_id: str) -> None:
        super().__init__(f"customer {customer_id} was erased")
        self.customer_id = customer_id
