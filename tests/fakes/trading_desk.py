"""A live trading desk on the fakes: one asset with a clear carry between two venues that
take orders, each venue's signed account and order endpoints served by one FakeVenues,
and the settings that point the bot's keys at them with ARB_TRADING=live.

`TradingDesk()` (an async context manager) starts the fake venues; `env()` is what the
bot reads (keys, URLs, limits, ARB_ADMINS, short order timeouts so a lost answer costs
half a second and "not found" is final after one); `held()` reads each exchange's book
(`FakeExchange.positions`), where a trade's end state is decided. Each fake account's
positions read (`/positions`, the risk watch, the trader's limits) follows its exchange's
fills, so the desk sees what it holds. Assets with a multiplier are not wired here: the
desk trades whole coins (BTC by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

from tests.fakes.exchange import FakeExchange
from tests.fakes.private_base import Held
from tests.fakes.venues import FakeMarket, FakePerp, FakeVenues

ADMIN = 1001  # the fake Telegram's default user and chat
PRICE = 77_607.4  # BTC, USD per coin
# The carry: the long venue pays its longs (a negative rate), the short venue its shorts.
LONG_RATE, SHORT_RATE = -0.0001, 0.0003  # per 8 h: 0.04 % a period, 43.8 % a year gross


def carry_market(long: str, short: str, asset: str = "BTC", price: float = PRICE) -> FakeMarket:
    """`asset` on `long` and `short` only, long cheap and short rich; the short venue's
    contracts are 0.01 coin (OKX's BTC size) so a unit slip shows as a wrong size."""
    return FakeMarket(
        venues={
            long: [FakePerp(asset, LONG_RATE, 8, price=price, lot=0.001, min_qty=0.001)],
            short: [
                FakePerp(asset, SHORT_RATE, 8, price=price, lot=0.01, min_qty=0.01, ct_val="0.01")
            ],
        }
    )


@dataclass
class DeskVenue:
    """One venue of the desk: its fake account, its order fake, and the matching engine."""

    name: str
    account: Any  # tests/venues/<name>/fake_account.py FakeAccount
    orders: Any  # tests/venues/<name>/fake_orders.py FakeOrders
    exchange: FakeExchange
    symbol: str

    @property
    def held(self) -> float:
        """Signed coins of the desk's asset on this venue's book."""
        return self.exchange.position(self.symbol)

    @property
    def refusals(self) -> list[str]:
        """Signed requests the fake refused (a bad signature, a stale timestamp...)."""
        return list(self.account.refusals)


class TradingDesk:
    def __init__(self, long: str = "bybit", short: str = "okx", asset: str = "BTC") -> None:
        self.asset = asset
        self.fake = FakeVenues(carry_market(long, short, asset))
        self.names = (long, short)
        self.venues: dict[str, DeskVenue] = {}

    async def __aenter__(self) -> TradingDesk:
        await self.fake.start()
        try:
            for name in self.names:
                self.venues[name] = self._install(name)
        except BaseException:
            await self.fake.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()
        await self.fake.stop()

    @property
    def long(self) -> DeskVenue:
        return self.venues[self.names[0]]

    @property
    def short(self) -> DeskVenue:
        return self.venues[self.names[1]]

    def env(self, **extra: str) -> dict[str, str]:
        """The settings of a live desk on these fakes (`extra` last)."""
        keys = {k: v for venue in self.venues.values() for k, v in venue.account.env().items()}
        return {
            **self.fake.env(),
            **keys,
            "ARB_VENUES": ",".join(self.names),
            "ARB_HTTP_RETRIES": "0",
            "ARB_HTTP_TIMEOUT_S": "2",
            "ARB_FEEDS": "0",
            "ARB_CACHE_DIR": "off",
            "ARB_TRADING": "live",
            "ARB_ADMINS": str(ADMIN),
            "ARB_MAX_NOTIONAL_USD": "50000",
            "ARB_MAX_ASSET_USD": "100000",
            "ARB_ORDER_TIMEOUT_S": "0.5",  # a lost answer costs this much
            "ARB_ORDER_LOOKUP_S": "1",  # "not found" is final after this
            **extra,
        }

    def held(self) -> dict[str, float]:
        """Signed coins of the asset on each venue's book."""
        return {name: v.held for name, v in self.venues.items()}

    def refusals(self) -> dict[str, list[str]]:
        return {name: v.refusals for name, v in self.venues.items()}

    def release(self) -> None:
        """Let every hanging order request go (a test's end, or the hung venue back)."""
        for v in self.venues.values():
            v.exchange.release()

    # --- wiring -----------------------------------------------------------------------

    def _install(self, name: str) -> DeskVenue:
        account = import_module(f"tests.venues.{name}.fake_account").FakeAccount()
        account.can_trade = True
        account.positions = []  # flat: the recorded positions are not this desk's
        account.install(self.fake)
        orders = import_module(f"tests.venues.{name}.fake_orders").FakeOrders(account)
        exchange = orders.install(self.fake)
        perp = self.fake.market.perps(name)[0]  # type: ignore[union-attr]
        venue = DeskVenue(name, account, orders, exchange, self.fake.symbols[name](perp))
        self._follow_fills(venue, perp)
        return venue

    def _follow_fills(self, venue: DeskVenue, perp: FakePerp) -> None:
        """Rewrite the account's positions read after every fill the exchange books."""
        exchange = venue.exchange
        book_fill = exchange._book_fill

        def booked(symbol: str, signed: float, price: float) -> None:
            book_fill(symbol, signed, price)
            venue.account.positions = [
                venue.account.position(self._held(exchange, s, coins, perp))
                for s, coins in exchange.positions.items()
            ]

        exchange._book_fill = booked  # type: ignore[method-assign]

    @staticmethod
    def _held(exchange: FakeExchange, symbol: str, coins: float, perp: FakePerp) -> Held:
        entry = exchange.entries.get(symbol, perp.price)
        return Held(
            symbol=symbol,
            side="long" if coins > 0 else "short",
            size=abs(coins),
            entry=entry,
            mark=perp.price,
            upnl=coins * (perp.price - entry),
            leverage=exchange.leverage.get(symbol, 3.0),
            liq=None,
        )
