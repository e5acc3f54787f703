"""`/risk`, `arb-bot risk` and the keys' permissions at start, end to end: the real PTB
client against the fake Bot API, the signature-verifying fake accounts of Bybit and OKX,
and the public fake market listing the same symbols, so each leg's carry has its quote.

The sample desk (worked by hand below):
- APE, imbalanced: short 10,000 on bybit (mark 0.13791, liq 0.151701: 10.0 %
  away), long 9,000 on okx (mark 0.1378, liq 0.121264: 12.0 % away). Drift -1,000 APE,
  10.0 % of the larger side. Carry long okx (0.052 %/4 h) / short bybit (0.031 %/1 h).
- LDO, a lone long of 2,000 on okx (mark 0.35, liq 0.329: 6.0 % away, under
  ARB_LIQ_CRIT_PCT's 7): the worst book, shown first.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arb.accounts.models import KeyAccess, Position
from arb.models import Opportunity
from arb.risk import AccountRisk, BookRisk, LegRisk, RiskParams, RiskReport
from bot.render_risk import book_mark, keys_line, risk_html, withdraw_warning
from tests.bot_harness import running_bot
from tests.conftest import desk_market
from tests.fakes.venues import FakeVenues, Fault
from tests.test_cli import NOW_MS, arb_bot
from tests.venues.bybit.fake_account import FakeBybitPrivate
from tests.venues.okx.fake_account import FakeOkxPrivate

ADMIN, OTHER_ADMIN, MEMBER = 5, 7, 6
FEE = {"bybit": 0.00055, "okx": 0.0005}
TOL = 1e-9

# APE's carry by hand: short bybit 0.00031/h, long okx 0.00052/4 h = 0.00013/h.
SPREAD_H = 0.00031 - 0.00052 / 4
FEES = 2 * (FEE["okx"] + FEE["bybit"])
APR_NET = (SPREAD_H * 168 - FEES) / 168 * 8760  # 146.73 %, as /funding nets it
HELD_APR = (SPREAD_H * 168 - FEES / 2) / 168 * 8760  # 152.21 %: the entry's fees are paid
BYBIT_NEXT = 10_000 * 0.13791 * 0.00031  # a short receives a positive rate: +0.43
OKX_NEXT = -9_000 * 0.1378 * 0.00052  # a long pays it: -0.64
MARK = (10_000 * 0.13791 + 9_000 * 0.1378) / 19_000  # the legs' size-weighted mark


def hold_sample_book(bybit: FakeBybitPrivate, okx: FakeOkxPrivate) -> None:
    bybit.positions = [
        bybit.position_row("APEUSDT", "short", 10_000, 0.1379, 0.13791, -0.1, 5, liq=0.151701)
    ]
    bybit.set_balance(100_000, 80_000, upnl=-0.1, margin_ratio=0.125)
    okx.positions = [
        okx.position_row("APE-USDT-SWAP", "long", 9_000, 0.1377, 0.1378, 0.9, 5, liq=0.121264),
        okx.position_row("LDO-USDT-SWAP", "long", 2_000, 0.35, 0.35, 0.0, 3, liq=0.329),
    ]
    okx.set_balance(50_000, 40_000, upnl=0.9, margin_ratio=0.04)


def secrets_of(keys: dict[str, str]) -> list[str]:
    return [v for k, v in keys.items() if k.endswith(("_KEY", "_SECRET", "_PASSPHRASE"))]


@contextlib.asynccontextmanager
async def desk(tmp_path: Path, *, before_start=None, **env: str):
    """The running bot over the sample book; `before_start(bybit, okx)` sets the fakes up
    further before the bot reads them."""
    async with FakeVenues(desk_market()) as venues:
        bybit = FakeBybitPrivate().install(venues)
        okx = FakeOkxPrivate().install(venues)
        hold_sample_book(bybit, okx)
        if before_start is not None:
            before_start(bybit, okx)
        keys = {**bybit.env(), **okx.env()}
        settings = {"ARB_SCAN_INTERVAL_S": "3600", "ARB_ADMINS": str(ADMIN), **keys, **env}
        async with running_bot(venues, ARB_DB=str(tmp_path / "r.db"), **settings) as b:
            yield b, bybit, okx, keys


def assert_no_secret(texts: list[str], keys: dict[str, str]) -> None:
    for s in secrets_of(keys):
        assert all(s not in t for t in texts), f"{s[:6]}… leaked"


# --- /risk ------------------------------------------------------------------------------


async def test_risk_shows_every_book_worst_first_then_every_account(tmp_path, caplog):
    async with desk(tmp_path) as (b, _bybit, _okx, keys):
        reply = await b.ask("/risk", user_id=ADMIN)
        assert_no_secret([m.text or "" for m in b.tg.sent] + [caplog.text], keys)
    lines = reply.plain.split("\n")
    assert lines[0].startswith("Risk · ")
    assert lines[2:] == [
        "🔴 LDO unhedged · drift +2,000 LDO (+$700.00, 100.0%) · carry - (one side only)",
        "  okx LDO-USDT-SWAP long 2,000 LDO · mark 0.350000 · liq 0.329000 (6.0%) · 3x cross"
        " · next -$0.07",
        "",
        "🟠 APE imbalanced · drift -1,000 APE (-$137.86, 10.0%) · carry long okx / short bybit, net"
        f" {HELD_APR * 100:.1f}% APR after exit fees, next settlement -$0.22",
        "  okx APE-USDT-SWAP long 9,000 APE · mark 0.137800 · liq 0.121264 (12.0%) · 5x cross"
        " · next -$0.64",
        "  bybit APEUSDT short 10,000 APE · mark 0.137910 · liq 0.151701 (10.0%) · 5x cross"
        " · next +$0.43",
        "",
        "bybit: equity 100,000.00, margin ratio 12.5% (100% liquidates)",
        "okx: equity 50,000.00, margin ratio 4.0% (100% liquidates)",
    ]
    # The asset in bold, and each figure past a threshold: liquidation under 15 %, the drift
    # over 5 %; a carry over ARB_EXIT_APR (0) stays plain.
    assert "🔴 <b>LDO</b> unhedged · <b>drift +2,000 LDO (+$700.00, 100.0%)</b> · carry" in (
        reply.text
    )
    assert "· <b>liq 0.329000 (6.0%)</b> ·" in reply.text
    assert "· <b>liq 0.151701 (10.0%)</b> ·" in reply.text
    assert "<b>carry" not in reply.text
    assert f"{HELD_APR * 100:.1f}%" == "152.2%"


async def test_risk_without_positions_says_so(tmp_path):
    def flat(bybit, okx):
        bybit.positions, okx.positions = [], []

    async with desk(tmp_path, before_start=flat) as (b, *_rest):
        reply = await b.ask("/risk", user_id=ADMIN)
    assert reply.plain.split("\n")[1] == "No open positions."
    assert "bybit: equity 100,000.00" in reply.plain


async def test_a_venue_failing_is_named_while_the_others_book_shows(tmp_path, caplog):
    async with desk(tmp_path) as (b, _bybit, _okx, keys):
        b.venues.fail("okx", "/api/v5/account/positions", Fault.http(503))
        reply = await b.ask("/risk", user_id=ADMIN)
        assert_no_secret([reply.text or "", caplog.text], keys)
    lines = reply.plain.split("\n")
    # Without okx's legs, bybit's short APE stands alone.
    assert lines[2].startswith("🟠 APE unhedged · drift -10,000 APE (")
    assert lines[3].startswith("  bybit APEUSDT short 10,000 APE · mark 0.137910")
    (failed,) = [line for line in lines if line.startswith("⚠ okx")]
    assert failed.startswith("⚠ okx: unreadable (") and "503" in failed
    assert "LDO" not in reply.plain


async def test_a_refused_key_is_named_its_permissions_unknown_and_never_shown(tmp_path, caplog):
    """Bybit's refusal of a signature echoes the string it signed, key included."""
    caplog.set_level(logging.DEBUG)
    wrong = {"BYBIT_API_SECRET": "not-the-bybit-secret"}
    async with desk(tmp_path, **wrong) as (b, bybit, _okx, keys):
        await b.settled()
        reply = await b.ask("/risk", user_id=ADMIN)
        status = await b.ask("/status")
        assert_no_secret([m.text or "" for m in b.tg.sent] + [caplog.text], {**keys, **wrong})
    assert bybit.refused >= 1
    (failed,) = [line for line in reply.plain.split("\n") if line.startswith("⚠ bybit")]
    assert failed.startswith("⚠ bybit: unreadable (") and "key refused" in failed
    assert "APE unhedged · drift +9,000 APE" in reply.plain  # okx's leg, alone
    assert status.plain.split("\n")[-1] == "Keys: bybit permissions unknown, okx read-only"
    assert b.desk.keys["bybit"].detail.startswith("not read: ")


