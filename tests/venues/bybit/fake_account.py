"""A fake of Bybit's private v5 API (the desk's account reads), served by FakeVenues.

`FakeBybitPrivate().install(fake)` adds the public time endpoint and the three signed
reads to a running or not yet started `FakeVenues`. The account starts as the recorded
fixtures (short APE, long LDO, their settlements, one unified account); tests replace
`accounts`, `positions` and `settlements` with rows from `position_row` / `funding_row`
/ `set_balance`.

Every signed request is checked the way the reference says the venue checks it, with
this file's own HMAC (never the client's signer) over the raw query string received:
missing headers get HTTP 401, a wrong key 10003, a timestamp outside
`server - recvWindow <= ts < server + 1000` gets 10002, a wrong signature 10004 (whose
message echoes the signed string, key included, as the venue's does). The server clock
is the real one plus `skew_ms`, for the time endpoint and the window check alike.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web

from tests.fakes.private_base import FakeAccountClock
from tests.fakes.venues import FakeVenues, dec, fixture
from tests.venues.bybit.fake_rest import bybit_error

SERVER_TIME = "/v5/market/time"
WALLET_BALANCE = "/v5/account/wallet-balance"
POSITION_LIST = "/v5/position/list"
TRANSACTION_LOG = "/v5/account/transaction-log"

DAY_MS = 86_400_000
AHEAD_MS = 1000  # a timestamp this far ahead of the server is refused
DEFAULT_RECV_WINDOW = "5000"
# The venue's cursors come URL-encoded ("21963%3A1%2C14954%3A1" in the docs); this one
# encodes an offset the same way, so a client that sends it back encoded twice is caught.
CURSOR = re.compile(r"(\d+):1,\1:1")

Handler = Callable[[web.Request], Awaitable[Any]]


def cursor_for(offset: int) -> str:
    return quote(f"{offset}:1,{offset}:1", safe="")


def settle_of(symbol: str) -> str:
    return "USDT" if symbol.endswith("USDT") else "USDC"


def position_row(
    symbol: str,
    side: str,
    size: float,
    entry: float,
    mark: float,
    upnl: float,
    leverage: float = 10.0,
    liq: float | None = None,
) -> dict[str, Any]:
    """A position-list row as the venue writes it. `side` is "long" or "short"; `size`
    and the prices are in the symbol's own units (lots of 1000 PEPE for 1000PEPEUSDT)."""
    row = copy.deepcopy(fixture("bybit/v5_position_list_linear.json")["result"]["list"][0])
    value = size * entry
    row.update(
        symbol=symbol,
        side={"long": "Buy", "short": "Sell"}[side],
        size=dec(size),
        avgPrice=dec(entry),
        markPrice=dec(mark),
        positionValue=dec(value),
        unrealisedPnl=dec(upnl),
        leverage=dec(leverage),
        positionIM=dec(value / leverage),
        positionBalance=dec(value / leverage),
        liqPrice="" if liq is None else dec(liq),
    )
    return row


def funding_row(symbol: str, amount: float, time_ms: int, currency: str = "USDT") -> dict:
    """A SETTLEMENT row of the transaction log: `amount` positive when received. Fields the
    client does not read (side, size, feeRate, ...) keep the fixture's values."""
    row = copy.deepcopy(
        fixture("bybit/v5_account_transaction_log_settlement.json")["result"]["list"][0]
    )
    row.update(
        id=f"1187734_{symbol}_{time_ms}",
        symbol=symbol,
        funding=dec(amount),
        change=dec(amount),
        cashFlow="0",
        fee="0",
        transactionTime=str(time_ms),
        currency=currency,
    )
    return row


