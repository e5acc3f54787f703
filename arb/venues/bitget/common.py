"""What Bitget's public, streaming and signed clients share: its name, the v2 envelope and
its error check, and the one rule for which symbols are in scope and what they hold."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Generic, TypeVar

import msgspec

from arb.http import ReplyError
from arb.symbols import split_multiplier

NAME = __name__.split(".")[-2]
T = TypeVar("T")

PRODUCT_TYPE = "USDT-FUTURES"
SETTLE = "USDT"
SUCCESS = "00000"
# Codes worth a retry: too many requests (429, 1001), "system is abnormal, please
# try again later" (40015) and "server is busy" (40604).
RETRYABLE_CODES = frozenset({"429", "1001", "40015", "40604"})


class Envelope(msgspec.Struct, Generic[T], gc=False):
    code: str | int  # "00000" when all is well; a reply without one is not Bitget's
    msg: str | None = None
    data: T | None = None  # null on errors


def unwrapper(shape: type[T]) -> Callable[[bytes], T | None]:
    """A decoder of Bitget's envelope around a `shape`, checked in one pass."""
    decode = msgspec.json.Decoder(Envelope[shape], strict=False).decode  # type: ignore[valid-type]

    def unwrap(body: bytes) -> T | None:
        # Bitget answers some errors with HTTP 200 too: only `code` tells.
        env = decode(body)
        code = str(env.code)
        if code != SUCCESS:
            raise ReplyError(code, env.msg or "no message", retryable=code in RETRYABLE_CODES)
        return env.data

    return unwrap


@functools.lru_cache(maxsize=16_384)
def classify(symbol: str) -> tuple[str, int] | None:
    """`BTCUSDT` -> (BTC, 1); `1000BONKUSDT` -> (BONK, 1000): the canonical asset and the
    coins in one unit of the symbol's base. None for anything but an alphanumeric base
    before USDT (the venue lists a few non-ASCII ones, `牛来USDT`): dated futures carry a
    date suffix (`ETHUSDT_231229`). The scan, the stream and the account all read
    symbols with this one rule, so a symbol quoted is one /positions can map."""
    base = symbol.removesuffix(SETTLE)
    if base == symbol or not base.isalnum():
        return None
    asset, multiplier = split_multiplier(base)
    return asset, int(multiplier)


def asset_of(symbol: str) -> str | None:
    """The canonical asset of a symbol in scope (`1000PEPEUSDT` -> PEPE), else None."""
    info = classify(symbol)
    return None if info is None else info[0]