@pytest.mark.parametrize(
    ("user", "chat", "answer"),
    [
        (MEMBER, {}, "Only the desk's admins (ARB_ADMINS) can see the accounts."),
        (ADMIN, {"chat_id": -100999, "chat_type": "supergroup"},
         "Account figures are shown in a private chat with the bot, or in a group listed in "
         "ARB_ALLOWED_CHATS."),
    ],
)  # fmt: skip
async def test_risk_is_refused_to_a_member_and_in_an_unlisted_group(tmp_path, user, chat, answer):
    async with desk(tmp_path) as (b, bybit, okx, _keys):
        await b.settled()
        asked = [len(f.signed_paths) for f in (bybit, okx)]
        reply = await b.ask("/risk", user_id=user, **chat)
        assert reply.text == answer
        assert [len(f.signed_paths) for f in (bybit, okx)] == asked  # nothing was read


async def test_without_keys_risk_says_how_to_set_them_and_status_has_no_key_line(tmp_path):
    async with (
        FakeVenues(desk_market()) as venues,
        running_bot(venues, ARB_ADMINS=str(ADMIN), ARB_DB=str(tmp_path / "k.db")) as b,
    ):
        reply = await b.ask("/risk", user_id=ADMIN)
        status = await b.ask("/status")
    assert reply.text.startswith("No venue keys are set. Put read-only keys in .env: ")
    assert "Keys:" not in status.plain


