"""Gate v4 signed account reads: the USDT perpetual account, its positions, its funding.

Every private call is a GET with three headers: `KEY`, `Timestamp` (Unix SECONDS) and
`SIGN` = hex(HMAC-SHA512(secret, METHOD + "\\n" + /api/v4/path + "\\n" + query + "\\n" +
hex(SHA512(body)) + "\\n" + Timestamp)), where the query is exactly what goes in the URL.
Gate refuses a Timestamp more than 60 s from its clock (label REQUEST_EXPIRED);
`PrivateClient` keeps the offset from the public `/spot/time` and resyncs once on it.
Errors come as a non-2xx status (401 for every authentication failure) with
`{"label", "message"}`, which VenueHttp turns into a VenueHTTPError whose code is the label.

Positions come in contracts: `quanto_multiplier` (coins per contract) from the public
contract list, cached, turns them into coins; a 1000x name (1000SATS_USDT) is converted
again to coins of the canonical asset, its prices divided to per coin (`common.to_contracts`,
the rule the public client's order books follow too).

Funding payments are the account book's rows of type `fund`, whose `change` is positive
when received and whose `time` is in seconds with a fraction. Gate pages every list with
`limit` (at most 1000) and `offset`, and sets no window on `from`..`to`: 30 days are one
range walked page by page.

Risk figures (Gate's API v4 `Position` and `FuturesAccount` models): each position's margin
mode (`pos_margin_mode`, else `leverage` "0" for cross) and ADL grade (`adl_ranking`),
and the cross account's maintenance margin over its margin balance as the margin ratio.
A key's own permissions stay unknown (`PrivateClient.key_access`): Gate documents no
endpoint that answers them for the key that asks: `GET /account/main_keys` is "Query
All Main Account Key Information" (so not said to be this key), and its `perms` carry a
`read_only` flag per area with none for withdrawal.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Literal, NamedTuple
from urllib.parse import urlencode

import msgspec

from arb.accounts.base import Params, PrivateClient, cut_short, hmac_hex, oldest_first
from arb.accounts.models import Balance, FundingPayment, Position
from arb.http import ReplyShapeError, VenueBadResponse
from arb.venues.gate.common import (
    NAME,
    PAGE_LIMIT,
    SETTLE,
    Contract,
    classify,
    contract_pages,
    decode_contracts,
    raise_label,
    to_contracts,
    unwrapper,
)
from arb.venues.numbers import RawNum, per_coin, to_decimal, to_number, to_positive

log = logging.getLogger(__name__)

SERVER_TIME = "/api/v4/spot/time"  # public; Gate has no futures time endpoint
ACCOUNTS = "/api/v4/futures/usdt/accounts"
POSITIONS = "/api/v4/futures/usdt/positions"
ACCOUNT_BOOK = "/api/v4/futures/usdt/account_book"
FUNDING_TYPE = "fund"

# A real account holds far fewer; a list that keeps filling pages is a venue fault.
MAX_POSITION_PAGES = 5
DAY_MS = 86_400_000
FUNDING_DAYS = 30  # how far back one `funding` call reaches from its end
# Requests one `funding` call may send: 20 pages of 1000 are 20,000 settlements, e.g. 30
# days of hourly funding on 27 perpetuals, well inside Gate's 200 requests per 10 s per
# endpoint, so no pacing is needed. Past it the newest settlements are kept (see
# `cut_short`) and a warning says from when the list is complete.
MAX_FUNDING_REQUESTS = 20

TIMESTAMP_LABELS = frozenset({"REQUEST_EXPIRED"})
# Gate's authentication labels (its "label list"): a key, signature, header, IP or account
# refused. Its docs answer authentication failures with 401; should one come as a 403,
# VenueHttp takes it for a ban before any label is read.
AUTH_LABELS = frozenset(
    {
        "INVALID_CREDENTIALS",
        "INVALID_KEY",
        "IP_FORBIDDEN",
        "READ_ONLY",
        "INVALID_SIGNATURE",
        "MISSING_REQUIRED_HEADER",
        "ACCOUNT_LOCKED",
        "FORBIDDEN",
    }
)


# --- the replies ---------------------------------------------------------------------


class ServerTime(msgspec.Struct, gc=False):
    server_time: RawNum = None  # ms
    label: str = ""
    message: str = ""


class Account(msgspec.Struct, gc=False):
    currency: str = ""
    total: RawNum = None  # excludes unrealised PnL (Gate: deposits and realised results)
    unrealised_pnl: RawNum = None
    available: RawNum = None
    # The cross margin figures, "applicable to new classic account margin mode" (Gate's
    # FuturesAccount model): false here means the old mode, where they say nothing.
    enable_evolved_classic: bool | None = None
    cross_maintenance_margin: RawNum = None
    cross_margin_balance: RawNum = None
    label: str = ""
    message: str = ""


class PositionRow(msgspec.Struct, gc=False):
    contract: str = ""
    size: RawNum = None  # contracts, negative when short (a string since 2025, a number before)
    mode: str = ""  # single, dual_long or dual_short
    entry_price: RawNum = None
    mark_price: RawNum = None
    unrealised_pnl: RawNum = None
    liq_price: RawNum = None
    lever: RawNum = None  # the leverage in either margin mode, replacing the next two
    leverage: RawNum = None  # isolated; "0" means cross
    cross_leverage_limit: RawNum = None
    pos_margin_mode: str = ""  # "isolated" or "cross" (newer replies)
    # 1 (highest, first to be deleveraged) to 5 (lowest); 6 "when there is no position
    # held or in liquidation" (Gate's Position model).
    adl_ranking: RawNum = None


class BookRow(msgspec.Struct, gc=False):
    time: RawNum = None  # seconds, with a fraction
    change: RawNum = None  # positive when received
    type: str = ""
    contract: str = ""  # present on rows since 2023-10-30


class BookPage(NamedTuple):
    payments: list[FundingPayment]  # in the venue's order
    rows: int  # rows sent, junk included: a full page may have more behind it


_server_time = msgspec.json.Decoder(ServerTime, strict=False).decode
_account = msgspec.json.Decoder(Account, strict=False).decode
decode_positions = unwrapper(PositionRow)
_book_rows = unwrapper(BookRow)


def parse_server_time(body: bytes) -> int:
    reply = _server_time(body)
    if reply.label:
        raise_label(reply.label, reply.message)
    ms = to_number(reply.server_time)
    if ms is None or ms <= 0:
        raise ReplyShapeError(f"server_time is {reply.server_time!r}")
    return int(ms)


def parse_balances(body: bytes) -> list[Balance]:
    """The USDT futures account as one Balance in USDT. Equity is `total` plus the
    unrealised PnL, because Gate's `total` leaves it out."""
    account = _account(body)
    if account.label:
        raise_label(account.label, account.message)
    total = to_number(account.total)
    if total is None:
        return []
    upnl = to_number(account.unrealised_pnl)
    return [
        Balance(
            venue=NAME,
            currency=account.currency.upper() or SETTLE,
            equity=total + (upnl or 0.0),
            available=to_number(account.available),
            unrealised_pnl=upnl,
            margin_ratio=_margin_ratio(account),
        )
    ]


