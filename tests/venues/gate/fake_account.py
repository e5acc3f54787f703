"""A fake of Gate's v4 signed account API, served by a `FakeVenues` under its `/gate` prefix.

`FakeGatePrivate().install(fake)` adds the public time and contract endpoints and the three
private reads the desk uses (the USDT futures account, its positions, its account book).
Every private request is checked the way Gate documents it, by this file's own code
(never the client's signer): the `KEY`, `Timestamp` and `SIGN` headers present, the key
known, the Timestamp (seconds, a fraction allowed) within 60 s of this server's clock
(`real clock + skew_ms`), and SIGN equal to hex(HMAC-SHA512(secret, method, raw path and
raw query, hex(SHA512(raw body)), Timestamp joined by newlines)) over the bytes received.
A refusal is Gate's HTTP 401 with its label (MISSING_REQUIRED_HEADER, INVALID_KEY,
REQUEST_EXPIRED, INVALID_SIGNATURE), counted in `refusals`.

The account starts as the recorded fixtures (a short BTC_USDT and a long PEPE_USDT, four
funding rows of 2026-09-09/10); tests replace `positions`, `book` or the balance with rows
built by `position_row`, `funding_row` and `set_balance` (whose `margin_ratio` sets the
cross maintenance margin against the cross margin balance). Gate documents no way for a
key to read its own permissions, so this fake serves none. Lists page as Gate's do:
`limit` 1-1000 (default 100) and `offset`; the account book is newest first, `from` and
`to` (seconds) both read as inclusive, which Gate does not say.

The contract list is served from `contracts` (the recorded one, plus a fake market's gate
perps named and sized as tests/fakes/rest_gate.py renders them), so that a position built
here and the client's contract sizes agree whichever of the two fakes is installed last.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from decimal import Decimal
from typing import Any

from aiohttp import web

from arb.accounts.models import FundingPayment
from arb.symbols import split_multiplier
from tests.fakes.private_base import FakeAccountClock, Handler, Held, Refusals, Sent, first_missing
from tests.fakes.venues import FakeVenues, dec, fixture
from tests.venues.gate.fake_rest import quanto

GATE_TIME = "/api/v4/spot/time"
GATE_CONTRACTS = "/api/v4/futures/usdt/contracts"
GATE_ACCOUNTS = "/api/v4/futures/usdt/accounts"
GATE_POSITIONS = "/api/v4/futures/usdt/positions"
GATE_ACCOUNT_BOOK = "/api/v4/futures/usdt/account_book"

PAGE_MAX = 1000
PAGE_DEFAULT = 100

REQUIRED_HEADERS = ("KEY", "Timestamp", "SIGN")
ERRORS: dict[str, dict[str, str]] = {
    "INVALID_SIGNATURE": fixture("gate/error_INVALID_SIGNATURE.json"),
    "REQUEST_EXPIRED": fixture("gate/error_REQUEST_EXPIRED.json"),
    "INVALID_KEY": fixture("gate/error_INVALID_KEY.json"),
    # The label is documented; the message is ours (the docs give the label's meaning).
    "MISSING_REQUIRED_HEADER": {
        "label": "MISSING_REQUIRED_HEADER",
        "message": "Missing required authentication header",
    },
}


def gate_refusal(label: str) -> web.Response:
    """Gate answers every authentication failure with 401 and its label."""
    return web.json_response(ERRORS[label], status=401)


def gate_error(label: str, message: str) -> web.Response:
    return web.json_response({"label": label, "message": message}, status=400)


def page_of(rows: list[dict[str, Any]], query: Any) -> list[dict[str, Any]] | web.Response:
    """`rows[offset : offset + limit]` as Gate pages a list, or its 400 for bad values."""
    try:
        limit = int(query.get("limit", PAGE_DEFAULT))
        offset = int(query.get("offset", 0))
    except ValueError:
        return gate_error("INVALID_PARAM_VALUE", "invalid limit or offset")
    if not 1 <= limit <= PAGE_MAX or offset < 0:
        return gate_error("INVALID_PARAM_VALUE", "invalid limit or offset")
    return rows[offset : offset + limit]


def seconds_to_ms(timestamp: str) -> float | None:
    try:
        return float(timestamp) * 1000
    except ValueError:
        return None


def base_unit(name: str) -> Decimal:
    """Coins in one unit of the contract's base: 1000 for `1000SATS_USDT`, else 1."""
    return Decimal(repr(split_multiplier(name.partition("_")[0])[1]))


