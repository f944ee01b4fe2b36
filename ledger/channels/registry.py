"""Where the ledger finds a channel's gateway.

No real channel adapters are built yet, so by default every channel in the
catalog is played by the built-in simulator, charging the fees the catalog
configures (so that only injected differences show in reconciliation).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from .gateway import Gateway, GatewayRegistry, Method
from .simulator import SimulatedChannel

if TYPE_CHECKING:
    from ledger import FundCenter


class SimulatorRegistry(GatewayRegistry):
    def __init__(self, ledger: FundCenter, seed: int = 0) -> None:
        super().__init__()
        self.ledger, self.seed = ledger, seed
        self._lock = threading.Lock()

    def get(self, code: str) -> Gateway | None:
        with self._lock:
            if code not in self.gateways:
                if code not in self.ledger.catalog().channels:
                    return None
                self.gateways[code] = SimulatedChannel(code, seed=self.seed, fee_rule=self._fees(code))
            return self.gateways[code]

    def _fees(self, code: str):  # noqa: ANN202
        def fee(method: Method, amount: int) -> int:
            return self.ledger.catalog().fee(code, method.value if isinstance(method, Method) else method, amount)

        return fee
