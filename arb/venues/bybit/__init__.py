"""Bybit: what the rest of the app knows of it (its rest, stream and account
modules hold the rest)."""

from arb.venues.spec import VenueSpec

SPEC = VenueSpec(
    name="bybit",
    label="Bybit",
    rest_url="https://api.bybit.com",
    ws_url="wss://stream.bybit.com/v5/public/linear",
    taker_fee=0.00055,
    colour="#f28e2b",
    client="BybitClient",
    dialect="BybitDialect",
    account="BybitPrivate",
)
