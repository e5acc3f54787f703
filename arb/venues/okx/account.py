"""OKX v5 signed account reads: the balance, swap positions and funding bills.

Every private call is a GET signed as Base64(HMAC-SHA256(secret, timestamp + "GET" +
requestPath)), where requestPath carries the query string exactly as it is sent and
the timestamp is ISO-8601 UTC with milliseconds. OKX refuses a timestamp more than
30 s from its clock (50102); `PrivateClient` keeps the offset from the public time
endpoint and resyncs once on that code.

Positions come in contracts: `ctVal` (coins per contract) from the public instrument
list, cached, turns them into coins of `ctValCcy`, the asset the public client quotes.
Funding payments are bills of type 8 (subType 173 paid, 174 received) whose signed
amount is `pnl`: the last 7 days are at `/account/bills`, older ones only at
`/account/bills-archive` (3 months). Both list newest first, 100 a page, paged back
with `after=<billId>`.

The margin ratio is OKX's `mgnRatio` turned over: OKX's is equity / maintenance margin
(liquidation at 1, "the index for measuring the risk", docs-v5 Get balance), the
model's is maintenance / equity. The key's own permissions are `perm` of
`/account/config`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urlencode

import msgspec

from arb.accounts.base import Params, PrivateClient, hmac_base64, oldest_first
from arb.accounts.models import Balance, FundingPayment, KeyAccess, Position
from arb.http import ReplyShapeError
from arb.venues.base import HOUR_MS, USD_SETTLES
from arb.venues.numbers import RawNum, to_decimal, to_number, to_positive
from arb.venues.okx.common import INSTRUMENTS, NAME, SWAPS, decode_instruments, unwrapper

log = logging.getLogger(__name__)

SERVER_TIME = "/api/v5/public/time"
BALANCE = "/api/v5/account/balance"
POSITIONS = "/api/v5/account/positions"
BILLS = "/api/v5/account/bills"  # the last 7 days, 5 requests/s
BILLS_ARCHIVE = "/api/v5/account/bills-archive"  # the last 3 months, 5 requests/2 s
CONFIG = "/api/v5/account/config"
FUNDING_BILL = "8"
BILLS_LIMIT = 100  # the most a bills page holds

RECENT_MS = 7 * 24 * HOUR_MS  # how far back `/account/bills` reaches
# Bills within this much of the 7-day edge are asked of the archive, so that one ageing
# out of the recent list between our clock and OKX's is not lost.
RECENT_MARGIN_MS = HOUR_MS
# Pages one `funding` call may ask for, over both endpoints: 2,500 settlements, e.g. 30
# days of hourly funding on three swaps. Past it the newest settlements are kept. With
# the pacing below the worst case takes about 10 s of waiting.
MAX_FUNDING_REQUESTS = 25
# Seconds between two pages of one endpoint, to stay inside its rate limit.
PAGE_GAP_S = {BILLS: 0.2, BILLS_ARCHIVE: 0.4}

# The key, passphrase, IP or permissions were refused (50100 frozen key, 50101 key of the
# other environment, 50103-50107 missing or wrong headers, 50110 IP not whitelisted,
# 50111 invalid key, 50113 invalid signature, 50114 invalid authorization).
AUTH_CODES = frozenset(
    {
        *("50100", "50101", "50103", "50104", "50105", "50106", "50107"),
        *("50110", "50111", "50113", "50114"),
    }
)
TIMESTAMP_CODES = frozenset({"50102"})


# --- the replies ---------------------------------------------------------------


class ServerTime(msgspec.Struct, gc=False):
    ts: RawNum = None


class BalanceDetail(msgspec.Struct, gc=False):
    ccy: str = ""
    eq: RawNum = None  # in `ccy`
    eqUsd: RawNum = None
    availEq: RawNum = None  # in `ccy`
    upl: RawNum = None  # in `ccy`
    # Cross equity / maintenance margin of the currency: given in Futures mode, where
    # each settle currency is margined apart ("" otherwise, or with no cross position).
    mgnRatio: RawNum = None


class Account(msgspec.Struct, gc=False):
    totalEq: RawNum = None  # USD
    upl: RawNum = None  # USD, only in multi-currency and portfolio margin modes
    # The account's equity / maintenance margin in USD: Spot, Multi-currency and
    # Portfolio margin modes only ("" in Futures mode).
    mgnRatio: RawNum = None
    details: list[BalanceDetail] = []


class PositionRow(msgspec.Struct, gc=False):
    instId: str = ""
    instType: str = ""
    pos: RawNum = None  # contracts; signed in net mode
    posSide: str = ""  # net, long or short
    avgPx: RawNum = None
    markPx: RawNum = None
    upl: RawNum = None
    lever: RawNum = None
    liqPx: RawNum = None
    mgnMode: str = ""  # cross or isolated
    # 0 to 5, the larger the stronger (docs-v5 Get positions; older pages said 1 to 5).
    adl: RawNum = None


class AccountConfig(msgspec.Struct, gc=False):
    perm: str = ""  # "read_only,withdraw,trade": what the requesting key may do


class Bill(msgspec.Struct, gc=False):
    billId: str = ""
    instId: str = ""
    instType: str = ""
    type: str = ""
    ccy: str = ""
    pnl: RawNum = None  # the funding paid (negative) or received
    balChg: RawNum = None
    ts: RawNum = None


@dataclass(frozen=True, slots=True)
class Contract:
    """What one contract of a linear USDT/USDC swap is worth in coins of `asset`."""

    asset: str
    coins: Decimal


@dataclass(frozen=True, slots=True)
class BillsPage:
    payments: list[FundingPayment]
    rows: int  # rows sent, junk included: a full page may have more behind it
    oldest_bill_id: str | None  # the `after` cursor for the next page


_server_time = unwrapper(ServerTime)
_accounts = unwrapper(Account)
_config = unwrapper(AccountConfig)
decode_positions = unwrapper(PositionRow)
_bills = unwrapper(Bill)


def parse_server_time(body: bytes) -> int:
    rows = _server_time(body)
    ts = to_number(rows[0].ts) if rows else None
    if ts is None:
        raise ReplyShapeError("no ts in the time reply")
    return int(ts)


def _usd(detail: BalanceDetail, value: RawNum) -> float | None:
    """A currency amount in USD at the rate the detail itself gives (eqUsd / eq)."""
    x, eq, eq_usd = to_number(value), to_number(detail.eq), to_number(detail.eqUsd)
    if x is None or not eq or eq_usd is None:
        return None
    return x * eq_usd / eq


def _sum_usd(details: list[BalanceDetail], field: str) -> float | None:
    values = [v for d in details if (v := _usd(d, getattr(d, field))) is not None]
    return sum(values) if values else None


def parse_balances(body: bytes) -> list[Balance]:
    """One Balance per account, in USD as OKX totals (`totalEq`). Available is the sum of
    the currencies' available equity in USD; unrealised PnL is the account's `upl` where
    the margin mode gives one, else the currencies' sum."""
    out: list[Balance] = []
    for a in _accounts(body):
        equity = to_number(a.totalEq)
        if equity is None:
            continue
        upl = to_number(a.upl)
        out.append(
            Balance(
                venue=NAME,
                currency="USD",
                equity=equity,
                available=_sum_usd(a.details, "availEq"),
                unrealised_pnl=upl if upl is not None else _sum_usd(a.details, "upl"),
                margin_ratio=margin_ratio(a),
            )
        )
    return out


