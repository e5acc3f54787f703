"""Hyperliquid public market data.

`POST /info {"type":"metaAndAssetCtxs"}` returns `[meta, assetCtxs]`, paired by
index. `funding` is already an hourly rate and settles every hour, so the
interval is 1 h and the next funding is the next whole UTC hour. `k` names are
x1000 (kPEPE). Delisted assets stay in the universe and are skipped.

Settled funding comes from `{"type":"fundingHistory"}`, ascending, 500 rows a reply at
most; its `fundingRate` is hourly too and its `time` lands a few ms past the hour.
"""

from __future__ import annotations

import logging

import msgspec

from arb.http import ReplyShapeError
from arb.models import Quote
from arb.symbols import split_multiplier
from arb.venues.base import (
    FundingPoint,
    HistoryPage,
    VenueClient,
    VenueFetch,
    history_page,
    next_hour_ms,
    walk_forward,
)
from arb.venues.hyperliquid.common import INTERVAL_H, NAME
from arb.venues.numbers import RawNum

log = logging.getLogger(__name__)

INFO = "/info"
HISTORY_PAGE = 500  # rows in one fundingHistory reply at most


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


class FundingHistoryRow(msgspec.Struct, gc=False):
    time: RawNum = None  # the settlement, ms as a number
    fundingRate: RawNum = None  # hourly


_meta_and_ctxs = msgspec.json.Decoder(tuple[Meta, list[AssetCtx]], strict=False)
_funding_history = msgspec.json.Decoder(list[FundingHistoryRow], strict=False)


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


def decode_funding_history(body: bytes) -> HistoryPage:
    """A fundingHistory reply (ascending) as a page."""
    return history_page([(r.time, r.fundingRate) for r in _funding_history.decode(body)])


class HyperliquidClient(VenueClient):
    name = NAME
    hourly_history = True

    async def fetch_quotes(self) -> VenueFetch:
        quotes = await self.http.post_json(
            INFO,
            {"type": "metaAndAssetCtxs"},
            decode=lambda body: parse_meta_and_ctxs(body, self.clock()),
        )
        return VenueFetch(quotes)

    async def funding_history(self, symbol: str, start_ms: int, end_ms: int) -> list[FundingPoint]:
        """Replies run forward from `startTime`, so pages advance it past the last `time`;
        when the request bound stops them (past 2000 hours) the oldest are kept."""

        async def page_from(start: int) -> HistoryPage:
            query = {
                "type": "fundingHistory",
                "coin": symbol,
                "startTime": start,
                "endTime": end_ms,
            }
            return await self.http.post_json(INFO, query, decode=decode_funding_history)

        return await walk_forward(page_from, start_ms, end_ms, HISTORY_PAGE)
