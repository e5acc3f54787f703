"""Binance USDⓈ-M's signed account API, served by FakeVenues.

`FakeBinancePrivate().install(fake)` adds `GET /fapi/v1/time` and the three signed
reads (`/fapi/v2/balance`, `/fapi/v2/positionRisk`, `/fapi/v1/income`) under
`fake.url("binance")`. The account starts as the recorded fixture replies; tests
replace `balances`, `positions` and `income` with rows built by `position_row`,
`funding_row` and `set_balance`.

Requests are checked the way the reference says Binance does, written here from the
reference and not from the client: the `X-MBX-APIKEY` header, `timestamp` within
[server - recvWindow, server + 1 s), and the hex HMAC-SHA256 of the raw query string
before `&signature=` (plus the raw body). The server's clock is the real one plus
`skew_ms`, which a test may change at any time to simulate drift. Refusals are
answered with Binance's own codes and statuses, and counted in `refusals`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from arb.accounts.base import Credentials
from tests.fakes.private_base import FakeAccountClock
from tests.fakes.venues import FakeVenues, dec, fixture

SERVER_TIME = "/fapi/v1/time"
BALANCE = "/fapi/v2/balance"
POSITION_RISK = "/fapi/v2/positionRisk"
INCOME = "/fapi/v1/income"

DAY_MS = 86_400_000
DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60_000
AHEAD_MS = 1000  # a timestamp may lead the server by less than this

TIMESTAMP_ERROR = (400, fixture("binance/error_-1021_timestamp.json"))
SIGNATURE_ERROR = (400, fixture("binance/error_-1022_signature.json"))
BAD_KEY_ERROR = (401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})
NO_KEY_ERROR = (401, {"code": -2014, "msg": "API-key format invalid."})

# Row templates: every field a test does not set keeps its recorded value.
POSITION_TEMPLATE = fixture("binance/fapi_v2_positionRisk.json")[0]
INCOME_TEMPLATE = fixture("binance/fapi_v1_income_funding_fee.json")[0]
BALANCE_TEMPLATE = fixture("binance/fapi_v2_balance.json")[0]

_tran_ids = itertools.count(700_000_000_000_001)


def missing_param(name: str) -> tuple[int, dict[str, Any]]:
    msg = f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    return 400, {"code": -1102, "msg": msg}


def position_row(
    symbol: str,
    side: str,
    size: float,
    entry: float,
    mark: float,
    upnl: float,
    leverage: int = 5,
    liq: float | None = None,
    *,
    position_side: str = "BOTH",
) -> dict[str, Any]:
    """A positionRisk row. `size` is in the symbol's own units (1000PEPE for
    1000PEPEUSDT) and prices per those units, as Binance sends them; `liq` None is "0"."""
    amount = size if side == "long" else -size
    return dict(
        POSITION_TEMPLATE,
        symbol=symbol,
        positionAmt=dec(amount),
        entryPrice=dec(entry),
        breakEvenPrice=dec(entry),
        markPrice=dec(mark),
        unRealizedProfit=dec(upnl),
        liquidationPrice=dec(liq or 0),
        leverage=str(leverage),
        positionSide=position_side,
        notional=dec(amount * mark),
    )


def funding_row(
    symbol: str, amount: float, time_ms: int, asset: str = "USDT", income_type: str = "FUNDING_FEE"
) -> dict[str, Any]:
    """An income row; `amount` positive when received. tranIds are unique per process."""
    return dict(
        INCOME_TEMPLATE,
        symbol=symbol,
        incomeType=income_type,
        income=dec(amount),
        asset=asset,
        info=income_type,
        time=time_ms,
        tranId=next(_tran_ids),
    )


class FakeBinancePrivate(FakeAccountClock):
    venue = "binance"

    def __init__(
        self,
        key: str = "fake-binance-key-7Qm2",
        secret: str = "fake-binance-secret-Zr81x",
        skew_ms: int = 0,
    ) -> None:
        super().__init__(key, secret, None, skew_ms)
        self.signed_queries: list[str] = []  # raw query strings of signed requests received
        self.balances: list[dict[str, Any]] = fixture("binance/fapi_v2_balance.json")
        self.positions: list[dict[str, Any]] = fixture("binance/fapi_v2_positionRisk.json")
        self.income: list[dict[str, Any]] = fixture("binance/fapi_v1_income_funding_fee.json")

    def credentials(self) -> Credentials:
        return Credentials(self.key, self.secret)

    def install(self, fake: FakeVenues) -> FakeBinancePrivate:
        fake.route("binance", "GET", SERVER_TIME, self.server_time)
        fake.route("binance", "GET", BALANCE, self._signed(self.balance_reply))
        fake.route("binance", "GET", POSITION_RISK, self._signed(self.position_reply))
        fake.route("binance", "GET", INCOME, self._signed(self.income_reply))
        return self

    def set_balance(
        self,
        asset: str,
        wallet: float,
        unrealised: float = 0.0,
        available: float | None = None,
    ) -> None:
        """Set (or add) one margin asset's row; `available` defaults to the wallet."""
        free = dec(wallet if available is None else available)
        rows = [r for r in self.balances if r["asset"] != asset]
        row = dict(
            BALANCE_TEMPLATE,
            asset=asset,
            balance=dec(wallet),
            crossWalletBalance=dec(wallet),
            crossUnPnl=dec(unrealised),
            availableBalance=free,
            maxWithdrawAmount=free,
        )
        self.balances = [*rows, row]

    # --- the checks ---------------------------------------------------------------

    def refusal(self, key: str | None, query: str, body: str) -> tuple[int, Any] | None:
        """(HTTP status, Binance error) for a request Binance would refuse, else None."""
        if not key:
            return NO_KEY_ERROR
        if key != self.key:
            return BAD_KEY_ERROR
        fields = dict(parse_qsl(query)) | dict(parse_qsl(body))
        if not fields.get("timestamp", "").isdigit():
            return missing_param("timestamp")
        if not fields.get("signature"):
            return missing_param("signature")
        window = fields.get("recvWindow", str(DEFAULT_RECV_WINDOW_MS))
        if not window.isdigit() or not 0 < int(window) <= MAX_RECV_WINDOW_MS:
            return 400, {"code": -1131, "msg": "recvWindow must be less than 60000."}
        server, sent, recv_window = self.now_ms(), int(fields["timestamp"]), int(window)
        if not (sent < server + AHEAD_MS and server - sent <= recv_window):
            return TIMESTAMP_ERROR
        # totalParams is what precedes the signature, which must come last.
        payload, sep, sent_signature = query.rpartition("&signature=")
        expected = hmac.new(
            self.secret.encode(), (payload + body).encode(), hashlib.sha256
        ).hexdigest()
        if not sep or not hmac.compare_digest(sent_signature.lower(), expected):
            return SIGNATURE_ERROR
        return None

    def _signed(
        self, reply: Callable[[web.Request], Any]
    ) -> Callable[[web.Request], Awaitable[Any]]:
        async def checked(request: web.Request) -> Any:
            query = request.rel_url.raw_query_string
            body = (await request.read()).decode()
            self.signed_queries.append(query)
            refused = self.refusal(request.headers.get("X-MBX-APIKEY"), query, body)
            if refused is not None:
                status, error = refused
                self.refusals.append(error["code"])
                return web.json_response(error, status=status)
            return reply(request)

        return checked

    # --- the endpoints -------------------------------------------------------------

    async def server_time(self, request: web.Request) -> Any:
        self.time_calls += 1
        return {"serverTime": self.now_ms()}

    def balance_reply(self, request: web.Request) -> Any:
        return self.balances

    def position_reply(self, request: web.Request) -> Any:
        symbol = request.query.get("symbol")
        return [r for r in self.positions if symbol in (None, r["symbol"])]

    def income_reply(self, request: web.Request) -> Any:
        """Ascending; inclusive times; a range holding more than `limit` rows gives its
        first `limit`; no times at all gives the last 7 days. (Binance keeps 3 months;
        not enforced, so that fixture rows stay served whatever the date.)"""
        q = request.query
        limit = int(q.get("limit", "100"))
        if not 1 <= limit <= 1000:
            return web.json_response(
                {"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."},
                status=400,
            )
        now = self.now_ms()
        start, end = q.get("startTime"), q.get("endTime")
        low = int(start) if start else (now - 7 * DAY_MS if end is None else 0)
        high = int(end) if end else now
        rows = [
            r
            for r in self.income
            if q.get("incomeType") in (None, r["incomeType"])
            and q.get("symbol") in (None, r["symbol"])
            and low <= r["time"] <= high
        ]
        return sorted(rows, key=lambda r: r["time"])[:limit]


# What the venue-agnostic contract tests (tests/venues/test_account_contract.py) need to
# know of this fake: its class, the code it refuses each wrong credential with, and the
# one it refuses a timestamp outside its window with.
FakeAccount = FakeBinancePrivate
REFUSED = {"secret": -1022, "key": -2015}
STALE_TIMESTAMP = -1021
