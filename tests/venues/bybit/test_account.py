"""Bybit's signed account client: the signer on known answers, the parsers on the recorded
shapes, and the client against the fake private API (paging, request bound, refused keys,
a drifting server clock)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from urllib.parse import parse_qsl, urlencode

import pytest

from arb.accounts.base import AuthError, Credentials
from arb.accounts.models import Balance, FundingPayment, Position
from arb.http import ReplyError
from arb.venues.bybit import account as bybit
from arb.venues.bybit.account import (
    MAX_FUNDING_REQUESTS,
    POSITION_LIST,
    TRANSACTION_LOG,
    WALLET_BALANCE,
)
from tests.conftest import T0_MS, fixture_bytes
from tests.fakes.private_base import Held
from tests.fakes.venues import Fault
from tests.venues.bybit.fake_account import FakeBybitPrivate

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
ROWS = FakeBybitPrivate()  # the row builders, for the parsers' tests
position_row, funding_row = ROWS.position_row, ROWS.funding_row

# --- signing: known answers -------------------------------------------------------

DOCS_TS, DOCS_KEY, DOCS_WINDOW = 1658384314791, "XXXXXXXXXX", 5000
DOCS_QUERY = "category=option&symbol=BTC-29JUL22-25000-C"
DOCS_STRING = "1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C"
SECRET = "test-secret-0123456789"


def test_the_string_to_sign_is_the_docs_example():
    params = {"category": "option", "symbol": "BTC-29JUL22-25000-C"}
    assert bybit.query_string(params) == DOCS_QUERY
    assert bybit.string_to_sign(DOCS_TS, DOCS_KEY, DOCS_WINDOW, DOCS_QUERY) == DOCS_STRING


def test_the_signature_is_lowercase_hex_hmac_sha256():
    expected = hmac.new(SECRET.encode(), DOCS_STRING.encode(), hashlib.sha256).hexdigest()
    signature = bybit.sign(SECRET, DOCS_STRING)
    assert signature == expected
    assert len(signature) == 64 and signature == signature.lower()


def test_auth_headers_sign_the_payload_they_are_given():
    headers = bybit.auth_headers(Credentials(DOCS_KEY, SECRET), DOCS_TS, DOCS_QUERY)
    assert headers == {
        "X-BAPI-API-KEY": DOCS_KEY,
        "X-BAPI-TIMESTAMP": str(DOCS_TS),
        "X-BAPI-RECV-WINDOW": "5000",
        "X-BAPI-SIGN": hmac.new(SECRET.encode(), DOCS_STRING.encode(), "sha256").hexdigest(),
    }


def test_the_query_is_encoded_like_the_wire_not_like_urlencode():
    """A venue cursor holds ':' and ','; aiohttp (yarl) leaves them, urlencode does not."""
    params = {"category": "linear", "limit": "200", "cursor": "200:1,200:1"}
    assert bybit.query_string(params) == "category=linear&limit=200&cursor=200:1,200:1"
    assert urlencode(params) != bybit.query_string(params)


# --- parsing the recorded replies -----------------------------------------------


def test_server_time_fixture():
    assert bybit.parse_server_time(fixture_bytes("bybit/v5_market_time.json")) == T0_MS


def test_balance_fixture_is_one_usd_account():
    balances = bybit.parse_balances(fixture_bytes("bybit/v5_account_wallet_balance.json"))
    assert balances == [
        Balance("bybit", "USD", 25187.63921145, 23190.24100505, 14.22114914, margin_ratio=0.0081)
    ]


def test_position_fixture():
    page = bybit.parse_position_page(fixture_bytes("bybit/v5_position_list_linear.json"))
    ape, ldo = page.items
    assert ape == Position(
        "bybit", "APE", "APEUSDT", "short", 250000.0, 0.13801, 0.13791, 25.0, 10.0, None,
        adl_rank=2,
    )  # fmt: skip
    assert ldo.side == "long" and ldo.size == 60000.0 and ldo.unrealised_pnl == -12.0
    assert ldo.notional == pytest.approx(21000.0)
    assert page.cursor == "" and page.rows == 2


def test_settlement_fixture():
    page = bybit.parse_funding_page(
        fixture_bytes("bybit/v5_account_transaction_log_settlement.json")
    )
    assert page.items[0] == FundingPayment(
        "bybit", "APE", "APEUSDT", 10.703525, "USDT", 1789012800000
    )
    assert [(p.asset, p.amount, p.time_ms) for p in page.items[1:]] == [
        ("APE", 10.00065, 1789009200000),
        ("LDO", 1.704493, 1789012800000),
    ]


def envelope(rows: list[dict], cursor: str = "") -> bytes:
    result = {"list": rows, "nextPageCursor": cursor}
    return json.dumps({"retCode": 0, "retMsg": "OK", "result": result}).encode()


def test_positions_convert_1000x_symbols_and_skip_junk():
    rows = [
        position_row("1000PEPEUSDT", "long", 2_000_000, 0.0036, 0.0036339, 67.8, 5, 0.003),
        position_row("BTCPERP", "short", 0.5, 77600, 77607.4, -3.7),
        dict(position_row("APEUSDT", "long", 1, 1, 1, 0), size="0"),
        dict(position_row("APEUSDT", "long", 1, 1, 1, 0), size=""),
        dict(position_row("APEUSDT", "long", 1, 1, 1, 0), size="abc"),
        dict(position_row("APEUSDT", "long", 1, 1, 1, 0), side=""),
        position_row("BTCUSDT-11SEP26", "long", 1, 77600, 77600, 0),  # dated future
        position_row("BTCUSD", "long", 100, 77600, 77600, 0),  # inverse
    ]
    page = bybit.parse_position_page(envelope(rows, cursor="21963%3A1%2C14954%3A1"))
    pepe, btc = page.items
    assert (pepe.asset, pepe.symbol, pepe.side) == ("PEPE", "1000PEPEUSDT", "long")
    assert pepe.size == 2_000_000_000.0
    assert pepe.entry_price == pytest.approx(0.0000036)
    assert pepe.mark_price == pytest.approx(0.0000036339)
    assert pepe.liquidation_price == pytest.approx(0.000003)
    assert pepe.notional == pytest.approx(2_000_000 * 0.0036339)  # the venue's own value
    assert (pepe.leverage, pepe.unrealised_pnl) == (5.0, 67.8)
    assert (btc.asset, btc.side, btc.size, btc.signed_size) == ("BTC", "short", 0.5, -0.5)
    # The venue's cursor comes URL-encoded; it goes back into params decoded.
    assert page.cursor == "21963:1,14954:1" and page.rows == len(rows)


def test_settlements_skip_junk_and_keep_signs():
    good = funding_row("SOPHUSDT", -2.5, 1789012800000)
    rows = [
        good,
        funding_row("1000PEPEUSDT", 0.25, 1789012800000),
        funding_row("BTCPERP", 1.5, 1789012800000, currency="USDC"),
        dict(good, funding=""),
        dict(good, funding="abc"),
        dict(good, funding="0"),  # a USDC session settlement: no funding moved
        dict(good, transactionTime=""),
        dict(good, type="TRADE"),
        dict(good, symbol="BTCUSDT-11SEP26"),
    ]
    assert bybit.parse_funding_page(envelope(rows)).items == [
        FundingPayment("bybit", "SOPH", "SOPHUSDT", -2.5, "USDT", 1789012800000),
        FundingPayment("bybit", "PEPE", "1000PEPEUSDT", 0.25, "USDT", 1789012800000),
        FundingPayment("bybit", "BTC", "BTCPERP", 1.5, "USDC", 1789012800000),
    ]


@pytest.mark.parametrize(
    ("path", "code", "retryable"),
    [
        ("bybit/error_10002_timestamp.json", "10002", False),
        ("bybit/error_10004_sign.json", "10004", False),
        ("bybit/error_10006_rate_limit.json", "10006", True),
    ],
)
@pytest.mark.parametrize(
    "parse", [bybit.parse_balances, bybit.parse_position_page, bybit.parse_funding_page]
)
def test_error_envelopes_are_reply_errors(parse, path, code, retryable):
    with pytest.raises(ReplyError) as e:
        parse(fixture_bytes(path))
    assert (e.value.code, e.value.retryable) == (code, retryable)


def test_a_refused_signature_does_not_repeat_the_signed_string():
    """The venue's 10004 message echoes the string signed, key included."""
    with pytest.raises(ReplyError) as e:
        bybit.parse_balances(fixture_bytes("bybit/error_10004_sign.json"))
    assert "XXXXXXXXXX" not in str(e.value) and "signature refused" in e.value.message


