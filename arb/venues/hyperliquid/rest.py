"""Hyperliquid public market data.

`POST /info {"type":"metaAndAssetCtxs"}` returns `[meta, assetCtxs]`, paired by
index. `funding` is already an hourly rate and settles every hour, so the
interval is 1 h and the next funding is the next whole UTC hour. `k` names are
x1000 (kPEPE). Delisted assets stay in the universe and are skipped.

Settled funding comes from `{"type":"fundingHistory"}`, ascending, 500 rows a reply at
most; its `fundingRate` is hourly too and its `time` lands a few ms past the hour.

Order books come from `{"type":"l2Book","coin":...}` (weight 2, at most 20 levels a side,
full precision), `{px, sz, n}` levels with prices per unit of the name and sizes in those
units (kPEPE: per and in 1000 PEPE); the order step is 10^-szDecimals units, from
`{"type":"meta"}` (weight 20), cached.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import msgspec

from arb.depth import Book
from arb.http import ReplyShapeError, VenueHttp
from arb.models import Quote
from arb.symbols import split_multiplier
from arb.venues.base import (
    FundingPoint,
    HistoryPage,
    Sizing,
    VenueClient,
    VenueFetch,
    history_page,
    in_coins,
    next_hour_ms,
    sized_book,
    walk_forward,
)
from arb.venues.cache import Metadata
from arb.venues.hyperliquid.common import INTERVAL_H, NAME
from arb.venues.numbers import RawNum

log = logging.getLogger(__name__)

INFO = "/info"
HISTORY_PAGE = 500  # rows in one fundingHistory reply at most
SIZING_TTL_S = 600.0

T = TypeVar("T")


class Asset(msgspec.Struct):
    name: str
    isDelisted: bool = False
    szDecimals: int | None = None  # sizes are whole multiples of 10^-szDecimals units


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


class BookLevel(msgspec.Struct, gc=False):
    px: RawNum = None
    sz: RawNum = None  # units of the name (kPEPE: 1000 PEPE)


class L2Book(msgspec.Struct, gc=False):
    coin: str
    levels: tuple[list[BookLevel], list[BookLevel]]  # bids, asks; best first


class InfoMetadata(Metadata[T]):
    """`Metadata` asked of the info endpoint: `params` is the POSTed query."""

    def _loader(self, http: VenueHttp, decode: Callable[[bytes], T]) -> Callable[[], Awaitable[T]]:
        return lambda: http.post_json(INFO, self.params, decode=decode)


_meta_and_ctxs = msgspec.json.Decoder(tuple[Meta, list[AssetCtx]], strict=False)
_meta = msgspec.json.Decoder(Meta, strict=False)
_l2_book = msgspec.json.Decoder(L2Book, strict=False)
_funding_history = msgspec.json.Decoder(list[FundingHistoryRow], strict=False)


def parse_meta_and_ctxs(body: bytes, received_at: float) -> list[Quote]:
    meta, ctxs = _meta_and_ctxs.decode(body)
    if len(meta.universe) != len(ctxs):
        raise ReplyShapeError(f"universe has {len(meta.universe)} assets but {len(ctxs)} contexts")
    next_ms = next_hour_ms(received_at)
    quotes: list[Quote] = []
    for asset, ctx in zip(meta.universe, ctxs, strict=True):
        named = listed(asset) if ctx.funding is not None else None
        if named is None:
            continue
        name, multiplier = named
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


def listed(asset: Asset) -> tuple[str, float] | None:
    """A universe entry's canonical name and multiplier; None for a delisted coin, a HIP-3
    builder dex name or junk."""
    if asset.isDelisted or ":" in asset.name:
        return None
    try:
        return split_multiplier(asset.name)
    except ValueError:
        log.warning("hyperliquid: skipping %r, not an asset name", asset.name)
        return None


def parse_sizing(body: bytes) -> dict[str, Sizing]:
    """meta -> each listed name's multiplier and order step (10^-szDecimals units, in
    coins). The minimum order is a notional ($10), not a size: min_qty stays 0."""
    table: dict[str, Sizing] = {}
    for asset in _meta.decode(body).universe:
        name = listed(asset)
        if name is not None:
            m = name[1]
            step = None if asset.szDecimals is None else f"1e-{asset.szDecimals}"
            table[asset.name] = Sizing(m, in_coins(step, m), 0.0)
    return table


def parse_book(body: bytes, symbol: str, sizing: Sizing, received_at: float) -> Book:
    """An l2Book reply -> `symbol`'s book in USD per coin and coins. A coin the venue has
    no book for answers null: a wrong-shaped reply."""
    book = _l2_book.decode(body)
    if book.coin != symbol:
        raise ReplyShapeError(f"asked for the {symbol} book, got {book.coin}'s")
    bids, asks = ([(level.px, level.sz) for level in side] for side in book.levels)
    return sized_book(NAME, symbol, bids, asks, sizing, received_at)


def decode_funding_history(body: bytes) -> HistoryPage:
    """A fundingHistory reply (ascending) as a page."""
    return history_page([(r.time, r.fundingRate) for r in _funding_history.decode(body)])


class HyperliquidClient(VenueClient):
    name = NAME
    hourly_history = True
    sizings = InfoMetadata(INFO, parse_sizing, SIZING_TTL_S, {"type": "meta"})

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

    async def order_book(self, symbol: str) -> Book:
        body = {"type": "l2Book", "coin": symbol}
        return await self.fetch_book(self.sizings, INFO, symbol, parse_book, body=body)
