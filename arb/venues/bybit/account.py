"""Bybit v5 signed account reads: the unified account's balance, linear positions, funding.

Signing (HMAC-SHA256, lowercase hex, in headers) covers `timestamp + key + recvWindow +
query`, where the query must be byte for byte what goes on the wire: aiohttp builds it
from the `params` dict with yarl, so the string to sign is built with yarl too.

Funding comes from the transaction log (type SETTLEMENT), which answers at most 7 days
per request and 50 rows per page: 30 days take 5 windows, each followed by its cursor.
Positions need one request per settle coin (USDT, then USDC), also cursor-paged, and
one to the account info for the margin mode, which the unified account sets for every
position at once. The key's own permissions come from `/v5/user/query-api`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Generic, Literal, NamedTuple, TypeVar
from urllib.parse import unquote

import msgspec
import yarl

from arb.accounts.base import AuthError, Credentials, Params, PrivateClient, hmac_hex, oldest_first
from arb.accounts.models import Balance, FundingPayment, KeyAccess, Position
from arb.http import ReplyShapeError, VenueBadResponse, VenueError
from arb.venues.base import Perp
from arb.venues.bybit.common import AUTH_MESSAGES, NAME, Rows, classify, unwrapper
from arb.venues.numbers import RawNum, per_coin, to_number

log = logging.getLogger(__name__)

T = TypeVar("T")

SERVER_TIME = "/v5/market/time"
WALLET_BALANCE = "/v5/account/wallet-balance"
POSITION_LIST = "/v5/position/list"
TRANSACTION_LOG = "/v5/account/transaction-log"
ACCOUNT_INFO = "/v5/account/info"
QUERY_API = "/v5/user/query-api"

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
TIMESTAMP_CODE = "10002"
# docs/v5/account/account-info.mdx `marginMode`. Portfolio margin nets every position
# against the one account's equity, as cross margin does.
MARGIN_MODES: dict[str, Literal["cross", "isolated"]] = {
    "REGULAR_MARGIN": "cross",
    "PORTFOLIO_MARGIN": "cross",
    "ISOLATED_MARGIN": "isolated",
}
# docs/v5/enum.mdx `adlRankIndicator`: 0 is "default value of empty position", 1 to 5 the
# queue (5 first), as the model counts it.
ADL_RANKS = range(1, 6)
# docs/v5/user/apikey-info.mdx: permission groups by name; `Wallet` lists `Withdraw`.
WITHDRAW = ("Wallet", "Withdraw")


# --- replies -------------------------------------------------------------------------


class Page(NamedTuple, Generic[T]):
    """One page of a cursor-paged reply. `cursor` is "" on the last page and is already
    URL-decoded, ready to go back into `params`."""

    items: list[T]
    cursor: str
    rows: int  # what the venue sent, junk rows included


class TimeResult(msgspec.Struct, gc=False):
    timeNano: str = ""


class AccountRow(msgspec.Struct, gc=False):
    accountType: str | None = None
    totalEquity: RawNum = None
    totalAvailableBalance: RawNum = None
    totalPerpUPL: RawNum = None
    # Total maintenance margin / margin balance, a decimal (wallet-balance.mdx); "" outside
    # the unified account.
    accountMMRate: RawNum = None


class PositionRow(msgspec.Struct, gc=False):
    symbol: str | None = None
    side: str | None = None  # Buy, Sell, or "" for an empty one-way slot
    size: RawNum = None  # in baseCoin units (1000PEPE for 1000PEPEUSDT), always positive
    avgPrice: RawNum = None
    markPrice: RawNum = None
    liqPrice: RawNum = None
    unrealisedPnl: RawNum = None
    leverage: RawNum = None
    adlRankIndicator: RawNum = None
    # No `tradeMode`: for linear positions of the unified account it is deprecated and
    # always 0 (position.mdx); the account info says the margin mode instead.


class AccountInfo(msgspec.Struct, gc=False):
    marginMode: str = ""


class KeyInfo(msgspec.Struct, gc=False):
    """`/v5/user/query-api`, minus `apiKey` (the key itself) and `note`: never read."""

    readOnly: int | None = None  # 0: read and write, 1: read only
    permissions: dict[str, list[str]] = {}


class LogRow(msgspec.Struct, gc=False):
    symbol: str | None = None
    type: str | None = None
    funding: RawNum = None  # positive when received; `change` would add fees and cashFlow
    currency: str | None = None
    transactionTime: RawNum = None


_time = unwrapper(TimeResult)
_wallet = unwrapper(Rows[AccountRow])
_positions = unwrapper(Rows[PositionRow])
_log = unwrapper(Rows[LogRow])
_account_info = unwrapper(AccountInfo)
_key_info = unwrapper(KeyInfo)


def page_of(rows: Rows, item: Callable[[object], T | None]) -> Page[T]:
    """A paged reply's items (junk and out-of-scope rows dropped) and its cursor."""
    items = [x for x in map(item, rows.rows) if x is not None]
    return Page(items, unquote(rows.nextPageCursor or ""), len(rows.rows))


def parse_server_time(body: bytes) -> int:
    """The time endpoint's reply -> server time in ms (from `timeNano`, the documented
    field; the envelope's `time` is when the reply was made)."""
    time_nano = _time(body).timeNano
    if not time_nano.isdigit():
        raise ReplyShapeError(f"timeNano is {time_nano!r}")
    return int(time_nano) // 1_000_000


def parse_balances(body: bytes) -> list[Balance]:
    """Wallet-balance reply -> one Balance per account, in USD: the unified account's
    totals are valued in USD whatever coins it holds."""
    balances: list[Balance] = []
    for row in _wallet(body).rows:
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
                margin_ratio=to_number(row.accountMMRate),
            )
        )
    return balances


