"""Bitget: what the rest of the app knows of it (its rest, stream and account
modules hold the rest)."""

from arb.venues.spec import VenueSpec

SPEC = VenueSpec(
    name="bitget",
    label="Bitget",
    rest_url="https://api.bitget.com",
    ws_url="wss://ws.bitget.com/v2/ws/public",
    taker_fee=0.0006,
    colour="#76b7b2",
    client="BitgetClient",
    dialect="BitgetDialect",
    account="BitgetPrivate",
    passphrase=True,
)
