"""Venue clients by name."""

from __future__ import annotations

from arb.http import RetryPolicy, VenueHttp
from arb.settings import Settings
from arb.venues.base import VenueClient, VenueFetch
from arb.venues.binance import BinanceClient
from arb.venues.bitget import BitgetClient
from arb.venues.bybit import BybitClient
from arb.venues.gate import GateClient
from arb.venues.hyperliquid import HyperliquidClient
from arb.venues.okx import OkxClient

CLIENTS: dict[str, type[VenueClient]] = {
    c.name: c
    for c in (BybitClient, BinanceClient, OkxClient, HyperliquidClient, BitgetClient, GateClient)
}

__all__ = ["CLIENTS", "VenueClient", "VenueFetch", "make_clients"]


def make_clients(settings: Settings, venues: tuple[str, ...] | None = None) -> list[VenueClient]:
    """One client (one HTTP session) per enabled venue."""
    clients = []
    for name in venues or settings.venues:
        vs = settings.venue[name]
        http = VenueHttp(
            name,
            vs.rest_url,
            timeout_s=settings.http_timeout_s,
            retry=RetryPolicy(attempts=settings.http_attempts),
            max_cooldown_s=settings.max_cooldown_s,
            max_reply_bytes=settings.max_reply_bytes,
        )
        clients.append(CLIENTS[name](http))
    return clients