def parse_margin_mode(body: bytes) -> Literal["cross", "isolated"] | None:
    """Account-info reply -> the margin mode of every position; None for one not known."""
    return MARGIN_MODES.get(_account_info(body).marginMode)


def adl_rank(value: RawNum) -> int | None:
    rank = to_number(value)
    return int(rank) if rank in ADL_RANKS else None


def parse_key_access(body: bytes) -> KeyAccess:
    """Query-api reply -> what the key may do. A read-only key (`readOnly` 1) can do
    nothing else, whatever groups it lists (read-only keys list them too); a read-write one
    can trade, and withdraw when its wallet permissions hold `Withdraw`. The detail is the
    venue's own words."""
    info = _key_info(body)
    held = {group: names for group, names in sorted(info.permissions.items()) if names}
    words = [f"readOnly={info.readOnly}"] + [f"{g}={','.join(n)}" for g, n in held.items()]
    detail = "; ".join(words)
    if info.readOnly not in (0, 1):
        return KeyAccess(NAME, None, None, detail)
    writes = info.readOnly == 0
    can_withdraw = writes and WITHDRAW[1] in held.get(WITHDRAW[0], [])
    return KeyAccess(NAME, writes, can_withdraw, detail)


def perp_of(symbol: str | None) -> Perp | None:
    """The in-scope perpetual a row names; None for a blank or out-of-scope symbol."""
    return classify(symbol) if symbol else None


def parse_position(row: PositionRow) -> Position | None:
    """One position-list row, or None for an empty slot, junk, or a symbol out of scope."""
    perp, size = perp_of(row.symbol), to_number(row.size)
    if perp is None or not size or row.side not in ("Buy", "Sell"):
        return None
    return Position(
        venue=NAME,
        asset=perp.asset,
        symbol=row.symbol,
        side="long" if row.side == "Buy" else "short",
        size=abs(size) * perp.multiplier,
        entry_price=per_coin(row.avgPrice, perp.multiplier),
        mark_price=per_coin(row.markPrice, perp.multiplier),
        unrealised_pnl=to_number(row.unrealisedPnl),
        leverage=to_number(row.leverage),
        liquidation_price=per_coin(row.liqPrice, perp.multiplier),
        adl_rank=adl_rank(row.adlRankIndicator),
    )


def parse_position_page(body: bytes) -> Page[Position]:
    """Position-list reply -> open linear perpetual positions, sizes in coins."""
    return page_of(_positions(body), parse_position)


def parse_settlement(row: LogRow) -> FundingPayment | None:
    """One transaction-log row, or None unless it is a funding settlement of an in-scope
    perpetual with a readable, non-zero amount (a USDC session settlement alone carries
    funding 0: it moved no funding)."""
    perp = perp_of(row.symbol)
    amount, time_ms = to_number(row.funding), to_number(row.transactionTime)
    if perp is None or row.type != "SETTLEMENT" or not amount or not time_ms or time_ms < 0:
        return None
    return FundingPayment(
        venue=NAME,
        asset=perp.asset,
        symbol=row.symbol,
        amount=amount,
        currency=row.currency or perp.settle,
        time_ms=int(time_ms),
    )


def parse_funding_page(body: bytes) -> Page[FundingPayment]:
    """Transaction-log reply -> funding settlements as the venue ordered them."""
    return page_of(_log(body), parse_settlement)


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


# Bybit signs with HMAC-SHA256 in lowercase hex.
sign = hmac_hex


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
    server_time = (SERVER_TIME, parse_server_time)
    window_ms = RECV_WINDOW_MS  # the recvWindow every request sends

    def headers(self, timestamp_ms: int, method: str, path: str, params: Params) -> dict[str, str]:
        """A GET signs its query; the method and path are not signed."""
        return auth_headers(self.credentials, timestamp_ms, query_string(params or {}))

    async def balances(self) -> list[Balance]:
        params = {"accountType": ACCOUNT_TYPE}
        return await self.get(WALLET_BALANCE, params, parse_balances)

    async def positions(self) -> list[Position]:
        """Every open linear position, with the account's margin mode (None, and a warning,
        when the account info alone could not be read). The account info follows the
        positions, so that a drifted clock costs one refused request and one resync."""
        positions = await self.open_positions()
        mode = await self.margin_mode()
        return [msgspec.structs.replace(p, margin_mode=mode) for p in positions]

    async def margin_mode(self) -> Literal["cross", "isolated"] | None:
        try:
            return await self.get(ACCOUNT_INFO, None, parse_margin_mode)
        except AuthError:
            raise
        except VenueError as e:
            log.warning("%s: margin mode unknown: %s", NAME, e)
            return None

    async def key_access(self) -> KeyAccess:
        return await self.get(QUERY_API, None, parse_key_access)

    async def open_positions(self) -> list[Position]:
        positions: list[Position] = []
        for settle_coin in SETTLE_COINS:
            cursor = ""
            for _ in range(MAX_POSITION_PAGES):
                params = position_params(settle_coin, cursor)
                page = await self.get(POSITION_LIST, params, parse_position_page)
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
                page = await self.get(TRANSACTION_LOG, params, parse_funding_page)
                payments += (p for p in page.items if lo <= p.time_ms < hi)
                cursor = page.cursor
                if not cursor or not page.rows:
                    break
            else:
                payments, cut = cut_short(payments, hi, mid_window=bool(cursor))
                self.funding_cut(sent, cut)
                break
        return oldest_first(payments)