def test_funding_windows_cover_thirty_days_in_weeks_newest_first():
    windows = bybit.funding_windows(T0_MS - 30 * DAY_MS, T0_MS)
    assert windows[0][1] == T0_MS and windows[-1][0] == T0_MS - 30 * DAY_MS
    assert [hi - lo for lo, hi in windows] == [7 * DAY_MS] * 4 + [2 * DAY_MS]
    assert all(newer[0] == older[1] for newer, older in itertools.pairwise(windows))
    assert bybit.funding_windows(T0_MS, T0_MS) == []
    params = bybit.settlement_params(*windows[0], cursor="")
    assert (params["startTime"], params["endTime"]) == (str(T0_MS - 7 * DAY_MS), str(T0_MS - 1))


def test_a_walk_cut_short_keeps_only_what_it_can_vouch_for():
    def pay(t: int) -> FundingPayment:
        return FundingPayment("bybit", "APE", "APEUSDT", 1.0, "USDT", t)

    fetched = [pay(t) for t in (900, 800, 700, 700)]
    # Stopped inside the window [0, 1000): time 700 may go on in the next page.
    assert bybit.cut_short(fetched, 1000, mid_window=True) == ([pay(900), pay(800)], 700)
    # Stopped before asking for the window [0, 700): everything from 700 on is complete.
    assert bybit.cut_short(fetched, 700, mid_window=False) == (fetched, 699)
    assert bybit.cut_short(fetched, 700, mid_window=True) == (fetched, 699)


