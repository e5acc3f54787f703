"""Binance USDⓈ-M futures: the desk's own account, read through signed requests.

Reads: `GET /fapi/v2/balance`, `GET /fapi/v2/positionRisk` and
`GET /fapi/v1/income?incomeType=FUNDING_FEE`, each signed with HMAC-SHA256 of the
exact query string sent (recvWindow and timestamp included), the hex signature
appended as the last parameter and the key in the `X-MBX-APIKEY` header. The
clock comes from the public `GET /fapi/v1/time`.

Binance answers errors as `{"code": -1022, "msg": "..."}` with HTTP 4xx, which the
shared HTTP layer turns into `VenueHTTPError` with the code kept; the same envelope
on HTTP 200 is a `ReplyError` here, so it becomes a `VenueAPIError` either way.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple, TypeVar
from urllib.parse import urlencode

import msgspec

from arb.accounts.base import PrivateClient
from arb.accounts.models import Balance, FundingPayment, Position
from arb.http import ReplyError, ReplyShapeError, VenueError
from arb.symbols import split_multiplier
from arb.venues.base import USD_SETTLES, RawNum, to_number, to_positive
from arb.venues.binance.rest import Perp

log = logging.getLogger(__name__)

T = TypeVar("T")

NAME = "binance"
SERVER_TIME = "/fapi/v1/time"
BALANCE = "/fapi/v2/balance"
POSITION_RISK = "/fapi/v2/positionRisk"
INCOME = "/fapi/v1/income"

API_KEY_HEADER = "X-MBX-APIKEY"
# Binance's default; it accepts timestamp < server + 1 s and server - timestamp <= this.
RECV_WINDOW_MS = 5000
FUNDING_FEE = "FUNDING_FEE"

DAY_MS = 86_400_000
INCOME_LIMIT = 1000  # the endpoint's maximum page
# The docs give income no maximum range, only a 7-day default when no times are
# sent; windows no longer than that are accepted whatever the unstated cap is.
INCOME_WINDOW_MS = 7 * DAY_MS
MAX_FUNDING_RANGE_MS = 30 * DAY_MS  # older settlements are not asked for
# Each income request weighs 30 of the 2400 per minute per IP: 20 cost a quarter of
# that, and page through 5 windows for 30 days plus 15 more full pages (about 20
# symbols on hourly funding held all month).
MAX_FUNDING_REQUESTS = 20

# Retrying helps only with throttling; the rest are refusals or bugs.
RETRYABLE_CODES = frozenset({-1003, -1008})


# --- reply shapes -------------------------------------------------------------------


class ErrorReply(msgspec.Struct):
    code: int
    msg: str = ""


class ServerTime(msgspec.Struct):
    serverTime: int = 0
    code: int | None = None
    msg: str = ""


# Numbers are kept as the venue wrote them (RawNum) so that one junk row is skipped
# instead of failing the whole reply in the decoder.
class BalanceRow(msgspec.Struct, gc=False):
    asset: str = ""
    balance: RawNum = None  # wallet balance, cross and isolated
    crossUnPnl: RawNum = None
    availableBalance: RawNum = None


class PositionRow(msgspec.Struct, gc=False):
    symbol: str = ""
    positionAmt: RawNum = None  # signed, in the symbol's base units (1000PEPE for 1000PEPEUSDT)
    entryPrice: RawNum = None
    markPrice: RawNum = None
    unRealizedProfit: RawNum = None
    leverage: RawNum = None
    liquidationPrice: RawNum = None  # "0" when there is none


class IncomeRow(msgspec.Struct, gc=False):
    symbol: str = ""
    incomeType: str = ""
    income: RawNum = None  # positive when received
    asset: str = ""
    time: RawNum = None
    tranId: int | str | None = None  # the docs show both


class IncomePage(NamedTuple):
    """One income reply: payments by transaction id, and what paging needs to know."""

    payments: dict[str, FundingPayment]
    rows: int  # as sent, junk included: a full page may have more behind it
    last_ms: int | None  # the latest time in the page


_server_time = msgspec.json.Decoder(ServerTime, strict=False)
_balances = msgspec.json.Decoder(list[BalanceRow] | ErrorReply, strict=False)
_positions = msgspec.json.Decoder(list[PositionRow] | ErrorReply, strict=False)
_income = msgspec.json.Decoder(list[IncomeRow] | ErrorReply, strict=False)


# --- parsing ------------------------------------------------------------------------


def _reply_error(code: int, msg: str) -> ReplyError:
    return ReplyError(str(code), msg, retryable=code in RETRYABLE_CODES)


def _rows(reply: list[T] | ErrorReply) -> list[T]:
    if isinstance(reply, ErrorReply):
        raise _reply_error(reply.code, reply.msg)
    return reply


def parse_server_time(body: bytes) -> int:
    reply = _server_time.decode(body)
    if reply.code is not None:
        raise _reply_error(reply.code, reply.msg)
    if reply.serverTime <= 0:
        raise ReplyShapeError("no serverTime")
    return reply.serverTime


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


def parse_balances(body: bytes) -> list[Balance]:
    """The USDT margin account, plus USDC when it holds anything.

    Rows are per margin asset and must not be summed: in multi-assets mode every row
    repeats the same shared `availableBalance`. Equity is the wallet balance plus the
    cross unrealised PnL, the only unrealised figure this endpoint gives.
    """
    by_asset = {r.asset: r for r in _rows(_balances.decode(body))}
    out: list[Balance] = []
    for asset in sorted(USD_SETTLES, key=lambda a: a != "USDT"):
        row = by_asset.get(asset)
        if row is None or (wallet := to_number(row.balance)) is None:
            continue
        upnl = to_number(row.crossUnPnl)
        if asset != "USDT" and wallet == 0 and not upnl:
            continue
        available = to_number(row.availableBalance)
        out.append(Balance(NAME, asset, wallet + (upnl or 0.0), available, upnl))
    return out


def position(row: PositionRow) -> Position | None:
    """One positionRisk row in coins and per-coin prices; None for flat or out-of-scope
    rows (positionRisk lists every symbol, most of them at zero)."""
    perp = perp_of(row.symbol)
    amount = to_number(row.positionAmt)
    if perp is None or not amount:
        return None

    def per_coin(value: RawNum) -> float | None:
        price = to_positive(value)
        return None if price is None else price / perp.multiplier

    return Position(
        venue=NAME,
        asset=perp.asset,
        symbol=row.symbol,
        side="long" if amount > 0 else "short",
        size=abs(amount) * perp.multiplier,
        entry_price=per_coin(row.entryPrice),
        mark_price=per_coin(row.markPrice),
        unrealised_pnl=to_number(row.unRealizedProfit),
        leverage=to_positive(row.leverage),
        liquidation_price=per_coin(row.liquidationPrice),
    )


def parse_positions(body: bytes) -> list[Position]:
    """Open USDT/USDC perpetual positions; hedge mode gives a LONG and a SHORT row each."""
    return [p for p in map(position, _rows(_positions.decode(body))) if p is not None]


def funding_payment(row: IncomeRow) -> FundingPayment | None:
    perp = perp_of(row.symbol)
    amount = to_number(row.income)
    time_ms = to_number(row.time)
    if row.incomeType != FUNDING_FEE or perp is None or amount is None:
        return None
    if time_ms is None or time_ms <= 0 or not row.asset:
        return None
    return FundingPayment(NAME, perp.asset, row.symbol, amount, row.asset, int(time_ms))


def _income_key(row: IncomeRow, payment: FundingPayment) -> str:
    """tranId is unique per income type and user, so pages that overlap count once."""
    if row.tranId is not None and row.tranId != "":
        return str(row.tranId)
    return f"{payment.symbol}@{payment.time_ms}@{row.income}"


def income_page(body: bytes) -> IncomePage:
    rows = _rows(_income.decode(body))
    payments: dict[str, FundingPayment] = {}
    for row in rows:
        payment = funding_payment(row)
        if payment is not None:
            payments[_income_key(row, payment)] = payment
    times = [t for t in (to_number(r.time) for r in rows) if t is not None and t > 0]
    return IncomePage(payments, len(rows), int(max(times)) if times else None)


def oldest_first(payments: Iterable[FundingPayment]) -> list[FundingPayment]:
    return sorted(payments, key=lambda p: (p.time_ms, p.symbol))


def parse_funding(body: bytes) -> list[FundingPayment]:
    """Funding fees of one income reply, oldest first; other income types are skipped."""
    return oldest_first(income_page(body).payments.values())


def income_windows(start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    """[start, end) cut into half-open windows of at most INCOME_WINDOW_MS, newest first
    (the short one, if any, is the oldest)."""
    return [
        (max(start_ms, t - INCOME_WINDOW_MS), t) for t in range(end_ms, start_ms, -INCOME_WINDOW_MS)
    ]


def income_params(start_ms: int, end_ms: int) -> dict[str, str]:
    """Funding fees in [start_ms, end_ms): Binance's endTime is inclusive."""
    return {
        "incomeType": FUNDING_FEE,
        "startTime": str(start_ms),
        "endTime": str(end_ms - 1),
        "limit": str(INCOME_LIMIT),
    }


