"""Fund Center's ledger: the domain and the application service that runs its commands."""

from .application import FundCenter
from .domain.errors import LedgerError
from .views import AccountView, HoldView, TransferView

__all__ = ["AccountView", "FundCenter", "HoldView", "LedgerError", "TransferView"]