def margin_ratio(account: Account) -> float | None:
    """Maintenance / equity: one over OKX's `mgnRatio` of the account, or in Futures mode
    of its most exposed currency (the lowest); None where OKX gives none (no cross
    position)."""
    okx = to_positive(account.mgnRatio)
    if okx is None:
        by_currency = (to_positive(d.mgnRatio) for d in account.details)
        okx = min((r for r in by_currency if r is not None), default=None)
    return None if okx is None else 1 / okx


def adl_rank(value: RawNum) -> int | None:
    """OKX's 0 to 5 on the model's 1 (last) to 5 (first): its 0, the weakest, is last."""
    level = to_number(value)
    return max(int(level), 1) if level is not None and 0 <= level <= 5 else None


def parse_key_access(body: bytes) -> KeyAccess:
    """Account-config reply -> what the requesting key may do, from its `perm`."""
    rows = _config(body)
    if not rows or not rows[0].perm:
        return KeyAccess(NAME, None, None, "no perm in the account config")
    perm = rows[0].perm
    words = set(perm.split(","))
    return KeyAccess(NAME, "trade" in words, "withdraw" in words, f"perm={perm}")


def parse_contracts(body: bytes) -> dict[str, Contract]:
    """Every linear USDT/USDC swap, live or not: a delisting swap still held must size."""
    out: dict[str, Contract] = {}
    for i in decode_instruments(body):
        if not i.linear_usd:
            continue
        coins = i.coins
        if coins is not None and i.asset:
            out[i.instId] = Contract(i.asset, coins)
    return out


