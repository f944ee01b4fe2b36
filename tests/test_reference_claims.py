"""A command's reference is claimed without a read (ledger/handlers/references.py, `assume_new`): a
reference the cache does not know is taken for new, its record saved with the command's aggregate. A
reference used before is still answered with its first outcome (the same request, whatever its key)
or refused as `IdempotencyConflict` (another request), whether the cache still holds its record or not,
and whatever the accounts look like now."""

import pytest

from ledger.domain import errors
from ledger.idempotency import IdempotentRequest, request_id


def pair(fc, funded=100):
    a = fc.open_account("member", "mall", "a", "CNY").id
    b = fc.open_account("member", "mall", "b", "CNY").id
    fc.adjust(a, funded, "CNY", "credit", "opening", "open-a")
    return a, b


def forget_reference(fc, kind, reference):
    """Drop the reference's record from the cache, as 10,000 newer aggregates would."""
    uow = fc.unit_of_work
    record_id = request_id(f"reference/{kind}/mall/{reference}")
    assert uow.in_cache(IdempotentRequest, record_id) is not None
    uow.evict([record_id])


@pytest.mark.parametrize("cached", [True, False])
def test_a_reference_used_before_answers_its_first_outcome(fund_center, cached):
    a, b = pair(fund_center)
    first = fund_center.transfer(a, b, 60, "CNY", "k1", reference="order-1")
    if not cached:
        forget_reference(fund_center, "transfer", "order-1")
    head = fund_center.head()
    # another key, the same request: the first outcome, though a has 40 left now (a new one would be refused)
    assert fund_center.transfer(a, b, 60, "CNY", "k2", reference="order-1") == first
    with pytest.raises(errors.IdempotencyConflict):
        fund_center.transfer(a, b, 10, "CNY", "k3", reference="order-1")
    assert fund_center.head() == head  # nothing written
    assert fund_center.get_account(a).posted == 40


def test_a_forgotten_reference_is_answered_also_when_funds_would_allow_a_second(fund_center):
    a, b = pair(fund_center, funded=1_000)
    first = fund_center.transfer(a, b, 60, "CNY", "k1", reference="order-2")
    forget_reference(fund_center, "transfer", "order-2")
    assert fund_center.transfer(a, b, 60, "CNY", "k2", reference="order-2") == first  # its save failed on the record
    assert fund_center.get_account(a).posted == 940


def test_a_hold_s_forgotten_reference_is_answered_too(fund_center):
    a, _ = pair(fund_center)
    first = fund_center.place_hold(a, 70, "h1", reference="auth-1")
    forget_reference(fund_center, "hold", "auth-1")
    assert fund_center.place_hold(a, 70, "h2", reference="auth-1").id == first.id  # 30 left: a new one would be refused
    assert fund_center.get_account(a).frozen == 70
