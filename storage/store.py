"""Repositories over the database: chats, subscriptions, alert state, deliveries, the risk
watch's state.

Rows map to `arb.alerts` types; every write is one transaction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import aiosqlite

from arb.models import AlertKey, AlertState, LlmCall, RiskKey, RiskState, Subscription
from storage.db import Database

NO_THREAD = 0  # alert_state keys need a non-null topic
USAGE_DAYS = 31


def _assets_text(assets: Iterable[str]) -> str:
    return ",".join(sorted(set(assets)))


def _subscription(row) -> Subscription:
    return Subscription(
        id=row["id"],
        chat_id=row["chat_id"],
        thread_id=row["thread_id"],
        threshold_8h=row["threshold_8h"],
        assets=frozenset(a for a in row["assets"].split(",") if a),
        created_by=row["created_by"],
        created_at=row["created_at"],
    )


@dataclass(frozen=True, slots=True)
class QueuedAlert:
    """One alert message about to go to one chat topic."""

    chat_id: int
    thread_id: int | None
    text: str  # the rendered message, sent as is (or marked, when resent)
    assets: tuple[str, ...]  # its Details buttons
    states: tuple[AlertState, ...]  # committed once it is sent
    created_at: float


@dataclass(frozen=True, slots=True)
class OpenDelivery:
    """A delivery a previous run left queued or sending."""

    id: int
    chat_id: int
    thread_id: int | None
    created_at: float
    status: str  # "queued": never left; "sending": may have reached the chat
    text: str
    assets: tuple[str, ...]
    states: tuple[AlertState, ...]


class Store:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    # --- subscriptions ---------------------------------------------------------

    async def subscribe(
        self,
        chat_id: int,
        chat_type: str,
        title: str | None,
        thread_id: int | None,
        threshold_8h: float,
        assets: frozenset[str],
        created_by: int | None,
    ) -> tuple[Subscription, Subscription | None]:
        """Add a subscription, replacing this chat topic's one for the same assets.

        Returns (the new subscription, the one it replaced or None).
        """
        now = self.clock()
        text = _assets_text(assets)
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO chats (chat_id, type, title, active, created_at, updated_at)"
                " VALUES (?, ?, ?, 1, ?, ?)"
                " ON CONFLICT (chat_id) DO UPDATE SET type = excluded.type,"
                " title = excluded.title, active = 1, updated_at = excluded.updated_at",
                (chat_id, chat_type, title, now, now),
            )
            async with conn.execute(
                "SELECT * FROM subscriptions WHERE active = 1 AND chat_id = ?"
                " AND IFNULL(thread_id, 0) = IFNULL(?, 0) AND assets = ?",
                (chat_id, thread_id, text),
            ) as cur:
                old_row = await cur.fetchone()
            replaced = _subscription(old_row) if old_row else None
            if replaced is not None:
                await conn.execute(
                    "UPDATE subscriptions SET active = 0, ended_at = ?, ended_reason = 'replaced'"
                    " WHERE id = ?",
                    (now, replaced.id),
                )
            cur = await conn.execute(
                "INSERT INTO subscriptions"
                " (chat_id, thread_id, threshold_8h, assets, created_by, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (chat_id, thread_id, threshold_8h, text, created_by, now),
            )
            new_id = cur.lastrowid
        assert new_id is not None
        sub = Subscription(new_id, chat_id, thread_id, threshold_8h, assets, created_by, now)
        return sub, replaced

    async def unsubscribe(
        self, chat_id: int, thread_id: int | None, assets: frozenset[str] | None
    ) -> int:
        """End this chat topic's subscriptions (assets None: all of them).

        With assets, they are taken out of every asset filter that names them; a
        filter left empty ends its subscription. Returns how many were changed.
        """
        now = self.clock()
        changed = 0
        async with self.db.transaction() as conn:
            async with conn.execute(
                "SELECT * FROM subscriptions WHERE active = 1 AND chat_id = ?"
                " AND IFNULL(thread_id, 0) = IFNULL(?, 0)",
                (chat_id, thread_id),
            ) as cur:
                rows = [_subscription(r) for r in await cur.fetchall()]
            for sub in rows:
                if assets is None:
                    keep: frozenset[str] = frozenset()
                elif sub.assets & assets:
                    keep = sub.assets - assets
                else:
                    continue
                changed += 1
                await conn.execute(
                    "UPDATE subscriptions SET active = 0, ended_at = ?, ended_reason = ?"
                    " WHERE id = ?",
                    (now, "unsubscribed", sub.id),
                )
                if keep:
                    await conn.execute(
                        "INSERT INTO subscriptions (chat_id, thread_id, threshold_8h, assets,"
                        " created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (chat_id, thread_id, sub.threshold_8h, _assets_text(keep),
                         sub.created_by, sub.created_at),
                    )  # fmt: skip
        return changed

    async def subscriptions(self, chat_id: int | None = None) -> list[Subscription]:
        """Active subscriptions, of one chat or of every active chat."""
        if chat_id is None:
            rows = await self.db.fetchall(
                "SELECT s.* FROM subscriptions s JOIN chats c USING (chat_id)"
                " WHERE s.active = 1 AND c.active = 1 ORDER BY s.id"
            )
        else:
            rows = await self.db.fetchall(
                "SELECT * FROM subscriptions WHERE active = 1 AND chat_id = ? ORDER BY id",
                (chat_id,),
            )
        return [_subscription(r) for r in rows]

    # --- chats ---------------------------------------------------------------------

    async def deactivate_chat(self, chat_id: int, reason: str) -> int:
        """The bot can no longer write there: end its subscriptions. Returns how many."""
        now = self.clock()
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE chats SET active = 0, updated_at = ? WHERE chat_id = ?", (now, chat_id)
            )
            cur = await conn.execute(
                "UPDATE subscriptions SET active = 0, ended_at = ?, ended_reason = ?"
                " WHERE chat_id = ? AND active = 1",
                (now, reason[:200], chat_id),
            )
            return cur.rowcount

    async def end_topic(self, chat_id: int, thread_id: int, reason: str) -> int:
        """A forum topic was deleted: end its subscriptions. Returns how many."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE subscriptions SET active = 0, ended_at = ?, ended_reason = ?"
                " WHERE chat_id = ? AND thread_id = ? AND active = 1",
                (self.clock(), reason[:200], chat_id, thread_id),
            )
            return cur.rowcount

    async def migrate_chat(self, old_id: int, new_id: int) -> None:
        """A group became a supergroup: everything moves to the new id."""
        now = self.clock()
        async with self.db.transaction() as conn:
            async with conn.execute("SELECT 1 FROM chats WHERE chat_id = ?", (new_id,)) as cur:
                exists = await cur.fetchone() is not None
            if exists:  # the new chat was used already: merge into it
                for table in ("subscriptions", "alert_state"):
                    await conn.execute(
                        f"UPDATE OR REPLACE {table} SET chat_id = ? WHERE chat_id = ?",
                        (new_id, old_id),
                    )
                await conn.execute(
                    "UPDATE chats SET active = 0, migrated_to = ?, updated_at = ?"
                    " WHERE chat_id = ?",
                    (new_id, now, old_id),
                )
            else:  # ON UPDATE CASCADE carries subscriptions and alert state along
                await conn.execute(
                    "UPDATE chats SET chat_id = ?, type = 'supergroup', updated_at = ?"
                    " WHERE chat_id = ?",
                    (new_id, now, old_id),
                )

    # --- alert state ---------------------------------------------------------------

    async def alert_states(self) -> dict[AlertKey, AlertState]:
        rows = await self.db.fetchall("SELECT * FROM alert_state")
        out = {}
        for r in rows:
            key = AlertKey(
                r["chat_id"],
                r["thread_id"] or None,
                r["asset"],
                r["long_venue"],
                r["short_venue"],
            )
            out[key] = AlertState(
                key, bool(r["above"]), r["last_spread"], r["last_sent_spread"], r["last_sent_at"]
            )
        return out

    async def save_states(self, states: Iterable[AlertState]) -> None:
        rows = [_state_row(s, self.clock()) for s in states]
        if not rows:
            return
        async with self.db.transaction() as conn:
            await conn.executemany(_UPSERT_STATE, rows)

    # --- the alert outbox --------------------------------------------------------------
    # A delivery is queued (with its text and the states to commit) before anything is
    # sent, marked "sending" just before its request leaves, then "sent", "failed" (Telegram
    # refused it: nothing went out) or "unknown" (no answer: it may have gone out). At start,
    # rows still queued are sent as they are and rows left "sending" are resent marked.

    async def queue_alerts(self, alerts: Sequence[QueuedAlert]) -> list[int]:
        """Queue a run's alert messages in one transaction; their ids, in order."""
        async with self.db.transaction() as conn:
            return [await _insert_delivery(conn, a) for a in alerts]

    async def queue_risk(
        self, alerts: Sequence[QueuedAlert], states: Iterable[RiskState]
    ) -> list[int]:
        """Queue the risk watch's messages and move its keys to `states`, in one
        transaction: both are written or neither. The ids of the messages, in order."""
        now = self.clock()
        async with self.db.transaction() as conn:
            ids = [await _insert_delivery(conn, a) for a in alerts]
            await conn.executemany(_UPSERT_RISK, [_risk_row(s, now) for s in states])
        return ids

    async def risk_states(self) -> dict[RiskKey, RiskState]:
        """The risk watch's state, as its last run left it."""
        rows = await self.db.fetchall("SELECT * FROM risk_state")
        out = {}
        for r in rows:
            key = RiskKey(r["kind"], r["scope"])
            out[key] = RiskState(key, bool(r["active"]), r["since"], r["value"], r["last_sent_at"])
        return out

    async def delivery_sending(self, delivery_id: int, chat_id: int) -> None:
        """Durable before the request leaves: a crash from here on makes the outcome unknown."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE deliveries SET status = 'sending', chat_id = ?, attempts = attempts + 1"
                " WHERE id = ?",
                (chat_id, delivery_id),
            )

    async def delivery_sent(
        self, delivery_id: int, message_id: int | None, states: Iterable[AlertState],
        status: str = "sent", error: str | None = None,
    ) -> None:  # fmt: skip
        """The message is out (or may be: status "unknown"): record it and commit the keys'
        new state in one transaction."""
        now = self.clock()
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE deliveries SET status = ?, message_id = ?, error = ?, finished_at = ?,"
                " text = NULL, states = NULL WHERE id = ?",
                (status, message_id, None if error is None else error[:500], now, delivery_id),
            )
            await conn.executemany(_UPSERT_STATE, [_state_row(s, now) for s in states])

    async def delivery_failed(self, delivery_id: int, error: str) -> None:
        """Telegram refused it or it never left: nothing was delivered."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE deliveries SET status = 'failed', error = ?, finished_at = ?,"
                " text = NULL, states = NULL WHERE id = ?",
                (error[:500], self.clock(), delivery_id),
            )

    async def open_deliveries(self) -> list[OpenDelivery]:
        """Deliveries a previous run queued or was sending when it stopped, oldest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM deliveries WHERE status IN ('queued', 'sending') ORDER BY id"
        )
        return [
            OpenDelivery(
                id=r["id"],
                chat_id=r["chat_id"],
                thread_id=r["thread_id"],
                created_at=r["created_at"],
                status=r["status"],
                text=r["text"] or "",
                assets=tuple(json.loads(r["assets"] or "[]")),
                states=_states_from_json(r["states"]),
            )
            for r in rows
        ]

    async def deliveries(self, chat_id: int | None = None) -> list[dict]:
        sql = "SELECT * FROM deliveries" + (" WHERE chat_id = ?" if chat_id is not None else "")
        rows = await self.db.fetchall(sql + " ORDER BY id", (chat_id,) if chat_id else ())
        return [dict(r) for r in rows]

    # --- health and retention ------------------------------------------------------------

    async def probe(self) -> None:
        """A real write: succeeds only when the database takes writes again."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES ('probe', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (repr(self.clock()),),
            )

    async def prune(self, before: float) -> dict[str, int]:
        """Drop finished deliveries, ended subscriptions, model calls, and idle alert and
        risk state older than `before`; alert state of chats with no subscription left goes
        too."""
        async with self.db.transaction() as conn:
            counts = {}
            for name, sql in _PRUNE:
                # /usage shows 30 days of model calls whatever the retention.
                cutoff = (
                    min(before, self.clock() - USAGE_DAYS * 86_400)
                    if name == "llm_calls"
                    else before
                )
                cur = await conn.execute(sql, (cutoff,) * sql.count("?"))
                counts[name] = cur.rowcount
        return counts

    # --- LLM calls -------------------------------------------------------------------

    async def record_llm_call(self, call: LlmCall) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO llm_calls (at, chat_id, asset, model, outcome, prompt_tokens,"
                " completion_tokens, cost_usd, latency_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    call.at,
                    call.chat_id,
                    call.asset,
                    call.model,
                    call.outcome,
                    call.prompt_tokens,
                    call.completion_tokens,
                    call.cost_usd,
                    call.latency_s,
                ),
            )

    async def llm_usage(self, since: float) -> LlmUsage:
        """Totals of the model calls made at or after `since`."""
        (row,) = await self.db.fetchall(
            "SELECT COUNT(*), COALESCE(SUM(outcome != 'ok'), 0),"
            " COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0),"
            " COALESCE(SUM(cost_usd), 0.0) FROM llm_calls WHERE at >= ?",
            (since,),
        )
        return LlmUsage(*row)