# --- signing ------------------------------------------------------------------------


def query_string(params: Mapping[str, str]) -> str:
    """The query aiohttp (yarl) sends for this ordered dict: for the ASCII parameters
    signed here, urlencode writes the same bytes."""
    return urlencode(list(params.items()))


def signature(secret: str, query: str, body: str = "") -> str:
    """HMAC-SHA256 hex of Binance's totalParams: the query string, then the form body,
    with no `&` between them."""
    return hmac.new(secret.encode(), (query + body).encode(), hashlib.sha256).hexdigest()


def signed_params(
    params: Mapping[str, str],
    timestamp_ms: int,
    secret: str,
    recv_window_ms: int = RECV_WINDOW_MS,
) -> dict[str, str]:
    """`params`, then recvWindow and timestamp, then the signature of exactly those as
    they go on the wire, last."""
    out = {**params, "recvWindow": str(recv_window_ms), "timestamp": str(timestamp_ms)}
    out["signature"] = signature(secret, query_string(out))
    return out


# --- the client ---------------------------------------------------------------------


class BinancePrivate(PrivateClient):
    """The desk's USDⓈ-M account. Read-only: balances, positions, funding received."""

    name = NAME
    timestamp_codes = frozenset({"-1021"})
    # Bad signature, malformed or missing key, unknown key / IP / permissions.
    auth_codes = frozenset({"-1022", "-2014", "-2015"})

    async def server_time_ms(self) -> int:
        return await self.http.get(SERVER_TIME, decode=parse_server_time)

    async def balances(self) -> list[Balance]:
        return await self._signed_get(BALANCE, {}, parse_balances)

    async def positions(self) -> list[Position]:
        return await self._signed_get(POSITION_RISK, {}, parse_positions)

    async def funding(self, start_ms: int, end_ms: int) -> list[FundingPayment]:
        """Funding fees with start_ms <= time < end_ms, at most 30 days back from end_ms.

        7-day windows are read newest first. At most MAX_FUNDING_REQUESTS requests: if
        they run out inside a window, that window's rows are dropped (they would leave a
        gap) and the newer windows are returned, with a warning saying from when the list
        is complete; if not even the newest window fits, a VenueError says so.
        """
        start_ms = max(start_ms, end_ms - MAX_FUNDING_RANGE_MS)
        found: dict[str, FundingPayment] = {}
        budget = MAX_FUNDING_REQUESTS
        complete_from = end_ms
        for window_start, window_end in income_windows(start_ms, end_ms):
            window, budget = await self._income_window(window_start, window_end, budget)
            if window is None:
                if complete_from == end_ms:
                    raise VenueError(
                        NAME,
                        INCOME,
                        f"more funding than {MAX_FUNDING_REQUESTS} requests can page through;"
                        " ask for a shorter range",
                    )
                log.warning(
                    "%s funding: cut at %d requests; complete from %d ms only",
                    NAME,
                    MAX_FUNDING_REQUESTS,
                    complete_from,
                )
                self.funding_complete_from = complete_from
                break
            found.update(window)
            complete_from = window_start
        return oldest_first(p for p in found.values() if start_ms <= p.time_ms < end_ms)

    async def _income_window(
        self, start_ms: int, end_ms: int, budget: int
    ) -> tuple[dict[str, FundingPayment] | None, int]:
        """One window's payments by tranId, and the requests left; None if the budget
        ran out first.

        Pages run forward from the window's start, 1000 rows each. Every symbol settles
        at the same instant, so a page can end inside one settlement: the next page
        starts at that settlement's time again and tranIds drop the repeats.
        """
        found: dict[str, FundingPayment] = {}
        cursor = start_ms
        while budget > 0:
            page = await self._signed_get(INCOME, income_params(cursor, end_ms), income_page)
            budget -= 1
            found.update(page.payments)
            if page.rows < INCOME_LIMIT or page.last_ms is None:
                return found, budget
            # A page that is one settlement throughout can only be passed, not split.
            cursor = max(page.last_ms, cursor + 1)
        return None, 0

    async def _signed_get(
        self, path: str, params: Mapping[str, str], decode: Callable[[bytes], T]
    ) -> T:
        """Query parameters go to VenueHttp as a dict, never in `path`, so errors, which
        name the path, can never carry the signature."""

        async def send(timestamp_ms: int) -> T:
            return await self.http.request(
                "GET",
                path,
                params=signed_params(params, timestamp_ms, self.credentials.secret),
                headers={API_KEY_HEADER: self.credentials.key},
                decode=decode,
            )

        return await self.signed(send)
