"""Settings from the environment (FUNDCENTER_*), or given to create_app()."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.domain.accounting_day import AccountingDay
from ledger.pools import database_timeout_s
from ledger.store import DEFAULT_URL, Database

Environment = Literal["development", "production"]


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

    @property
    def accounting_day(self) -> AccountingDay:
        return AccountingDay.of(self.accounting_timezone, self.accounting_cutoff)

    @property
    def environment(self) -> Environment:
        if self.env is not None:
            return self.env
        return "development" if Database.from_url(self.database_url).kind == "sqlite" else "production"
