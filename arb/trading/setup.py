"""The trader the settings ask for: off, paper venues on the live books, or the venues'
own order clients for live trading.

Live trading goes only to venues with an order path (`order_venues()`) and keys set;
a key the venue says cannot trade is left out with that reason, shown in every preview
that would need it. Order clients have their own sessions: an order is never retried
blind (`once`), and waits ARB_ORDER_TIMEOUT_S for its answer before it is looked up.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from arb.accounts.base import Credentials
from arb.accounts.models import KeyAccess, Position
from arb.books import OrderBooks
from arb.http import RetryPolicy, VenueHttp
from arb.settings import Settings
from arb.trading.engine import Journal, Trader
from arb.trading.orders import OrderVenue
from arb.trading.paper import paper_venues
from arb.venues.registry import SPECS, order_venues

log = logging.getLogger(__name__)

PAPER_LOOKUPS_S = (0.0,)  # a paper order is answered or never was: one look is final


def order_clients(settings: Settings) -> dict[str, OrderVenue]:
    """A live order client per enabled venue that takes orders and has its keys set."""
    out: dict[str, OrderVenue] = {}
    for name in order_venues():
        vs = settings.venue.get(name)
        if vs is None or name not in settings.venues or not (vs.api_key and vs.api_secret):
            continue
        http = VenueHttp(
            name,
            vs.rest_url,
            timeout_s=settings.order_timeout_s,
            retry=RetryPolicy(attempts=settings.http_attempts),  # reads only: orders go once
            max_cooldown_s=settings.max_cooldown_s,
            max_reply_bytes=settings.max_reply_bytes,
        )
        creds = Credentials(vs.api_key, vs.api_secret, vs.api_passphrase)
        cls = SPECS[name].orders_class()
        assert cls is not None
        kwargs = {"demo": True} if name in settings.demo else {}
        out[name] = cls(http, creds, **kwargs)
    return out


def build_trader(
    settings: Settings,
    books: OrderBooks,
    journal: Journal,
    positions: Callable[[], Awaitable[list[Position]]],
    held: dict[tuple[str, str], float] | None = None,
) -> Trader:
    """The trader for `settings.trading`. On paper, `held` (signed coins per venue and
    symbol, from the journal) is the paper account; live, `positions` reads the venues."""
    params = settings.trading_params()
    if params.mode == "paper":
        fees = {name: settings.venue[name].taker_fee for name in settings.venues}
        venues = paper_venues(fees, books, held if held is not None else {})
        from dataclasses import replace

        trader = Trader(replace(params, lookups_s=PAPER_LOOKUPS_S), venues, books, journal)
    elif params.mode == "live":
        trader = Trader(params, order_clients(settings), books, journal, positions=positions)
    else:
        trader = Trader(params, {}, books, journal)
    for name in settings.venues:
        if name not in trader.venues:
            trader.unavailable[name] = _why_not(settings, name)
    return trader


def exclude_read_only(trader: Trader, keys: Mapping[str, KeyAccess]) -> None:
    """Leave out of live trading each venue whose key the venue says cannot trade."""
    if trader.mode != "live":
        return
    for name, access in keys.items():
        if access.can_trade is False and name in trader.venues:
            del trader.venues[name]
            trader.unavailable[name] = "its key is read-only"
            log.warning("%s: the key cannot trade; live trading leaves this venue out", name)


def _why_not(settings: Settings, name: str) -> str:
    if settings.trading != "live":
        return "trading is off"
    if SPECS[name].orders is None:
        return "no order path for this venue yet"
    return f"no keys ({SPECS[name].env_prefix}API_KEY)"