async def test_help_names_risk(tmp_path):
    async with desk(tmp_path) as (b, *_rest):
        reply = await b.ask("/help")
    assert "/risk shows each open book's distance to liquidation, drift and carry" in reply.text


# --- keys are for reading ---------------------------------------------------------------


async def test_a_key_that_can_withdraw_is_told_to_every_admin_and_shown_in_status(tmp_path, caplog):
    def withdraws(bybit, okx):
        bybit.can_trade = bybit.can_withdraw = True
        okx.can_trade = True

    admins = f"{ADMIN},{OTHER_ADMIN}"
    with caplog.at_level(logging.WARNING):
        async with desk(tmp_path, before_start=withdraws, ARB_ADMINS=admins) as (b, *_, keys):
            await b.settled()
            warned = {m.chat_id: m for m in b.tg.sent if "can withdraw" in (m.text or "")}
            status = await b.ask("/status")
            assert_no_secret([m.text or "" for m in b.tg.sent] + [caplog.text], keys)
    assert set(warned) == {ADMIN, OTHER_ADMIN}
    text = warned[ADMIN].plain
    assert text.startswith(
        "⚠️ The bybit key can withdraw funds: replace it with a read-only key. (bybit says: "
    )
    assert "put it in BYBIT_API_KEY/BYBIT_API_SECRET and restart the bot" in text
    assert "<b>The bybit key can withdraw funds" in warned[ADMIN].text
    assert [r.levelname for r in caplog.records if "can withdraw" in r.getMessage()] == ["WARNING"]
    assert status.plain.split("\n")[-1] == "Keys: bybit ⚠️ CAN WITHDRAW, okx can trade"


async def test_status_says_which_keys_are_read_only(tmp_path):
    async with desk(tmp_path) as (b, *_rest):
        await b.settled()
        status = await b.ask("/status")
        warned = [m for m in b.tg.sent if "can withdraw" in (m.text or "")]
    assert warned == []
    assert status.plain.split("\n")[-1] == "Keys: bybit read-only, okx read-only"
    assert set(b.desk.keys) == {"bybit", "okx"}


async def test_a_key_whose_permissions_cannot_be_read_is_unknown_and_says_why(tmp_path):
    async with desk(tmp_path) as (b, *_rest):
        b.venues.fail("bybit", "/v5/user/query-api", Fault.http(500))
        keys = await b.desk.accounts.key_access(deadline_s=5)
    assert (keys["bybit"].can_trade, keys["bybit"].can_withdraw) == (None, None)
    assert keys["bybit"].detail.startswith("not read: ") and "500" in keys["bybit"].detail


# --- arb-bot risk ------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def cli_desk():
    async with FakeVenues(desk_market(NOW_MS)) as venues:
        bybit = FakeBybitPrivate().install(venues)
        okx = FakeOkxPrivate().install(venues)
        hold_sample_book(bybit, okx)
        yield venues, {**bybit.env(), **okx.env()}


