"""A fake of Gate's public USDT futures stream (`/v4/ws/usdt`) on 127.0.0.1, for feed tests.

It speaks the venue's protocol in the shapes tests/fixtures/gate/ws_*.json hold: it
answers each `futures.tickers` subscribe request once, with the ack, or with the
venue's refusal (code 2) when the request names a contract in `refused`; answers
`futures.ping` with `futures.pong`; and pushes `futures.tickers` updates whose rows
are whole tickers, as the venue's are. Like the venue (and every websockets server)
it also pings at the protocol level, which clients answer by themselves. Every
subscribe request is recorded as received (`fake.subscribes`), every ping counted.

    async with FakeGateWs() as fake:
        feed = Feed(GateDialect(), fake.url, symbols, on_updates)  # fake.url: GATE_WS_URL
        task = asyncio.create_task(feed.run())
        await fake.wait_subscribed(1, ["BTC_USDT"])  # acked
        await fake.push_quote("BTC_USDT", rate=0.0001, mark=77600.0, turnover=2.9e8)
        await fake.drop()  # the feed reconnects, re-seeds and resubscribes

The venue's tickers carry no funding interval or next settlement time, so quotes here
have neither: those come from REST. A request naming a contract in `refused` is refused
whole, as the venue does. `await fake.push(upgrade_notice())` announces a service
upgrade; the plumbing (drop, silence, waits) is `tests.fakes.ws_base.FakeWs`'s.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from tests.fakes.venues import FakeMarket, fixture
from tests.fakes.ws_base import Connection, Frame, TickerFakeWs, TickerRows, json_object
from tests.venues.gate.fake_rest import gate_symbol, unit_price

USDT_PATH = "/v4/ws/usdt"
TICKERS = "futures.tickers"
PING = "futures.ping"
INVALID_STRUCT = (1, "invalid argument struct")  # the docs' wording for code 1
INVALID_ARGUMENT = 2

# A contract first quoted starts from this recorded row, so that its pushes carry every
# field the venue sends; the quote's own figures replace the row's.
TICKER_ROW: dict[str, str] = fixture("gate/ws_tickers_update.json")["result"][0]
ACK: dict[str, Any] = fixture("gate/ws_subscribe_ack.json")
REFUSAL: dict[str, Any] = fixture("gate/ws_subscribe_error.json")
PONG: dict[str, Any] = fixture("gate/ws_pong.json")
UPGRADE: dict[str, Any] = fixture("gate/ws_system_upgrade.json")
# `turnover` is USDT (the quote and, for these contracts, the settle currency); `mark`
# is per coin and moves the index and last price with it.
ROWS = TickerRows(
    recorded=TICKER_ROW,
    symbol_field="contract",
    fields_of={
        "rate": ("funding_rate",),
        "mark": ("mark_price", "index_price", "last"),
        "turnover": ("volume_24h_quote", "volume_24h_settle"),
    },
)


def _stamped(frame: dict[str, Any]) -> dict[str, Any]:
    """The frame with the venue's `time` (s) and `time_ms` set to now."""
    now_ms = int(time.time() * 1000)
    return {**frame, "time": now_ms // 1000, "time_ms": now_ms}


def tickers_frame(*rows: dict[str, Any]) -> dict[str, Any]:
    """A `futures.tickers` update carrying these rows."""
    return _stamped({"channel": TICKERS, "event": "update", "result": list(rows)})


def upgrade_notice() -> dict[str, Any]:
    """The system notice the venue sends before it closes connections for an upgrade."""
    return _stamped(UPGRADE)


class FakeGateWs(TickerFakeWs):
    venue = "gate"
    path = USDT_PATH
    server_pings = True  # the venue pings at the protocol level too
    rows = ROWS

    # --- what a test does ---------------------------------------------------------

    async def push_quote(self, contract: str, **figures: Any) -> int:
        """`set_quote`, then the whole row in a tickers update to each connection
        subscribed to the contract."""
        self.set_quote(contract, **figures)
        return await self.push(tickers_frame(self.tickers[contract]))

    async def push(self, frame: Frame) -> int:
        """A tickers update to the connections subscribed to one of its contracts;
        anything else (a notice, junk) to every connection with a subscription. How
        many it reached: 0 while silent."""
        named = None
        if isinstance(frame, dict) and frame.get("channel") == TICKERS:
            rows = frame.get("result")
            named = {r.get("contract") for r in rows if isinstance(r, dict)} if rows else set()
        return await self.push_to(self.routed(named), frame)

    @classmethod
    def market_pushes(cls, market: FakeMarket) -> list[Frame]:
        """One update of every contract, per coin as the fake REST contracts price it."""
        rows = [
            cls.rows.row(gate_symbol(p), rate=p.rate, mark=unit_price(p), turnover=p.turnover)
            for p in market.perps("gate")
        ]
        return [tickers_frame(*rows)]

    # --- the venue's side -----------------------------------------------------------

    async def receive(self, conn: Connection, message: str | bytes) -> None:
        request = json_object(message)
        if request is None:
            await self._refuse(conn, {}, *INVALID_STRUCT)
        elif request.get("channel") == PING:
            self.pings += 1
            await self.send(conn, _stamped(PONG))
        elif request.get("channel") == TICKERS and request.get("event") == "subscribe":
            self.subscribes.append(request)
            await self._subscribe(conn, request)
        else:
            await self._refuse(conn, request, *INVALID_STRUCT)

    async def _subscribe(self, conn: Connection, request: dict[str, Any]) -> None:
        payload = request.get("payload")
        if not isinstance(payload, list) or not all(isinstance(c, str) for c in payload):
            await self._refuse(conn, request, *INVALID_STRUCT)
            return
        unknown = [c for c in payload if c in self.refused]
        if unknown:
            # The venue's wording for several unknown contracts at once is not recorded.
            await self._refuse(conn, request, INVALID_ARGUMENT, f"unknown contract: {unknown[0]}")
            return
        conn.routes.update(payload)
        if await self.send(conn, self._answer(conn, ACK, request)):
            conn.subscribed.update(payload)

    async def _refuse(
        self, conn: Connection, request: dict[str, Any], code: int, message: str
    ) -> None:
        error = {"code": code, "message": message}
        await self.send(conn, self._answer(conn, REFUSAL, request, error=error))

    @staticmethod
    def _answer(
        conn: Connection, template: dict[str, Any], request: dict[str, Any], **fields: Any
    ) -> dict[str, Any]:
        """An answer in the recorded shape, echoing the request's channel, event and
        payload as the venue does."""
        echoed = {k: request[k] for k in ("channel", "event", "payload") if k in request}
        recorded = {k: v for k, v in template.items() if k != "payload"}
        answer = {**recorded, **echoed, **fields, "conn_id": conn.conn_id}
        return _stamped({**answer, "trace_id": uuid.uuid4().hex})