# --- the client against the fake private API ---------------------------------------


async def test_balances(desk):
    client = desk.client()
    assert await client.balances() == [
        Balance("bybit", "USD", 25187.63921145, 23190.24100505, 14.22114914, 0.0081)
    ]
    desk.account.set_balance(100_000.5, 80_000.25, upnl=-12.5)
    assert await client.balances() == [Balance("bybit", "USD", 100_000.5, 80_000.25, -12.5)]
    assert desk.account.time_calls == 1 and desk.account.refused == 0


async def test_positions_page_through_both_settle_coins_and_convert_1000x(desk):
    many = [position_row(f"C{i:03d}USDT", "long", 10, 1.0, 1.1, 1.0) for i in range(250)]
    pepe = position_row("1000PEPEUSDT", "short", 3_000, 0.0036, 0.0036339, -1.0)
    btc = position_row("BTCPERP", "long", 0.25, 77_000, 77_607.4, 151.85)
    closed = dict(position_row("LDOUSDT", "long", 1, 0.35, 0.35, 0), size="0")
    desk.account.positions += [*many, pepe, closed, btc]
    client = desk.client()
    positions = await client.positions()
    assert [p.symbol for p in positions] == [
        "APEUSDT",
        "LDOUSDT",
        *(f"C{i:03d}USDT" for i in range(250)),
        "1000PEPEUSDT",
        "BTCPERP",
    ]
    got_pepe = positions[-2]
    assert (got_pepe.asset, got_pepe.side, got_pepe.size) == ("PEPE", "short", 3_000_000.0)
    assert got_pepe.mark_price == pytest.approx(0.0000036339)
    assert positions[-1].asset == "BTC" and positions[-1].size == 0.25
    # 252 USDT positions take two pages of 200, USDC one.
    assert desk.fake.hits("bybit", POSITION_LIST) == 3