class FakeBybitPrivate(FakeAccountClock):
    venue = "bybit"

    def __init__(self, key: str = "fake-bybit-key", secret: str = "fake-bybit-secret") -> None:
        super().__init__(key, secret)
        self.received: list[tuple[str, str]] = []  # (path, raw query) of signed requests
        self.accounts: list[dict] = fixture("bybit/v5_account_wallet_balance.json")["result"][
            "list"
        ]
        self.positions: list[dict] = fixture("bybit/v5_position_list_linear.json")["result"]["list"]
        self.settlements: list[dict] = fixture("bybit/v5_account_transaction_log_settlement.json")[
            "result"
        ]["list"]

    def install(self, fake: FakeVenues) -> FakeBybitPrivate:
        fake.route("bybit", "GET", SERVER_TIME, self.server_time)
        fake.route("bybit", "GET", WALLET_BALANCE, self._signed(self.wallet_balance))
        fake.route("bybit", "GET", POSITION_LIST, self._signed(self.position_list))
        fake.route("bybit", "GET", TRANSACTION_LOG, self._signed(self.transaction_log))
        return self

    def set_balance(self, equity: float, available: float, upnl: float = 0.0) -> None:
        """The unified account's USD totals (and its one coin's, kept consistent)."""
        account = self.accounts[0]
        account.update(
            totalEquity=dec(equity),
            totalMarginBalance=dec(equity),
            totalAvailableBalance=dec(available),
            totalPerpUPL=dec(upnl),
        )
        account["coin"][0].update(equity=dec(equity), usdValue=dec(equity), unrealisedPnl=dec(upnl))

    # --- authentication ----------------------------------------------------------

    def _signed(self, handler: Handler) -> Handler:
        async def checked(request: web.Request) -> Any:
            raw_query = request.raw_path.partition("?")[2]
            self.received.append(("/" + request.match_info["path"], raw_query))
            refusal = self.refusal(request, raw_query)
            if refusal is None:
                return await handler(request)
            self.refusals.append(_code_of(refusal))
            return refusal

        return checked

    def refusal(self, request: web.Request, raw_query: str) -> Any:
        """The venue's answer to a request it does not accept, or None."""
        h = request.headers
        key, ts, sign = h.get("X-BAPI-API-KEY"), h.get("X-BAPI-TIMESTAMP"), h.get("X-BAPI-SIGN")
        recv_window = h.get("X-BAPI-RECV-WINDOW", DEFAULT_RECV_WINDOW)
        if not key or not ts or not sign:
            return web.Response(status=401)
        now = self.now_ms()
        if key != self.key:
            return error_reply(10003, "API key is invalid.", now)
        if not (ts.isdigit() and recv_window.isdigit()) or not (
            now - int(recv_window) <= int(ts) < now + AHEAD_MS
        ):
            return error_reply(
                10002,
                "invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{ts}],server_timestamp[{now}],recv_window[{recv_window}]",
                now,
                fixture_file="bybit/error_10002_timestamp.json",
            )
        origin = ts + key + recv_window + raw_query
        expected = hmac.new(self.secret.encode(), origin.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sign, expected):
            return error_reply(
                10004,
                f"error sign! origin_string[{origin}]",
                now,
                fixture_file="bybit/error_10004_sign.json",
            )
        return None

    # --- endpoints -----------------------------------------------------------------

    async def server_time(self, request: web.Request) -> Any:
        self.time_calls += 1
        now = self.now_ms()
        doc = fixture("bybit/v5_market_time.json")
        doc["result"] = {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}
        doc["time"] = now
        return doc

    async def wallet_balance(self, request: web.Request) -> Any:
        if request.query.get("accountType") != "UNIFIED":
            return bybit_error(10001, "accountType only support UNIFIED.")
        doc = fixture("bybit/v5_account_wallet_balance.json")
        doc["result"]["list"] = self.accounts
        doc["time"] = self.now_ms()
        return doc

    async def position_list(self, request: web.Request) -> Any:
        """Linear only; needs symbol or settleCoin, and with settleCoin lists only open
        positions; pages of `limit` (1 to 200, default 20) behind a cursor."""
        q = request.query
        if q.get("category") != "linear":
            return bybit_error(10001, "params error: category")
        symbol, settle = q.get("symbol"), q.get("settleCoin")
        if not symbol and not settle:
            return bybit_error(10001, "Missing some parameters: symbol or settleCoin")
        rows = [
            r
            for r in self.positions
            if (r["symbol"] == symbol if symbol else settle_of(r["symbol"]) == settle)
            and (symbol or float(r["size"]) != 0)
        ]
        page = paged(rows, q, max_limit=200)
        if page is None:
            return bybit_error(10001, "params error: limit or cursor")
        doc = fixture("bybit/v5_position_list_linear.json")
        doc["result"]["list"], doc["result"]["nextPageCursor"] = page
        doc["time"] = self.now_ms()
        return doc

    async def transaction_log(self, request: web.Request) -> Any:
        """Newest first; startTime..endTime inclusive, 24 h by default and at most 7 days;
        pages of `limit` (1 to 50, default 20) behind a cursor."""
        q = request.query
        if q.get("accountType", "UNIFIED") != "UNIFIED":
            return bybit_error(10001, "accountType only support UNIFIED.")
        start, end = log_range(q.get("startTime"), q.get("endTime"), self.now_ms())
        if not 0 <= end - start <= 7 * DAY_MS:
            return bybit_error(10001, "params error: the time range must be within 7 days")
        rows = [
            r
            for r in self.settlements
            if start <= int(r["transactionTime"]) <= end
            and q.get("category", r["category"]) == r["category"]
            and q.get("type", r["type"]) == r["type"]
        ]
        rows.sort(key=lambda r: int(r["transactionTime"]), reverse=True)
        page = paged(rows, q, max_limit=50)
        if page is None:
            return bybit_error(10001, "params error: limit or cursor")
        doc = fixture("bybit/v5_account_transaction_log_settlement.json")
        doc["result"]["list"], doc["result"]["nextPageCursor"] = page
        doc["time"] = self.now_ms()
        return doc