def to_positions(rows: list[PositionRow], contracts: Mapping[str, Contract]) -> list[Position]:
    """Open linear USD swap positions in coins. In net mode `pos` is signed; in long/short
    mode it is positive and `posSide` gives the side. Rows of other swaps, of no size or
    with junk sizes are skipped."""
    out: list[Position] = []
    for r in rows:
        contract = contracts.get(r.instId)
        pos = to_decimal(r.pos)
        if r.instType != "SWAP" or contract is None or not pos:
            continue
        side = r.posSide if r.posSide in ("long", "short") else "long" if pos > 0 else "short"
        out.append(
            Position(
                venue=NAME,
                asset=contract.asset,
                symbol=r.instId,
                side=side,
                size=float(abs(pos) * contract.coins),
                entry_price=to_positive(r.avgPx),
                mark_price=to_positive(r.markPx),
                unrealised_pnl=to_number(r.upl),
                leverage=to_positive(r.lever),
                liquidation_price=to_positive(r.liqPx),
                margin_mode=r.mgnMode if r.mgnMode in ("cross", "isolated") else None,
                adl_rank=adl_rank(r.adl),
            )
        )
    return out


def _payment(bill: Bill) -> FundingPayment | None:
    """A USDT/USDC swap's funding bill; `pnl` is already positive when received."""
    if bill.type != FUNDING_BILL or bill.instType != "SWAP" or bill.ccy not in USD_SETTLES:
        return None
    amount = to_number(bill.pnl)
    if amount is None:
        amount = to_number(bill.balChg)
    ts = to_number(bill.ts)
    if amount is None or ts is None or not bill.instId:
        return None
    return FundingPayment(
        venue=NAME,
        asset=bill.instId.split("-", 1)[0],
        symbol=bill.instId,
        amount=amount,
        currency=bill.ccy,
        time_ms=int(ts),
    )


def parse_bills_page(body: bytes) -> BillsPage:
    """A bills reply (newest first): its funding payments in the venue's order, how many
    rows it held and the cursor to the older ones."""
    bills = _bills(body)
    payments = [p for b in bills if (p := _payment(b)) is not None]
    oldest = next((b.billId for b in reversed(bills) if b.billId), None)
    return BillsPage(payments, len(bills), oldest)


def bill_segments(start_ms: int, end_ms: int, now_ms: int) -> list[tuple[str, int, int]]:
    """[start, end) split into (endpoint, start, end) pieces, newest first: what is within
    the last 7 days (less a margin) from `/bills`, what is older from the archive."""
    edge = now_ms - RECENT_MS + RECENT_MARGIN_MS
    pieces = [(BILLS, max(start_ms, edge), end_ms), (BILLS_ARCHIVE, start_ms, min(end_ms, edge))]
    return [(path, lo, hi) for path, lo, hi in pieces if lo < hi]


