"""Hyperliquid public market data.

`POST /info {"type":"metaAndAssetCtxs"}` returns `[meta, assetCtxs]`, paired by
index. `funding` is already an hourly rate and settles every hour, so the
interval is 1 h and the next funding is the next whole UTC hour. `k` names are
x1000 (kPEPE). Delisted assets stay in the universe and are skipped.
"""

from __future__ import annotations

import logging

import msgspec

from arb.http import ReplyShapeError
from arb.models import Quote
from arb.symbols import split_multiplier
from arb.venues.base import VenueClient, VenueFetch, next_hour_ms

log = logging.getLogger(__name__)

NAME = "hyperliquid"
REST_URL = "https://api.hyperliquid.xyz"
INFO = "/info"
INTERVAL_H = 1.0


class Asset(msgspec.Struct):
    name: str
    isDelisted: bool = False


class Meta(msgspec.Struct):
    universe: list[Asset]


class AssetCtx(msgspec.Struct, gc=False):
    # Numeric strings, decoded to floats (strict=False); null for delisted coins.
    funding: float | None = None
    markPx: float | None = None
    dayNtlVlm: float | None = None
    openInterest: float | None = None


_meta_and_ctxs = msgspec.json.Decoder(tuple[Meta, list[AssetCtx]], strict=False)


def parse_meta_and_ctxs(body: bytes, received_at: float) -> list[Quote]:
    meta, ctxs = _meta_and_ctxs.decode(body)
    if len(meta.universe) != len(ctxs):
        raise ReplyShapeError(f"universe has {len(meta.universe)} assets but {len(ctxs)} contexts")
    next_ms = next_hour_ms(received_at)
    quotes: list[Quote] = []
    for asset, ctx in zip(meta.universe, ctxs, strict=True):
        if asset.isDelisted or ctx.funding is None or ":" in asset.name:
            continue  # delisted, or a HIP-3 builder dex name
        try:
            name, multiplier = split_multiplier(asset.name)
        except ValueError:
            log.warning("hyperliquid: skipping %r, not an asset name", asset.name)
            continue
        mark, oi = ctx.markPx, ctx.openInterest
        quotes.append(
            Quote(
                venue=NAME,
                asset=name,
                symbol=asset.name,
                rate=ctx.funding,
                interval_h=INTERVAL_H,
                next_funding_time=next_ms,
                mark_price=mark,
                turnover_24h=ctx.dayNtlVlm,
                open_interest_value=oi * mark if oi is not None and mark is not None else None,
                received_at=received_at,
                multiplier=multiplier,
                settle="USDC",
            )
        )
    return quotes


class HyperliquidClient(VenueClient):
    name = NAME
    default_rest_url = REST_URL

    async def fetch_quotes(self) -> VenueFetch:
        quotes = await self.http.post_json(
            INFO,
            {"type": "metaAndAssetCtxs"},
            decode=lambda body: parse_meta_and_ctxs(body, self.clock()),
        )
        return VenueFetch(quotes)
