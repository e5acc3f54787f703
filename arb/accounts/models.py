"""What the account commands show: balances, positions and funding payments."""

from __future__ import annotations

from typing import Literal

import msgspec


class Balance(msgspec.Struct, frozen=True):
    """One venue account's value. `currency` is what the venue totals in (USD or USDT)."""

    venue: str
    currency: str
    equity: float
    available: float | None
    unrealised_pnl: float | None = None


class Position(msgspec.Struct, frozen=True):
    """One open perpetual position. `size` is in coins of the canonical asset (contracts
    and 1000x symbols already converted) and always positive; `side` gives the sign."""

    venue: str
    asset: str
    symbol: str
    side: Literal["long", "short"]
    size: float
    entry_price: float | None
    mark_price: float | None
    unrealised_pnl: float | None
    leverage: float | None
    liquidation_price: float | None

    @property
    def signed_size(self) -> float:
        return self.size if self.side == "long" else -self.size

    @property
    def notional(self) -> float | None:
        """Signed value at the mark price, in the settle currency."""
        return None if self.mark_price is None else self.signed_size * self.mark_price


class FundingPayment(msgspec.Struct, frozen=True):
    """One funding settlement on the desk's account: positive when received."""

    venue: str
    asset: str
    symbol: str
    amount: float
    currency: str
    time_ms: int