class FakeGatePrivate(FakeAccountClock):
    venue = "gate"
    keys = ("gate-fake-key-5b3e", "gate-fake-secret-c71d")
    refuses = Refusals(key="INVALID_KEY", stale="REQUEST_EXPIRED", signature="INVALID_SIGNATURE")
    window_ms = 60_000
    time_path = GATE_TIME

    def __init__(self) -> None:
        super().__init__()
        self.account: dict[str, Any] = fixture("gate/api_v4_futures_usdt_accounts.json")
        self.positions: list[dict[str, Any]] = fixture("gate/api_v4_futures_usdt_positions.json")
        self.book: list[dict[str, Any]] = fixture("gate/api_v4_futures_usdt_account_book_fund.json")
        self.contracts: list[dict[str, Any]] = fixture("gate/api_v4_futures_usdt_contracts.json")
        self.rest_url: str | None = None
        self._position_template = dict(self.positions[0])
        self._book_template = dict(self.book[0])

    def install(self, fake: FakeVenues) -> FakeGatePrivate:
        """Serve this account from `fake`; a fake with a market lists its gate perps."""
        if fake.market is not None:
            for p in fake.market.perps("gate"):
                if p.settle != "USDT":
                    continue  # this is the /futures/usdt API
                prefix = str(p.multiplier) if p.multiplier != 1 else ""
                self.add_contract(f"{prefix}{p.asset}_{p.settle}", quanto(p))
        fake.route("gate", "GET", GATE_CONTRACTS, self.contracts_reply)
        self.rest_url = fake.url("gate")
        return super().install(fake)

    def signed_reads(self) -> dict[str, Handler]:
        return {
            GATE_ACCOUNTS: self.account_reply,
            GATE_POSITIONS: self.positions_reply,
            GATE_ACCOUNT_BOOK: self.book_reply,
        }

    def env(self) -> dict[str, str]:
        """The settings that point the bot's Gate keys (and, once installed, its REST URL)
        at this account."""
        keys = super().env()
        return keys if self.rest_url is None else {**keys, "GATE_REST_URL": self.rest_url}

    # --- account state ------------------------------------------------------------------

    def add_contract(self, name: str, quanto_multiplier: str) -> None:
        """List (or resize) a USDT perpetual: `quanto_multiplier` base units per contract."""
        template = next(c for c in self.contracts if c["name"] == "BTC_USDT")
        self.contracts = [c for c in self.contracts if c["name"] != name]
        self.contracts.append(dict(template, name=name, quanto_multiplier=quanto_multiplier))

    def coins_per_contract(self, name: str) -> Decimal:
        row = next((c for c in self.contracts if c["name"] == name), None)
        if row is None:
            raise ValueError(f"{name}: not a listed contract; add_contract it first")
        return Decimal(row["quanto_multiplier"]) * base_unit(name)

    def set_balance(
        self, equity: float, available: float, upnl: float = 0.0, margin_ratio: float | None = None
    ) -> None:
        """The USDT futures account worth `equity`: Gate's `total` leaves out the
        unrealised PnL, so it is written as `equity - upnl`. With a `margin_ratio` the
        account is in the new classic mode, its cross margin balance `equity` and its
        cross maintenance margin that share of it (`cross_mmr` the inverse, as Gate
        writes it); without one it is in the old mode, whose cross figures are zeros."""
        maintenance = 0.0 if margin_ratio is None else margin_ratio * equity
        self.account = dict(
            self.account,
            total=dec(equity - upnl),
            unrealised_pnl=dec(upnl),
            available=dec(available),
            cross_available=dec(available),
            enable_evolved_classic=margin_ratio is not None,
            cross_margin_balance="0" if margin_ratio is None else dec(equity),
            cross_maintenance_margin=dec(maintenance),
            cross_mmr=dec(equity / maintenance) if maintenance else "0",
        )

    def position(self, p: Held) -> dict[str, Any]:
        """A one-way position of `size` coins of the canonical asset, written as Gate does:
        signed contracts (a decimal string), prices per base unit as given; in cross
        margin `leverage` "0" and the leverage in `cross_leverage_limit`, in isolated the
        other way round; `adl_ranking` Gate's grade (1 first to be deleveraged, 6 - our
        rank), its special 6 when no rank is given."""
        cross = p.margin_mode == "cross"
        contracts = Decimal(repr(p.size)) / self.coins_per_contract(p.symbol)
        unit = base_unit(p.symbol)
        return dict(
            self._position_template,
            contract=p.symbol,
            size=format(contracts if p.side == "long" else -contracts, "f"),
            mode="single",
            entry_price=dec(p.entry),
            mark_price=dec(p.mark),
            unrealised_pnl=dec(p.upnl),
            lever=dec(p.leverage),
            leverage="0" if cross else dec(p.leverage),
            cross_leverage_limit=dec(p.leverage) if cross else "0",
            pos_margin_mode=p.margin_mode,
            adl_ranking=6 if p.adl_rank is None else 6 - p.adl_rank,
            liq_price="0" if p.liq is None else dec(p.liq),
            value=dec(p.size / float(unit) * p.mark),
            update_id=self.next_id(),
        )

    def funding_row(self, symbol: str, amount: float, time_ms: int) -> dict[str, Any]:
        """An account-book row of type `fund`: `change` positive when received."""
        return dict(
            self._book_template,
            time=time_ms / 1000,
            change=dec(amount),
            text=f"{symbol}:funding",
            contract=symbol,
            id=str(50_000_000_000 + self.next_id()),
        )

    def payment_of(self, row: dict[str, Any]) -> FundingPayment:
        symbol, amount = row["contract"], float(row["change"])
        return FundingPayment("gate", symbol.split("_")[0], symbol, amount, "USDT",
                              round(row["time"] * 1000))  # fmt: skip

    # --- the endpoints ------------------------------------------------------------------

    def time_reply(self, now_ms: int) -> Any:
        return {"server_time": now_ms}

    async def contracts_reply(self, request: web.Request) -> Any:
        return page_of(self.contracts, request.query)

    def refused_reply(self, code: str, request: web.Request, body: bytes) -> web.Response:
        return gate_refusal(code)

    def read(self, request: web.Request, body: bytes) -> Sent | str:
        """The KEY, Timestamp and SIGN headers; the Timestamp in seconds, a fraction
        allowed; SIGN the hex HMAC-SHA512 of method, raw path, raw query, hex SHA512 of
        the raw body and Timestamp, joined by newlines."""
        headers = request.headers
        required = ((name, "MISSING_REQUIRED_HEADER") for name in REQUIRED_HEADERS)
        missing = first_missing(headers, required)
        if missing is not None:
            return missing
        timestamp = headers["Timestamp"]
        path, _, query = request.raw_path.removeprefix("/gate").partition("?")
        message = "\n".join(
            (request.method, path, query, hashlib.sha512(body).hexdigest(), timestamp)
        )
        return Sent(
            key=headers["KEY"],
            time_ms=seconds_to_ms(timestamp),
            signature=headers["SIGN"],
            expected=hmac.new(self.secret.encode(), message.encode(), hashlib.sha512).hexdigest(),
        )

    def account_reply(self, request: web.Request) -> Any:
        return self.account

    def positions_reply(self, request: web.Request) -> Any:
        """`holding=true` leaves out the empty rows Gate otherwise lists."""
        rows = self.positions
        if request.query.get("holding") == "true":
            rows = [p for p in rows if Decimal(str(p["size"])) != 0]
        return page_of(rows, request.query)

    def book_reply(self, request: web.Request) -> Any:
        """Newest first; `type`, `contract`, `from` and `to` filter as documented."""
        q = request.query
        try:
            start = int(q["from"]) if "from" in q else None
            end = int(q["to"]) if "to" in q else None
        except ValueError:
            return gate_error("INVALID_PARAM_VALUE", "invalid from or to")
        kind, contract = q.get("type"), q.get("contract")
        lo = -math.inf if start is None else start
        hi = math.inf if end is None else end
        rows = [
            r
            for r in self.book
            if kind in (None, r["type"])
            and contract in (None, r["contract"])
            and lo <= r["time"] <= hi
        ]
        rows.sort(key=lambda r: (r["time"], int(r["id"])), reverse=True)
        return page_of(rows, q)


FakeAccount = FakeGatePrivate
