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
    # Maintenance margin / margin balance of the account (cross), a decimal: 1.0 is where
    # the venue liquidates. None where the venue gives no such figure.
    margin_ratio: float | None = None


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
    margin_mode: Literal["cross", "isolated"] | None = None  # None: the venue does not say
    # Auto-deleveraging queue, 1 (last) to 5 (first to be deleveraged); None where the
    # venue publishes none.
    adl_rank: int | None = None

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


class KeyAccess(msgspec.Struct, frozen=True):
    """What a venue says one API key may do. None: the venue does not let a key see its
    own permissions (or did not answer), so nothing is assumed."""

    venue: str
    can_trade: bool | None
    can_withdraw: bool | None
    detail: str = ""  # the venue's own words, never the key: "perm=read_only,trade"

    @property
    def read_only(self) -> bool | None:
        """False as soon as the key may trade or withdraw; True only when the venue says it
        may do neither; None otherwise."""
        if self.can_trade or self.can_withdraw:
            return False
        if self.can_trade is None or self.can_withdraw is None:
            return None
        return True
