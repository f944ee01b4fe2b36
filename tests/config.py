"""What every test app shares: settings with throwaway secrets, and the test clocks.

No test reads the wall clock: the ledger, the simulated channels and the
accounting day all run on a clock the test gives, starting on `DAY`.
"""

import json
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from api.bootstrap import bootstrap
from api.settings import ApprovalPolicy, Settings

DAY = date(2026, 11, 25)  # the business day the tests run (any day would do: nothing reads the wall clock)


def BUSINESS_HOURS() -> datetime:
    return datetime(DAY.year, DAY.month, DAY.day, 10, 0, tzinfo=UTC)


def settings_for(url: str, channels: tuple[str, ...] = (), **changes: Any) -> Settings:
    """Production-like settings on `url`: configured secrets (the card-token key, and a callback
    secret for each of `channels`), made afresh for each app. Nothing waits for four-eyes approval
    unless `approval_policy` is given (tests/test_approvals.py gives it)."""
    changes.setdefault("approval_policy", ApprovalPolicy.off())
    return Settings(database_url=url, env="production", card_token_key=secrets.token_hex(32),
                    channel_secrets={code: secrets.token_hex(32) for code in channels}, **changes)


def api_keys(settings: Settings, holders: list[tuple[str, str, str | None]],
             clock: Callable[[], datetime] | None = None) -> dict[str, str]:
    """A key for each (name, role, business) of `holders`, made before the app starts, through the
    bootstrap (as `fundcenter keys create` makes them): name -> bearer token."""
    keys = {}
    with bootstrap(settings, clock=clock) as system:
        for name, role, business in holders:
            secret = system.ledger.create_api_key(role, business, name=name)[1]
            assert secret is not None, name  # a new key shows its secret once
            keys[name] = secret
    return keys


def configured_secrets(channels=("unionpay", "alipay")) -> dict[str, str]:
    """The environment production must be given: the card-token key and each channel's callback secret."""
    return {"FUNDCENTER_CARD_TOKEN_KEY": secrets.token_hex(32),
            "FUNDCENTER_CHANNEL_SECRETS": json.dumps({code: secrets.token_hex(32) for code in channels})}

# A database as before migration 0009: every version of the one-trip insert function dropped (0009's, 0019's, 0021's).
DROP_INSERT_FUNCTIONS = ("DROP FUNCTION fundcenter_insert_events(stored_event_uuid[], integer),"
                         " fundcenter_insert_events(stored_event_uuid[], integer, bigint, bytea),"
                         " fundcenter_insert_events_with_links(stored_event_uuid[], integer, bytea, bigint)")
