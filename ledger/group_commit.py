"""Group commit, as the HTTP API calls it: now the ledger's own write path.

Every command of a `FundCenter` goes through its one writer (ledger.writer),
which saves concurrent commands together, transfers and every other posting
command alike. `GroupCommitter` stays as the API knows it: `transfer` is
`FundCenter.transfer`, and `stop` waits for what is queued.
"""

from __future__ import annotations

from typing import Any

from .application import FundCenter
from .views import TransferView
from .writer import BATCH_SIZE_MAX

GROUP_SIZE_MAX = BATCH_SIZE_MAX  # commands committed together


class GroupCommitter:
    def __init__(self, ledger: FundCenter, group_size_max: int = GROUP_SIZE_MAX) -> None:
        self.ledger, self.group_size_max = ledger, group_size_max  # the ledger's writer sets the size

    def transfer(self, **request: Any) -> TransferView:
        """The same as FundCenter.transfer (committed with whatever else is waiting)."""
        return self.ledger.transfer(**request)

    def stop(self) -> None:
        """Nothing of its own to stop: the ledger's writer drains when the ledger closes."""
