"""Binance USDⓈ-M futures: the desk's own account, read through signed requests.

Reads: `GET /fapi/v2/balance`, `GET /fapi/v2/positionRisk` and
`GET /fapi/v1/income?incomeType=FUNDING_FEE`; for the risk figures, alongside them,
`GET /fapi/v3/account` (the margin ratio) and `GET /fapi/v1/adlQuantile` (the ADL
queue), whose failure leaves those figures unknown, not the balances or positions.
They follow their main read rather than run beside it, so that a drifted clock costs
one refused request and one resync, as every signed read promises.
Each is signed with HMAC-SHA256 of the
exact query string sent (recvWindow and timestamp included), the hex signature
appended as the last parameter and the key in the `X-MBX-APIKEY` header. The
clock comes from the public `GET /fapi/v1/time`.

Binance answers errors as `{"code": -1022, "msg": "..."}` with HTTP 4xx, which the
shared HTTP layer turns into `VenueHTTPError` with the code kept; the same envelope
on HTTP 200 is a `ReplyError` here, so it becomes a `VenueAPIError` either way.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping
from typing import Literal, NamedTuple, TypeVar
from urllib.parse import urlencode

import msgspec

from arb.accounts.base import AuthError, Params, PrivateClient, hmac_hex, oldest_first
from arb.accounts.models import Balance, FundingPayment, KeyAccess, Position
from arb.http import ReplyShapeError, VenueError
from arb.venues.base import USD_SETTLES
from arb.venues.binance.common import NAME, perp_of, reply_error, unwrapper
from arb.venues.numbers import RawNum, per_coin, to_number, to_positive

log = logging.getLogger(__name__)
T = TypeVar("T")

SERVER_TIME = "/fapi/v1/time"
BALANCE = "/fapi/v2/balance"
POSITION_RISK = "/fapi/v2/positionRisk"
INCOME = "/fapi/v1/income"
ACCOUNT = "/fapi/v3/account"  # weight 5; v3 lists only held positions, v2 every symbol
ADL_QUANTILE = "/fapi/v1/adlQuantile"  # weight 5

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
    marginType: str = ""  # cross or isolated
    positionSide: str = ""  # BOTH one-way, LONG or SHORT in hedge mode


class AccountTotals(msgspec.Struct, gc=False):
    """`/fapi/v3/account`'s totals: the USDT asset's in single-asset mode, every asset's in
    USD in multi-assets mode (Account-Information-V3)."""

    totalMaintMargin: RawNum = None
    totalMarginBalance: RawNum = None
    code: int | None = None
    msg: str = ""


class AdlRow(msgspec.Struct, gc=False):
    symbol: str = ""
    # 0 to 4 by position side, the higher the sooner deleveraged; "HEDGE" is only a sign
    # (Position-ADL-Quantile-Estimation).
    adlQuantile: dict[str, int] = {}


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
_account = msgspec.json.Decoder(AccountTotals, strict=False)
_adl = unwrapper(AdlRow)


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


def parse_margin_ratio(body: bytes) -> float | None:
    """The account's total maintenance margin over its total margin balance, Binance's own
    "margin ratio"; None with no margin balance."""
    totals = _account.decode(body)
    if totals.code is not None:
        raise reply_error(totals.code, totals.msg)
    maintenance, margin = to_number(totals.totalMaintMargin), to_positive(totals.totalMarginBalance)
    if maintenance is None or margin is None or maintenance < 0:
        return None
    return maintenance / margin


def with_margin_ratio(balances: list[Balance], ratio: float | None) -> list[Balance]:
    """The ratio on the USDT balance, the asset its totals cover in either margin mode."""
    return [msgspec.structs.replace(b, margin_ratio=ratio) if b.currency == "USDT" else b
            for b in balances]  # fmt: skip


def parse_adl(body: bytes) -> dict[tuple[str, str], int]:
    """ADL quantiles by (symbol, position side), as the model's ranks: 0 to 4 -> 1 to 5."""
    return {
        (row.symbol, side): quantile + 1
        for row in _adl(body)
        for side, quantile in row.adlQuantile.items()
        if side != "HEDGE" and 0 <= quantile <= 4
    }


def position(row: PositionRow, adl: Mapping[tuple[str, str], int] | None = None) -> Position | None:
    """One positionRisk row in coins and per-coin prices, its ADL rank looked up in `adl`;
    None for flat or out-of-scope rows (positionRisk lists every symbol, most at zero)."""
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
        margin_mode=margin_mode(row.marginType),
        adl_rank=(adl or {}).get((row.symbol, row.positionSide)),
    )


def margin_mode(margin_type: str) -> Literal["cross", "isolated"] | None:
    mode = margin_type.lower()
    return mode if mode == "cross" or mode == "isolated" else None


def to_positions(
    rows: list[PositionRow], adl: Mapping[tuple[str, str], int] | None = None
) -> list[Position]:
    """Open USDT/USDC perpetual positions; hedge mode gives a LONG and a SHORT row each."""
    return [p for r in rows if (p := position(r, adl)) is not None]


def parse_positions(body: bytes) -> list[Position]:
    return to_positions(_positions(body))


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
    window_ms = RECV_WINDOW_MS  # the recvWindow every request sends

    def sign(self, timestamp_ms: int, path: str, params: Params) -> tuple[Params, dict[str, str]]:
        """The signature goes last in the query; the key alone in a header."""
        query = signed_params(params or {}, timestamp_ms, self.credentials.secret)
        return query, {API_KEY_HEADER: self.credentials.key}

    async def balances(self) -> list[Balance]:
        balances = await self.get(BALANCE, {}, parse_balances)
        ratio = await self.optional("margin ratio", self.get(ACCOUNT, {}, parse_margin_ratio))
        return with_margin_ratio(balances, ratio)

    async def positions(self) -> list[Position]:
        rows = await self.get(POSITION_RISK, {}, _positions)
        adl = await self.optional("ADL ranks", self.get(ADL_QUANTILE, {}, parse_adl))
        return to_positions(rows, adl)

    async def key_access(self) -> KeyAccess:
        """Unknown: a key's own restrictions are read at `/sapi/v1/account/apiRestrictions`
        on the spot host (api.binance.com), which this client, bound to fapi, does not
        call; the fapi account's `canTrade`/`canWithdraw` (v2) describe the account, not
        the key."""
        return KeyAccess(NAME, None, None, "key permissions are on the spot API, not read")

    async def optional(self, what: str, read: Awaitable[T]) -> T | None:
        """A figure the risk watch can do without: None, and a warning, when it cannot be
        read (a refused key is still refused)."""
        try:
            return await read
        except AuthError:
            raise
        except VenueError as e:
            log.warning("%s: %s unknown: %s", NAME, what, e)
            return None

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
