"""Channel fees, in integer minor units.

fee = fixed + amount * rate_bps / 10,000, the proportional part rounded half up
to the minor unit, then held within [minimum, maximum]. Integer arithmetic only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .errors import ValidationError
from .money import AMOUNT_MINOR_MAX

RATE_BPS_MAX = 10_000  # 100%


@dataclass(frozen=True)
class FeeRule:
    rate_bps: int = 0
    fixed: int = 0
    minimum: int = 0
    maximum: int | None = None

    def __post_init__(self) -> None:
        for name in ("rate_bps", "fixed", "minimum"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationError(f"fee {name} must be a non-negative integer, got {value!r}")
        if self.rate_bps > RATE_BPS_MAX or self.fixed > AMOUNT_MINOR_MAX:
            raise ValidationError("fee rate_bps is at most 10000 and fixed at most the largest amount")
        if self.maximum is not None and (not isinstance(self.maximum, int) or self.maximum < self.minimum):
            raise ValidationError(f"fee maximum {self.maximum!r} must be an integer not below the minimum")

    def fee(self, amount: int) -> int:
        proportional = (amount * self.rate_bps + 5_000) // 10_000  # half up
        fee = max(self.fixed + proportional, self.minimum)
        return fee if self.maximum is None else min(fee, self.maximum)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
