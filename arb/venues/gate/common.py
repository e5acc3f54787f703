"""What Gate's public, streaming and signed clients share: its name, its error reply and
check, the paged contract list, which contracts are in scope, and what a contract holds."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

import msgspec

from arb.http import ReplyError, VenueHttp
from arb.symbols import split_multiplier
from arb.venues.cache import Metadata
from arb.venues.numbers import RawNum, to_decimal

NAME = __name__.split(".")[-2]
T = TypeVar("T")

SETTLE = "USDT"  # the settle currency of /futures/usdt, the perpetuals the desk trades
CONTRACTS = "/api/v4/futures/usdt/contracts"
PAGE_LIMIT = 1000  # Gate's maximum `limit` on every list
# Contract pages one read takes at most: several times what Gate lists.
MAX_CONTRACT_PAGES = 5
# Labels worth a retry: rate limits and the server's own trouble.
RETRYABLE_LABELS = frozenset(
    {"TOO_MANY_REQUESTS", "TOO_FAST", "TOO_BUSY", "SERVER_ERROR", "INTERNAL"}
)


class ErrorReply(msgspec.Struct, gc=False):
    """What Gate sends instead of the reply when it refuses a request."""

    label: str
    message: str = ""


def raise_label(label: str, message: str) -> None:
    """A reply carrying Gate's error label (with a 2xx, which it should not send) fails
    the way VenueHttp fails the non-2xx ones: as a venue error named by its label."""
    raise ReplyError(label, message, retryable=label in RETRYABLE_LABELS)


def unwrapper(row: type[T]) -> Callable[[bytes], list[T]]:
    """A decoder of a list of `row`s that turns Gate's error object into a ReplyError."""
    decode = msgspec.json.Decoder(list[row] | ErrorReply, strict=False).decode  # type: ignore[valid-type]

    def unwrap(body: bytes) -> list[T]:
        reply = decode(body)
        if isinstance(reply, ErrorReply):
            raise_label(reply.label, reply.message)
        return reply

    return unwrap


async def contract_pages(http: VenueHttp, decode: Callable[[bytes], list[T]]) -> list[T]:
    """Every USDT contract, a page of PAGE_LIMIT at a time (`limit`, `offset`)."""
    rows: list[T] = []
    for offset in range(0, MAX_CONTRACT_PAGES * PAGE_LIMIT, PAGE_LIMIT):
        params = {"limit": str(PAGE_LIMIT), "offset": str(offset)}
        page = await http.get(CONTRACTS, params, decode=decode)
        rows += page
        if len(page) < PAGE_LIMIT:
            break
    return rows


@functools.lru_cache(maxsize=16_384)
def classify(name: str) -> tuple[str, float] | None:
    """`BTC_USDT` -> (`BTC`, 1); `1000BONK_USDT` -> (`BONK`, 1000); None for another
    settle currency or a dated name (BTC_USDT_20260925)."""
    base, sep, quote = name.partition("_")
    if not sep or not base or quote != SETTLE:
        return None
    return split_multiplier(base)


class ContractRow(msgspec.Struct, gc=False):
    name: str = ""
    quanto_multiplier: RawNum = None  # coins of the name's base per contract
    order_size_min: RawNum = None  # the smallest order, contracts


@dataclass(frozen=True, slots=True)
class Contract:
    """One USDT perpetual in the desk's units: `coins` of `asset` per contract (the order
    step: Gate trades whole contracts), `price_unit` coins per quoted price (1000 for
    1000SATS_USDT, else 1) and the smallest order in contracts."""

    asset: str
    coins: Decimal
    price_unit: float
    min_contracts: Decimal = Decimal(1)


decode_contracts = unwrapper(ContractRow)


def to_contracts(rows: list[ContractRow]) -> dict[str, Contract]:
    """Every USDT perpetual, delisting or not: a delisting one still held must size."""
    out: dict[str, Contract] = {}
    for row in rows:
        info = classify(row.name)
        quanto = to_decimal(row.quanto_multiplier)
        if info is None or quanto is None or quanto <= 0:
            continue
        asset, unit = info
        least = to_decimal(row.order_size_min)
        out[row.name] = Contract(
            asset,
            quanto * Decimal(repr(unit)),
            unit,
            least if least is not None and least > 0 else Decimal(1),
        )
    return out


class ContractTable(Metadata[T]):
    """`parse` of every page of the contract list, cached on a public client like any
    `Metadata` (which reads one page)."""

    def __init__(self, parse: Callable[[list[ContractRow]], T], ttl_s: float) -> None:
        super().__init__(CONTRACTS, decode_contracts, ttl_s)
        self.parse = parse

    on_disk = False  # many pages make one value: kept in memory only

    def _loader(self, http: VenueHttp, decode: Callable[[bytes], T]) -> Callable[[], Awaitable[T]]:
        async def load() -> T:
            return self.parse(await contract_pages(http, decode_contracts))

        return load
