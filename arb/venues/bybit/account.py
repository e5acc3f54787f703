"""Bybit v5 signed account reads: the unified account's balance, linear positions, funding.

Signing (HMAC-SHA256, lowercase hex, in headers) covers `timestamp + key + recvWindow +
query`, where the query must be byte for byte what goes on the wire: aiohttp builds it
from the `params` dict with yarl, so the string to sign is built with yarl too.

Funding comes from the transaction log (type SETTLEMENT), which answers at most 7 days
per request and 50 rows per page: 30 days take 5 windows, each followed by its cursor.
Positions need one request per settle coin (USDT, then USDC), also cursor-paged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from typing import Generic, NamedTuple, TypeVar
from urllib.parse import unquote

import msgspec
import yarl

from arb.accounts.base import Credentials, PrivateClient
from arb.accounts.models import Balance, FundingPayment, Position
from arb.http import ReplyError, ReplyShapeError, VenueBadResponse
from arb.venues.base import RawNum, to_number
from arb.venues.bybit.rest import NAME, RETRYABLE_CODES, classify

log = logging.getLogger(__name__)

T = TypeVar("T")

SERVER_TIME = "/v5/market/time"
WALLET_BALANCE = "/v5/account/wallet-balance"
POSITION_LIST = "/v5/position/list"
TRANSACTION_LOG = "/v5/account/transaction-log"

ACCOUNT_TYPE = "UNIFIED"
RECV_WINDOW_MS = 5000  # the venue's default; it also refuses timestamps 1 s ahead of it
# USDC perpetuals are in the public client's scope too; the position list wants one
# settle coin per request.
SETTLE_COINS = ("USDT", "USDC")
POSITION_PAGE = 200  # the endpoint's maximum
# A real account never needs this many pages; a cursor that keeps coming is a venue fault.
MAX_POSITION_PAGES = 10

DAY_MS = 86_400_000
FUNDING_DAYS = 30  # how far back one `funding` call reaches from its end
LOG_WINDOW_MS = 7 * DAY_MS  # the transaction log's widest startTime..endTime
LOG_PAGE = 50  # the transaction log's maximum page
# Requests one `funding` call may send. 30 days need at least 5 (one per 7-day window);
# 40 pages of 50 cover 2,000 settlements, e.g. 30 days of hourly funding on two symbols
# plus a 4-hourly one, and at Bybit's usual latency they fit the account service's
# deadline. Past the bound the newest settlements are kept (see `cut_short`).
MAX_FUNDING_REQUESTS = 40

# Codes meaning the key itself was refused, each with our own words for it: the venue's
# message for a bad signature echoes the signed string, which holds the key.
AUTH_MESSAGES = {
    "10003": "API key invalid, or made for another environment (mainnet, testnet, demo)",
    "10004": "signature refused (wrong secret?)",
    "10005": "permission denied for this key",
    "10010": "request IP not bound to this key",
    "33004": "API key expired",
}
TIMESTAMP_CODE = "10002"


# --- replies -------------------------------------------------------------------------


class Page(NamedTuple, Generic[T]):
    """One page of a cursor-paged reply. `cursor` is "" on the last page and is already
    URL-decoded, ready to go back into `params`."""

    items: list[T]
    cursor: str
    rows: int  # what the venue sent, junk rows included


class TimeResult(msgspec.Struct, gc=False):
    timeNano: str = ""


class TimeEnvelope(msgspec.Struct, gc=False):
    retCode: int
    retMsg: str = ""
    result: TimeResult = msgspec.field(default_factory=TimeResult)


class AccountRow(msgspec.Struct, gc=False):
    accountType: str | None = None
    totalEquity: RawNum = None
    totalAvailableBalance: RawNum = None
    totalPerpUPL: RawNum = None


class WalletResult(msgspec.Struct, gc=False):
    rows: list[AccountRow] = msgspec.field(name="list", default_factory=list)


class WalletEnvelope(msgspec.Struct, gc=False):
    retCode: int
    retMsg: str = ""
    result: WalletResult = msgspec.field(default_factory=WalletResult)


class PositionRow(msgspec.Struct, gc=False):
    symbol: str | None = None
    side: str | None = None  # Buy, Sell, or "" for an empty one-way slot
    size: RawNum = None  # in baseCoin units (1000PEPE for 1000PEPEUSDT), always positive
    avgPrice: RawNum = None
    markPrice: RawNum = None
    liqPrice: RawNum = None
    unrealisedPnl: RawNum = None
    leverage: RawNum = None


class PositionResult(msgspec.Struct, gc=False):
    rows: list[PositionRow] = msgspec.field(name="list", default_factory=list)
    nextPageCursor: str | None = None


class PositionEnvelope(msgspec.Struct, gc=False):
    retCode: int
    retMsg: str = ""
    result: PositionResult = msgspec.field(default_factory=PositionResult)


class LogRow(msgspec.Struct, gc=False):
    symbol: str | None = None
    type: str | None = None
    funding: RawNum = None  # positive when received; `change` would add fees and cashFlow
    currency: str | None = None
    transactionTime: RawNum = None


class LogResult(msgspec.Struct, gc=False):
    rows: list[LogRow] = msgspec.field(name="list", default_factory=list)
    nextPageCursor: str | None = None


class LogEnvelope(msgspec.Struct, gc=False):
    retCode: int
    retMsg: str = ""
    result: LogResult = msgspec.field(default_factory=LogResult)


_decode_time = msgspec.json.Decoder(TimeEnvelope, strict=False).decode
_decode_wallet = msgspec.json.Decoder(WalletEnvelope, strict=False).decode
_decode_positions = msgspec.json.Decoder(PositionEnvelope, strict=False).decode
_decode_log = msgspec.json.Decoder(LogEnvelope, strict=False).decode


def check_ret_code(ret_code: int, ret_msg: str) -> None:
    """Errors come with HTTP 200 too. Refused keys get our own words, never the venue's."""
    if ret_code != 0:
        code = str(ret_code)
        message = AUTH_MESSAGES.get(code, ret_msg)
        raise ReplyError(code, message, retryable=ret_code in RETRYABLE_CODES)


