"""Gate: what the rest of the app knows of it (its rest, stream and account
modules hold the rest)."""

from arb.venues.spec import VenueSpec

SPEC = VenueSpec(
    name="gate",
    label="Gate",
    rest_url="https://api.gateio.ws",
    ws_url="wss://fx-ws.gateio.ws/v4/ws/usdt",
    taker_fee=0.0005,
    colour="#9c755f",
    client="GateClient",
    dialect="GateDialect",
    account="GatePrivate",
)
