"""Settings from the environment (FUNDCENTER_*), or given to create_app()."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.store import DEFAULT_URL, database_timeout_s


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FUNDCENTER_")

    database_url: str = DEFAULT_URL
    run_projections: bool = True  # follow the log in this process (`serve`), or leave it to `fundcenter project`
    wait_timeout_s: float = 5.0  # how long a query with ?min_position= waits for the views
    # Waiting for a pooled database connection, and connecting: past it, 503 database-unavailable.
    # (FUNDCENTER_DATABASE_TIMEOUT_S; the event store's and the views' pools both take it.)
    database_timeout_s: float = Field(default_factory=database_timeout_s, gt=0)
    healthz_timeout_s: float = 1.5  # /healthz and /metrics answer within this, whatever the database does
    projection_lag_max_s: float = 30.0  # /healthz is 503 projections-lagging when the views stay behind this long
    group_commit: bool = True  # concurrent POST /v1/transfers share transactions
    # The key of the HMAC that tokenises card numbers: set a secret one in production.
    card_token_key: str = "fundcenter-development-card-token-key"
    simulator_seed: int = 0
    accounting_timezone: str = "UTC"  # the accounting day (日切) runs from the cut-off to the next,
    accounting_cutoff: str = "00:00"  # in this time zone  # channels without an adapter of their own are played by the simulator
