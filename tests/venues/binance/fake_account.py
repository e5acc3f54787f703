"""Binance USDⓈ-M's signed account API, served by FakeVenues.

`FakeBinancePrivate().install(fake)` adds `GET /fapi/v1/time` and the signed reads
(`/fapi/v2/balance`, `/fapi/v2/positionRisk`, `/fapi/v1/income`, and for the risk
figures `/fapi/v3/account` and `/fapi/v1/adlQuantile`) under `fake.url("binance")`.
The account starts as the recorded fixture replies; tests replace `balances`,
`positions` and `income` with rows built by `position_row`, `funding_row` and
`set_balance` (whose USDT row also sets the account totals and margin ratio).

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
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.fakes.private_base import FakeAccountClock, Handler, Held, Refusals, Sent
from tests.fakes.venues import dec, fixture

SERVER_TIME = "/fapi/v1/time"
BALANCE = "/fapi/v2/balance"
POSITION_RISK = "/fapi/v2/positionRisk"
INCOME = "/fapi/v1/income"
ACCOUNT = "/fapi/v3/account"
ADL_QUANTILE = "/fapi/v1/adlQuantile"

DAY_MS = 86_400_000
DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60_000
AHEAD_MS = 1000  # a timestamp may lead the server by less than this

NO_KEY, BAD_KEY, MISSING_PARAM, BAD_WINDOW, STALE, BAD_SIGNATURE = (
    -2014, -2015, -1102, -1131, -1021, -1022,
)  # fmt: skip
ERRORS: dict[int, tuple[int, dict[str, Any]]] = {
    STALE: (400, fixture("binance/error_-1021_timestamp.json")),
    BAD_SIGNATURE: (400, fixture("binance/error_-1022_signature.json")),
    BAD_KEY: (401, {"code": BAD_KEY, "msg": "Invalid API-key, IP, or permissions for action."}),
    NO_KEY: (401, {"code": NO_KEY, "msg": "API-key format invalid."}),
    BAD_WINDOW: (400, {"code": BAD_WINDOW, "msg": "recvWindow must be less than 60000."}),
}

# Row templates: every field a test does not set keeps its recorded value.
POSITION_TEMPLATE = fixture("binance/fapi_v2_positionRisk.json")[0]
INCOME_TEMPLATE = fixture("binance/fapi_v1_income_funding_fee.json")[0]
BALANCE_TEMPLATE = fixture("binance/fapi_v2_balance.json")[0]


def missing_param(name: str) -> tuple[int, dict[str, Any]]:
    msg = f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    return 400, {"code": MISSING_PARAM, "msg": msg}


def signed_fields(request: web.Request, body: bytes) -> dict[str, str]:
    """The parameters of a request, from its query and its form body."""
    return dict(parse_qsl(request.rel_url.raw_query_string)) | dict(parse_qsl(body.decode()))


class FakeBinancePrivate(FakeAccountClock):
    venue = "binance"
    keys = ("fake-binance-key-7Qm2", "fake-binance-secret-Zr81x")
    refuses = Refusals(key=BAD_KEY, stale=STALE, signature=BAD_SIGNATURE)
    window_ms = DEFAULT_RECV_WINDOW_MS  # behind; each request may send its own recvWindow
    ahead_ms = AHEAD_MS - 1
    leverage = 5
    time_path = SERVER_TIME

    def __init__(self) -> None:
        super().__init__()
        self.balances: list[dict[str, Any]] = fixture("binance/fapi_v2_balance.json")
        self.positions: list[dict[str, Any]] = fixture("binance/fapi_v2_positionRisk.json")
        self.income: list[dict[str, Any]] = fixture("binance/fapi_v1_income_funding_fee.json")
        self.account: dict[str, Any] = fixture("binance/fapi_v3_account.json")
        # The ADL queue by symbol and position side, 0 to 4 as Binance counts it.
        self.adl: dict[str, dict[str, int]] = {
            row["symbol"]: row["adlQuantile"] for row in fixture("binance/fapi_v1_adlQuantile.json")
        }

    def signed_reads(self) -> dict[str, Handler]:
        return {BALANCE: self.balance_reply, POSITION_RISK: self.position_reply,
                INCOME: self.income_reply, ACCOUNT: self.account_reply,
                ADL_QUANTILE: self.adl_reply}  # fmt: skip

    def set_balance(
        self,
        asset: str,
        wallet: float,
        unrealised: float = 0.0,
        available: float | None = None,
        margin_ratio: float = 0.0,
    ) -> None:
        """Set (or add) one margin asset's row; `available` defaults to the wallet. The
        USDT row also sets the account's totals (single-asset mode), its maintenance
        margin `margin_ratio` of the margin balance."""
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
        if asset == "USDT":
            margin = wallet + unrealised
            self.account.update(
                totalWalletBalance=dec(wallet),
                totalUnrealizedProfit=dec(unrealised),
                totalMarginBalance=dec(margin),
                totalCrossWalletBalance=dec(wallet),
                totalCrossUnPnl=dec(unrealised),
                availableBalance=free,
                maxWithdrawAmount=free,
                totalMaintMargin=dec(margin_ratio * margin),
            )

    def position(self, p: Held) -> dict[str, Any]:
        """A positionRisk row, one-way (`positionSide` BOTH). `size` is in the symbol's own
        units (1000PEPE for 1000PEPEUSDT) and prices per those units, as Binance sends
        them; no `liq` is "0". Its ADL rank goes to this account's `adl` queue, as
        Binance's 0 to 4 (`adlQuantile` is a separate read)."""
        amount = p.size if p.side == "long" else -p.size
        if p.adl_rank is not None:
            self.adl[p.symbol] = {"LONG": 0, "SHORT": 0, "BOTH": p.adl_rank - 1}
        isolated = dec(abs(amount) * p.entry / p.leverage) if p.margin_mode == "isolated" else "0"
        return dict(
            POSITION_TEMPLATE,
            symbol=p.symbol,
            positionAmt=dec(amount),
            entryPrice=dec(p.entry),
            breakEvenPrice=dec(p.entry),
            markPrice=dec(p.mark),
            unRealizedProfit=dec(p.upnl),
            liquidationPrice=dec(p.liq or 0),
            leverage=str(p.leverage),
            positionSide="BOTH",
            notional=dec(amount * p.mark),
            marginType=p.margin_mode,
            isolatedMargin=isolated,
            isolatedWallet=isolated,
        )

    def funding_row(
        self,
        symbol: str,
        amount: float,
        time_ms: int,
        asset: str = "USDT",
        income_type: str = "FUNDING_FEE",
    ) -> dict[str, Any]:
        """An income row; `amount` positive when received; each with its own tranId."""
        return dict(
            INCOME_TEMPLATE,
            symbol=symbol,
            incomeType=income_type,
            income=dec(amount),
            asset=asset,
            info=income_type,
            time=time_ms,
            tranId=700_000_000_000_000 + self.next_id(),
        )

    # --- the check -------------------------------------------------------------------

    def read(self, request: web.Request, body: bytes) -> Sent | int:
        """The key in `X-MBX-APIKEY`, read first; `timestamp`, `signature` and an optional
        `recvWindow` among the parameters; the signature the hex HMAC-SHA256 of the raw
        query before `&signature=` (it must come last) and the raw body."""
        key = request.headers.get("X-MBX-APIKEY")
        if not key:
            return NO_KEY
        if key != self.key:
            return BAD_KEY
        fields = signed_fields(request, body)
        if not fields.get("timestamp", "").isdigit() or not fields.get("signature"):
            return MISSING_PARAM
        window = fields.get("recvWindow", str(DEFAULT_RECV_WINDOW_MS))
        if not window.isdigit() or not 0 < int(window) <= MAX_RECV_WINDOW_MS:
            return BAD_WINDOW
        payload, sep, signature = request.rel_url.raw_query_string.rpartition("&signature=")
        mac = hmac.new(self.secret.encode(), payload.encode() + body, hashlib.sha256)
        return Sent(
            key=key,
            time_ms=int(fields["timestamp"]),
            signature=signature.lower() if sep else "",
            expected=mac.hexdigest(),
            behind_ms=int(window),
        )

    def refused_reply(self, code: int, request: web.Request, body: bytes) -> web.Response:
        if code == MISSING_PARAM:
            timestamp = signed_fields(request, body).get("timestamp", "")
            status, error = missing_param("signature" if timestamp.isdigit() else "timestamp")
        else:
            status, error = ERRORS[code]
        return web.json_response(error, status=status)

    # --- the endpoints -------------------------------------------------------------

    def time_reply(self, now_ms: int) -> Any:
        return {"serverTime": now_ms}

    def balance_reply(self, request: web.Request) -> Any:
        return self.balances

    def account_reply(self, request: web.Request) -> Any:
        return self.account

    def adl_reply(self, request: web.Request) -> Any:
        """Every symbol with a queue, or the one asked for."""
        symbol = request.query.get("symbol")
        return [{"symbol": s, "adlQuantile": q} for s, q in self.adl.items() if symbol in (None, s)]

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


FakeAccount = FakeBinancePrivate