async def test_the_signed_query_is_the_query_received(desk):
    """The fake verifies the signature over the raw query it received, so these requests
    passing proves the signed bytes were the sent bytes; the list shows what they were."""
    desk.account.positions += [
        position_row(f"C{i:03d}USDT", "long", 1, 1, 1, 0) for i in range(201)
    ]
    client = desk.client()
    await client.balances()
    await client.positions()
    first = bybit.position_params("USDT", "")
    second = bybit.position_params("USDT", "200:1,200:1")
    usdc = bybit.position_params("USDC", "")
    assert desk.queries(WALLET_BALANCE) == ["accountType=UNIFIED"]
    assert desk.queries(POSITION_LIST) == [
        "category=linear&settleCoin=USDT&limit=200",
        "category=linear&settleCoin=USDT&limit=200&cursor=200:1,200:1",
        "category=linear&settleCoin=USDC&limit=200",
    ]
    assert desk.queries(POSITION_LIST) == [bybit.query_string(p) for p in (first, second, usdc)]
    # For the ASCII parameters without a cursor, urllib gives the same bytes.
    assert desk.queries(POSITION_LIST)[::2] == [urlencode(first), urlencode(usdc)]
    assert desk.account.refused == 0


def hourly(symbol: str, first_ms: int, last_ms: int, step_h: int = 1) -> list[dict]:
    """A settlement every `step_h` hours in [first_ms, last_ms), amounts varying in sign."""
    step = step_h * HOUR_MS
    times = range((first_ms // step + 1) * step, last_ms, step)
    return [
        funding_row(symbol, round((i % 7 - 2) * 0.125 + 0.01, 6), t) for i, t in enumerate(times)
    ]


async def test_thirty_days_of_funding_page_by_week_and_cursor(desk):
    # APE hourly and LDO 4-hourly over 40 days: the call reaches back only 30.
    rows = hourly("APEUSDT", T0_MS - 40 * DAY_MS, T0_MS)
    rows += hourly("LDOUSDT", T0_MS - 40 * DAY_MS, T0_MS, step_h=4)
    desk.account.settlements = rows
    client = desk.client()
    got = await client.funding(T0_MS - 40 * DAY_MS, T0_MS)
    expected = desk.account.payments(rows, T0_MS - 30 * DAY_MS, T0_MS)
    assert len(expected) == 720 + 180
    assert got == expected
    assert sum(p.amount < 0 for p in got) > 0 and sum(p.amount > 0 for p in got) > 0
    # Four weeks of 210 settlements (5 pages of 50) and 2 days of 60 (2 pages).
    assert desk.fake.hits("bybit", TRANSACTION_LOG) == 22 <= MAX_FUNDING_REQUESTS
    spans = [dict(parse_qsl(q)) for q in desk.queries(TRANSACTION_LOG)]
    assert all(int(s["endTime"]) - int(s["startTime"]) < 7 * DAY_MS for s in spans)
    assert min(int(s["startTime"]) for s in spans) == T0_MS - 30 * DAY_MS
    assert {s["limit"] for s in spans} == {"50"} and desk.account.refused == 0


async def test_the_request_bound_keeps_the_newest_complete_settlements(desk, caplog):
    symbols = ("APEUSDT", "LDOUSDT", "SOPHUSDT")
    rows = [r for s in symbols for r in hourly(s, T0_MS - 30 * DAY_MS, T0_MS)]
    desk.account.settlements = rows
    client = desk.client()
    got = await client.funding(T0_MS - 30 * DAY_MS, T0_MS)
    # 504 settlements a week take 11 pages: 33 for three weeks, 7 of the fourth week's
    # 11 bring back its newest 116 hours and 2 of the 3 settlements of the hour before.
    assert desk.fake.hits("bybit", TRANSACTION_LOG) == MAX_FUNDING_REQUESTS == 40
    fourth_week_newest = (T0_MS - 21 * DAY_MS - 1) // HOUR_MS * HOUR_MS
    cut = fourth_week_newest - 116 * HOUR_MS
    assert got == desk.account.payments(rows, cut + 1, T0_MS)
    assert len(got) == 3 * (3 * 168 + 116)
    assert f"settlements up to {cut} ms left out" in caplog.text


async def test_a_wrong_key_is_an_auth_error(desk):
    client = desk.client(key="someone-elses-key")
    with pytest.raises(AuthError) as e:
        await client.positions()
    assert "10003" in str(e.value) and "API key invalid" in str(e.value)
    assert "someone-elses-key" not in str(e.value) and desk.account.refused == 1


async def test_an_unsigned_request_is_refused_with_401(desk):
    client = desk.client()
    params = {"accountType": "UNIFIED"}
    with pytest.raises(AuthError) as e:
        await client.signed(lambda _ts: client.http.get(WALLET_BALANCE, params, decode=bytes))
    assert "HTTP 401" in str(e.value) and desk.account.refused == 1


async def test_a_query_changed_after_signing_is_refused(desk):
    client = desk.client()
    signed_for = bybit.query_string({"accountType": "UNIFIED", "coin": "USDT"})

    async def tampered(ts: int) -> object:
        headers = bybit.auth_headers(client.credentials, ts, signed_for)
        params = {"accountType": "UNIFIED", "coin": "USDC"}
        return await client.http.request(
            "GET", WALLET_BALANCE, params=params, headers=headers, decode=bybit.parse_balances
        )

    with pytest.raises(AuthError, match="signature refused"):
        await client.signed(tampered)


async def test_what_is_signed_is_the_encoded_query_not_the_params(desk):
    """yarl writes a space as '+': a signer that signed the decoded text would be refused."""
    params = {"accountType": "UNIFIED", "coin": "USDT USDC"}
    client = desk.client()

    async def send(ts: int) -> list[Balance]:
        headers = bybit.auth_headers(client.credentials, ts, bybit.query_string(params))
        return await client.http.request(
            "GET", WALLET_BALANCE, params=params, headers=headers, decode=bybit.parse_balances
        )

    assert len(await client.signed(send)) == 1
    assert desk.queries(WALLET_BALANCE) == ["accountType=UNIFIED&coin=USDT+USDC"]
    assert desk.account.refused == 0


@pytest.mark.parametrize("skew_ms", [10_000, -3_000])
async def test_a_server_clock_that_drifts_after_sync_is_caught_up_with(desk, skew_ms, caplog):
    """Bybit's own window: 10 s behind the server is older than the 5 s recvWindow; 3 s
    ahead is past the 1 s it allows (the contract test drifts two minutes). Either way:
    one refusal, one resync, then the same read succeeds."""
    client = desk.client()
    await client.balances()
    assert desk.account.time_calls == 1
    desk.account.skew_ms = skew_ms
    assert await client.balances() == bybit.parse_balances(
        fixture_bytes("bybit/v5_account_wallet_balance.json")
    )
    assert desk.account.refused == 1 and desk.account.time_calls == 2
    assert desk.fake.hits("bybit", WALLET_BALANCE) == 3
    assert "timestamp refused" in caplog.text


# --- risk fields: margin mode, ADL rank, margin ratio; the key's permissions ---------


def test_the_recorded_account_is_cross_margined_and_its_positions_ranked():
    assert bybit.parse_margin_mode(fixture_bytes("bybit/v5_account_info.json")) == "cross"
    page = bybit.parse_position_page(fixture_bytes("bybit/v5_position_list_linear.json"))
    assert [p.adl_rank for p in page.items] == [2, 2]


@pytest.mark.parametrize(
    ("indicator", "rank"), [(0, None), (1, 1), (5, 5), (6, None), ("", None), (None, None)]
)
def test_an_adl_indicator_of_0_is_an_empty_slots_default_not_a_rank(indicator, rank):
    row = position_row("APEUSDT", "short", 10, 0.138, 0.139, -0.01)
    body = envelope([dict(row, adlRankIndicator=indicator)])
    assert [p.adl_rank for p in bybit.parse_position_page(body).items] == [rank]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("REGULAR_MARGIN", "cross"),
        ("PORTFOLIO_MARGIN", "cross"),
        ("ISOLATED_MARGIN", "isolated"),
        ("SOMETHING_NEW", None),
    ],
)
def test_the_account_info_gives_the_margin_mode(mode, expected):
    doc = json.loads(fixture_bytes("bybit/v5_account_info.json"))
    doc["result"]["marginMode"] = mode
    assert bybit.parse_margin_mode(json.dumps(doc).encode()) == expected