# --- signing -------------------------------------------------------------------


def iso_timestamp(ms: int) -> str:
    """OKX wants ISO-8601 UTC with milliseconds (`2020-12-08T09:08:57.715Z`), not epoch."""
    seconds, millis = divmod(ms, 1000)
    when = datetime.fromtimestamp(seconds, tz=UTC)
    return f"{when:%Y-%m-%dT%H:%M:%S}.{millis:03d}Z"


def request_path(path: str, params: Mapping[str, str] | None) -> str:
    """The path and query as aiohttp sends them: for the ASCII letters and digits we
    send, urlencode writes the same bytes as yarl."""
    return f"{path}?{urlencode(params)}" if params else path


def prehash(timestamp: str, method: str, path: str, body: str = "") -> str:
    return timestamp + method.upper() + path + body


# OKX signs with Base64(HMAC-SHA256(secret, prehash)).
sign = hmac_base64


# --- the client ----------------------------------------------------------------


class OkxPrivate(PrivateClient):
    name = NAME
    signs_with_passphrase = True
    timestamp_codes = TIMESTAMP_CODES
    auth_codes = AUTH_CODES
    server_time = (SERVER_TIME, parse_server_time)
    window_ms = 30_000  # as the module docstring says

    def headers(self, timestamp_ms: int, method: str, path: str, params: Params) -> dict[str, str]:
        timestamp = iso_timestamp(timestamp_ms)
        message = prehash(timestamp, method, request_path(path, params))
        return {
            "OK-ACCESS-KEY": self.credentials.key,
            "OK-ACCESS-SIGN": sign(self.credentials.secret, message),
            "OK-ACCESS-TIMESTAMP": timestamp,
            "OK-ACCESS-PASSPHRASE": self.credentials.passphrase or "",
        }

    async def load_contracts(self) -> dict[str, Contract]:
        return await self.http.get(INSTRUMENTS, SWAPS, decode=parse_contracts)

    async def balances(self) -> list[Balance]:
        return await self.get(BALANCE, None, parse_balances)

    async def key_access(self) -> KeyAccess:
        return await self.get(CONFIG, None, parse_key_access)

    async def positions(self) -> list[Position]:
        rows = await self.get(POSITIONS, SWAPS, decode_positions)
        held = (r.instId for r in rows if r.instType == "SWAP" and to_decimal(r.pos))
        return to_positions(rows, await self.sized(held))

    async def funding(self, start_ms: int, end_ms: int) -> list[FundingPayment]:
        """Newest pages first, at most MAX_FUNDING_REQUESTS of them (each resent at most
        once after a clock resync); past the bound the oldest payments are left out and a
        warning says from when the list is complete."""
        await self.clock.ensure()
        payments: list[FundingPayment] = []
        budget = MAX_FUNDING_REQUESTS
        for path, lo, hi in bill_segments(start_ms, end_ms, self.clock.now_ms()):
            after: str | None = None
            while True:
                if budget == 0:
                    complete_from = min((p.time_ms for p in payments), default=hi)
                    log.warning(
                        "okx: funding cut at %d requests; complete from %d ms only",
                        MAX_FUNDING_REQUESTS,
                        complete_from,
                    )
                    self.funding_complete_from = complete_from
                    return oldest_first(payments)
                if after is not None:
                    await self._sleep(PAGE_GAP_S[path])
                params = {"instType": "SWAP", "type": FUNDING_BILL}
                params |= {"begin": str(lo), "end": str(hi), "limit": str(BILLS_LIMIT)}
                if after is not None:
                    params["after"] = after
                page = await self.get(path, params, parse_bills_page)
                budget -= 1
                payments += [p for p in page.payments if lo <= p.time_ms < hi]
                if page.rows < BILLS_LIMIT or page.oldest_bill_id in (None, after):
                    break
                after = page.oldest_bill_id
        return oldest_first(payments)