@dataclass(frozen=True, slots=True)
class LlmUsage:
    calls: int
    failed: int  # errors, and answers refused as invalid or contradicting the math
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


_UPSERT_STATE = (
    "INSERT INTO alert_state (chat_id, thread_id, asset, long_venue, short_venue, above,"
    " last_spread, last_sent_spread, last_sent_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (chat_id, thread_id, asset, long_venue, short_venue) DO UPDATE SET"
    " above = excluded.above, last_spread = excluded.last_spread,"
    " last_sent_spread = excluded.last_sent_spread, last_sent_at = excluded.last_sent_at,"
    " updated_at = excluded.updated_at"
)


_UPSERT_RISK = (
    "INSERT INTO risk_state (kind, scope, active, since, value, last_sent_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (kind, scope) DO UPDATE SET active = excluded.active,"
    " since = excluded.since, value = excluded.value, last_sent_at = excluded.last_sent_at,"
    " updated_at = excluded.updated_at"
)


async def _insert_delivery(conn: aiosqlite.Connection, a: QueuedAlert) -> int:
    """One queued outbox row; its id. A risk message carries no alert state: it counts as
    one alert."""
    cur = await conn.execute(
        "INSERT INTO deliveries (chat_id, thread_id, created_at, status, alerts,"
        " text, assets, states) VALUES (?, ?, ?, 'queued', ?, ?, ?, ?)",
        (a.chat_id, a.thread_id, a.created_at, len(a.states) or 1, a.text,
         json.dumps(a.assets), _states_json(a.states)),
    )  # fmt: skip
    assert cur.lastrowid is not None
    return cur.lastrowid


