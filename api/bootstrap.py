"""The one bootstrap (in the Cosmic Python sense): the only place that builds the system.

`bootstrap(settings)` opens the ledger (`FundCenter`) at once, and the rest on first use:
the views' store, the projection runner, the channels' gateways, the payments and
reconciliation services. So a command that needs only the ledger
(`fundcenter keys create`) opens nothing else and needs no secrets, while the app, which
uses everything, builds it all in its lifespan. The app, the CLI, the demo, the tests and
the benches all come through here; what they differ in (the clock, the gateways, the
actor, the secrets) they pass in.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from types import TracebackType

from ledger import FundCenter
from ledger.channels.gateway import GatewayRegistry
from ledger.channels.registry import SimulatorRegistry
from ledger.channels.service import Payments
from ledger.domain.aggregate import Clock
from projections import ProjectionRunner, ViewStore
from projections.halts import HaltReporter
from projections.payments import channel_activity
from projections.reconciliation import Reconciler
from projections.webhook_delivery import Deliverer

from .service_secrets import ServiceSecrets, load_secrets
from .settings import Settings

ChannelActivity = tuple[dict[str, int], dict[str, int]]
# The channels' gateways, or what makes them from the ledger (None: the bootstrap's default).
Gateways = GatewayRegistry | Callable[[FundCenter], GatewayRegistry | None]


def bootstrap(
    settings: Settings | None = None, *, clock: Clock | None = None, gateways: Gateways | None = None,
    secrets: ServiceSecrets | None = None, actor: str | None = None, catch_up_before_routing: bool = False,
) -> System:
    """The system on `settings` (default: from the environment).

    `clock` (default: the system's) is the one time of the ledger, the simulated channels and
    the accounting day; `gateways` (or a function of the ledger that makes them; default: the
    built-in simulator plays every channel in the catalog) reach the channels; `secrets`
    (default: `load_secrets(settings)`, read when first needed); `actor` records who staff
    commands called without `by=` were made by. With `catch_up_before_routing` (a process
    whose runner does not follow the log: the demo), routing brings the views up to date
    before it reads the day's channel activity."""
    settings = settings or Settings()
    ledger = FundCenter(
        settings.database_url, clock=clock, accounting_day=settings.accounting_day, actor=actor,
        env={"FUNDCENTER_DATABASE_TIMEOUT_S": str(settings.database_timeout_s)},
    )
    return System(settings, ledger, gateways=gateways, secrets=secrets, catch_up_before_routing=catch_up_before_routing)


class System:
    """The built system. Each part is made once, on first use; `close()` closes what was made."""

    def __init__(
        self, settings: Settings, ledger: FundCenter, *, gateways: Gateways | None = None,
        secrets: ServiceSecrets | None = None, catch_up_before_routing: bool = False,
    ) -> None:
        self.settings, self.ledger = settings, ledger
        self._gateways, self._secrets = gateways, secrets
        self._catch_up_before_routing = catch_up_before_routing

    @cached_property
    def secrets(self) -> ServiceSecrets:
        return self._secrets or load_secrets(self.settings)

    @cached_property
    def views(self) -> ViewStore:
        return ViewStore(self.ledger.database, timeout_s=self.settings.database_timeout_s)

    @cached_property
    def runner(self) -> ProjectionRunner:
        # On PostgreSQL the processes on one database (`serve --workers N`) elect one runner to apply the log.
        # A halt is recorded in the log, for the staff's `projection.halted` webhooks.
        return ProjectionRunner(self.ledger, self.views, elect=True, on_failure=HaltReporter(self.ledger))

    @cached_property
    def gateways(self) -> GatewayRegistry:
        given = self._gateways(self.ledger) if callable(self._gateways) else self._gateways
        if given is not None:
            return given
        # The secrets are read when a channel is first reached, not before.
        return SimulatorRegistry(self.ledger, lambda code: self.secrets.channel_secret(code), self.settings.simulator_seed,
                                 self.settings.accounting_day.day_of)

    @cached_property
    def payments(self) -> Payments:
        return Payments(self.ledger, self.gateways, activity=self._activity, card_key=self.secrets.card_token_key)

    @cached_property
    def reconciler(self) -> Reconciler:
        return Reconciler(self.ledger, self.views, self.settings.accounting_day, catch_up=self.runner.catch_up,
                          gateways=self.gateways, wait_max_days=self.settings.reconciliation_wait_max_days)

    @cached_property
    def deliverer(self) -> Deliverer:
        """Sends the webhooks the outbox queues from the log (`serve` runs it in a thread, `fundcenter deliver`
        on its own); http and private addresses only in a development run."""
        return Deliverer(self.ledger, self.views, development=self.settings.environment == "development")

    def _activity(self, business: str, method: str, bank: str, day: str) -> ChannelActivity:
        """What routing reads: the channels' use of the day and their success rates (a read model)."""
        if self._catch_up_before_routing:
            self.runner.catch_up()
        return channel_activity(self.views, method, bank, day)

    def close(self) -> None:
        """Stop and close what was made, the ledger last."""
        made = self.__dict__  # where cached_property keeps what it made
        if "deliverer" in made:
            self.deliverer.close()
        if "runner" in made:
            self.runner.stop()
        if "views" in made:
            self.views.close()
        self.ledger.close()

    def __enter__(self) -> System:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()