def parse_server_time(body: bytes) -> int:
    """The time endpoint's reply -> server time in ms (from `timeNano`, the documented
    field; the envelope's `time` is when the reply was made)."""
    env = _decode_time(body)
    check_ret_code(env.retCode, env.retMsg)
    if not env.result.timeNano.isdigit():
        raise ReplyShapeError(f"timeNano is {env.result.timeNano!r}")
    return int(env.result.timeNano) // 1_000_000


def parse_balances(body: bytes) -> list[Balance]:
    """Wallet-balance reply -> one Balance per account, in USD: the unified account's
    totals are valued in USD whatever coins it holds."""
    env = _decode_wallet(body)
    check_ret_code(env.retCode, env.retMsg)
    balances: list[Balance] = []
    for row in env.result.rows:
        equity = to_number(row.totalEquity)
        if equity is None:
            continue
        balances.append(
            Balance(
                venue=NAME,
                currency="USD",
                equity=equity,
                available=to_number(row.totalAvailableBalance),
                unrealised_pnl=to_number(row.totalPerpUPL),
            )
        )
    return balances


def per_coin(price: RawNum, multiplier: float) -> float | None:
    """A 1000PEPEUSDT price is per 1000 PEPE; sizes are converted to coins, so prices are
    too, keeping size * price the position's value."""
    value = to_number(price)
    return None if value is None or value <= 0 else value / multiplier


