"""Schemathesis over /openapi.json: generated requests find no 5xx and no response
that breaks its own schema. Bounded (a few examples per operation), so it runs in
CI on every change. Driven from one test rather than schemathesis' pytest plugin (whose lazy
fixture loader does not run under pytest 9).

Two passes: a derandomized one (the same examples every run: CI is no lottery) and a
random one with a fresh seed each run, printed when it fails (and reproduced by setting
FUNDCENTER_SCHEMA_SEED to it), so the examples tried grow over the runs."""

import os
import random

import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.app import create_app
from ledger import FundCenter
from ledger.domain.methods import METHODS, RECHARGE_METHODS, Method
from ledger.handlers.transfers import BATCH_SIZE_MAX
from tests.config import settings_for

EXAMPLES_PER_OPERATION = 12
RANDOM_EXAMPLES_PER_OPERATION = 4


def run_schema(tmp_path, examples, chosen_seed):
    url = f"sqlite:///{tmp_path}/fundcenter.db"
    fc = FundCenter(url)
    _, token = fc.create_api_key("admin", name="schemathesis")
    member = fc.open_account("member", "mall", "alice", "CNY")
    fc.adjust(member.id, 10_000, "CNY", "credit", "seed", "seed")
    fc.close()
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(settings=settings_for(url)))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    statuses = []
    calls = iter(range(10**9))

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None, derandomize=chosen_seed is None)
        def check(case):
            # A fresh Idempotency-Key per call, so that no example is answered from another's record.
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"schemathesis-{next(calls)}"}
            # Every built-in check but "positive data acceptance": business rules (an expiry in the
            # past, a currency that matches the pattern but is not ISO 4217) rightly refuse some
            # schema-valid requests with a documented 422.
            response = case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])
            assert response.status_code < 500, response.text
            statuses.append(response.status_code)

        if chosen_seed is not None:
            check = seed(chosen_seed)(check)
        check()
    return operations, statuses


def test_the_api_keeps_its_own_contract(tmp_path):
    operations, statuses = run_schema(tmp_path, EXAMPLES_PER_OPERATION, None)
    assert len(statuses) >= 5 * len(operations)
    assert {200, 201, 404, 422} <= set(statuses)


def test_the_api_keeps_its_own_contract_on_random_examples(tmp_path):
    chosen = int(os.environ.get("FUNDCENTER_SCHEMA_SEED") or random.SystemRandom().randrange(2**32))
    print(f"schemathesis random pass: seed {chosen} (FUNDCENTER_SCHEMA_SEED={chosen} repeats it)")
    try:
        operations, statuses = run_schema(tmp_path, RANDOM_EXAMPLES_PER_OPERATION, chosen)
    except BaseException as error:
        error.add_note(f"schemathesis random pass failed with seed {chosen}: rerun with FUNDCENTER_SCHEMA_SEED={chosen}")
        raise
    assert len(statuses) >= len(operations)
    assert all(status < 500 for status in statuses), f"seed {chosen}"


def test_the_schema_takes_its_methods_and_limits_from_the_ledger(tmp_path):
    schemas = create_app(settings=settings_for(f"sqlite:///{tmp_path}/fundcenter.db")).openapi()["components"]["schemas"]
    assert schemas["RouteIn"]["properties"]["method"]["enum"] == list(METHODS) == [method.value for method in Method]
    assert schemas["RechargeIn"]["properties"]["method"]["enum"] == list(RECHARGE_METHODS) == list(METHODS[:-1])
    assert schemas["BatchIn"]["properties"]["transfers"]["maxItems"] == BATCH_SIZE_MAX
    account, hold = schemas["AccountOut"]["properties"], schemas["HoldOut"]["properties"]
    assert "version" not in account and account["posted"]["type"] == "integer"  # derived from AccountView, as shown
    assert list(hold) == ["id", "account_id", "currency", "amount", "remaining", "released", "captured", "status", "reason",
                          "expires_at", "capture_transfer_ids", "position", "reference"]  # HoldView's fields, in its order
