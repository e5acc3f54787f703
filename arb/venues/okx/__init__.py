"""OKX: what the rest of the app knows of it (its rest, stream and account
modules hold the rest)."""

from arb.venues.spec import VenueSpec

SPEC = VenueSpec(
    name="okx",
    label="OKX",
    rest_url="https://www.okx.com",
    ws_url="wss://ws.okx.com:8443/ws/v5/public",
    taker_fee=0.0005,
    colour="#333333",
    client="OkxClient",
    dialect="OkxDialect",
    account="OkxPrivate",
    passphrase=True,
    aliases=("okex",),
)
