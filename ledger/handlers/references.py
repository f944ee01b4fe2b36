"""References: the business's own number for a command (its order number), one per business and kind.

A transfer, a hold, a recharge or a withdrawal may carry a `reference`. It is
recorded on the command's first event, and claimed like an idempotency key:
an `IdempotentRequest` (ledger/idempotency.py) under the key
`reference/<kind>/<business>/<reference>`, saved in the same transaction as the
command's aggregate. So a second command with the reference answers the first
one's outcome when it is the same request (whatever its idempotency key), and is
`409 idempotency-conflict` when it is another. The command's id still comes from
its idempotency key, so the key keeps its own meaning: another request with a
used key is a conflict too.

Each handler module says what its command claims (`Claim`); `FundCenter` runs the
claim around the writer (`claimed`), as it runs `idempotent`: a command with a
pending record runs on its own, never in a batch (ledger/writer.py).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

from ..domain.accounts import Account
from ..idempotency import Replay, run_once, submit_once
from ..unit_of_work import UnitOfWork

T = TypeVar("T")


@dataclass(frozen=True)
class Reference:
    kind: str  # transfer | hold | recharge | withdrawal
    account: UUID  # the account whose business the reference belongs to
    reference: str


@dataclass(frozen=True)
class Claim(Generic[T]):
    """What a command with a reference claims: the reference, the request's fingerprint (with the
    reference), the aggregate the command creates, and how a repeat answers from it."""

    reference: Reference
    request: str
    aggregate_id: UUID
    replay: Replay[T]


def claimed(uow: UnitOfWork, claim: Claim[T] | None, run: Callable[[], T]) -> T:
    """`run()`, once per (business, kind, reference) when the command claims one."""
    if claim is None:
        return run()
    ref = claim.reference
    business_id = uow.get(Account, ref.account).business_id
    key = f"reference/{ref.kind}/{business_id}/{ref.reference}"
    return run_once(uow, key, ref.kind, claim.request, run, claim.replay,
                    target=lambda a: _is(a, claim.aggregate_id), refer=lambda result: [claim.aggregate_id],
                    assume_new=True)  # the command creates the aggregate: its record goes in the same save


def submitted(uow: UnitOfWork, claim: Claim[T], submit: Callable[[], Future[T]]) -> Future[T] | None:
    """`claimed` for a caller that must not block (an event loop; `idempotency.submit_once`): the
    command handed to the writer under its claim, a Future of its answer; None if the claim would
    read (an account or a record the cache does not hold), and `claimed` must run where it may."""
    ref = claim.reference
    account = uow.in_cache(Account, ref.account)
    if account is None:
        return None
    key = f"reference/{ref.kind}/{account.business_id}/{ref.reference}"
    return submit_once(uow, key, ref.kind, claim.request, submit, claim.replay,
                       target=lambda a: _is(a, claim.aggregate_id), refer=lambda result: [claim.aggregate_id])


def _is(aggregate: Any, aggregate_id: UUID) -> bool:
    return bool(aggregate.id == aggregate_id)