def _risk_row(s: RiskState, now: float) -> tuple:
    return (s.key.kind, s.key.scope, int(s.active), s.since, s.value, s.last_sent_at, now)


def _state_row(s: AlertState, now: float) -> tuple:
    k = s.key
    return (
        k.chat_id,
        k.thread_id or NO_THREAD,
        k.asset,
        k.long_venue,
        k.short_venue,
        int(s.above),
        s.last_spread,
        s.last_sent_spread,
        s.last_sent_at,
        now,
    )


def _states_json(states: Iterable[AlertState]) -> str:
    return json.dumps(
        [
            [s.key.chat_id, s.key.thread_id, s.key.asset, s.key.long_venue, s.key.short_venue,
             s.above, s.last_spread, s.last_sent_spread, s.last_sent_at]
            for s in states
        ]
    )  # fmt: skip


def _states_from_json(text: str | None) -> tuple[AlertState, ...]:
    out = []
    for chat, thread, asset, long, short, above, spread, sent_spread, sent_at in json.loads(
        text or "[]"
    ):
        key = AlertKey(chat, thread, asset, long, short)
        out.append(AlertState(key, bool(above), spread, sent_spread, sent_at))
    return tuple(out)


_PRUNE = [
    (
        "deliveries",
        "DELETE FROM deliveries WHERE status NOT IN ('queued', 'sending') AND created_at < ?",
    ),
    ("subscriptions", "DELETE FROM subscriptions WHERE active = 0 AND ended_at < ?"),
    ("llm_calls", "DELETE FROM llm_calls WHERE at < ?"),
    (
        "alert_state",
        "DELETE FROM alert_state WHERE (above = 0 AND updated_at < ?) OR NOT EXISTS ("
        " SELECT 1 FROM subscriptions s WHERE s.active = 1 AND s.chat_id = alert_state.chat_id"
        " AND IFNULL(s.thread_id, 0) = alert_state.thread_id)",
    ),
    # A condition that no longer holds (a leg closed, a book back in line) and has not
    # changed since: what it remembers (when it last alerted) no longer matters.
    ("risk_state", "DELETE FROM risk_state WHERE active = 0 AND updated_at < ?"),
]
