"""A fake of OKX's signed account API, served by a `FakeVenues` under its `/okx` prefix.

`FakeOkxPrivate().install(fake)` adds the public time endpoint and the five private
reads the desk uses (balance, positions, both bill lists, account config). Every
private request is checked the way OKX documents it, by this
file's own code (never the client's signer): the four OK-ACCESS headers present, the
key known, the ISO-8601 millisecond timestamp within 30 s of this server's clock
(`real clock + skew_ms`), the passphrase right, and OK-ACCESS-SIGN equal to
Base64(HMAC-SHA256(secret, timestamp + method + raw path and query + raw body)) over
the bytes received. A refusal is OKX's HTTP 401 with its code (50102, 50103-50107,
50111-50113), counted in `refused`.

The account starts as the recorded fixtures (a short APE and a long SOL, three funding
bills of 2026-09-10); tests replace `positions`, `bills` or the balance with rows built
by `position_row`, `funding_row` and `set_balance`, and say what the key may do with
`can_trade` and `can_withdraw` (read-only by default). Bills are served like OKX's: newest
first, at most 100 a page, `after=<billId>` for older ones, `/bills` only the last 7
days of this server's clock and `/bills-archive` the last 3 months.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aiohttp import web

from arb.accounts.models import FundingPayment
from tests.fakes.private_base import FakeAccountClock, Handler, Held, Refusals, Sent, first_missing
from tests.fakes.venues import FakeVenues, dec, fixture
from tests.venues.okx.fake_rest import okx_symbol

OKX_TIME = "/api/v5/public/time"
OKX_BALANCE = "/api/v5/account/balance"
OKX_POSITIONS = "/api/v5/account/positions"
OKX_BILLS = "/api/v5/account/bills"
OKX_BILLS_ARCHIVE = "/api/v5/account/bills-archive"
OKX_CONFIG = "/api/v5/account/config"

DAY_MS = 86_400_000
BILLS_REACH_MS = {OKX_BILLS: 7 * DAY_MS, OKX_BILLS_ARCHIVE: 92 * DAY_MS}
BILLS_MAX = 100

# Headers in the order OKX reports them missing, with the code it answers.
REQUIRED_HEADERS = (
    ("OK-ACCESS-KEY", "50103"),
    ("OK-ACCESS-PASSPHRASE", "50104"),
    ("OK-ACCESS-SIGN", "50106"),
    ("OK-ACCESS-TIMESTAMP", "50107"),
)
ERRORS: dict[str, dict[str, Any]] = {
    "50102": fixture("okx/error_50102_timestamp.json"),
    "50113": fixture("okx/error_50113_signature.json"),
    **{
        code: {"code": code, "msg": msg, "data": []}
        for code, msg in (
            ("50103", 'Request header "OK-ACCESS-KEY" cannot be empty.'),
            ("50104", 'Request header "OK-ACCESS-PASSPHRASE" cannot be empty.'),
            ("50105", 'Request header "OK-ACCESS-PASSPHRASE" incorrect.'),
            ("50106", 'Request header "OK-ACCESS-SIGN" cannot be empty.'),
            ("50107", 'Request header "OK-ACCESS-TIMESTAMP" cannot be empty.'),
            ("50111", "Invalid OK-ACCESS-KEY."),
            ("50112", "Invalid OK-ACCESS-TIMESTAMP."),
        )
    },
}
_ISO_MS = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z")


def iso_to_ms(text: str) -> int | None:
    """`2020-12-08T09:08:57.715Z` -> 1607418537715; None unless exactly that format."""
    m = _ISO_MS.fullmatch(text)
    if m is None:
        return None
    *fields, millis = (int(g) for g in m.groups())
    return calendar.timegm((*fields, 0, 0, 0)) * 1000 + millis


def okx_ok(data: list[Any]) -> dict[str, Any]:
    return {"code": "0", "data": data, "msg": ""}


def okx_refusal(code: str) -> web.Response:
    return web.json_response(ERRORS[code], status=401)


def bill_order(row: dict[str, Any]) -> tuple[int, int]:
    return int(row["ts"]), int(row["billId"])


class FakeOkxPrivate(FakeAccountClock):
    venue = "okx"
    keys = ("okx-fake-key-6f1d", "okx-fake-secret-92ab", "okx-fake-passphrase-07")
    refuses = Refusals(
        key="50111", stale="50102", signature="50113", unreadable_time="50112", passphrase="50105"
    )
    window_ms = 30_000
    time_path = OKX_TIME

    def __init__(self) -> None:
        super().__init__()
        self.balance: dict[str, Any] = fixture("okx/api_v5_account_balance.json")["data"][0]
        self.positions: list[dict[str, Any]] = fixture("okx/api_v5_account_positions.json")["data"]
        self.bills: list[dict[str, Any]] = fixture("okx/api_v5_account_bills_type8.json")["data"]
        self.can_trade = False  # what the key may do, as the account config's `perm` says
        self.can_withdraw = False
        # Coins per contract, for `position_row`: the recorded instruments' by default.
        self.ct_val: dict[str, Decimal] = {
            i["instId"]: Decimal(i["ctVal"]) * Decimal(i["ctMult"])
            for i in fixture("okx/api_v5_public_instruments_SWAP.json")["data"]
        }

    def install(self, fake: FakeVenues) -> FakeOkxPrivate:
        """Serve this account from `fake`; a fake with a market sizes its perps' contracts."""
        if fake.market is not None:
            for p in fake.market.perps("okx"):
                self.ct_val[okx_symbol(p)] = Decimal(p.ct_val)
        return super().install(fake)

    def signed_reads(self) -> dict[str, Handler]:
        reads = {OKX_BALANCE: self.balance_reply, OKX_POSITIONS: self.positions_reply}
        reads[OKX_CONFIG] = self.config_reply
        return reads | {path: self._bills_reply(path) for path in BILLS_REACH_MS}

    # --- account state ------------------------------------------------------------

    def set_balance(
        self,
        equity: float,
        available: float,
        upnl: float | None = None,
        ccy: str = "USDT",
        margin_ratio: float | None = None,
    ) -> None:
        """A single-currency (Futures mode) account holding `equity` of `ccy`, worth as
        many USD. `margin_ratio` (maintenance / equity) is written as OKX writes the
        currency's cross `mgnRatio` there, equity / maintenance; "" when None (no cross
        position), and the account-level one is always "" in this mode."""
        maintenance = None if margin_ratio is None else margin_ratio * equity
        detail = dict(
            self.balance["details"][0],
            ccy=ccy,
            eq=dec(equity),
            eqUsd=dec(equity),
            cashBal=dec(equity),
            availEq=dec(available),
            availBal=dec(available),
            upl="" if upnl is None else dec(upnl),
            mgnRatio="" if margin_ratio is None else dec(1 / margin_ratio),
            mmr="0" if maintenance is None else dec(maintenance),
        )
        self.balance = dict(
            self.balance, totalEq=dec(equity), upl="", mgnRatio="", details=[detail]
        )

    def position(self, p: Held) -> dict[str, Any]:
        """A net-mode position of `size` coins, written as OKX does: signed contracts, its
        margin mode, `adl` as given ("" for none)."""
        if p.symbol not in self.ct_val:
            raise ValueError(f"{p.symbol}: no contract size known; add it to ct_val")
        contracts = Decimal(repr(p.size)) / self.ct_val[p.symbol]
        return dict(
            fixture("okx/api_v5_account_positions.json")["data"][0],
            instId=p.symbol,
            ccy=p.symbol.split("-")[1],
            pos=format(contracts if p.side == "long" else -contracts, "f"),
            posSide="net",
            posId=str(9_000_000_000 + self.next_id()),
            avgPx=dec(p.entry),
            bePx=dec(p.entry),
            markPx=dec(p.mark),
            last=dec(p.mark),
            upl=dec(p.upnl),
            uplLastPx=dec(p.upnl),
            lever=dec(p.leverage),
            liqPx="" if p.liq is None else dec(p.liq),
            notionalUsd=dec(p.size * p.mark),
            mgnMode=p.margin_mode,
            margin=dec(p.size * p.entry / p.leverage) if p.margin_mode == "isolated" else "",
            adl="" if p.adl_rank is None else str(p.adl_rank),
        )

    def funding_row(
        self, symbol: str, amount: float, time_ms: int, ccy: str = "USDT"
    ) -> dict[str, Any]:
        """A funding bill (type 8): subType 174 when received, 173 when paid."""
        return dict(
            fixture("okx/api_v5_account_bills_type8.json")["data"][0],
            billId=f"{time_ms}{self.next_id():06d}",
            instId=symbol,
            ccy=ccy,
            pnl=dec(amount),
            balChg=dec(amount),
            subType="174" if amount >= 0 else "173",
            ts=str(time_ms),
            fillTime=str(time_ms),
        )

    def payment_of(self, row: dict[str, Any]) -> FundingPayment:
        symbol = row["instId"]
        asset = symbol.split("-")[0]
        return FundingPayment("okx", asset, symbol, float(row["pnl"]), row["ccy"], int(row["ts"]))

    # --- the endpoints --------------------------------------------------------------

    def time_reply(self, now_ms: int) -> Any:
        return okx_ok([{"ts": str(now_ms)}])

    def refused_reply(self, code: str, request: web.Request, body: bytes) -> web.Response:
        return okx_refusal(code)

    def read(self, request: web.Request, body: bytes) -> Sent | str:
        """The four OK-ACCESS headers; the timestamp ISO-8601 with milliseconds; the
        signature Base64(HMAC-SHA256) of timestamp, method, raw path and query, raw body."""
        missing = first_missing(request.headers, REQUIRED_HEADERS)
        if missing is not None:
            return missing
        names = ("OK-ACCESS-KEY", "OK-ACCESS-SIGN", "OK-ACCESS-TIMESTAMP", "OK-ACCESS-PASSPHRASE")
        return self.read_b64(request, body, names, iso_to_ms)

    def balance_reply(self, request: web.Request) -> Any:
        return okx_ok([self.balance])

    def config_reply(self, request: web.Request) -> Any:
        """The account config; `perm` lists what the key may do, as OKX orders it."""
        perm = ["read_only"] + ["withdraw"] * self.can_withdraw + ["trade"] * self.can_trade
        config = fixture("okx/api_v5_account_config.json")["data"][0]
        return okx_ok([dict(config, perm=",".join(perm), label="desk read key")])

    def positions_reply(self, request: web.Request) -> Any:
        inst_type = request.query.get("instType")
        return okx_ok([p for p in self.positions if inst_type in (None, p["instType"])])

    def _bills_reply(self, path: str) -> Callable[[web.Request], Any]:
        def answer(request: web.Request) -> Any:
            """Newest first within the endpoint's reach; `begin` and `end` both inclusive
            (OKX does not say); `after`: the rows older than that bill."""
            q = request.query
            limit = int(q.get("limit", str(BILLS_MAX)))
            if not 1 <= limit <= BILLS_MAX:
                return {"code": "51000", "data": [], "msg": "Parameter limit error"}
            oldest = self.now_ms() - BILLS_REACH_MS[path]
            begin, end = int(q.get("begin", oldest)), int(q.get("end", 2**63))
            rows = [
                b
                for b in sorted(self.bills, key=bill_order, reverse=True)
                if max(oldest, begin) <= int(b["ts"]) <= end
                and q.get("instType") in (None, b["instType"])
                and q.get("type") in (None, b["type"])
            ]
            if "after" in q:
                ids = [b["billId"] for b in rows]
                if q["after"] not in ids:
                    return {"code": "51000", "data": [], "msg": "Parameter after error"}
                rows = rows[ids.index(q["after"]) + 1 :]
            return okx_ok(rows[:limit])

        return answer


FakeAccount = FakeOkxPrivate