async def test_positions_carry_the_accounts_margin_mode_and_their_adl_rank(desk):
    account = desk.account
    account.positions = [
        account.position(Held("APEUSDT", "short", 100, 0.138, 0.139, -0.1, 5, 0.2, adl_rank=4)),
        account.position(Held("LDOUSDT", "long", 100, 0.35, 0.35, 0, 5, 0.3)),
    ]
    client = desk.client()
    positions = await client.positions()
    assert [(p.margin_mode, p.adl_rank) for p in positions] == [("cross", 4), ("cross", None)]
    assert desk.fake.hits("bybit", bybit.ACCOUNT_INFO) == 1
    account.positions[1] = account.position(
        Held("LDOUSDT", "long", 100, 0.35, 0.35, 0, 5, 0.3, margin_mode="isolated")
    )
    assert account.margin_mode == "ISOLATED_MARGIN"
    assert [p.margin_mode for p in await client.positions()] == ["isolated", "isolated"]


async def test_an_unreadable_account_info_leaves_the_margin_mode_unknown_not_the_positions(
    desk, caplog
):
    desk.fake.fail("bybit", bybit.ACCOUNT_INFO, Fault.http(503))
    positions = await desk.client().positions()
    assert [(p.symbol, p.margin_mode) for p in positions] == [("APEUSDT", None), ("LDOUSDT", None)]
    assert "margin mode unknown" in caplog.text


