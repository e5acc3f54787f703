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

import logging
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urlencode

import msgspec

from arb.accounts.base import Params, PrivateClient, hmac_hex, oldest_first
from arb.accounts.models import Balance, FundingPayment, Position
from arb.http import ReplyShapeError, VenueError
from arb.venues.base import USD_SETTLES
from arb.venues.binance.common import NAME, perp_of, reply_error, unwrapper
from arb.venues.numbers import RawNum, per_coin, to_number, to_positive

log = logging.getLogger(__name__)

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


# --- reply shapes -------------------------------------------------------------------


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
_balances = unwrapper(BalanceRow)
_positions = unwrapper(PositionRow)
_income = unwrapper(IncomeRow)


# --- parsing ------------------------------------------------------------------------


def parse_server_time(body: bytes) -> int:
    reply = _server_time.decode(body)
    if reply.code is not None:
        raise reply_error(reply.code, reply.msg)
    if reply.serverTime <= 0:
        raise ReplyShapeError("no serverTime")
    return reply.serverTime


def parse_balances(body: bytes) -> list[Balance]:
    """The USDT margin account, plus USDC when it holds anything.

    Rows are per margin asset and must not be summed: in multi-assets mode every row
    repeats the same shared `availableBalance`. Equity is the wallet balance plus the
    cross unrealised PnL, the only unrealised figure this endpoint gives.
    """
    by_asset = {r.asset: r for r in _balances(body)}
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

    return Position(
        venue=NAME,
        asset=perp.asset,
        symbol=row.symbol,
        side="long" if amount > 0 else "short",
        size=abs(amount) * perp.multiplier,
        entry_price=per_coin(row.entryPrice, perp.multiplier),
        mark_price=per_coin(row.markPrice, perp.multiplier),
        unrealised_pnl=to_number(row.unRealizedProfit),
        leverage=to_positive(row.leverage),
        liquidation_price=per_coin(row.liquidationPrice, perp.multiplier),
    )


def parse_positions(body: bytes) -> list[Position]:
    """Open USDT/USDC perpetual positions; hedge mode gives a LONG and a SHORT row each."""
    return [p for p in map(position, _positions(body)) if p is not None]


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
    rows = _income(body)
    payments: dict[str, FundingPayment] = {}
    for row in rows:
        payment = funding_payment(row)
        if payment is not None:
            payments[_income_key(row, payment)] = payment
    times = [t for t in (to_number(r.time) for r in rows) if t is not None and t > 0]
    return IncomePage(payments, len(rows), int(max(times)) if times else None)


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
    return hmac_hex(secret, query + body)


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
    server_time = (SERVER_TIME, parse_server_time)

    def sign(self, timestamp_ms: int, path: str, params: Params) -> tuple[Params, dict[str, str]]:
        """The signature goes last in the query; the key alone in a header."""
        query = signed_params(params or {}, timestamp_ms, self.credentials.secret)
        return query, {API_KEY_HEADER: self.credentials.key}

    async def balances(self) -> list[Balance]:
        return await self.get(BALANCE, {}, parse_balances)

    async def positions(self) -> list[Position]:
        return await self.get(POSITION_RISK, {}, parse_positions)

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
            page = await self.get(INCOME, income_params(cursor, end_ms), income_page)
            budget -= 1
            found.update(page.payments)
            if page.rows < INCOME_LIMIT or page.last_ms is None:
                return found, budget
            # A page that is one settlement throughout can only be passed, not split.
            cursor = max(page.last_ms, cursor + 1)
        return None, 0
