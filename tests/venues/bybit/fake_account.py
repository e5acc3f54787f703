"""A fake of Bybit's private v5 API (the desk's account reads), served by FakeVenues.

`FakeBybitPrivate().install(fake)` adds the public time endpoint and the signed reads
(wallet balance, positions, transaction log, account info, API key info) to a running or
not yet started `FakeVenues`. The account starts as the recorded fixtures (short APE,
long LDO, their settlements, one unified account in regular (cross) margin, a read-only
key); tests replace `accounts`, `positions` and `settlements` with rows from
`position_row` / `funding_row` / `set_balance`, and set `margin_mode`, `can_trade` and
`can_withdraw`.

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
from typing import Any
from urllib.parse import quote

from aiohttp import web

from arb.accounts.models import FundingPayment
from tests.fakes.private_base import FakeAccountClock, Handler, Held, Refusals, Sent
from tests.fakes.venues import dec, fixture
from tests.venues.bybit.fake_rest import bybit_error

SERVER_TIME = "/v5/market/time"
WALLET_BALANCE = "/v5/account/wallet-balance"
POSITION_LIST = "/v5/position/list"
TRANSACTION_LOG = "/v5/account/transaction-log"
ACCOUNT_INFO = "/v5/account/info"
QUERY_API = "/v5/user/query-api"

DAY_MS = 86_400_000
AHEAD_MS = 1000  # a timestamp this far ahead of the server is refused
DEFAULT_RECV_WINDOW = "5000"
# The venue's cursors come URL-encoded ("21963%3A1%2C14954%3A1" in the docs); this one
# encodes an offset the same way, so a client that sends it back encoded twice is caught.
CURSOR = re.compile(r"(\d+):1,\1:1")


def cursor_for(offset: int) -> str:
    return quote(f"{offset}:1,{offset}:1", safe="")


def settle_of(symbol: str) -> str:
    return "USDT" if symbol.endswith("USDT") else "USDC"


class FakeBybitPrivate(FakeAccountClock):
    venue = "bybit"
    keys = ("fake-bybit-key", "fake-bybit-secret")
    refuses = Refusals(key="10003", stale="10002", signature="10004")
    window_ms = int(DEFAULT_RECV_WINDOW)  # behind; each request may send its own window
    ahead_ms = AHEAD_MS - 1
    time_path = SERVER_TIME

    def __init__(self) -> None:
        super().__init__()
        self.accounts: list[dict] = fixture("bybit/v5_account_wallet_balance.json")["result"][
            "list"
        ]
        self.positions: list[dict] = fixture("bybit/v5_position_list_linear.json")["result"]["list"]
        self.settlements: list[dict] = fixture("bybit/v5_account_transaction_log_settlement.json")[
            "result"
        ]["list"]
        # The unified account's one margin mode (account info `marginMode`).
        self.margin_mode = "REGULAR_MARGIN"
        # What the key may do, as `/v5/user/query-api` tells it.
        self.can_trade = False
        self.can_withdraw = False

    def signed_reads(self) -> dict[str, Handler]:
        return {
            WALLET_BALANCE: self.wallet_balance,
            POSITION_LIST: self.position_list,
            TRANSACTION_LOG: self.transaction_log,
            ACCOUNT_INFO: self.account_info,
            QUERY_API: self.query_api,
        }

    def set_balance(
        self,
        equity: float,
        available: float,
        upnl: float = 0.0,
        margin_ratio: float | None = None,
    ) -> None:
        """The unified account's USD totals (and its one coin's, kept consistent);
        `margin_ratio` its maintenance margin rate, "" (as outside the unified account)
        when None."""
        account = self.accounts[0]
        maintenance = None if margin_ratio is None else margin_ratio * equity
        account.update(
            totalEquity=dec(equity),
            totalMarginBalance=dec(equity),
            totalAvailableBalance=dec(available),
            totalPerpUPL=dec(upnl),
            accountMMRate="" if margin_ratio is None else dec(margin_ratio),
            totalMaintenanceMargin="" if maintenance is None else dec(maintenance),
        )
        account["coin"][0].update(equity=dec(equity), usdValue=dec(equity), unrealisedPnl=dec(upnl))

    def position(self, p: Held) -> dict[str, Any]:
        """A position-list row as the venue writes it: `size` and the prices in the
        symbol's own units (lots of 1000 PEPE for 1000PEPEUSDT), `tradeMode` always 0 and
        `adlRankIndicator` 0 when no rank is given. The unified account has one margin
        mode for every position: an isolated one sets this account's to ISOLATED_MARGIN."""
        if p.margin_mode == "isolated":
            self.margin_mode = "ISOLATED_MARGIN"
        row = copy.deepcopy(fixture("bybit/v5_position_list_linear.json")["result"]["list"][0])
        value = p.size * p.entry
        row.update(
            symbol=p.symbol,
            side={"long": "Buy", "short": "Sell"}[p.side],
            size=dec(p.size),
            avgPrice=dec(p.entry),
            markPrice=dec(p.mark),
            positionValue=dec(value),
            unrealisedPnl=dec(p.upnl),
            leverage=dec(p.leverage),
            positionIM=dec(value / p.leverage),
            positionBalance=dec(value / p.leverage),
            liqPrice="" if p.liq is None else dec(p.liq),
            tradeMode=0,
            adlRankIndicator=p.adl_rank or 0,
        )
        return row

    def funding_row(
        self, symbol: str, amount: float, time_ms: int, currency: str = "USDT"
    ) -> dict[str, Any]:
        """A SETTLEMENT row of the transaction log: `amount` positive when received. Fields
        the client does not read (side, size, feeRate, ...) keep the fixture's values."""
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

    def payment_of(self, row: dict[str, Any]) -> FundingPayment:
        symbol, amount = row["symbol"], float(row["funding"])
        return FundingPayment("bybit", symbol.removesuffix("USDT"), symbol, amount,
                              row["currency"], int(row["transactionTime"]))  # fmt: skip

    # --- the check -----------------------------------------------------------------

    def read(self, request: web.Request, body: bytes) -> Sent | str:
        """The X-BAPI key, timestamp and signature headers (a bare 401 without them) and
        an optional recvWindow; the signature the hex HMAC-SHA256 of `signed_string`."""
        h = request.headers
        key, ts, sign = h.get("X-BAPI-API-KEY"), h.get("X-BAPI-TIMESTAMP"), h.get("X-BAPI-SIGN")
        if not key or not ts or not sign:
            return "401"
        recv_window = h.get("X-BAPI-RECV-WINDOW", DEFAULT_RECV_WINDOW)
        readable = ts.isdigit() and recv_window.isdigit()
        text = signed_string(request, body)
        expected = hmac.new(self.secret.encode(), text.encode(), hashlib.sha256)
        return Sent(
            key=key,
            time_ms=int(ts) if readable else None,
            signature=sign,
            expected=expected.hexdigest(),
            behind_ms=int(recv_window) if readable else None,
        )

    def refused_reply(self, code: str, request: web.Request, body: bytes) -> Any:
        """A bare 401, or an error envelope with HTTP 200; 10002 names the times it
        compared and 10004 echoes the string it signed, key included, as the venue's do."""
        now, h = self.now_ms(), request.headers
        if code == "401":
            return web.Response(status=401)
        if code == "10003":
            return error_reply(10003, "API key is invalid.", now)
        if code == "10002":
            ts, window = h["X-BAPI-TIMESTAMP"], h.get("X-BAPI-RECV-WINDOW", DEFAULT_RECV_WINDOW)
            message = (
                "invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{ts}],server_timestamp[{now}],recv_window[{window}]"
            )
            return error_reply(10002, message, now, "bybit/error_10002_timestamp.json")
        message = f"error sign! origin_string[{signed_string(request, body)}]"
        return error_reply(10004, message, now, "bybit/error_10004_sign.json")

    # --- endpoints -----------------------------------------------------------------

    def time_reply(self, now: int) -> Any:
        doc = fixture("bybit/v5_market_time.json")
        doc["result"] = {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}
        doc["time"] = now
        return doc

    def wallet_balance(self, request: web.Request) -> Any:
        if request.query.get("accountType") != "UNIFIED":
            return bybit_error(10001, "accountType only support UNIFIED.")
        doc = fixture("bybit/v5_account_wallet_balance.json")
        doc["result"]["list"] = self.accounts
        doc["time"] = self.now_ms()
        return doc

    def account_info(self, request: web.Request) -> Any:
        doc = fixture("bybit/v5_account_info.json")
        doc["result"]["marginMode"] = self.margin_mode
        doc["time"] = self.now_ms()
        return doc

    def query_api(self, request: web.Request) -> Any:
        """The key's own information, `apiKey` included as the venue sends it: read-write
        when it may trade or withdraw, `Withdraw` among its wallet permissions when it may
        withdraw. A read-only key still lists the groups it may read."""
        doc = fixture("bybit/v5_user_query_api.json")
        writes = self.can_trade or self.can_withdraw
        wallet = ["AccountTransfer", "Withdraw"] if self.can_withdraw else ["AccountTransfer"]
        permissions: dict[str, list[str]] = {group: [] for group in doc["result"]["permissions"]}
        permissions |= {"ContractTrade": ["Order", "Position"], "Wallet": wallet}
        if self.can_trade:
            permissions |= {"Spot": ["SpotTrade"], "Derivatives": ["DerivativesTrade"]}
        doc["result"].update(
            apiKey=self.key, readOnly=0 if writes else 1, permissions=permissions, uta=1
        )
        doc["time"] = self.now_ms()
        return doc

    def position_list(self, request: web.Request) -> Any:
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
        return self.page_reply("bybit/v5_position_list_linear.json", rows, q, max_limit=200)

    def transaction_log(self, request: web.Request) -> Any:
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
        recorded = "bybit/v5_account_transaction_log_settlement.json"
        return self.page_reply(recorded, rows, q, max_limit=50)

    def page_reply(self, recorded: str, rows: list[dict], query: Any, max_limit: int) -> Any:
        """One page of `rows` in the `recorded` reply, or the venue's error for a bad
        limit or cursor."""
        page = paged(rows, query, max_limit)
        if page is None:
            return bybit_error(10001, "params error: limit or cursor")
        doc = fixture(recorded)
        doc["result"]["list"], doc["result"]["nextPageCursor"] = page
        doc["time"] = self.now_ms()
        return doc


def signed_string(request: web.Request, body: bytes = b"") -> str:
    """What Bybit signs: timestamp, key, recvWindow and the raw query received (a GET) or
    the raw body received (a POST)."""
    h = request.headers
    window = h.get("X-BAPI-RECV-WINDOW", DEFAULT_RECV_WINDOW)
    payload = body.decode() if request.method == "POST" else request.raw_path.partition("?")[2]
    return h["X-BAPI-TIMESTAMP"] + h["X-BAPI-API-KEY"] + window + payload


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


FakeAccount = FakeBybitPrivate
