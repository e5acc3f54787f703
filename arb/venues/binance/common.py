"""What Binance's public, streaming and signed clients share: its name, its error reply
and check, and which symbols are in scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import msgspec

from arb.http import ReplyError
from arb.symbols import split_multiplier
from arb.venues.base import USD_SETTLES, Perp

NAME = __name__.split(".")[-2]
T = TypeVar("T")

# Retrying helps only with throttling; the rest are refusals or bugs.
RETRYABLE_CODES = frozenset({-1003, -1008})


class ErrorReply(msgspec.Struct):
    """What Binance sends instead of the reply: HTTP 4xx mostly, which VenueHttp types by
    its code; the same envelope on HTTP 200 is raised by `unwrapper`'s decoders."""

    code: int
    msg: str = ""


def reply_error(code: int, msg: str) -> ReplyError:
    return ReplyError(str(code), msg, retryable=code in RETRYABLE_CODES)


def unwrapper(row: type[T]) -> Callable[[bytes], list[T]]:
    """A decoder of a list of `row`s that turns Binance's error envelope into a ReplyError."""
    decode = msgspec.json.Decoder(list[row] | ErrorReply, strict=False).decode  # type: ignore[valid-type]

    def unwrap(body: bytes) -> list[T]:
        reply = decode(body)
        if isinstance(reply, ErrorReply):
            raise reply_error(reply.code, reply.msg)
        return reply

    return unwrap


def perp_of(symbol: str) -> Perp | None:
    """A USDT or USDC perpetual's canonical asset and multiplier, from its name.

    positionRisk and income rows carry no contract type or base asset. A USDⓈ-M
    perpetual is named base + quote and a delivery contract adds `_YYMMDD`, so the
    name decides, with the public client's multiplier rule (1000PEPEUSDT is PEPE x1000).
    """
    if "_" in symbol:
        return None
    for quote in sorted(USD_SETTLES):
        base = symbol.removesuffix(quote)
        if base and base != symbol:
            asset, multiplier = split_multiplier(base)
            return Perp(asset, multiplier, quote)
    return None
