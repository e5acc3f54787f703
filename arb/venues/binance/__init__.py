"""Binance: what the rest of the app knows of it (its rest, stream and account
modules hold the rest)."""

from arb.venues.spec import VenueSpec

SPEC = VenueSpec(
    name="binance",
    label="Binance",
    rest_url="https://fapi.binance.com",
    ws_url="wss://fstream.binance.com/market",
    taker_fee=0.0005,
    colour="#4e79a7",
    client="BinanceClient",
    dialect="BinanceDialect",
    account="BinancePrivate",
)
