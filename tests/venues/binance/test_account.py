"""Binance's signed account client: the signer against Binance's published examples, the
parsers on the recorded replies, and the client against the fake private API (paging,
refused keys, clock drift)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from urllib.parse import parse_qsl

import pytest
from msgspec.structs import replace
from yarl import URL

from arb.accounts.base import AuthError, Credentials
from arb.accounts.models import Balance, FundingPayment, KeyAccess, Position
from arb.accounts.service import private_clients
from arb.http import ReplyError, RetryPolicy, VenueError, VenueHttp, VenueHTTPError
from arb.venues.binance import account as binance
from arb.venues.binance.account import (
    INCOME_LIMIT,
    MAX_FUNDING_REQUESTS,
    BinancePrivate,
    parse_balances,
    parse_funding,
    parse_positions,
    parse_server_time,
    perp_of,
    query_string,
    signature,
    signed_params,
)
from arb.venues.binance.rest import Perp
from tests.conftest import T0_MS, fixture_bytes, settings_for
from tests.fakes.private_base import Held
from tests.fakes.venues import FakeVenues, Fault
from tests.venues.binance.fake_account import (
    ACCOUNT,
    ADL_QUANTILE,
    BALANCE,
    INCOME,
    POSITION_RISK,
    FakeBinancePrivate,
)

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
END_MS = T0_MS // HOUR_MS * HOUR_MS  # a range's end, on the hour like settlements
ROWS = FakeBinancePrivate()  # the row builders, for the parsers' tests
position_row, funding_row = ROWS.position_row, ROWS.funding_row

# --- the signer: Binance's published examples ------------------------------------------

SPOT_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
FUTURES_SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
EXAMPLES = [
    pytest.param(
        SPOT_SECRET,
        "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
        "&recvWindow=5000&timestamp=1499827319559",
        "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71",
        id="spot",
    ),
    pytest.param(
        FUTURES_SECRET,
        "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
        "&recvWindow=5000&timestamp=1591702613943",
        "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9",
        id="usdm-futures",
    ),
]


@pytest.mark.parametrize(("secret", "total_params", "expected"), EXAMPLES)
def test_signature_reproduces_binance_examples(secret, total_params, expected):
    assert signature(secret, total_params) == expected


@pytest.mark.parametrize(("secret", "total_params", "expected"), EXAMPLES)
def test_signed_params_add_window_and_time_then_the_signature_last(secret, total_params, expected):
    params = dict(parse_qsl(total_params))
    timestamp = int(params.pop("timestamp"))
    del params["recvWindow"]
    signed = signed_params(params, timestamp, secret)
    assert list(signed)[-3:] == ["recvWindow", "timestamp", "signature"]
    assert query_string(signed) == f"{total_params}&signature={expected}"


def test_a_body_is_signed_after_the_query_with_no_ampersand_between():
    # Binance's example 3: the query and the form body split the same parameters.
    query = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
    body = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    expected = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
    assert signature(SPOT_SECRET, query, body) == expected
    assert signature(SPOT_SECRET, f"{query}&{body}") != expected


def test_query_string_is_what_yarl_sends():
    params = signed_params(binance.income_params(1788998400000, 1789603200000), 1, "s")
    assert URL("http://h/p").with_query(params).raw_query_string == query_string(params)


# --- parsing the recorded replies ---------------------------------------------------------


def test_server_time_fixture():
    assert parse_server_time(fixture_bytes("binance/fapi_v1_time.json")) == 1789015942967


def test_balance_fixture_is_one_usdt_account():
    (balance,) = parse_balances(fixture_bytes("binance/fapi_v2_balance.json"))
    # The USDC row is empty; its availableBalance repeats USDT's and must not be added.
    assert balance == Balance(
        "binance", "USDT", 30211.57403511 + 12.82336981, 26391.0227812, 12.82336981
    )


def test_usdc_shows_when_it_holds_something():
    rows = json.loads(fixture_bytes("binance/fapi_v2_balance.json"))
    rows[1].update(balance="500.5", crossUnPnl="-0.5")
    usdt, usdc = parse_balances(json.dumps(rows).encode())
    assert (usdt.currency, usdc.currency) == ("USDT", "USDC")
    assert (usdc.equity, usdc.unrealised_pnl) == (500.0, -0.5)


def test_position_fixture():
    bch, eth = parse_positions(fixture_bytes("binance/fapi_v2_positionRisk.json"))
    assert bch == Position(
        "binance", "BCH", "BCHUSDT", "long", 8.0, 348.61, 349.34784115, 5.90272919, 5.0, None,
        "cross",
    )  # fmt: skip
    assert (eth.side, eth.size, eth.signed_size) == ("short", 4.0, -4.0)
    assert eth.liquidation_price == 7854.21876312
    assert eth.notional == pytest.approx(-8498.71935938)


def test_funding_fixture():
    bch, eth = parse_funding(fixture_bytes("binance/fapi_v1_income_funding_fee.json"))
    assert bch == FundingPayment("binance", "BCH", "BCHUSDT", 0.4967183, "USDT", 1788998400000)
    assert (eth.asset, eth.amount, eth.time_ms) == ("ETH", 0.72747821, 1788998400000)


@pytest.mark.parametrize(
    ("symbol", "perp"),
    [
        ("BTCUSDT", Perp("BTC", 1.0, "USDT")),
        ("BTCUSDC", Perp("BTC", 1.0, "USDC")),
        ("1000PEPEUSDT", Perp("PEPE", 1000.0, "USDT")),
        ("1MBABYDOGEUSDT", Perp("BABYDOGE", 1_000_000.0, "USDT")),
        ("1INCHUSDT", Perp("1INCH", 1.0, "USDT")),
        ("BTCUSDT_260925", None),
        ("ETHBTC", None),
        ("USDT", None),
        ("", None),
    ],
)
def test_perp_of_uses_the_public_clients_rules(symbol, perp):
    assert perp_of(symbol) == perp


def test_multiplier_symbols_come_back_in_coins_and_per_coin_prices():
    row = position_row("1000PEPEUSDT", "short", 2_000_000, 0.0036, 0.0037, -200.0, 3, 0.0051)
    (pepe,) = parse_positions(json.dumps([row]).encode())
    assert (pepe.asset, pepe.symbol, pepe.side) == ("PEPE", "1000PEPEUSDT", "short")
    assert pepe.size == 2_000_000_000
    assert pepe.entry_price == pytest.approx(0.0000036)
    assert pepe.mark_price == pytest.approx(0.0000037)
    assert pepe.liquidation_price == pytest.approx(0.0000051)
    # Notional is unchanged by the conversion: 2e6 contracts at 0.0037.
    assert pepe.notional == pytest.approx(-7400.0)
    assert pepe.leverage == 3.0


def test_junk_and_flat_positions_are_skipped():
    good = position_row("ETHUSDT", "long", 1.5, 2000, 2010, 15)
    rows = [
        position_row("BTCUSDT", "long", 0, 0, 77000, 0),  # flat: positionRisk lists them all
        dict(good, positionAmt=""),
        dict(good, positionAmt="abc"),
        dict(good, symbol="BTCUSDT_260925"),  # delivery
        dict(good, symbol="ETHBTC"),
        {k: v for k, v in good.items() if k != "symbol"},
        dict(good, markPrice="", liquidationPrice="0", leverage=None),
        good,
    ]
    junkish, kept = parse_positions(json.dumps(rows).encode())
    assert (junkish.mark_price, junkish.liquidation_price, junkish.leverage) == (None, None, None)
    assert kept == Position(
        "binance", "ETH", "ETHUSDT", "long", 1.5, 2000, 2010, 15, 5.0, None, "cross"
    )


def test_hedge_mode_rows_are_two_positions():
    rows = [
        dict(position_row("SOLUSDT", "long", 10, 150, 151, 10), positionSide="LONG"),
        dict(position_row("SOLUSDT", "short", 4, 152, 151, 4), positionSide="SHORT"),
    ]
    long, short = parse_positions(json.dumps(rows).encode())
    assert (long.side, long.size, short.side, short.size) == ("long", 10, "short", 4)


def test_junk_income_rows_are_skipped():
    good = funding_row("1000PEPEUSDT", -1.25, 1788998400000)
    rows = [
        dict(good, incomeType="REALIZED_PNL"),
        dict(good, income=""),
        dict(good, income="NaN"),
        dict(good, time=None),
        dict(good, time="soon"),
        dict(good, symbol="BTCUSDT_260925"),
        dict(good, asset=""),
        dict(good, tranId="42"),  # the docs show string tranIds too
        good,
    ]
    pepe = FundingPayment("binance", "PEPE", "1000PEPEUSDT", -1.25, "USDT", 1788998400000)
    assert parse_funding(json.dumps(rows).encode()) == [pepe, pepe]


@pytest.mark.parametrize(
    ("path", "code", "retryable"),
    [
        ("binance/error_-1021_timestamp.json", "-1021", False),
        ("binance/error_-1022_signature.json", "-1022", False),
        ("binance/error_-1003_rate_limit.json", "-1003", True),
    ],
)
@pytest.mark.parametrize(
    "parse", [parse_balances, parse_positions, parse_funding, parse_server_time]
)
def test_error_envelopes_are_reply_errors(parse, path, code, retryable):
    with pytest.raises(ReplyError) as e:
        parse(fixture_bytes(path))
    assert (e.value.code, e.value.retryable) == (code, retryable)


# --- the client against the fake ------------------------------------------------------------


async def test_balances_and_positions_are_the_fixture_account(desk):
    private = desk.account
    client = desk.client()
    balances = await client.balances()
    positions = await client.positions()
    (usdt,) = parse_balances(fixture_bytes("binance/fapi_v2_balance.json"))
    assert balances == [replace(usdt, margin_ratio=47.96912015 / 30224.39740492)]
    assert positions == fixture_positions()
    assert (private.time_calls, private.refused) == (1, 0)


def fixture_positions() -> list[Position]:
    """The recorded positions with their recorded ADL quantiles (BCH 1, ETH 3) as ranks."""
    bch, eth = parse_positions(fixture_bytes("binance/fapi_v2_positionRisk.json"))
    return [replace(bch, adl_rank=2), replace(eth, adl_rank=4)]


async def test_the_service_builds_the_client_from_the_fakes_env(desk):
    fake, private = desk.fake, desk.account
    clients = private_clients(settings_for(fake, **private.env()))
    try:
        assert isinstance(clients["binance"], BinancePrivate)
        assert await clients["binance"].positions() == fixture_positions()
    finally:
        for client in clients.values():
            await client.close()


async def test_the_signed_query_is_exactly_what_was_signed(desk):
    private = desk.account
    client = desk.client()
    await client.balances()
    (signed,) = (p for p in private.signed_paths if p.startswith(BALANCE))
    path, _, raw = signed.partition("?")
    assert path == BALANCE
    params = dict(parse_qsl(raw))
    assert list(params) == ["recvWindow", "timestamp", "signature"]
    assert raw == query_string(params)
    payload = raw.rpartition("&signature=")[0]
    digest = hmac.new(private.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    assert params["signature"] == digest


async def test_set_balance_and_composed_positions(desk):
    private = desk.account
    private.set_balance("USDT", 1000.0, unrealised=-25.0, available=600.0)
    private.positions = [
        position_row("1000PEPEUSDT", "long", 3_000_000, 0.0036, 0.0035, -300.0),
        position_row("APEUSDT", "short", 500, 0.14, 0.13, 5.0),
    ]
    client = desk.client()
    (balance,) = await client.balances()
    pepe, ape = await client.positions()
    assert balance == Balance("binance", "USDT", 975.0, 600.0, -25.0, margin_ratio=0.0)
    assert (pepe.asset, pepe.size, pepe.mark_price) == ("PEPE", 3e9, pytest.approx(3.5e-6))
    assert (ape.asset, ape.side, ape.size) == ("APE", "short", 500)


def hourly_income(symbols: list[str], start_ms: int, end_ms: int) -> list[dict]:
    """One settlement per symbol every hour, all symbols at the same instant."""
    return [
        funding_row(symbol, round((i % 7 - 3) * 0.01 + n * 0.001, 6), t)
        for i, t in enumerate(range(start_ms, end_ms, HOUR_MS))
        for n, symbol in enumerate(symbols)
    ]


def income_queries(fake: FakeVenues) -> list[dict[str, str]]:
    return [r.query for r in fake.requests if r.path == INCOME]


async def test_thirty_days_of_funding_page_within_windows_and_the_bound(desk):
    fake, private = desk.fake, desk.account
    end = END_MS
    start = end - 30 * DAY_MS
    # 7 symbols: 1176 rows a week, so each full window takes two pages and the first
    # page ends in the middle of one settlement's rows.
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "APEUSDT", "LDOUSDT", "1000PEPEUSDT", "BTCUSDC"]
    private.income = [
        funding_row("BTCUSDT", 9.0, start - HOUR_MS),  # before the range
        *hourly_income(symbols, start, end + HOUR_MS),  # the one at `end` is outside
        funding_row("BTCUSDT", 9.0, start + HOUR_MS, income_type="COMMISSION"),
    ]
    client = desk.client()
    payments = await client.funding(start, end)
    assert len(payments) == 720 * 7
    assert (payments[0].time_ms, payments[-1].time_ms) == (start, end - HOUR_MS)
    assert payments == parse_funding(json.dumps(hourly_income(symbols, start, end)).encode())
    assert {p.asset for p in payments} == {"BTC", "ETH", "SOL", "APE", "LDO", "PEPE"}
    queries = income_queries(fake)
    assert len(queries) == 4 * 2 + 1 <= MAX_FUNDING_REQUESTS
    for q in queries:
        assert q["incomeType"] == "FUNDING_FEE" and q["limit"] == str(INCOME_LIMIT)
        assert start <= int(q["startTime"]) <= int(q["endTime"]) < end
        assert int(q["endTime"]) - int(q["startTime"]) < 7 * DAY_MS
    assert private.refused == 0


async def test_a_full_page_pages_on_even_when_some_of_its_rows_are_junk(desk):
    fake, private = desk.fake, desk.account
    end = END_MS
    rows = hourly_income([f"C{i:03d}USDT" for i in range(101)], end - 10 * HOUR_MS, end)
    for row in rows[:5]:
        row["income"] = ""
    private.income = rows
    client = desk.client()
    payments = await client.funding(end - DAY_MS, end)
    assert len(payments) == 1010 - 5
    assert len(income_queries(fake)) == 2


async def test_a_range_longer_than_thirty_days_is_cut_to_its_last_thirty(desk):
    fake, private = desk.fake, desk.account
    end = T0_MS
    private.income = [
        funding_row("ETHUSDT", 1.0, end - 31 * DAY_MS),
        funding_row("ETHUSDT", 2.0, end - 29 * DAY_MS),
    ]
    client = desk.client()
    payments = await client.funding(end - 60 * DAY_MS, end)
    assert [p.amount for p in payments] == [2.0]
    queries = income_queries(fake)
    assert min(int(q["startTime"]) for q in queries) == end - 30 * DAY_MS
    assert len(queries) == 5


async def test_an_empty_range_sends_nothing(desk):
    fake = desk.fake
    client = desk.client()
    assert await client.funding(T0_MS, T0_MS) == []
    assert income_queries(fake) == []


async def test_past_the_bound_the_newest_complete_windows_are_kept(desk, caplog):
    fake, private = desk.fake, desk.account
    end = END_MS
    # 25 hourly symbols: a week is 4200 rows in 5 pages (each starts again at the last
    # page's final settlement), so the four newest weeks use up the 20 requests and the
    # two oldest days are left out.
    symbols = [f"C{i:02d}USDT" for i in range(25)]
    private.income = hourly_income(symbols, end - 30 * DAY_MS, end)
    client = desk.client()
    payments = await client.funding(end - 30 * DAY_MS, end)
    assert len(income_queries(fake)) == MAX_FUNDING_REQUESTS
    assert len(payments) == 25 * 28 * 24
    assert payments[0].time_ms == end - 28 * DAY_MS and payments[-1].time_ms == end - HOUR_MS
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"complete from {end - 28 * DAY_MS} ms" in warning.getMessage()


async def test_when_not_even_the_newest_window_fits_it_is_an_error(desk):
    fake, private = desk.fake, desk.account
    end = END_MS
    # 500 hourly symbols: each 1000-row page moves one settlement on, 24 a day.
    private.income = hourly_income([f"C{i:03d}USDT" for i in range(500)], end - DAY_MS, end)
    client = desk.client()
    with pytest.raises(VenueError) as e:
        await client.funding(end - DAY_MS, end)
    assert not isinstance(e.value, AuthError)
    assert str(e.value).startswith("binance /fapi/v1/income: more funding than 20 requests")
    assert len(income_queries(fake)) == MAX_FUNDING_REQUESTS


async def test_an_empty_key_is_refused_before_the_signature_is_read(desk, caplog):
    """The contract test checks a wrong key and a wrong secret; Binance answers a request
    without a key with its own code, and its signature must not show either."""
    fake, private = desk.fake, desk.account
    code = -2014
    credentials = Credentials("", private.secret)
    caplog.set_level(logging.DEBUG)
    client = desk.client(key="")
    with pytest.raises(AuthError) as e:
        await client.balances()
    assert private.refusals == [code]
    text, shown = str(e.value), repr(e.value)
    assert text.startswith("binance ") and "refused" in text and str(code) in text
    sent_signature = next(r.query["signature"] for r in fake.requests if r.path == BALANCE)
    secrets = [s for s in (credentials.key, credentials.secret, sent_signature) if s]
    for secret_text in secrets:
        assert secret_text not in text and secret_text not in shown
        assert secret_text not in repr(client.credentials)
    # The fake server's own access log shows the query it received; the app's must not.
    app_logs = " ".join(r.getMessage() for r in caplog.records if r.name.startswith("arb"))
    for secret_text in secrets:
        assert secret_text not in app_logs


# --- the fake refuses what Binance refuses ----------------------------------------------------


@pytest.mark.parametrize(
    ("send_key", "params", "status", "code"),
    [
        (False, "signed", 401, "-2014"),
        (True, {"timestamp": "1"}, 400, "-1102"),  # no signature
        (True, {"recvWindow": "5000"}, 400, "-1102"),  # no timestamp
        (True, "stale", 400, "-1021"),
    ],
)
async def test_the_fake_refuses_missing_headers_params_and_stale_times(
    desk, send_key, params, status, code
):
    fake, private = desk.fake, desk.account
    headers = {"X-MBX-APIKEY": private.key} if send_key else {}
    if params == "signed":
        params = signed_params({}, private.now_ms(), private.secret)
    elif params == "stale":
        params = signed_params({}, private.now_ms() - 6000, private.secret)
    http = VenueHttp("binance", fake.url("binance"), timeout_s=2, retry=RetryPolicy(attempts=1))
    try:
        with pytest.raises(VenueHTTPError) as e:
            await http.request("GET", BALANCE, params=params, headers=headers, decode=bytes)
    finally:
        await http.close()
    assert (e.value.status, e.value.code) == (status, code)
    assert private.refusals == [int(code)]


# --- risk fields: margin mode, ADL rank, margin ratio; the key's permissions ---------


def test_the_recorded_account_gives_its_margin_ratio_and_adl_queue():
    ratio = binance.parse_margin_ratio(fixture_bytes("binance/fapi_v3_account.json"))
    assert ratio == pytest.approx(47.96912015 / 30224.39740492)
    adl = binance.parse_adl(fixture_bytes("binance/fapi_v1_adlQuantile.json"))
    assert adl[("BCHUSDT", "BOTH")] == 2 and adl[("ETHUSDT", "BOTH")] == 4
    assert adl[("ETHUSDT", "LONG")] == 1  # the hedge-mode sides, unused in one-way mode


def test_hedge_is_only_a_sign_and_out_of_range_quantiles_are_dropped():
    body = json.dumps(
        [{"symbol": "ETHUSDT", "adlQuantile": {"LONG": 4, "SHORT": 4, "HEDGE": 0}},
         {"symbol": "BTCUSDT", "adlQuantile": {"BOTH": 7}}]
    ).encode()  # fmt: skip
    assert binance.parse_adl(body) == {("ETHUSDT", "LONG"): 5, ("ETHUSDT", "SHORT"): 5}


@pytest.mark.parametrize(
    ("maint", "margin", "ratio"),
    [("50", "1000", 0.05), ("0.00000000", "1000", 0.0), ("5", "0", None), ("", "1000", None)],
)
def test_the_margin_ratio_is_maintenance_over_margin_balance(maint, margin, ratio):
    body = json.dumps({"totalMaintMargin": maint, "totalMarginBalance": margin}).encode()
    assert binance.parse_margin_ratio(body) == ratio


def test_an_error_envelope_on_the_account_read_is_an_error():
    with pytest.raises(ReplyError):
        binance.parse_margin_ratio(b'{"code": -1000, "msg": "An unknown error occurred."}')


async def test_positions_carry_their_margin_type_and_adl_rank_in_hedge_mode_too(desk):
    private = desk.account
    private.positions = [
        private.position(
            Held("BTCUSDT", "long", 0.5, 77_000, 77_600, 300, 5, 62_000, "isolated", 5)
        ),
        private.position(Held("ETHUSDT", "short", 4, 2_126, 2_124, 8, 5, 7_854)),
    ]
    assert private.positions[0]["isolatedMargin"] == "7700.0"
    assert await_pairs(await desk.client().positions()) == [("isolated", 5), ("cross", 4)]
    # Hedge mode: the queue is by side.
    private.positions = [dict(private.positions[1], positionSide="SHORT")]
    private.adl["ETHUSDT"] = {"LONG": 1, "SHORT": 2, "HEDGE": 0}
    assert await_pairs(await desk.client().positions()) == [("cross", 3)]


def await_pairs(positions: list[Position]) -> list[tuple[str | None, int | None]]:
    return [(p.margin_mode, p.adl_rank) for p in positions]


async def test_set_balance_gives_the_margin_ratio(desk):
    desk.account.set_balance("USDT", 1_000.0, unrealised=-25.0, margin_ratio=0.8)
    (balance,) = await desk.client().balances()
    assert balance.margin_ratio == pytest.approx(0.8)


async def test_the_risk_reads_failing_leave_their_figures_unknown_not_the_account(desk, caplog):
    desk.fake.fail("binance", ACCOUNT, Fault.http(503))
    desk.fake.fail("binance", ADL_QUANTILE, Fault.http(503))
    client = desk.client()
    balances, positions = await client.balances(), await client.positions()
    assert [b.margin_ratio for b in balances] == [None]
    assert [p.adl_rank for p in positions] == [None, None]
    assert [p.margin_mode for p in positions] == ["cross", "cross"]
    assert "margin ratio unknown" in caplog.text and "ADL ranks unknown" in caplog.text
    assert desk.fake.hits("binance", POSITION_RISK) == 1


async def test_a_refused_key_is_refused_whichever_read_sees_it_first(desk):
    client = desk.client(secret="wrong-secret-51")
    for read in (client.balances, client.positions):
        with pytest.raises(AuthError) as e:
            await read()
        assert "wrong-secret-51" not in str(e.value) and desk.account.key not in str(e.value)


async def test_key_access_stays_unknown_and_asks_nothing(desk):
    access = await desk.client().key_access()
    assert access == KeyAccess("binance", None, None, access.detail)
    assert access.read_only is None and "spot API" in access.detail
    assert desk.account.signed_paths == [] and desk.account.key not in access.detail