def error_reply(code: int, message: str, now_ms: int, fixture_file: str | None = None) -> Any:
    """An error envelope with HTTP 200, the recorded one when there is one."""
    doc = fixture(fixture_file) if fixture_file else bybit_error(code, message)
    doc.update(retCode=code, retMsg=message, time=now_ms)
    return doc


def log_range(start: str | None, end: str | None, now_ms: int) -> tuple[int, int]:
    """The window the venue reads from startTime/endTime: 24 h from whichever is given."""
    if start is None and end is None:
        return now_ms - DAY_MS, now_ms
    if end is None:
        return int(start), int(start) + DAY_MS  # type: ignore[arg-type]
    if start is None:
        return int(end) - DAY_MS, int(end)
    return int(start), int(end)


def paged(rows: list[dict], query: Any, max_limit: int) -> tuple[list[dict], str] | None:
    """One page of `rows` and the cursor to the next ("" on the last), or None for a bad
    limit or a cursor this fake never gave out."""
    limit = int(query.get("limit", "20"))
    if not 1 <= limit <= max_limit:
        return None
    offset = 0
    if "cursor" in query:
        match = CURSOR.fullmatch(query["cursor"])
        if match is None:
            return None
        offset = int(match[1])
    more = offset + limit < len(rows)
    return rows[offset : offset + limit], cursor_for(offset + limit) if more else ""


def _code_of(refusal: Any) -> str:
    """The venue code of a refusal: its retCode, or the HTTP status of a bare reply."""
    if isinstance(refusal, web.Response):
        return str(refusal.status)
    return str(refusal["retCode"])


# What the venue-agnostic contract tests (tests/venues/test_account_contract.py) need to
# know of this fake: its class, the code it refuses each wrong credential with, and the
# one it refuses a timestamp outside its window with.
FakeAccount = FakeBybitPrivate
REFUSED = {"secret": "10004", "key": "10003"}
STALE_TIMESTAMP = "10002"
