"""Bitget v2 signed account reads: the USDT-M futures account, its positions, its funding.

Every private call is a GET signed as Base64(HMAC-SHA256(secret, timestamp_ms + "GET" +
requestPath + "?" + query)), sent with the key, the timestamp and the passphrase in the
ACCESS-* headers. The query signed is the query sent: the parameters go to VenueHttp as
a dict, sorted by key (an older version of the signing page asks for sorted keys, the
current one for the query as sent; sorted satisfies both), and urlencode writes the
same bytes for them as yarl does for aiohttp. Bitget refuses a timestamp about 30 s from
its clock (40008); `PrivateClient` keeps the offset from `/api/v2/public/time` and
resyncs once on that code. Refusals come as HTTP 400 with the code in the body.

Scope is the public client's: USDT-margined perpetuals (`productType=USDT-FUTURES`).
Sizes are in the symbol's base coin, so only a 1000x symbol needs converting (1000PEPE
lots to PEPE), with the same multiplier rule as the public client. Funding payments are
account bills of type `contract_settle_fee`, signed as the account sees them, newest
first, 100 a page, paged back with `idLessThan=<endId>`; one request may span at most
30 days and the bills reach back 90.

Risk figures: each position's margin mode (`marginMode`), each account's cross risk rate
(`crossedRiskRate`) as its margin ratio, and what the key may do from its `authorities`
(`GET /api/v2/spot/account/info`). The positions carry no ADL indicator, so `adl_rank`
stays None (see `parse_position`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Literal, NamedTuple
from urllib.parse import urlencode

import msgspec

from arb.accounts.base import (
    AuthError,
    Params,
    PrivateClient,
    cut_short,
    hmac_base64,
    oldest_first,
)
from arb.accounts.models import Balance, FundingPayment, KeyAccess, Position
from arb.http import ReplyShapeError
from arb.venues.bitget.common import NAME, PRODUCT_TYPE, SETTLE, classify, unwrapper
from arb.venues.numbers import (
    RawNum,
    per_coin,
    to_decimal,
    to_non_negative,
    to_number,
    to_positive,
)

log = logging.getLogger(__name__)

SERVER_TIME = "/api/v2/public/time"
ACCOUNTS = "/api/v2/mix/account/accounts"
POSITIONS = "/api/v2/mix/position/all-position"
BILLS = "/api/v2/mix/account/bill"
ACCOUNT_INFO = "/api/v2/spot/account/info"  # the key's own `authorities`

FUNDING_BILL = "contract_settle_fee"
BILLS_LIMIT = 100  # the most a bills page holds

DAY_MS = 86_400_000
# How far back one `funding` call reaches from its end. The bills endpoint takes at most
# 30 days between startTime and endTime, so the whole range is one request window.
FUNDING_DAYS = 30
# Pages one `funding` call may ask for: 3,000 settlements, e.g. 30 days of hourly funding
# on four perpetuals. Paced as below, the worst case spends about 3 s waiting and stays
# well inside the account service's deadline. Past it the newest settlements are kept.
MAX_FUNDING_REQUESTS = 30
# Seconds between two bill pages: the endpoint allows 10 requests a second per account.
PAGE_GAP_S = 0.1

# The key, signature, passphrase, IP or permissions were refused: 40001-40003 and 40011
# missing headers, 40006 invalid key, 40009/40010 bad signature, 40012 wrong passphrase,
# 40013 frozen user, 40014 missing permission, 40018 IP not allowed, 40037 unknown key.
AUTH_CODES = frozenset(
    {
        *("40001", "40002", "40003", "40006", "40009", "40010", "40011"),
        *("40012", "40013", "40014", "40018", "40037"),
    }
)
# "Request timestamp expired": 40008 today, 40004 in older lists.
TIMESTAMP_CODES = frozenset({"40004", "40008"})

# `marginMode` of a position, in Bitget's words (Get All Positions: "isolated", "crossed").
MARGIN_MODES: dict[str, Literal["cross", "isolated"]] = {
    "crossed": "cross",
    "isolated": "isolated",
}

# A key's `authorities` (Get Account Information, api-doc/spot/account/Get-Account-Info):
# read-only codes end in "r" (coor futures orders, cpor futures holdings, stor spot, smor
# margin, ttor copy trading, wtor wallet transfer, taxr, chor sub-accounts, p2pr, pllr
# pledge loans); read-and-write ones in "w" (coow, cpow, stow, smow, ttow, wtow, chow,
# p2pw, pllw, taxw; "p2p" on the English page), and "wwow" is wallet withdrawal. The
# page's own example still shows an older vocabulary, "trade" and "readonly", read too.
READ_AUTHORITIES = frozenset(
    {"coor", "cpor", "stor", "smor", "ttor", "wtor", "taxr", "chor", "p2pr", "pllr", "readonly"}
)
WITHDRAW_AUTHORITIES = frozenset({"wwow", "withdraw"})
WRITE_AUTHORITIES = frozenset(
    {"coow", "cpow", "stow", "smow", "ttow", "wtow", "chow", "p2p", "p2pw", "pllw", "taxw"}
    | {"trade"}
)


# --- the replies ---------------------------------------------------------------------


class ServerTime(msgspec.Struct, gc=False):
    serverTime: RawNum = None


class AccountRow(msgspec.Struct, gc=False):
    marginCoin: str | None = None
    accountEquity: RawNum = None  # in the margin coin
    available: RawNum = None
    crossedMaxAvailable: RawNum = None
    unrealizedPL: RawNum = None
    crossedUnrealizedPL: RawNum = None
    isolatedUnrealizedPL: RawNum = None
    # Maintenance margin over the cross margin account's equity: Bitget liquidates the
    # cross positions "when the total equity of the cross margin account falls below the
    # maintenance margin, resulting in a margin ratio of 100%" (support article
    # 360058821652, "Leverage and risk management"), so it is our margin ratio as is.
    crossedRiskRate: RawNum = None


class PositionRow(msgspec.Struct, gc=False):
    symbol: str | None = None
    holdSide: str | None = None  # long or short: the docs list no other value
    total: RawNum = None  # in the symbol's base coin (1000PEPE lots for 1000PEPEUSDT)
    openPriceAvg: RawNum = None
    markPrice: RawNum = None
    unrealizedPL: RawNum = None
    leverage: RawNum = None
    liquidationPrice: RawNum = None  # "0" or negative when the account cannot be liquidated
    marginMode: str | None = None  # "crossed" or "isolated"


class Bill(msgspec.Struct, gc=False):
    billId: str | int | None = None
    symbol: str | None = None
    amount: RawNum = None  # negative when paid
    businessType: str | None = None
    coin: str | None = None
    cTime: RawNum = None


class BillData(msgspec.Struct, gc=False):
    bills: list[Bill] = []
    endId: str | int | None = None  # the `idLessThan` of the next, older page


class BillsPage(NamedTuple):
    payments: list[FundingPayment]  # in the venue's order, newest first
    rows: int  # bills sent, junk included: a full page may have more behind it
    end_id: str | None  # the cursor to older bills


_server_time = unwrapper(ServerTime)
_accounts = unwrapper(list[AccountRow])
_positions = unwrapper(list[PositionRow])
_bills = unwrapper(BillData)


class AccountInfo(msgspec.Struct, gc=False):
    authorities: list[str] | None = None


_account_info = unwrapper(AccountInfo)


def parse_server_time(body: bytes) -> int:
    data = _server_time(body)
    ms = to_number(data.serverTime) if data is not None else None
    if ms is None or ms <= 0:
        raise ReplyShapeError("no serverTime in the time reply")
    return int(ms)


def _unrealised(row: AccountRow) -> float | None:
    """The account's `unrealizedPL`, or, where it is blank (union margin mode leaves it
    so), the sum of its cross and isolated parts that are given."""
    total = to_number(row.unrealizedPL)
    if total is not None:
        return total
    parts = [x for x in map(to_number, (row.crossedUnrealizedPL, row.isolatedUnrealizedPL)) if x]
    return sum(parts) if parts else None


def parse_balances(body: bytes) -> list[Balance]:
    """One Balance per futures account, in its margin coin, the currency Bitget totals it
    in. Available is what the account may still open positions with under cross margin
    (`crossedMaxAvailable`); `available` alone goes negative in union mode."""
    out: list[Balance] = []
    for row in _accounts(body) or []:
        equity = to_number(row.accountEquity)
        if equity is None or not row.marginCoin:
            continue
        available = to_number(row.crossedMaxAvailable)
        out.append(
            Balance(
                venue=NAME,
                currency=row.marginCoin,
                equity=equity,
                available=available if available is not None else to_number(row.available),
                unrealised_pnl=_unrealised(row),
                margin_ratio=to_non_negative(row.crossedRiskRate),
            )
        )
    return out


def parse_position(row: PositionRow) -> Position | None:
    """One position row in coins, or None for a flat or junk row or a symbol out of scope.
    Its ADL rank stays None: the row has none, and the separate `position/adlRank` reply
    is a percentile whose field names differ between versions of its page."""
    info = classify(row.symbol) if row.symbol else None
    lots = to_decimal(row.total)
    if info is None or not lots or row.holdSide not in ("long", "short"):
        return None
    asset, multiplier = info
    return Position(
        venue=NAME,
        asset=asset,
        symbol=row.symbol,
        side=row.holdSide,
        size=float(abs(lots) * multiplier),
        entry_price=per_coin(row.openPriceAvg, multiplier),
        mark_price=per_coin(row.markPrice, multiplier),
        unrealised_pnl=to_number(row.unrealizedPL),
        leverage=to_positive(row.leverage),
        liquidation_price=per_coin(row.liquidationPrice, multiplier),
        margin_mode=MARGIN_MODES.get(row.marginMode or ""),
    )


def parse_positions(body: bytes) -> list[Position]:
    return [p for row in _positions(body) or [] if (p := parse_position(row)) is not None]


def parse_settlement(bill: Bill) -> FundingPayment | None:
    """A funding bill of an in-scope perpetual with a readable, non-zero amount."""
    info = classify(bill.symbol) if bill.symbol else None
    amount, time_ms = to_number(bill.amount), to_number(bill.cTime)
    if bill.businessType != FUNDING_BILL or info is None or not amount:
        return None
    if time_ms is None or time_ms <= 0:
        return None
    return FundingPayment(
        venue=NAME,
        asset=info[0],
        symbol=bill.symbol,
        amount=amount,
        currency=bill.coin or SETTLE,
        time_ms=int(time_ms),
    )


def parse_bills_page(body: bytes) -> BillsPage:
    """A bills reply: its funding payments, how many bills it held and the cursor to the
    older ones (`endId`, or the last bill's id where the venue leaves it out)."""
    data = _bills(body) or BillData()
    payments = [p for b in data.bills if (p := parse_settlement(b)) is not None]
    last = next((b.billId for b in reversed(data.bills) if b.billId), None)
    end_id = data.endId or last
    return BillsPage(payments, len(data.bills), None if end_id is None else str(end_id))


def bill_params(start_ms: int, end_ms: int, id_less_than: str | None) -> dict[str, str]:
    """[start_ms, end_ms) as the venue's startTime..endTime (inclusive, we assume, so the
    end is sent less 1 ms; the client filters the half-open range again anyway)."""
    params = {
        "businessType": FUNDING_BILL,
        "endTime": str(end_ms - 1),
        "limit": str(BILLS_LIMIT),
        "productType": PRODUCT_TYPE,
        "startTime": str(start_ms),
    }
    return {**params, "idLessThan": id_less_than} if id_less_than else params


def parse_key_access(body: bytes) -> KeyAccess:
    """What the key may do, from its `authorities`. A code this module does not know
    leaves a flag unknown unless a known code already says yes; the detail quotes them."""
    info = _account_info(body)
    if info is None or info.authorities is None:
        return KeyAccess(NAME, None, None, "no authorities in the account info")
    codes = [str(code) for code in info.authorities]
    unknown = any(
        c not in READ_AUTHORITIES | WRITE_AUTHORITIES | WITHDRAW_AUTHORITIES for c in codes
    )

    def flag(known: frozenset[str]) -> bool | None:
        return True if known.intersection(codes) else None if unknown else False

    detail = "authorities=" + ",".join(codes)
    return KeyAccess(NAME, flag(WRITE_AUTHORITIES), flag(WITHDRAW_AUTHORITIES), detail)


# --- signing -------------------------------------------------------------------------


def query_string(params: Mapping[str, str]) -> str:
    """`params` as aiohttp puts them on the wire: for the ASCII letters, digits and '-'
    we send, urlencode writes the same bytes as yarl."""
    return urlencode(params)


def prehash(timestamp_ms: int, method: str, path: str, query: str = "", body: str = "") -> str:
    """`timestamp + METHOD + requestPath + ("?" + query if any) + body`."""
    return f"{timestamp_ms}{method.upper()}{path}{'?' + query if query else ''}{body}"


# Bitget signs with Base64(HMAC-SHA256(secret, prehash)).
sign = hmac_base64


# --- the client ----------------------------------------------------------------------


class BitgetPrivate(PrivateClient):
    name = NAME
    signs_with_passphrase = True
    timestamp_codes = TIMESTAMP_CODES
    auth_codes = AUTH_CODES
    server_time = (SERVER_TIME, parse_server_time)
    window_ms = 30_000  # as the module docstring says

    def sign(self, timestamp_ms: int, path: str, params: Params) -> tuple[Params, dict[str, str]]:
        """Sorted by key, then signed and sent as this very dict."""
        return super().sign(timestamp_ms, path, dict(sorted((params or {}).items())))

    def headers(self, timestamp_ms: int, method: str, path: str, params: Params) -> dict[str, str]:
        """`locale` keeps the venue's error messages in English."""
        message = prehash(timestamp_ms, method, path, query_string(params) if params else "")
        return {
            "ACCESS-KEY": self.credentials.key,
            "ACCESS-SIGN": sign(self.credentials.secret, message),
            "ACCESS-TIMESTAMP": str(timestamp_ms),
            "ACCESS-PASSPHRASE": self.credentials.passphrase or "",
            "Content-Type": "application/json",
            "locale": "en-US",
        }

    async def balances(self) -> list[Balance]:
        return await self.get(ACCOUNTS, {"productType": PRODUCT_TYPE}, parse_balances)

    async def positions(self) -> list[Position]:
        params = {"productType": PRODUCT_TYPE, "marginCoin": SETTLE}
        return await self.get(POSITIONS, params, parse_positions)

    async def key_access(self) -> KeyAccess:
        """The key's `authorities`. Bitget answers that page only to a key with spot read
        access (its docs say so); a key refused it is said unknown, in Bitget's words."""
        try:
            return await self.get(ACCOUNT_INFO, None, parse_key_access)
        except AuthError as e:
            return KeyAccess(NAME, None, None, f"permissions not readable: {e.reason}")

    async def funding(self, start_ms: int, end_ms: int) -> list[FundingPayment]:
        """Settlements in [start_ms, end_ms), oldest first, reaching back at most
        FUNDING_DAYS from end_ms: one request window, walked newest first a page at a
        time. If MAX_FUNDING_REQUESTS pages (each resent at most once after a clock
        resync) do not reach the start, the newest settlements are returned, complete back
        to where `cut_short` stops them, and a warning says so."""
        start_ms = max(start_ms, end_ms - FUNDING_DAYS * DAY_MS)
        if start_ms >= end_ms:
            return []
        payments: list[FundingPayment] = []
        cursor: str | None = None
        for _ in range(MAX_FUNDING_REQUESTS):
            if cursor is not None:
                await self._sleep(PAGE_GAP_S)
            page = await self.get(BILLS, bill_params(start_ms, end_ms, cursor), parse_bills_page)
            payments += (p for p in page.payments if start_ms <= p.time_ms < end_ms)
            if page.rows < BILLS_LIMIT or page.end_id in (None, cursor):
                return oldest_first(payments)
            cursor = page.end_id
        payments, cut = cut_short(payments, end_ms - 1)
        self.funding_cut(MAX_FUNDING_REQUESTS, cut)
        return oldest_first(payments)
