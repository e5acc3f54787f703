"""A fake of Bitget's signed v2 futures API, served by a `FakeVenues` under its `/bitget`
prefix.

`FakeBitgetPrivate().install(fake)` adds the public time endpoint and the four private
reads the desk uses (accounts, positions, bills, and the key's own account info). Every
private request is checked the way Bitget's signing page describes it, by this file's own
code (never the client's signer): the ACCESS-KEY, ACCESS-SIGN, ACCESS-TIMESTAMP and
ACCESS-PASSPHRASE headers present, the key known, the millisecond timestamp within 30 s of
this server's clock (`real clock + skew_ms`), the passphrase right, and ACCESS-SIGN equal
to Base64(HMAC-SHA256(secret, timestamp + method + raw path and query + raw body)) over
the bytes received. A refusal is HTTP 400 with
Bitget's code in the body (40001-40003, 40011 missing headers, 40005 bad timestamp, 40006
unknown key, 40008 expired timestamp, 40009 bad signature, 40012 wrong passphrase),
recorded in `refusals`.

The account starts as the fixtures built from the docs (a short APE and a long SOPH, four
funding bills of 2026-09-10); tests replace `accounts`, `positions` or `bills` with rows
from `set_balance` (its `margin_ratio` is the cross risk rate), `position_row` and
`funding_row`, and set `can_trade` / `can_withdraw`, which the key's `authorities`
follow (a read key has spot, futures orders and holdings read). Bills are served like
Bitget's: newest first, at most 100 a page, `idLessThan=<endId>` for older ones, at most
30 days between startTime and endTime (both taken as inclusive), nothing older than 90
days of this server's clock.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from arb.accounts.models import FundingPayment
from tests.fakes.private_base import FakeAccountClock, Handler, Held, Refusals, Sent, first_missing
from tests.fakes.venues import dec, fixture

BITGET_TIME = "/api/v2/public/time"
BITGET_ACCOUNTS = "/api/v2/mix/account/accounts"
BITGET_POSITIONS = "/api/v2/mix/position/all-position"
BITGET_BILLS = "/api/v2/mix/account/bill"
BITGET_ACCOUNT_INFO = "/api/v2/spot/account/info"

DAY_MS = 86_400_000
BILLS_MAX = 100
BILLS_SPAN_MS = 30 * DAY_MS  # the widest startTime..endTime
BILLS_REACH_MS = 90 * DAY_MS  # how far back the bills go
PRODUCT_TYPE = "USDT-FUTURES"
# A key's `authorities`, by what it may do (Get Account Information's codes).
READ_CODES = ["stor", "coor", "cpor"]
TRADE_CODES = ["stow", "coow", "cpow"]
WITHDRAW_CODES = ["wwow"]

# Headers in the order a refusal names them missing, with the code it answers.
REQUIRED_HEADERS = (
    ("ACCESS-KEY", "40001"),
    ("ACCESS-SIGN", "40002"),
    ("ACCESS-TIMESTAMP", "40003"),
    ("ACCESS-PASSPHRASE", "40011"),
)
MESSAGES = {
    "40001": 'The request header "ACCESS_KEY" cannot be empty',
    "40002": 'The request header "ACCESS_SIGN" cannot be empty',
    "40003": 'The request header "ACCESS_TIMESTAMP" cannot be empty',
    "40005": "Invalid ACCESS_TIMESTAMP",
    "40006": "Invalid ACCESS_KEY",
    "40008": fixture("bitget/error_40008_timestamp.json")["msg"],
    "40009": fixture("bitget/error_40009_sign.json")["msg"],
    "40011": 'The request header "ACCESS_PASSPHRASE" cannot be empty',
    "40012": "apikey/password is incorrect",
    "40017": "Parameter verification failed",
}


def bitget_ok(data: Any, now_ms: int) -> dict[str, Any]:
    return {"code": "00000", "msg": "success", "requestTime": now_ms, "data": data}


def bitget_error(code: str, now_ms: int, detail: str = "") -> web.Response:
    """Bitget's error envelope with HTTP 400, as it answers refused and malformed requests."""
    body = {"code": code, "msg": MESSAGES[code] + detail, "requestTime": now_ms, "data": None}
    return web.json_response(body, status=400)


