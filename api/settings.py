"""Settings from the environment (FUNDCENTER_*), or given to create_app()."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.domain.accounting_day import AccountingDay
from ledger.pools import database_timeout_s
from ledger.store import DEFAULT_URL, Database

Environment = Literal["development", "production"]


class ApprovalPolicy(BaseModel):
    """Which staff commands wait for a second staff key's approval (four-eyes; api/service/approvals.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # An adjustment above this amount, in the currency's major unit (10000.00 CNY is 1,000,000 minor
    # units; 10000 JPY is 10,000), compared exactly in minor units; None: no adjustment waits.
    adjustment_above: Decimal | None = Field(default=Decimal("10000.00"), ge=0, max_digits=20, decimal_places=3)
    reconciliation_actions: frozenset[Literal["complete", "reverse", "book_difference", "write_off", "dismiss", "wait"]] = (
        frozenset({"book_difference", "write_off"}))
    channel_close: bool = True  # closing a channel (opening one does not wait)
    route_change: bool = True  # setting a business's route for a method
    limit_change: bool = True  # a product configuration that changes a bank's switch or limits
    role_grant: bool = True  # giving an API key another role
    expires_after_s: int = Field(default=86_400, gt=0, le=90 * 86_400)  # an approval not decided by then expires

    @classmethod
    def off(cls) -> ApprovalPolicy:
        """Nothing waits for approval."""
        return cls(adjustment_above=None, reconciliation_actions=frozenset(), channel_close=False, route_change=False,
                   limit_change=False, role_grant=False)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FUNDCENTER_", env_ignore_empty=True)

    database_url: str = DEFAULT_URL
    # development generates throwaway secrets; production refuses to start without configured ones.
    # Unset: development on the embedded SQLite, production on PostgreSQL.
    env: Environment | None = None
    run_projections: bool = True  # follow the log in this process (`serve`), or leave it to `fundcenter project`
    wait_timeout_s: float = 5.0  # how long a query with ?min_position= waits for the views
    # Waiting for a pooled database connection, and connecting: past it, 503 database-unavailable.
    # (FUNDCENTER_DATABASE_TIMEOUT_S; the event store's and the views' pools both take it.)
    database_timeout_s: float = Field(default_factory=database_timeout_s, gt=0)
    healthz_timeout_s: float = 1.5  # /healthz and /metrics answer within this, whatever the database does
    projection_lag_max_s: float = 30.0  # /healthz is 503 projections-lagging when the views stay behind this long
    # Tune the garbage collector once started (api/gc_tuning.py): `serve` does; an app made in a test does not.
    tune_gc: bool = False
    deliver_webhooks: bool = True  # send webhooks from this process (`serve`), or leave it to `fundcenter deliver`
    # Secrets (api/service_secrets.py): the HMAC key that tokenises card numbers, each channel's
    # callback secret (JSON: {"unionpay": "..."}), and a JSON file that may hold both instead.
    card_token_key: SecretStr | None = None
    channel_secrets: dict[str, SecretStr] = {}
    secrets_file: Path | None = None
    signing_key_file: Path | None = None  # Ed25519 private key (PEM) that signs day-close certificates (api/service/days.py)
    simulator_seed: int = 0
    accounting_timezone: str = "UTC"  # the accounting day (日切) runs from the cut-off to the next,
    accounting_cutoff: str = "00:00"  # in this time zone
    # A reconciliation difference left waiting (for a later day's file) longer than this is overdue:
    # listed on its channel's reconciliations and counted in /metrics.
    reconciliation_wait_max_days: int = Field(default=3, ge=0)
    # Four-eyes approval: FUNDCENTER_APPROVAL_POLICY, JSON of ApprovalPolicy's fields (those left out
    # keep their defaults: `{}` is the default policy; `{"adjustment_above": "50000"}` changes one).
    approval_policy: ApprovalPolicy = ApprovalPolicy()

    @property
    def accounting_day(self) -> AccountingDay:
        return AccountingDay.of(self.accounting_timezone, self.accounting_cutoff)

    @property
    def environment(self) -> Environment:
        if self.env is not None:
            return self.env
        return "development" if Database.from_url(self.database_url).kind == "sqlite" else "production"