def _margin_ratio(account: Account) -> float | None:
    """`cross_maintenance_margin / cross_margin_balance`: 1.0 where the cross margin
    balance no longer covers the maintenance margin. (Gate's `cross_mmr` is the inverse,
    balance over maintenance.) None in the old classic mode or with no balance."""
    if account.enable_evolved_classic is False:
        return None
    maintenance = to_number(account.cross_maintenance_margin)
    balance = to_number(account.cross_margin_balance)
    if maintenance is None or maintenance < 0 or balance is None or balance <= 0:
        return None
    return maintenance / balance


def _side(row: PositionRow, size: Decimal) -> str:
    """Hedge mode names the side; one-way mode signs the size."""
    if row.mode in ("dual_long", "dual_short"):
        return row.mode.removeprefix("dual_")
    return "long" if size > 0 else "short"


def _leverage(row: PositionRow) -> float | None:
    """`lever` where Gate sends it; else the isolated leverage, or the cross limit when
    the isolated one is "0" (cross margin)."""
    return (
        to_positive(row.lever) or to_positive(row.leverage) or to_positive(row.cross_leverage_limit)
    )


def _margin_mode(row: PositionRow) -> Literal["cross", "isolated"] | None:
    """`pos_margin_mode` where Gate sends it; else `leverage`, whose "0" means cross margin
    ("leverage for isolated margin. 0 means cross margin", Gate's Position model)."""
    if row.pos_margin_mode == "cross":
        return "cross"
    if row.pos_margin_mode == "isolated":
        return "isolated"
    leverage = to_number(row.leverage)
    if leverage is None or leverage < 0:
        return None
    return "cross" if leverage == 0 else "isolated"


def _adl_rank(row: PositionRow) -> int | None:
    """Gate's grade turned to ours, 1 (last) to 5 (first to be deleveraged): 6 - grade.
    Its special 6 (no position, or in liquidation) and junk give None."""
    grade = to_number(row.adl_ranking)
    if grade is None or grade != int(grade) or not 1 <= grade <= 5:
        return None
    return 6 - int(grade)


def to_positions(rows: list[PositionRow], contracts: Mapping[str, Contract]) -> list[Position]:
    """Open USDT perpetual positions in coins of the canonical asset; rows of no size, of
    junk sizes or of contracts not in `contracts` are skipped."""
    out: list[Position] = []
    for row in rows:
        contract = contracts.get(row.contract)
        size = to_decimal(row.size)
        if contract is None or not size:
            continue
        out.append(
            Position(
                venue=NAME,
                asset=contract.asset,
                symbol=row.contract,
                side=_side(row, size),
                size=float(abs(size) * contract.coins),
                entry_price=per_coin(row.entry_price, contract.price_unit),
                mark_price=per_coin(row.mark_price, contract.price_unit),
                unrealised_pnl=to_number(row.unrealised_pnl),
                leverage=_leverage(row),
                liquidation_price=per_coin(row.liq_price, contract.price_unit),
                margin_mode=_margin_mode(row),
                adl_rank=_adl_rank(row),
            )
        )
    return out


