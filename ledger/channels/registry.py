"""Where the ledger finds a channel's gateway.

No real channel adapters are built yet, so by default every channel in the
catalog is played by the built-in simulator, charging the fees the catalog
configures (so that only injected differences show in reconciliation) and
signing its callbacks with that channel's secret. A channel with no secret
(`secret_for` gives None: production without one configured) is not connected.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING

from .gateway import Gateway, GatewayRegistry, Method
from .simulator import SimulatedChannel

if TYPE_CHECKING:
    from ledger import FundCenter


class SimulatorRegistry(GatewayRegistry):
    def __init__(
        self, ledger: FundCenter, secret_for: Callable[[str], bytes | None], seed: int = 0,
        statement_day: Callable[[datetime], date] | None = None,
    ) -> None:
        super().__init__()
        self.ledger, self.secret_for, self.seed, self.statement_day = ledger, secret_for, seed, statement_day
        self._lock = threading.Lock()

    def get(self, code: str) -> Gateway | None:
        with self._lock:
            if code not in self.gateways:
                secret = self.secret_for(code)
                if code not in self.ledger.catalog().channels or secret is None:
                    return None
                self.gateways[code] = SimulatedChannel(
                    code, secret=secret, seed=self.seed, fee_rule=self._fees(code),
                    clock=self.ledger.clock, statement_day=self.statement_day,
                )
            return self.gateways[code]

    def _fees(self, code: str):
        def fee(method: Method, amount: int) -> int:
            return self.ledger.catalog().fee(code, method.value if isinstance(method, Method) else method, amount)

        return fee