def millis(timestamp: str) -> int | None:
    return int(timestamp) if timestamp.isdigit() and len(timestamp) == 13 else None


def bill_order(row: dict[str, Any]) -> int:
    return int(row["billId"])


class FakeBitgetPrivate(FakeAccountClock):
    venue = "bitget"
    keys = ("bg_fake_key_5d2e81", "bitget-fake-secret-a41c", "bitget-fake-passphrase-3f")
    refuses = Refusals(
        key="40006", stale="40008", signature="40009", unreadable_time="40005", passphrase="40012"
    )
    window_ms = 30_000
    time_path = BITGET_TIME

    def __init__(self) -> None:
        super().__init__()
        self.accounts: list[dict[str, Any]] = fixture(
            "bitget/api_v2_mix_account_accounts_USDT-FUTURES.json"
        )["data"]
        self.positions: list[dict[str, Any]] = fixture(
            "bitget/api_v2_mix_position_all_position_USDT-FUTURES.json"
        )["data"]
        self.bills: list[dict[str, Any]] = fixture(
            "bitget/api_v2_mix_account_bill_contract_settle_fee.json"
        )["data"]["bills"]
        # What the key may do, as its `authorities` tell it.
        self.can_trade = False
        self.can_withdraw = False

    def signed_reads(self) -> dict[str, Handler]:
        return {
            BITGET_ACCOUNTS: self.accounts_reply,
            BITGET_POSITIONS: self.positions_reply,
            BITGET_BILLS: self.bills_reply,
            BITGET_ACCOUNT_INFO: self.account_info_reply,
        }

    # --- account state ------------------------------------------------------------

    def set_balance(
        self,
        equity: float,
        available: float,
        upnl: float | None = None,
        coin: str = "USDT",
        margin_ratio: float | None = None,
    ) -> None:
        """A single futures account in `coin`, with `available` to open positions and
        `margin_ratio` as its `crossedRiskRate` (maintenance margin over equity), blank
        when None."""
        row = copy.deepcopy(
            fixture("bitget/api_v2_mix_account_accounts_USDT-FUTURES.json")["data"][0]
        )
        upl = "" if upnl is None else dec(upnl)
        row.update(
            marginCoin=coin,
            accountEquity=dec(equity),
            usdtEquity=dec(equity),
            available=dec(available),
            crossedMaxAvailable=dec(available),
            isolatedMaxAvailable=dec(available),
            maxTransferOut=dec(available),
            unrealizedPL=upl,
            crossedUnrealizedPL=upl,
            isolatedUnrealizedPL="0",
            crossedRiskRate="" if margin_ratio is None else dec(margin_ratio),
            unionMm="" if margin_ratio is None else dec(margin_ratio * equity),
            assetList=[{"coin": coin, "balance": dec(equity), "available": dec(available)}],
        )
        self.accounts = [row]

    def position(self, p: Held) -> dict[str, Any]:
        """A position row as Bitget writes it: `size` and the prices in the symbol's own
        units (lots of 1000 PEPE for 1000PEPEUSDT), `marginMode` "crossed" or "isolated".
        The row has no ADL field, so `adl_rank` is not written."""
        row = copy.deepcopy(
            fixture("bitget/api_v2_mix_position_all_position_USDT-FUTURES.json")["data"][0]
        )
        row.update(
            symbol=p.symbol,
            holdSide=p.side,
            total=dec(p.size),
            available=dec(p.size),
            openPriceAvg=dec(p.entry),
            breakEvenPrice=dec(p.entry),
            markPrice=dec(p.mark),
            unrealizedPL=dec(p.upnl),
            leverage=dec(p.leverage),
            marginSize=dec(p.size * p.entry / p.leverage),
            liquidationPrice="0" if p.liq is None else dec(p.liq),
            marginMode="crossed" if p.margin_mode == "cross" else "isolated",
        )
        return row

    def funding_row(
        self, symbol: str, amount: float, time_ms: int, coin: str = "USDT"
    ) -> dict[str, Any]:
        """A funding bill: `amount` positive when received. Its id grows with its time, as
        Bitget's do, so that `idLessThan` pages back in time."""
        return dict(
            fixture("bitget/api_v2_mix_account_bill_contract_settle_fee.json")["data"]["bills"][0],
            billId=f"{time_ms}{self.next_id():06d}",
            symbol=symbol,
            amount=dec(amount),
            coin=coin,
            cTime=str(time_ms),
        )

    def payment_of(self, row: dict[str, Any]) -> FundingPayment:
        symbol, amount, coin = row["symbol"], float(row["amount"]), row["coin"]
        return FundingPayment("bitget", symbol.removesuffix("USDT"), symbol, amount, coin,
                              int(row["cTime"]))  # fmt: skip

    # --- the endpoints --------------------------------------------------------------

    def time_reply(self, now_ms: int) -> Any:
        return bitget_ok({"serverTime": str(now_ms)}, now_ms)

    def refused_reply(self, code: str, request: web.Request, body: bytes) -> web.Response:
        return bitget_error(code, self.now_ms())

    def read(self, request: web.Request, body: bytes) -> Sent | str:
        """The four ACCESS headers; the timestamp in milliseconds (13 digits); the
        signature Base64(HMAC-SHA256) of timestamp, method, raw path and query, raw body."""
        missing = first_missing(request.headers, REQUIRED_HEADERS)
        if missing is not None:
            return missing
        names = ("ACCESS-KEY", "ACCESS-SIGN", "ACCESS-TIMESTAMP", "ACCESS-PASSPHRASE")
        return self.read_b64(request, body, names, millis)

    def accounts_reply(self, request: web.Request) -> Any:
        if request.query.get("productType") != PRODUCT_TYPE:
            return bitget_error("40017", self.now_ms(), ": productType")
        return bitget_ok(self.accounts, self.now_ms())

    def account_info_reply(self, request: web.Request) -> Any:
        """The key's account info, its `authorities` following `can_trade` and
        `can_withdraw`."""
        data = fixture("bitget/api_v2_spot_account_info.json")["data"]
        codes = READ_CODES + TRADE_CODES * self.can_trade + WITHDRAW_CODES * self.can_withdraw
        return bitget_ok(dict(data, authorities=codes), self.now_ms())

    def positions_reply(self, request: web.Request) -> Any:
        q = request.query
        if q.get("productType") != PRODUCT_TYPE:
            return bitget_error("40017", self.now_ms(), ": productType")
        rows = [p for p in self.positions if q.get("marginCoin") in (None, p["marginCoin"])]
        return bitget_ok(rows, self.now_ms())

    def bills_reply(self, request: web.Request) -> Any:
        """Newest first within 90 days; startTime and endTime both inclusive (Bitget does
        not say); `idLessThan`: the bills with smaller ids, that is older ones."""
        q, now = request.query, self.now_ms()
        if q.get("productType") != PRODUCT_TYPE:
            return bitget_error("40017", now, ": productType")
        limit = int(q.get("limit", "20"))
        oldest = now - BILLS_REACH_MS
        start, end = int(q.get("startTime", oldest)), int(q.get("endTime", now))
        if not 1 <= limit <= BILLS_MAX:
            return bitget_error("40017", now, ": limit")
        if end - start > BILLS_SPAN_MS:
            return bitget_error("40017", now, ": startTime and endTime more than 30 days apart")
        below = int(q["idLessThan"]) if "idLessThan" in q else None
        rows = [
            b
            for b in sorted(self.bills, key=bill_order, reverse=True)
            if max(oldest, start) <= int(b["cTime"]) <= end
            and q.get("businessType") in (None, b["businessType"])
            and (below is None or int(b["billId"]) < below)
        ][:limit]
        end_id = rows[-1]["billId"] if rows else None
        return bitget_ok({"bills": rows, "endId": end_id}, now)


FakeAccount = FakeBitgetPrivate