def parse_position(row: PositionRow) -> Position | None:
    """One position-list row, or None for an empty slot, junk, or a symbol out of scope."""
    size = to_number(row.size)
    info = classify(row.symbol) if row.symbol else None
    if info is None or size is None or size == 0 or row.side not in ("Buy", "Sell"):
        return None
    asset, multiplier, _ = info
    return Position(
        venue=NAME,
        asset=asset,
        symbol=row.symbol,
        side="long" if row.side == "Buy" else "short",
        size=abs(size) * multiplier,
        entry_price=per_coin(row.avgPrice, multiplier),
        mark_price=per_coin(row.markPrice, multiplier),
        unrealised_pnl=to_number(row.unrealisedPnl),
        leverage=to_number(row.leverage),
        liquidation_price=per_coin(row.liqPrice, multiplier),
    )


def parse_position_page(body: bytes) -> Page[Position]:
    """Position-list reply -> open linear perpetual positions, sizes in coins."""
    env = _decode_positions(body)
    check_ret_code(env.retCode, env.retMsg)
    rows = env.result.rows
    positions = [p for p in map(parse_position, rows) if p is not None]
    return Page(positions, unquote(env.result.nextPageCursor or ""), len(rows))


def parse_settlement(row: LogRow) -> FundingPayment | None:
    """One transaction-log row, or None unless it is a funding settlement of an in-scope
    perpetual with a readable, non-zero amount (a USDC session settlement alone carries
    funding 0: it moved no funding)."""
    amount, time_ms = to_number(row.funding), to_number(row.transactionTime)
    info = classify(row.symbol) if row.symbol else None
    if info is None or row.type != "SETTLEMENT" or not amount or not time_ms or time_ms < 0:
        return None
    asset, _, settle = info
    return FundingPayment(
        venue=NAME,
        asset=asset,
        symbol=row.symbol,
        amount=amount,
        currency=row.currency or settle,
        time_ms=int(time_ms),
    )


def parse_funding_page(body: bytes) -> Page[FundingPayment]:
    """Transaction-log reply -> funding settlements as the venue ordered them."""
    env = _decode_log(body)
    check_ret_code(env.retCode, env.retMsg)
    rows = env.result.rows
    payments = [p for p in map(parse_settlement, rows) if p is not None]
    return Page(payments, unquote(env.result.nextPageCursor or ""), len(rows))


# --- requests ------------------------------------------------------------------------


def position_params(settle_coin: str, cursor: str) -> dict[str, str]:
    params = {"category": "linear", "settleCoin": settle_coin, "limit": str(POSITION_PAGE)}
    return {**params, "cursor": cursor} if cursor else params