def _payment(row: BookRow) -> FundingPayment | None:
    """A funding row of a USDT perpetual; other types, other settles and junk give None."""
    info = classify(row.contract) if row.type == FUNDING_TYPE else None
    amount, seconds = to_number(row.change), to_number(row.time)
    if info is None or amount is None or seconds is None or seconds <= 0:
        return None
    return FundingPayment(
        venue=NAME,
        asset=info[0],
        symbol=row.contract,
        amount=amount,
        currency=SETTLE,
        time_ms=round(seconds * 1000),
    )


def parse_book_page(body: bytes) -> BookPage:
    """An account-book reply: its funding payments and how many rows it held."""
    rows = _book_rows(body)
    return BookPage([p for p in map(_payment, rows) if p is not None], len(rows))


# --- requests --------------------------------------------------------------------------


def position_params(page: int) -> dict[str, str]:
    return {"holding": "true", "limit": str(PAGE_LIMIT), "offset": str(page * PAGE_LIMIT)}


def book_params(start_ms: int, end_ms: int, page: int) -> dict[str, str]:
    """[start_ms, end_ms) in whole seconds, wide enough whether Gate's `from` and `to` are
    inclusive or not (it does not say): `from` a second early, `to` rounded up. The
    payments are cut to the exact range afterwards."""
    return {
        "type": FUNDING_TYPE,
        "from": str(start_ms // 1000 - 1),
        "to": str(math.ceil(end_ms / 1000)),
        "limit": str(PAGE_LIMIT),
        "offset": str(page * PAGE_LIMIT),
    }


# --- signing ---------------------------------------------------------------------------


def query_string(params: Mapping[str, str] | None) -> str:
    """The query as aiohttp puts it in the URL: for the ASCII letters, digits and `_` we
    send, urlencode writes the same bytes as yarl. "" when there is none."""
    return urlencode(params) if params else ""


def body_hash(body: bytes = b"") -> str:
    return hashlib.sha512(body).hexdigest()


def presign(method: str, path: str, query: str, body: bytes, timestamp_s: int) -> str:
    """The string Gate signs; `path` includes /api/v4 and `query` is as in the URL."""
    return f"{method.upper()}\n{path}\n{query}\n{body_hash(body)}\n{timestamp_s}"


def sign(secret: str, message: str) -> str:
    return hmac_hex(secret, message, hashlib.sha512)


# --- the client ------------------------------------------------------------------------


class GatePrivate(PrivateClient):
    name = NAME
    timestamp_codes = TIMESTAMP_LABELS
    auth_codes = AUTH_LABELS
    server_time = (SERVER_TIME, parse_server_time)
    window_ms = 60_000  # as the module docstring says
    contracts_stale_s = 3600.0  # a failed reload serves the last contract list this long

    def headers(self, timestamp_ms: int, method: str, path: str, params: Params) -> dict[str, str]:
        timestamp_s = timestamp_ms // 1000
        message = presign(method, path, query_string(params), b"", timestamp_s)
        return {
            "KEY": self.credentials.key,
            "Timestamp": str(timestamp_s),
            "SIGN": sign(self.credentials.secret, message),
        }

    async def load_contracts(self) -> dict[str, Contract]:
        """The public contract list, every page of it."""
        return to_contracts(await contract_pages(self.http, decode_contracts))

    async def balances(self) -> list[Balance]:
        return await self.get(ACCOUNTS, None, parse_balances)

    async def positions(self) -> list[Position]:
        rows: list[PositionRow] = []
        for page in range(MAX_POSITION_PAGES):
            got = await self.get(POSITIONS, position_params(page), decode_positions)
            rows += got
            if len(got) < PAGE_LIMIT:
                break
        else:
            reason = f"still paging positions after {MAX_POSITION_PAGES} pages"
            raise VenueBadResponse(NAME, POSITIONS, reason)
        held = (r.contract for r in rows if to_decimal(r.size))
        return to_positions(rows, await self.sized(held))

    async def funding(self, start_ms: int, end_ms: int) -> list[FundingPayment]:
        """Settlements in [start_ms, end_ms), oldest first, reaching back at most
        FUNDING_DAYS from end_ms, in pages of PAGE_LIMIT. If MAX_FUNDING_REQUESTS pages
        come back full, the newest settlements are kept back to where `cut_short` stops
        them (Gate lists newest first), and a warning says so."""
        start_ms = max(start_ms, end_ms - FUNDING_DAYS * DAY_MS)
        payments: list[FundingPayment] = []
        if start_ms >= end_ms:
            return payments
        for page_no in range(MAX_FUNDING_REQUESTS):
            params = book_params(start_ms, end_ms, page_no)
            page = await self.get(ACCOUNT_BOOK, params, parse_book_page)
            payments += (p for p in page.payments if start_ms <= p.time_ms < end_ms)
            if page.rows < PAGE_LIMIT:
                break
        else:
            if payments:
                payments, cut = cut_short(payments, end_ms - 1)
                self.funding_cut(MAX_FUNDING_REQUESTS, cut)
        return oldest_first(payments)
