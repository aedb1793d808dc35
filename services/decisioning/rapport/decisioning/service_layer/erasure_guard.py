"""What a write refused for an erased customer answers (adapters/erased_customers.py)."""

from __future__ import annotations

from collections.abc import Callable

from rapport.errors import NotFound
from sqlalchemy.exc import IntegrityError

from .unit_of_work import DecisioningUnitOfWork


def no_profile(customer: str) -> NotFound:
    """Decide's answer for a customer profile does not know (never seen, or erased)."""
    return NotFound(customer, f"{customer} has no profile (unknown or erased)")


async def refusal(
    uow: Callable[..., DecisioningUnitOfWork], workspace: str, customer: str, err: Exception
) -> Exception:
    """What to raise for `err`, a failed write about the customer: no_profile when it
    was refused because the customer was erased meanwhile, else `err` itself."""
    if not isinstance(err, IntegrityError):
        return err
    try:
        async with uow(readonly=True) as reading:
            erased = await reading.erased_customers.erased(workspace, customer)
    except Exception:  # cannot tell: the write's own error stands
        return err
    return no_profile(customer) if erased else err
