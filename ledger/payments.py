"""The views of payments and card bindings, where `api.service` and `ledger.channels.service`
import them from; they live in `ledger.views` (the handlers are `ledger.handlers.payments`)."""

from .views import BindingView, PaymentView

__all__ = ["BindingView", "PaymentView"]
