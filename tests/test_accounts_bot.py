"""`/balance`, `/positions`, `/pnl` end to end: the real PTB client, the fake Bot API, and
fake private APIs of Bybit, Binance and OKX that check every signature by the venue's rules.

The desk holds a carry on APE (short 10,000 on bybit, long 10,000 on okx), one on PEPE
(short 3,000 lots of 1000PEPE on bybit = 3,000,000 PEPE, long 3,000,000 PEPE on okx,
0.3 contracts of 10,000,000) and a lone LDO long on binance.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest

from tests.bot_harness import running_bot
from tests.conftest import desk_market
from tests.fakes.venues import FakeVenues
from tests.venues.binance.fake_account import FakeBinancePrivate
from tests.venues.bybit.fake_account import FakeBybitPrivate
from tests.venues.okx.fake_account import FakeOkxPrivate

ADMIN, MEMBER, GROUP = 5, 6, -100777
DAY_MS = 86_400_000


def now_ms() -> int:
    return int(time.time() * 1000)


@contextlib.asynccontextmanager
async def desk(tmp_path: Path, *, bybit_secret: str | None = None, **env: str):
    async with FakeVenues(desk_market()) as venues:
        bybit = FakeBybitPrivate().install(venues)
        binance = FakeBinancePrivate().install(venues)
        okx = FakeOkxPrivate().install(venues)
        bybit.set_balance(100_000, 80_000, upnl=-12.5)
        binance.balances = []
        binance.set_balance("USDT", 25_000, 5.0, available=20_000)
        okx.set_balance(50_000, 40_000, upnl=2.0)
        bybit.positions = [
            bybit.position_row("APEUSDT", "short", 10_000, 0.1379, 0.13791, -0.1, 5),
            bybit.position_row("1000PEPEUSDT", "short", 3_000, 0.0036, 0.0036339, -1.0),
        ]
        okx.positions = [
            okx.position_row("APE-USDT-SWAP", "long", 10_000, 0.1377, 0.1378, 1.0, 5),
            okx.position_row("PEPE-USDT-SWAP", "long", 3_000_000, 0.0000036, 0.0000036337, 0.1, 3),
        ]
        binance.positions = [binance.position_row("LDOUSDT", "long", 500, 0.35, 0.3499, -0.05)]
        t = now_ms()
        bybit.settlements = [bybit.funding_row("APEUSDT", 10.7, t - DAY_MS)]
        binance.income = [binance.funding_row("LDOUSDT", -1.5, t - 2 * DAY_MS)]
        okx.bills = [
            okx.funding_row("APE-USDT-SWAP", 3.2, t - DAY_MS),
            okx.funding_row("APE-USDT-SWAP", 5.0, t - 20 * DAY_MS),  # only in 30 days
        ]
        keys = {**bybit_env(bybit, bybit_secret), **binance.env(), **okx.env()}
        settings = {"ARB_SCAN_INTERVAL_S": "3600", "ARB_ADMINS": str(ADMIN), **keys, **env}
        async with running_bot(venues, ARB_DB=str(tmp_path / "a.db"), **settings) as b:
            yield b, bybit, binance, okx, keys


def bybit_env(bybit: FakeBybitPrivate, secret: str | None) -> dict[str, str]:
    return {"BYBIT_API_KEY": bybit.key, "BYBIT_API_SECRET": secret or bybit.secret}


def assert_no_secret(b, keys: dict[str, str], caplog, db: Path) -> None:
    secrets = [v for k, v in keys.items() if "SECRET" in k or "PASSPHRASE" in k or "KEY" in k]
    texts = [m.text or m.caption or "" for m in b.tg.sent] + [caplog.text]
    stored = db.read_bytes() + b"".join(p.read_bytes() for p in db.parent.glob("a.db-*"))
    for s in secrets:
        assert all(s not in t for t in texts), f"{s[:6]}… leaked into a reply or a log"
        assert s.encode() not in stored


async def test_admin_sees_balances_positions_and_funding_from_all_three(tmp_path, caplog):
    async with desk(tmp_path) as (b, *_fakes, keys):
        bal = await b.ask("/balance", user_id=ADMIN)
        pos = await b.ask("/positions", user_id=ADMIN)
        week = await b.ask("/pnl", user_id=ADMIN)
        month = await b.ask("/pnl 30d", user_id=ADMIN)
        assert_no_secret(b, keys, caplog, tmp_path / "a.db")
    # binance's equity is its wallet plus unrealised PnL: 25,000 + 5
    rows = bal.plain.split("\n")
    assert rows[0].startswith("Balances · ")
    assert [r.split()[:2] for r in rows[2:6]] == [
        ["binance", "USDT"], ["bybit", "USD"], ["okx", "USD"], ["total", "175,005.00"],
    ]  # fmt: skip
    assert rows[1:] == [
        "venue            equity available   uPnL",
        "binance USDT  25,005.00 20,000.00  +5.00",
        "bybit USD    100,000.00 80,000.00 -12.50",
        "okx USD       50,000.00 40,000.00  +2.00",
        "total        175,005.00",
    ]

    assert "⚠ LDO: long 500 on binance has no short leg" in pos.plain
    # net at each leg's mark: 10,000 x 0.1378 (okx) - 10,000 x 0.13791 (bybit) = -$1.1
    assert "APE ✅ hedged · net +0 APE (-$1) · uPnL +0.90" in pos.plain
    assert "PEPE ✅ hedged · net +0 PEPE" in pos.plain
    assert "bybit short 3,000,000 @ 0.00000360000" in pos.plain  # 1000PEPE lots -> PEPE
    assert "okx long 10,000 @ 0.137700" in pos.plain  # 100,000 contracts of 0.1 APE

    assert week.plain.split("\n")[1:10] == [
        "venue   asset amount",
        "binance LDO    -1.50",
        "        total  -1.50",
        "bybit   APE   +10.70",
        "        total +10.70",
        "okx     APE    +3.20",
        "        total  +3.20",
        "all           +12.40",
        "Positive: received. Settle currency (USDT/USD).",
    ]
    assert "okx     APE    +8.20" in month.plain and "all           +17.40" in month.plain
    assert "PEPE ✅ hedged · net +0 PEPE (+$0) · uPnL -0.90" in pos.plain


async def test_a_wrong_secret_is_named_and_the_other_venues_still_answer(tmp_path, caplog):
    async with desk(tmp_path, bybit_secret="not-the-bybit-secret") as (b, bybit, *_rest, keys):
        bal = await b.ask("/balance", user_id=ADMIN)
        assert_no_secret(b, keys, caplog, tmp_path / "a.db")
    assert bybit.refused >= 1
    (error,) = [line for line in bal.plain.split("\n") if line.startswith("⚠")]
    assert error.startswith("⚠ bybit /v5/account/wallet-balance: key refused")
    assert "binance USDT" in bal.plain and "okx USD" in bal.plain


async def test_a_drifting_clock_recovers_by_itself(tmp_path):
    async with desk(tmp_path) as (b, _bybit, _binance, okx, _keys):
        await b.ask("/balance", user_id=ADMIN)  # every client synced its clock
        okx.skew_ms += 45_000  # OKX's clock runs 45 s ahead: beyond its 30 s window
        time_calls = okx.time_calls
        bal = await b.ask("/balance", user_id=ADMIN)
    assert okx.refused == 1 and okx.time_calls == time_calls + 1
    assert "okx USD" in bal.plain and "⚠" not in bal.plain


@pytest.mark.parametrize(
    ("text", "user", "chat", "answer"),
    [
        ("/balance", MEMBER, {}, "Only the desk's admins (ARB_ADMINS) can see the accounts."),
        ("/positions", ADMIN, {"chat_id": -100999, "chat_type": "supergroup"},
         "Account figures are shown in a private chat with the bot, or in a group listed in "
         "ARB_ALLOWED_CHATS."),
        ("/pnl 1y", ADMIN, {}, "Usage: /pnl [7d|30d], e.g. /pnl 30d"),
    ],
)  # fmt: skip
async def test_account_commands_are_for_admins_in_private_or_allowed_chats(
    tmp_path, text, user, chat, answer
):
    async with desk(tmp_path) as (b, bybit, binance, okx, _keys):
        await b.settled()  # the start's own reads: the keys' permissions, the first risk read
        asked = [(f.time_calls, len(f.signed_paths)) for f in (bybit, binance, okx)]
        reply = await b.ask(text, user_id=user, **chat)
        assert reply.text == answer
        assert (bybit.refused, binance.refused, okx.refused) == (0, 0, 0)
        # nothing was asked of any venue
        assert [(f.time_calls, len(f.signed_paths)) for f in (bybit, binance, okx)] == asked


async def test_an_allowed_group_gets_the_figures(tmp_path):
    allowed = f"{GROUP},1001"
    async with desk(tmp_path, ARB_ALLOWED_CHATS=allowed) as (b, *_rest):
        reply = await b.ask("/balance", user_id=ADMIN, chat_id=GROUP, chat_type="supergroup")
    assert reply.plain.startswith("Balances")


async def test_without_keys_the_commands_say_how_to_set_them(tmp_path):
    db = str(tmp_path / "k.db")
    async with (
        FakeVenues(desk_market()) as venues,
        running_bot(venues, ARB_ADMINS=str(ADMIN), ARB_DB=db) as b,
    ):
        reply = await b.ask("/balance", user_id=ADMIN)
    assert reply.text.startswith("No venue keys are set. Put read-only keys in .env")
    named = reply.text.split(": ", 1)[1].rstrip(".").split(", ")
    keys = {v: f"{v}_API_KEY/{v}_API_SECRET" for v in ("BYBIT", "BINANCE", "OKX", "BITGET", "GATE")}
    for v in ("OKX", "BITGET"):  # they sign with a passphrase too
        keys[v] += f"/{v}_API_PASSPHRASE"
    assert named == list(keys.values())
    assert "HYPERLIQUID" not in reply.text  # no account client there


async def test_pnl_says_when_a_venue_had_more_settlements_than_it_may_page_through(tmp_path):
    async with desk(tmp_path) as (b, bybit, *_rest):
        t = now_ms()
        # 2,100 settlements in the last week: 42 pages of 50, over Bybit's bound of 40.
        bybit.settlements = [
            bybit.funding_row("APEUSDT", 0.01, t - i * 240_000) for i in range(1, 2101)
        ]
        pnl = await b.ask("/pnl", user_id=ADMIN)
    (warning,) = [line for line in pnl.plain.split("\n") if line.startswith("⚠ bybit")]
    assert warning.startswith(
        "⚠ bybit: more settlements than the request limit pages through; complete from "
    )
    assert warning.endswith(" UTC only")
