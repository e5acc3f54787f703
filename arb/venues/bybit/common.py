"""What Bybit's public, streaming and signed clients share: its name, the v5 envelope
and its error check, and which symbols are in scope."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Generic, TypeVar

import msgspec

from arb.http import ReplyError
from arb.symbols import split_multiplier
from arb.venues.base import Perp

NAME = __name__.split(".")[-2]
T = TypeVar("T")

# retCodes worth a retry: rate limits and server-side errors.
RETRYABLE_CODES = frozenset({10006, 10016, 10429})
# Codes meaning the key itself was refused, each with our own words for it: the venue's
# message for a bad signature echoes the signed string, which holds the key.
AUTH_MESSAGES = {
    "10003": "API key invalid, or made for another environment (mainnet, testnet, demo)",
    "10004": "signature refused (wrong secret?)",
    "10005": "permission denied for this key",
    "10010": "request IP not bound to this key",
    "33004": "API key expired",
}
# Settle currency by symbol suffix: USDT perps end in USDT, USDC perps in PERP
# (BTCPERP) or, for newer listings, USDC.
SUFFIX_SETTLE = (("USDT", "USDT"), ("PERP", "USDC"), ("USDC", "USDC"))


class Envelope(msgspec.Struct, Generic[T], gc=False):
    retCode: int
    retMsg: str = ""
    result: T | None = None  # `{}` on errors


class Rows(msgspec.Struct, Generic[T], gc=False):
    """The `result` of every list endpoint; `nextPageCursor` only on the paged ones."""

    rows: list[T] = msgspec.field(name="list", default_factory=list)
    nextPageCursor: str | None = None


def check_ret_code(ret_code: int, ret_msg: str) -> None:
    """Bybit answers its own errors with HTTP 200 too: only `retCode` tells. Refused keys
    get our own words, never the venue's."""
    if ret_code != 0:
        code = str(ret_code)
        message = AUTH_MESSAGES.get(code, ret_msg)
        raise ReplyError(code, message, retryable=ret_code in RETRYABLE_CODES)


def unwrapper(result: Callable[[], T]) -> Callable[[bytes], T]:
    """A decoder of the envelope whose `result` is a `result`, checked in one pass; a
    reply without one reads as an empty `result()`."""
    decode = msgspec.json.Decoder(Envelope[result], strict=False).decode  # type: ignore[valid-type]

    def unwrap(body: bytes) -> T:
        env = decode(body)
        check_ret_code(env.retCode, env.retMsg)
        return result() if env.result is None else env.result

    return unwrap


@functools.lru_cache(maxsize=16_384)
def classify(symbol: str) -> Perp | None:
    """Symbol -> (canonical asset, multiplier, settle currency); None if out of scope."""
    if "-" in symbol:
        return None  # dated future, e.g. BTCUSDT-11SEP26
    for suffix, settle in SUFFIX_SETTLE:
        if symbol.endswith(suffix) and len(symbol) > len(suffix):
            try:
                asset, multiplier = split_multiplier(symbol[: -len(suffix)])
            except ValueError:
                return None
            return Perp(asset, multiplier, settle)
    return None
