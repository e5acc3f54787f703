"""What Gate's public, streaming and signed clients share: its name, its error reply and
check, the paged contract list, and which contracts are in scope."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import msgspec

from arb.http import ReplyError, VenueHttp
from arb.symbols import split_multiplier

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
