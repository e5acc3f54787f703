"""A fake of Bybit's public linear WebSocket stream, on 127.0.0.1, for tests.

It speaks the venue's protocol in the shapes tests/fixtures/bybit/ws_*.json record: it
acks each subscribe request; answers `{"op":"ping"}` with the linear pong; and pushes
`tickers.{symbol}` frames, the first per symbol and connection a whole snapshot, the
rest deltas of the changed fields only, as the venue does.

    async with FakeBybitWs() as fake:
        fake.set_quote("BTCUSDT", rate=0.0001, next_funding_ms=T, mark=77600.0)
        feed = Feed(BybitDialect(), fake.url, symbols, on_updates)  # fake.url: BYBIT_WS_URL
        ...                                                         # run the feed
        await fake.wait_subscribed(1, ["BTCUSDT"])  # acked, snapshot sent
        await fake.push_quote("BTCUSDT", rate=0.0002)  # a delta with fundingRate only

A symbol in `refused` is refused in the venue's words, `Invalid topic :[tickers.X]`,
and the request's other topics are subscribed. The plumbing (drop, silence, waits) is
`tests.fakes.ws_base.FakeWs`'s.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.venues import FakeMarket, fixture
from tests.fakes.ws_base import Connection, Frame, TickerFakeWs, TickerRows, json_object
from tests.venues.bybit.fake_rest import bybit_symbol

LINEAR_PATH = "/v5/public/linear"
TICKERS = "tickers."

# A symbol first quoted starts from this recorded row, so that its snapshot carries
# every field the venue sends; the quote's own figures replace the row's.
SNAPSHOT_ROW: dict[str, str] = fixture("bybit/ws_tickers_snapshot.json")["data"]
ROWS = TickerRows(
    recorded=SNAPSHOT_ROW,
    symbol_field="symbol",
    fields_of={
        "rate": ("fundingRate",),
        "next_funding_ms": ("nextFundingTime",),
        "mark": ("markPrice",),
        "interval_h": ("fundingIntervalHour",),
        "turnover": ("turnover24h",),
        "oi_value": ("openInterestValue",),
    },
)


_cross_sequence = itertools.count(612874556203)


def ticker_frame(symbol: str, data: dict[str, str], kind: str = "delta") -> dict[str, Any]:
    """A `tickers.{symbol}` push: `kind` is "snapshot" (the whole ticker) or "delta"."""
    return {
        "topic": TICKERS + symbol,
        "type": kind,
        "data": {**data, "symbol": symbol},
        "cs": next(_cross_sequence),
        "ts": int(time.time() * 1000),
    }


@dataclass(eq=False)
class BybitConnection(Connection):
    snapshotted: set[str] = field(default_factory=set)  # symbols past their snapshot


class FakeBybitWs(TickerFakeWs):
    venue = "bybit"
    path = LINEAR_PATH
    connection_class = BybitConnection
    rows = ROWS

    # --- the market -------------------------------------------------------------

    async def push_quote(self, symbol: str, **figures: Any) -> int:
        """`set_quote`, then to each connection subscribed to the symbol a delta of what
        changed (or the whole snapshot, if it has had none yet). Returns how many it reached."""
        changed = self.set_quote(symbol, **figures)
        reached = 0
        for conn in self.routed([TICKERS + symbol]):
            assert isinstance(conn, BybitConnection)
            if symbol in conn.snapshotted:
                reached += await self.send(conn, ticker_frame(symbol, changed))
            else:
                reached += await self._snapshot(conn, symbol)
        return reached

    async def push(self, frame: Frame) -> int:
        """A frame as given, to every connection subscribed to its topic; a frame that is
        not a dict (junk, for robustness tests) goes to every subscribed connection."""
        topic = frame.get("topic") if isinstance(frame, dict) else None
        return await self.push_to(self.routed(None if topic is None else [topic]), frame)

    @classmethod
    def market_pushes(cls, market: FakeMarket) -> list[Frame]:
        """A snapshot per perpetual, its mark per contract (1000PEPEUSDT: per 1000 PEPE)."""
        return [
            ticker_frame(
                bybit_symbol(p),
                cls.rows.row(
                    bybit_symbol(p),
                    rate=p.rate,
                    next_funding_ms=market.next_settlement(p.interval_h),
                    mark=p.price * p.multiplier,
                    interval_h=p.interval_h,
                    turnover=p.turnover,
                    oi_value=p.open_interest * p.price,
                ),
                "snapshot",
            )
            for p in market.perps("bybit")
        ]

    # --- the protocol -----------------------------------------------------------

    async def receive(self, conn: Connection, message: str | bytes) -> None:
        request = json_object(message)
        if request is None:
            return
        assert isinstance(conn, BybitConnection)
        if request.get("op") == "ping":
            self.pings += 1
            await self.send(conn, self._reply(conn, request, True, "pong"))
        elif request.get("op") == "subscribe":
            self.subscribes.append(request)
            await self._subscribe(conn, request)

    async def _subscribe(self, conn: BybitConnection, request: dict[str, Any]) -> None:
        """The valid topics are subscribed; invalid ones are named in a refusal. (The
        venue's wording for several at once is not recorded.)"""
        args = [a for a in request.get("args", []) if isinstance(a, str)]
        invalid = [a for a in args if a.removeprefix(TICKERS) in self.refused]
        valid = [a for a in args if a not in invalid]
        conn.routes.update(valid)
        if invalid:
            message = f"Invalid topic :[{','.join(invalid)}]"
            await self.send(conn, self._reply(conn, request, False, message))
        if valid:
            await self.send(conn, self._reply(conn, request, True, ""))
        for topic in valid:
            symbol = topic.removeprefix(TICKERS)
            if symbol in self.tickers and symbol not in conn.snapshotted:
                await self._snapshot(conn, symbol)
        conn.subscribed.update(a.removeprefix(TICKERS) for a in valid)

    @staticmethod
    def _reply(conn: Connection, request: dict[str, Any], ok: bool, message: str) -> dict[str, Any]:
        """The linear reply shape: a subscribe ack or refusal, or a pong."""
        reply: dict[str, Any] = {"success": ok, "ret_msg": message, "conn_id": conn.conn_id}
        if "req_id" in request:
            reply["req_id"] = request["req_id"]
        reply["op"] = request["op"]
        return reply

    async def _snapshot(self, conn: BybitConnection, symbol: str) -> int:
        if self.silent:
            return 0  # still owed: the next push to this connection is the snapshot
        conn.snapshotted.add(symbol)  # before the await: a concurrent push sends a delta
        return await self.send(conn, ticker_frame(symbol, self.tickers[symbol], "snapshot"))
