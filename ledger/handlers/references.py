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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from ..domain.accounts import Account
from ..idempotency import Replay, run_once
from ..unit_of_work import UnitOfWork

T = TypeVar("T")


@dataclass(frozen=True)
class Reference:
    kind: str  # transfer | hold | recharge | withdrawal
    account: UUID  # the account whose business the reference belongs to
    reference: str


def once_per_reference(uow: UnitOfWork, ref: Reference, request: str, run: Callable[[], T], replay: Replay[T],
                       aggregate_id: UUID) -> T:
    """`run()` once per (business, kind, reference); `request`: the command's fingerprint, with its reference."""
    business_id = uow.get(Account, ref.account).business_id
    key = f"reference/{ref.kind}/{business_id}/{ref.reference}"
    return run_once(uow, key, ref.kind, request, run, replay, target=lambda a: _is(a, aggregate_id),
                    refer=lambda result: [aggregate_id])


def _is(aggregate: Any, aggregate_id: UUID) -> bool:
    return aggregate.id == aggregate_id
