"""What OKX's public, streaming and signed clients share: its name, the v5 envelope and
its error check, and the instrument list that says which swaps are in scope."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Generic, TypeVar

import msgspec

from arb.http import ReplyError
from arb.venues.base import HOUR_MS, USD_SETTLES
from arb.venues.numbers import RawNum, to_decimal

NAME = __name__.split(".")[-2]
T = TypeVar("T")

INSTRUMENTS = "/api/v5/public/instruments"
INSTRUMENTS_TTL_S = 600.0
SWAPS = {"instType": "SWAP"}  # the query that narrows a list to the swaps
# 50001 service unavailable, 50004 endpoint timeout, 50011 rate limit, 50013 busy.
RETRYABLE_CODES = frozenset({"50001", "50004", "50011", "50013"})


class Envelope(msgspec.Struct, Generic[T], gc=False):
    code: str
    msg: str = ""
    data: list[T] = msgspec.field(default_factory=list)


class Instrument(msgspec.Struct, gc=False):
    instId: str
    ctType: str = ""
    ctVal: RawNum = None  # coins of `ctValCcy` per contract (times `ctMult`)
    ctMult: RawNum = None
    ctValCcy: str = ""
    lotSz: RawNum = None  # the order size step, contracts
    minSz: RawNum = None  # the smallest order, contracts
    settleCcy: str = ""
    state: str = ""
    ruleType: str = ""
    uly: str = ""
    expTime: str = ""

    @property
    def linear_usd(self) -> bool:
        """A linear swap settled in USDT or USDC: the only ones in scope."""
        return self.ctType == "linear" and self.settleCcy in USD_SETTLES

    @property
    def asset(self) -> str:
        """The coin a contract is worth: `ctValCcy`, else the underlying's base."""
        return self.ctValCcy or self.uly.split("-", 1)[0]

    @property
    def coins(self) -> Decimal | None:
        """Coins of `asset` in one contract, `ctVal` x `ctMult` in decimal; None unless
        the swap gives a positive one."""
        ct_val, ct_mult = to_decimal(self.ctVal), to_decimal(self.ctMult) or Decimal(1)
        return ct_val * ct_mult if ct_val is not None and ct_val > 0 and ct_mult > 0 else None


def interval_hours(settles_ms: float, then_ms: float) -> float:
    """The funding interval, in hours: OKX gives it only as the time between the upcoming
    settlement and the one after it."""
    return (then_ms - settles_ms) / HOUR_MS


def unwrapper(row: type[T]) -> Callable[[bytes], list[T]]:
    """A decoder of OKX's envelope with `data` rows of one type, in one pass."""
    decode = msgspec.json.Decoder(Envelope[row], strict=False).decode  # type: ignore[valid-type]

    def unwrap(body: bytes) -> list[T]:
        # OKX sends errors (50011 among them) with HTTP 200 too, and `code` is a string.
        env = decode(body)
        if env.code != "0":
            raise ReplyError(env.code, env.msg, retryable=env.code in RETRYABLE_CODES)
        return env.data

    return unwrap


decode_instruments = unwrapper(Instrument)
