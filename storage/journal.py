"""The trading journal: every trade and every order, written before each request leaves and
after each answer comes back, so a process killed at any instant leaves a record the next
start can reconcile against the venues.

An order's client id is made here, in the same transaction that records the intent:
`a<desk><second><trade>n<seq>` (letters and digits, at most 20 characters up to a
million trades, as every venue accepts). `<desk>` is four random characters drawn once
per database, so a desk that starts a new database never reuses an id a venue has seen;
`<second>` is the second the intent was written, in base 36, so neither does a database
restored from a backup, whose trade numbers start again from where the copy was made.

The halt (`/halt`, or the trader's own on an unhedged book) is kept here too: it
survives a restart.
"""

from __future__ import annotations

import json
import secrets
import string
import time
from collections.abc import Callable, Iterable

from arb.models import (
    Halt,
    JournalOrder,
    JournalTrade,
    OrderIntent,
    OrderOutcome,
    Side,
    TradeKind,
    TradeMode,
    TradeState,
)
from storage.db import Database

DESK_KEY = "trading_desk_id"
HALT_KEY = "trading_halt"
ID_ALPHABET = string.ascii_lowercase + string.digits
BASE36 = string.digits + string.ascii_lowercase
NOTE_LIMIT = 2000


class Journal:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self._desk: str | None = None

    # --- trades ----------------------------------------------------------------------

    async def begin(
        self,
        kind: TradeKind,
        mode: TradeMode,
        asset: str,
        long_leg: tuple[str, str],
        short_leg: tuple[str, str],
        coins: float,
        notional_usd: float,
        start_net: float = 0.0,
        chat_id: int | None = None,
        message_id: int | None = None,
    ) -> JournalTrade:
        """A new trade, `working`, before any of its orders is written."""
        now = self.clock()
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO trades (kind, mode, asset, long_venue, long_symbol, short_venue,"
                " short_symbol, coins, notional_usd, start_net, state, chat_id, message_id,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'working', ?, ?,"
                " ?, ?)",
                (kind, mode, asset, *long_leg, *short_leg, coins, notional_usd, start_net,
                 chat_id, message_id, now, now),
            )  # fmt: skip
            trade_id = cur.lastrowid
        assert trade_id is not None
        trade = await self.trade(trade_id)
        assert trade is not None
        return trade

    async def finish(self, trade_id: int, state: TradeState, note: str) -> None:
        await self._update_trade(trade_id, "state = ?, note = ?", (state, note[:NOTE_LIMIT]))

    async def set_message(self, trade_id: int, chat_id: int, message_id: int) -> None:
        """The chat message that tells this trade's progress (edited as it goes)."""
        await self._update_trade(trade_id, "chat_id = ?, message_id = ?", (chat_id, message_id))

    async def trade(self, trade_id: int) -> JournalTrade | None:
        found = await self._trades("WHERE id = ?", (trade_id,))
        return found[0] if found else None

    async def trades(self, limit: int = 10) -> list[JournalTrade]:
        """The newest `limit` trades, newest first, with their orders."""
        return await self._trades("ORDER BY id DESC LIMIT ?", (limit,))

    async def unfinished(self) -> list[JournalTrade]:
        """Trades a crash left `working`, oldest first: to reconcile before trading again."""
        return await self._trades("WHERE state = 'working' ORDER BY id", ())

    # --- orders ----------------------------------------------------------------------

    async def intend(
        self,
        trade_id: int,
        step: str,
        venue: str,
        symbol: str,
        side: Side,
        coins: float,
        price_cap: float,
        reduce_only: bool = False,
    ) -> OrderIntent:
        """Record an order about to be sent, and its client id: durable before it leaves."""
        desk = await self.desk_id()
        now = self.clock()
        async with self.db.transaction() as conn:
            async with conn.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM orders WHERE trade_id = ?", (trade_id,)
            ) as cur:
                row = await cur.fetchone()
            seq = int(row[0]) if row else 1
            intent = OrderIntent(
                f"a{desk}{base36(int(now))}{trade_id}n{seq}",
                venue,
                symbol,
                side,
                coins,
                price_cap,
                reduce_only,
            )
            await conn.execute(
                "INSERT INTO orders (client_id, trade_id, seq, step, venue, symbol, side, coins,"
                " price_cap, reduce_only, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (intent.client_id, trade_id, seq, step, venue, symbol, side, coins, price_cap,
                 int(reduce_only), now, now),
            )  # fmt: skip
            await conn.execute("UPDATE trades SET updated_at = ? WHERE id = ?", (now, trade_id))
        return intent

    async def answered(self, outcome: OrderOutcome) -> None:
        """What the venue answered, or that it did not (`unknown`), or what a lookup found."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE orders SET status = ?, filled_coins = ?, avg_price = ?, fee_usd = ?,"
                " order_id = COALESCE(?, order_id), reason = ?, updated_at = ?"
                " WHERE client_id = ?",
                (outcome.status, outcome.filled_coins, outcome.avg_price, outcome.fee_usd,
                 outcome.order_id, _clip(outcome.reason), self.clock(), outcome.client_id),
            )  # fmt: skip

    async def held(self, mode: TradeMode) -> dict[tuple[str, str, str], float]:
        """Signed coins per (asset, venue, symbol) that `mode`'s orders have filled: the
        paper account's positions (a live account's come from the venues)."""
        rows = await self.db.fetchall(
            "SELECT t.asset, o.venue, o.symbol, SUM(CASE o.side WHEN 'buy' THEN 1 ELSE -1 END"
            " * COALESCE(o.filled_coins, 0)) AS coins FROM orders o JOIN trades t"
            " ON t.id = o.trade_id WHERE t.mode = ? GROUP BY t.asset, o.venue, o.symbol",
            (mode,),
        )
        return {
            (r["asset"], r["venue"], r["symbol"]): r["coins"]
            for r in rows
            if abs(r["coins"]) > 1e-12
        }

    # --- the halt and the desk's id --------------------------------------------------

    async def halt(self) -> Halt | None:
        raw = await self._meta(HALT_KEY)
        if raw is None:
            return None
        facts = json.loads(raw)
        return Halt(facts["reason"], facts["by"], facts["at"])

    async def set_halt(self, reason: str, by: str) -> Halt:
        halt = Halt(reason[:500], by[:100], self.clock())
        value = json.dumps({"reason": halt.reason, "by": halt.by, "at": halt.at})
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (HALT_KEY, value),
            )
        return halt

    async def clear_halt(self) -> None:
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM meta WHERE key = ?", (HALT_KEY,))

    async def desk_id(self) -> str:
        """Four characters drawn once per database, the stem of every client order id."""
        if self._desk is None:
            found = await self._meta(DESK_KEY)
            if found is None:
                drawn = "".join(secrets.choice(ID_ALPHABET) for _ in range(4))
                async with self.db.transaction() as conn:
                    await conn.execute(
                        "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (DESK_KEY, drawn)
                    )
                found = await self._meta(DESK_KEY)
            assert found is not None
            self._desk = found
        return self._desk

    # --- rows ------------------------------------------------------------------------

    async def _meta(self, key: str) -> str | None:
        rows = await self.db.fetchall("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0]["value"] if rows else None

    async def _update_trade(self, trade_id: int, assignments: str, values: tuple) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                f"UPDATE trades SET {assignments}, updated_at = ? WHERE id = ?",
                (*values, self.clock(), trade_id),
            )

    async def _trades(self, where: str, params: tuple) -> list[JournalTrade]:
        rows = await self.db.fetchall(f"SELECT * FROM trades {where}", params)
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        marks = ",".join("?" * len(ids))
        order_rows = await self.db.fetchall(
            f"SELECT * FROM orders WHERE trade_id IN ({marks}) ORDER BY trade_id, seq", tuple(ids)
        )
        orders: dict[int, list[JournalOrder]] = {}
        for r in order_rows:
            orders.setdefault(r["trade_id"], []).append(_order(r))
        return [_trade(r, orders.get(r["id"], [])) for r in rows]


def _order(r) -> JournalOrder:
    intent = OrderIntent(
        r["client_id"], r["venue"], r["symbol"], r["side"], r["coins"], r["price_cap"],
        bool(r["reduce_only"]),
    )  # fmt: skip
    outcome = None
    if r["status"] is not None:
        outcome = OrderOutcome(
            r["client_id"], r["status"], r["filled_coins"] or 0.0, r["avg_price"], r["fee_usd"],
            r["order_id"], r["reason"],
        )  # fmt: skip
    return JournalOrder(r["trade_id"], r["step"], intent, outcome, r["created_at"], r["updated_at"])


def _trade(r, orders: Iterable[JournalOrder]) -> JournalTrade:
    return JournalTrade(
        r["id"], r["kind"], r["mode"], r["asset"], r["long_venue"], r["long_symbol"],
        r["short_venue"], r["short_symbol"], r["coins"], r["notional_usd"], r["start_net"],
        r["state"],
        r["note"], r["chat_id"], r["message_id"], r["created_at"], r["updated_at"],
        tuple(orders),
    )  # fmt: skip


def base36(n: int) -> str:
    """`n` >= 0 in base 36, lowercase digits first: a second of our era is six characters
    (36**6 s is 69 years)."""
    digits = ""
    while True:
        n, d = divmod(n, 36)
        digits = BASE36[d] + digits
        if n == 0:
            return digits


def _clip(text: str | None) -> str | None:
    return None if text is None else text[:500]