async def test_a_refused_key_on_the_account_info_is_still_refused(desk):
    client = desk.client(secret="not-the-secret")
    with pytest.raises(AuthError):
        await client.positions()


async def test_the_margin_ratio_is_the_accounts_maintenance_margin_rate(desk):
    client = desk.client()
    desk.account.set_balance(10_000, 8_000, margin_ratio=0.4375)
    [balance] = await client.balances()
    assert balance.margin_ratio == 0.4375
    desk.account.set_balance(10_000, 8_000)  # "" as outside the unified account
    assert [b.margin_ratio for b in await client.balances()] == [None]


def test_the_documented_key_is_read_write_without_withdrawal():
    access = bybit.parse_key_access(fixture_bytes("bybit/v5_user_query_api.json"))
    assert (access.venue, access.can_trade, access.can_withdraw) == ("bybit", True, False)
    assert access.read_only is False
    assert access.detail == (
        "readOnly=0; ContractTrade=Order,Position; Options=OptionsTrade; Spot=SpotTrade;"
        " Wallet=AccountTransfer,SubMemberTransfer"
    )
    assert "XXXXXX" not in access.detail  # the documented apiKey


@pytest.mark.parametrize(
    ("can_trade", "can_withdraw", "read_only"),
    [(False, False, True), (True, False, False), (True, True, False), (False, True, False)],
)
async def test_key_access_follows_what_the_venue_says_of_the_key(
    desk, can_trade, can_withdraw, read_only
):
    account = desk.account
    account.can_trade, account.can_withdraw = can_trade, can_withdraw
    access = await desk.client().key_access()
    assert access.read_only is read_only
    assert access.can_withdraw is can_withdraw
    assert access.can_trade is (can_trade or can_withdraw)  # a read-write key
    assert access.detail.startswith(f"readOnly={int(read_only)}; ContractTrade=Order,Position")
    assert ("Withdraw" in access.detail) is can_withdraw
    assert account.key not in repr(access) and account.secret not in repr(access)
    assert desk.queries(bybit.QUERY_API) == [""]


async def test_a_refused_key_access_read_shows_no_secret(desk):
    account = desk.account
    with pytest.raises(AuthError) as e:
        await desk.client(secret="wrong-secret-4d1").key_access()
    assert account.key not in str(e.value) and "wrong-secret-4d1" not in str(e.value)