async def test_arb_bot_risk_json_matches_the_book_worked_by_hand(tmp_path):
    async with cli_desk() as (venues, keys):
        code, out, err = await arb_bot(venues, "risk", "--json", tmp_path=tmp_path, **keys)
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert [b["asset"] for b in doc["books"]] == ["LDO", "APE"]  # nearest liquidation first
    ape = doc["books"][1]
    assert ape["status"] == "imbalanced"
    by_venue = {leg["venue"]: leg for leg in ape["legs"]}
    assert abs(by_venue["bybit"]["liq_distance_pct"] - 0.013791 / 0.13791 * 100) <= TOL
    assert abs(by_venue["okx"]["liq_distance_pct"] - 0.016536 / 0.1378 * 100) <= TOL
    assert abs(ape["worst_liq_pct"] - 10.0) <= 1e-6
    assert ape["drift_coins"] == -1_000
    assert abs(ape["drift_usd"] - -1_000 * MARK) <= TOL
    assert abs(ape["drift_pct"] - 10.0) <= TOL
    carry = ape["carry"]
    assert (carry["long_venue"], carry["short_venue"]) == ("okx", "bybit")
    assert abs(carry["spread_hourly"] - SPREAD_H) <= TOL
    assert abs(carry["fees_round_trip"] - FEES) <= TOL
    assert abs(carry["apr_net"] - APR_NET) <= TOL
    assert abs(ape["carry_apr"] - HELD_APR) <= TOL
    assert abs(by_venue["bybit"]["next_payment_usd"] - BYBIT_NEXT) <= TOL
    assert abs(by_venue["okx"]["next_payment_usd"] - OKX_NEXT) <= TOL
    assert abs(ape["next_settlement_usd"] - (BYBIT_NEXT + OKX_NEXT)) <= TOL
    # Each leg's next payment falls at its own venue's next settlement: hourly on bybit,
    # every 4 h on okx.
    hour = 3_600_000
    assert by_venue["bybit"]["funding"]["next_funding_time"] == (NOW_MS // hour + 1) * hour
    four = 4 * hour
    assert by_venue["okx"]["funding"]["next_funding_time"] == (NOW_MS // four + 1) * four
    ldo = doc["books"][0]
    assert (ldo["status"], ldo["carry"], ldo["drift_pct"]) == ("unhedged", None, 100.0)
    assert abs(ldo["legs"][0]["next_payment_usd"] - -2_000 * 0.35 * 0.0001) <= TOL
    accounts = {a["venue"]: a for a in doc["accounts"]}
    assert accounts["bybit"] == {
        "venue": "bybit", "equity": 100_000.0, "margin_ratio": 0.125, "error": None,
    }  # fmt: skip
    assert accounts["okx"] == {
        "venue": "okx", "equity": 50_000.0, "margin_ratio": 0.04, "error": None,
    }  # fmt: skip


async def test_arb_bot_risk_text_and_exit_1_when_an_account_is_unreadable(tmp_path):
    async with cli_desk() as (venues, keys):
        code, out, err = await arb_bot(venues, "risk", tmp_path=tmp_path, **keys)
        assert (code, err) == (0, "")
        assert out.split("\n")[:3] == [
            out.split("\n")[0],
            "",
            "LDO unhedged · drift +2,000 LDO (+$700.00, 100.0%) · carry - (one side only)",
        ]
        assert out.startswith("Risk at ") and ": 2 books, worst first" in out.split("\n")[0]
        bad = {**keys, "OKX_API_SECRET": "not-the-okx-secret"}
        code, out, err = await arb_bot(venues, "-v", "risk", tmp_path=tmp_path, **bad)
    assert code == 1
    assert "APE unhedged · drift -10,000 APE" in out
    (okx,) = [line for line in out.split("\n") if line.startswith("okx:")]
    assert okx.startswith("okx: unreadable (")
    assert_no_secret([out, err], bad)
    assert_no_secret([out, err], keys)


async def test_arb_bot_risk_without_keys_exits_2_naming_the_key_variables(tmp_path):
    async with FakeVenues(desk_market(NOW_MS)) as venues:
        code, out, err = await arb_bot(venues, "risk", tmp_path=tmp_path)
    assert (code, out) == (2, "")
    (line,) = err.strip().split("\n")
    assert line.startswith("arb-bot risk: no venue keys are set. Put read-only keys in .env: ")
    assert "BYBIT_API_KEY/BYBIT_API_SECRET" in line
    assert "OKX_API_KEY/OKX_API_SECRET/OKX_API_PASSPHRASE" in line


# --- the HTML itself ---------------------------------------------------------------------


def leg(
    venue: str, side: str, size: float, mark: float, liq: float | None, asset: str = "A<B"
) -> LegRisk:
    p = Position(venue, asset, f"{asset}&USDT", side, size, mark, mark, 0.0, 5.0, liq)  # type: ignore[arg-type]
    distance = None if liq is None else abs(mark - liq) / mark * 100
    return LegRisk(p, None, distance, None)


def report(*books: BookRisk, accounts: tuple[AccountRisk, ...] = ()) -> RiskReport:
    return RiskReport(books, accounts, 1_789_015_942.0)


def test_every_dynamic_value_is_escaped():
    book = BookRisk("A<B", (leg("bybit", "long", 1, 10.0, 9.0),), "unhedged", 1.0, 10.0,
                    100.0, None, None)  # fmt: skip
    broken = AccountRisk("okx", None, None, "okx: HTTP 502 <html>&nbsp;</html>")
    html = risk_html(report(book, accounts=(broken,)), RiskParams())
    assert "<b>A&lt;B</b> unhedged" in html
    assert "A&lt;B&amp;USDT" in html
    assert "⚠ okx: unreadable (HTTP 502 &lt;html&gt;&amp;nbsp;&lt;/html&gt;)" in html
    assert "<html>" not in html


TEXT = st.text(alphabet=st.sampled_from("<>&;/\"' abAB1é"), min_size=1, max_size=12)


@given(asset=TEXT, error=TEXT)
def test_no_text_from_a_venue_ever_becomes_markup(asset, error):
    book = BookRisk(asset, (leg("bybit", "short", 2, 10.0, 10.5, asset),), "unhedged", -2.0,
                    -20.0, 100.0, None, None)  # fmt: skip
    html = risk_html(report(book, accounts=(AccountRisk("okx", None, None, error),)), RiskParams())
    tags = re.findall(r"<[^>]*>", html)
    assert set(tags) <= {"<b>", "</b>"}
    assert re.fullmatch(r"(?:[^&]|&(?:lt|gt|amp);)*", html)


@given(liq=st.floats(0.0, 100.0), drift=st.floats(0.0, 100.0))
def test_the_mark_is_red_exactly_under_the_critical_distance(liq, drift):
    params = RiskParams()
    mark = 100.0
    legs = (leg("bybit", "long", 1, mark, mark * (1 - liq / 100)),)
    book = BookRisk("BTC", legs, "hedged", 0.0, 0.0, drift, None, None)
    distance = legs[0].liq_distance_pct
    assert (book_mark(book, params) == "🔴") == (distance < params.liq_crit_pct)
    warned = distance < params.liq_warn_pct or drift > params.max_drift_pct
    assert (book_mark(book, params) == "🟢") == (not warned)


def test_the_mark_follows_the_worst_figure():
    params = RiskParams(liq_warn_pct=15, liq_crit_pct=7, max_drift_pct=5, exit_apr=0.1)

    def book(liq_pct: float | None, drift_pct: float = 0.0, apr: float | None = None):
        mark = 100.0
        liq = None if liq_pct is None else mark * (1 - liq_pct / 100)
        legs = (leg("bybit", "long", 1, mark, liq), leg("okx", "short", 1, mark, None))
        carry = None if apr is None else _carry(apr)
        return BookRisk("BTC", legs, "hedged", 0.0, 0.0, drift_pct, carry, None)

    assert book_mark(book(6.9), params) == "🔴"
    assert book_mark(book(7.0), params) == "🟠"
    assert book_mark(book(14.9), params) == "🟠"
    assert book_mark(book(15.0), params) == "🟢"
    assert book_mark(book(None), params) == "🟢"
    assert book_mark(book(50, drift_pct=5.1), params) == "🟠"
    assert book_mark(book(50, drift_pct=5.0), params) == "🟢"
    assert book_mark(book(50, apr=0.09), params) == "🟠"
    assert book_mark(book(50, apr=0.1), params) == "🟢"


def _carry(held_apr: float) -> Opportunity:
    """A carry whose held book nets `held_apr` (no fees: its spread alone)."""
    values = dict.fromkeys(Opportunity.__struct_fields__)
    terms = {"spread_hourly": held_apr / 8760, "fees_round_trip": 0.0, "horizon_h": 168.0}
    return Opportunity(**{**values, **terms})  # type: ignore[arg-type]


def test_keys_line_and_the_warning():
    keys = [
        KeyAccess("bybit", False, False),
        KeyAccess("okx", True, False),
        KeyAccess("bitget", True, True, "authorities=<withdraw>"),
        KeyAccess("gate", None, None, "no way to read a key's permissions"),
    ]
    assert keys_line(keys) == (
        "Keys: bybit read-only, okx can trade, bitget ⚠️ CAN WITHDRAW, gate permissions unknown"
    )
    assert keys_line([]) is None
    warning = withdraw_warning(keys[2])
    assert warning.startswith("⚠️ <b>The bitget key can withdraw funds: replace it with a")
    assert "(bitget says: authorities=&lt;withdraw&gt;)" in warning
    assert "BITGET_API_KEY/BITGET_API_SECRET/BITGET_API_PASSPHRASE" in warning
