"""Hyperliquid: what the rest of the app knows of it (its rest, stream and account
modules hold the rest)."""

from arb.venues.spec import VenueSpec

SPEC = VenueSpec(
    name="hyperliquid",
    label="Hyperliquid",
    rest_url="https://api.hyperliquid.xyz",
    ws_url="wss://api.hyperliquid.xyz/ws",
    taker_fee=0.00045,
    colour="#b07aa1",
    client="HyperliquidClient",
    dialect="HyperliquidDialect",
    short="hl",
    usdc_only=True,
)