def funding_windows(start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    """[start_ms, end_ms) cut into half-open windows the transaction log accepts, newest
    first."""
    windows: list[tuple[int, int]] = []
    hi = end_ms
    while hi > start_ms:
        lo = max(start_ms, hi - LOG_WINDOW_MS)
        windows.append((lo, hi))
        hi = lo
    return windows


def settlement_params(lo: int, hi: int, cursor: str) -> dict[str, str]:
    """The window [lo, hi) as the venue's inclusive startTime..endTime."""
    params = {
        "accountType": ACCOUNT_TYPE,
        "category": "linear",
        "type": "SETTLEMENT",
        "startTime": str(lo),
        "endTime": str(hi - 1),
        "limit": str(LOG_PAGE),
    }
    return {**params, "cursor": cursor} if cursor else params


def cut_short(
    payments: list[FundingPayment], window_hi: int, mid_window: bool
) -> tuple[list[FundingPayment], int]:
    """What a walk stopped by the request bound can vouch for, and the time at or before
    which settlements were left out. Windows before `window_hi` were not asked for; when
    stopped inside that window, the oldest time fetched in it may go on in the next page
    (pages run newest first), so that time is left out too."""
    in_window = [p.time_ms for p in payments if p.time_ms < window_hi]
    cut = min(in_window) if mid_window and in_window else window_hi - 1
    return [p for p in payments if p.time_ms > cut], cut


# --- signing -------------------------------------------------------------------------


def query_string(params: Mapping[str, str]) -> str:
    """`params` encoded exactly as aiohttp puts them on the wire (it asks yarl; so do we).
    For plain ASCII values this equals urllib's urlencode; for a cursor holding ':' or ','
    it does not, and only the bytes sent verify."""
    return yarl.URL("/").with_query(params).raw_query_string


def string_to_sign(timestamp_ms: int, api_key: str, recv_window_ms: int, payload: str) -> str:
    """`payload` is the query string of a GET (or the raw JSON body of a POST)."""
    return f"{timestamp_ms}{api_key}{recv_window_ms}{payload}"


def sign(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def auth_headers(
    credentials: Credentials, timestamp_ms: int, payload: str, recv_window_ms: int = RECV_WINDOW_MS
) -> dict[str, str]:
    """The four headers of a signed request; they go to VenueHttp and nowhere else."""
    text = string_to_sign(timestamp_ms, credentials.key, recv_window_ms, payload)
    return {
        "X-BAPI-API-KEY": credentials.key,
        "X-BAPI-TIMESTAMP": str(timestamp_ms),
        "X-BAPI-RECV-WINDOW": str(recv_window_ms),
        "X-BAPI-SIGN": sign(credentials.secret, text),
    }


# --- the client ----------------------------------------------------------------------


class BybitPrivate(PrivateClient):
    name = NAME
    timestamp_codes = frozenset({TIMESTAMP_CODE})
    auth_codes = frozenset(AUTH_MESSAGES)

    async def server_time_ms(self) -> int:
        return await self.http.get(SERVER_TIME, decode=parse_server_time)

    async def balances(self) -> list[Balance]:
        params = {"accountType": ACCOUNT_TYPE}
        return await self._signed_get(WALLET_BALANCE, params, parse_balances)

    async def positions(self) -> list[Position]:
        positions: list[Position] = []
        for settle_coin in SETTLE_COINS:
            cursor = ""
            for _ in range(MAX_POSITION_PAGES):
                params = position_params(settle_coin, cursor)
                page = await self._signed_get(POSITION_LIST, params, parse_position_page)
                positions += page.items
                cursor = page.cursor
                if not cursor:
                    break
            else:
                reason = f"still paging {settle_coin} positions after {MAX_POSITION_PAGES} pages"
                raise VenueBadResponse(NAME, POSITION_LIST, reason)
        return positions

    async def funding(self, start_ms: int, end_ms: int) -> list[FundingPayment]:
        """Settlements in [start_ms, end_ms), oldest first, reaching back at most
        FUNDING_DAYS from end_ms. Windows and their pages are walked newest first; if
        MAX_FUNDING_REQUESTS runs out first, the newest settlements are returned, complete
        back to where `cut_short` stops them, and a warning says so."""
        start_ms = max(start_ms, end_ms - FUNDING_DAYS * DAY_MS)
        payments: list[FundingPayment] = []
        sent = 0
        for lo, hi in funding_windows(start_ms, end_ms):
            cursor = ""
            while sent < MAX_FUNDING_REQUESTS:
                sent += 1
                params = settlement_params(lo, hi, cursor)
                page = await self._signed_get(TRANSACTION_LOG, params, parse_funding_page)
                payments += (p for p in page.items if lo <= p.time_ms < hi)
                cursor = page.cursor
                if not cursor or not page.rows:
                    break
            else:
                payments, cut = cut_short(payments, hi, mid_window=bool(cursor))
                log.warning(
                    "%s funding: stopped after %d requests; settlements up to %d ms left out",
                    NAME,
                    sent,
                    cut,
                )
                self.funding_complete_from = cut
                break
        return sorted(payments, key=lambda p: (p.time_ms, p.symbol))

    async def _signed_get(
        self, path: str, params: dict[str, str], decode: Callable[[bytes], T]
    ) -> T:
        query = query_string(params)

        async def send(timestamp_ms: int) -> T:
            headers = auth_headers(self.credentials, timestamp_ms, query)
            return await self.http.request(
                "GET", path, params=params, headers=headers, decode=decode
            )

        return await self.signed(send)
