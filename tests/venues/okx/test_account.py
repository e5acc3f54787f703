"""OKX's signed account client: the signer's known answers, each recorded reply parsed by
hand, and the client against the fake private API (balances, positions in coins, 30 days
of funding paged over both bill endpoints, refused keys, a drifting server clock)."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from urllib.parse import urlencode

import pytest

from arb.accounts.base import AuthError, Credentials
from arb.accounts.models import Balance, FundingPayment, KeyAccess, Position
from arb.http import ReplyError, VenueHttp
from arb.venues.okx import account as okx
from arb.venues.okx.common import INSTRUMENTS
from tests.conftest import T0_MS, fixture_bytes
from tests.fakes.private_base import DAY_MS, H0_MS, HOUR_MS, Held, Sleeps, hmac_b64
from tests.venues.okx.fake_account import (
    OKX_BALANCE,
    OKX_BILLS,
    OKX_BILLS_ARCHIVE,
    OKX_CONFIG,
    OKX_POSITIONS,
    FakeOkxPrivate,
)

KAT_SECRET = "22582BD0CFF14C41EDBF1AB98506286D"
KAT_MS = 1607418537715
BILLS_QUERY = {"instType": "SWAP", "type": "8"}


def body(payload: object) -> bytes:
    return json.dumps(payload).encode()


# --- the signer ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (KAT_MS, "2020-12-08T09:08:57.715Z"),
        (1607418537000, "2020-12-08T09:08:57.000Z"),
        (1607418537999, "2020-12-08T09:08:57.999Z"),
        (0, "1970-01-01T00:00:00.000Z"),
        (T0_MS, "2026-09-10T04:52:22.967Z"),  # the fixture README says 04:12 by mistake
        (1788998399999, "2026-09-09T23:59:59.999Z"),
    ],
)
def test_timestamps_are_iso_utc_with_milliseconds(ms, text):
    assert okx.iso_timestamp(ms) == text


def test_timestamps_ignore_the_local_time_zone(monkeypatch):
    try:
        monkeypatch.setenv("TZ", "Asia/Kolkata")  # +05:30: any local reading shows
        time.tzset()
        assert okx.iso_timestamp(KAT_MS) == "2020-12-08T09:08:57.715Z"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_get_signs_timestamp_method_path_with_query_and_an_empty_body():
    path = okx.request_path("/api/v5/account/bills", BILLS_QUERY)
    assert path == "/api/v5/account/bills?instType=SWAP&type=8"
    assert okx.request_path("/api/v5/account/balance", None) == "/api/v5/account/balance"
    message = okx.prehash(okx.iso_timestamp(KAT_MS), "GET", path)
    assert message == "2020-12-08T09:08:57.715ZGET/api/v5/account/bills?instType=SWAP&type=8"


def test_the_signature_is_base64_hmac_sha256():
    message = "2020-12-08T09:08:57.715ZGET/api/v5/account/bills?instType=SWAP&type=8"
    expected = hmac_b64(KAT_SECRET, message)
    assert expected == "zR5cxXHBAXpHZncAUHGziakZlQ/si0OxMNgy5f2BJhA="
    assert okx.sign(KAT_SECRET, message) == expected
    assert okx.sign(KAT_SECRET + "x", message) != expected


def test_auth_headers_carry_key_timestamp_passphrase_and_signature():
    creds = Credentials("the-key", KAT_SECRET, "the-passphrase")
    client = okx.OkxPrivate(VenueHttp("okx", "http://127.0.0.1:9"), creds)
    headers = client.headers(KAT_MS, "GET", "/api/v5/account/bills", BILLS_QUERY)
    assert headers == {
        "OK-ACCESS-KEY": "the-key",
        "OK-ACCESS-SIGN": "zR5cxXHBAXpHZncAUHGziakZlQ/si0OxMNgy5f2BJhA=",
        "OK-ACCESS-TIMESTAMP": "2020-12-08T09:08:57.715Z",
        "OK-ACCESS-PASSPHRASE": "the-passphrase",
    }
    assert KAT_SECRET not in repr(creds)


def test_a_client_without_a_passphrase_is_refused_before_any_request():
    http = VenueHttp("okx", "http://127.0.0.1:9")
    with pytest.raises(ValueError, match="OKX_API_PASSPHRASE"):
        okx.OkxPrivate(http, Credentials("k", "s"))


# --- parsing the recorded replies -----------------------------------------------------


def test_server_time_fixture():
    assert okx.parse_server_time(fixture_bytes("okx/api_v5_public_time.json")) == T0_MS


def test_balance_fixture_is_one_usd_account():
    (b,) = okx.parse_balances(fixture_bytes("okx/api_v5_account_balance.json"))
    usd_per_usdt = 99.88870288820581 / 99.89469657000001  # the detail's eqUsd / eq
    assert (b.venue, b.currency, b.equity) == ("okx", "USD", 99.88870288820581)
    assert b.available == pytest.approx(94.42612990333333 * usd_per_usdt, rel=1e-12)
    assert b.available == pytest.approx(94.4204643, abs=1e-7)
    # No account-level upl in this margin mode: the USDT detail's, in USD.
    assert b.unrealised_pnl == pytest.approx(-0.0273 * usd_per_usdt, rel=1e-12)


def test_balance_prefers_the_account_upl_and_skips_junk_accounts():
    detail = {"ccy": "BTC", "eq": "0.5", "eqUsd": "38800", "availEq": "0.2", "upl": "0.01"}
    reply = {
        "code": "0",
        "msg": "",
        "data": [
            {"totalEq": "", "details": [detail]},
            {"totalEq": "40000.5", "upl": "-12.5", "details": [detail, {"ccy": "ETH", "eq": "0"}]},
        ],
    }
    assert okx.parse_balances(body(reply)) == [Balance("okx", "USD", 40000.5, 15520.0, -12.5)]


def test_positions_fixture_in_coins():
    contracts = okx.parse_contracts(fixture_bytes("okx/api_v5_public_instruments_SWAP.json"))
    rows = okx.decode_positions(fixture_bytes("okx/api_v5_account_positions.json"))
    ape, sol = okx.to_positions(rows, contracts)
    # APE: pos -1000000 contracts of ctVal 0.1 APE.
    assert ape == Position(
        venue="okx",
        asset="APE",
        symbol="APE-USDT-SWAP",
        side="short",
        size=100_000.0,
        entry_price=0.1383,
        mark_price=0.1378,
        unrealised_pnl=45.12538011,
        leverage=10.0,
        liquidation_price=None,
        margin_mode="cross",
        adl_rank=2,
    )
    assert (sol.asset, sol.side, sol.size, sol.mark_price) == ("SOL", "long", 500.0, 86.1702)
    assert sol.notional == pytest.approx(43085.1, abs=0.01)  # the row's own notionalUsd


def test_contract_sizes_convert_exactly_and_long_short_mode_is_read():
    contracts = {
        "PEPE-USDT-SWAP": okx.Contract("PEPE", Decimal("10000000")),
        "APE-USDT-SWAP": okx.Contract("APE", Decimal("0.1")),
        "BTC-USDC-SWAP": okx.Contract("BTC", Decimal("0.0001")),
    }
    rows = [
        {"instType": "SWAP", "instId": "PEPE-USDT-SWAP", "pos": "3", "posSide": "net"},
        {"instType": "SWAP", "instId": "APE-USDT-SWAP", "pos": "3", "posSide": "short"},
        {"instType": "SWAP", "instId": "BTC-USDC-SWAP", "pos": "25", "posSide": "long"},
        {"instType": "SWAP", "instId": "APE-USDT-SWAP", "pos": "0", "posSide": "net"},
        {"instType": "SWAP", "instId": "APE-USDT-SWAP", "pos": "", "posSide": "net"},
        {"instType": "SWAP", "instId": "APE-USDT-SWAP", "pos": "lots", "posSide": "net"},
        {"instType": "SWAP", "instId": "BTC-USD-SWAP", "pos": "7", "posSide": "net"},
        {"instType": "FUTURES", "instId": "APE-USDT-SWAP", "pos": "7", "posSide": "net"},
    ]
    got = okx.to_positions(okx.decode_positions(body({"code": "0", "data": rows})), contracts)
    assert [(p.asset, p.side, p.size) for p in got] == [
        ("PEPE", "long", 30_000_000.0),
        ("APE", "short", 0.3),  # 3 x 0.1 in decimal, not 0.30000000000000004
        ("BTC", "long", 0.0025),
    ]


def test_contracts_keep_every_linear_usd_swap_live_or_not():
    rows = [
        {"instId": "A-USDT-SWAP", "ctType": "linear", "ctVal": "10", "ctMult": "1",
         "ctValCcy": "A", "settleCcy": "USDT", "state": "suspend"},
        {"instId": "B-USDC-SWAP", "ctType": "linear", "ctVal": "0.5", "ctMult": "",
         "ctValCcy": "", "uly": "B-USDC", "settleCcy": "USDC"},
        {"instId": "C-USD-SWAP", "ctType": "inverse", "ctVal": "10", "ctValCcy": "USD",
         "settleCcy": "C"},
        {"instId": "D-USDT-SWAP", "ctType": "linear", "ctVal": "", "ctValCcy": "D",
         "settleCcy": "USDT"},
    ]  # fmt: skip
    assert okx.parse_contracts(body({"code": "0", "data": rows})) == {
        "A-USDT-SWAP": okx.Contract("A", Decimal("10")),
        "B-USDC-SWAP": okx.Contract("B", Decimal("0.5")),
    }


def test_bills_fixture_newest_first_positive_when_received():
    page = okx.parse_bills_page(fixture_bytes("okx/api_v5_account_bills_type8.json"))
    assert page.rows == 3 and page.oldest_bill_id == "2918592311950876673"
    ape, sol, eth = page.payments
    assert ape == FundingPayment("okx", "APE", "APE-USDT-SWAP", 7.1681348, "USDT", 1789012800000)
    assert (sol.asset, sol.amount, sol.time_ms) == ("SOL", 0.68505336, 1788998400000)
    assert (eth.asset, eth.amount) == ("ETH", -0.60724344)  # subType 173: paid


def test_junk_bills_are_skipped_but_counted_for_paging():
    def bill(**kw):
        row = {"billId": "1", "instId": "X-USDT-SWAP", "instType": "SWAP", "type": "8"}
        return row | {"ccy": "USDT", "pnl": "1.5", "balChg": "1.5", "ts": "3600000"} | kw

    rows = [
        bill(billId="9", pnl="", balChg="-0.25", ts="7200000"),  # balChg stands in
        bill(billId="8", type="2"),  # a trade
        bill(billId="7", instId="X-USD-SWAP", ccy="X"),  # inverse: paid in coins
        bill(billId="6", pnl="", balChg=""),
        bill(billId="5", ts="soon"),
        bill(billId="4", instType="FUTURES"),
        bill(billId="3"),
        bill(billId=""),
    ]
    page = okx.parse_bills_page(body({"code": "0", "data": rows}))
    assert page.payments == [
        FundingPayment("okx", "X", "X-USDT-SWAP", -0.25, "USDT", 7200000),
        FundingPayment("okx", "X", "X-USDT-SWAP", 1.5, "USDT", 3600000),
        FundingPayment("okx", "X", "X-USDT-SWAP", 1.5, "USDT", 3600000),
    ]
    assert page.rows == 8 and page.oldest_bill_id == "3"


@pytest.mark.parametrize(
    "parse",
    [okx.parse_server_time, okx.parse_balances, okx.decode_positions, okx.parse_bills_page],
)
@pytest.mark.parametrize(
    ("path", "code", "retryable"),
    [
        ("okx/error_50011_rate_limit.json", "50011", True),
        ("okx/error_50113_signature.json", "50113", False),
        ("okx/error_50102_timestamp.json", "50102", False),
    ],
)
def test_error_envelopes_are_reply_errors(parse, path, code, retryable):
    with pytest.raises(ReplyError) as e:
        parse(fixture_bytes(path))
    assert (e.value.code, e.value.retryable) == (code, retryable)


@pytest.mark.parametrize(
    ("start", "end", "pieces"),
    [
        # now = 10 days; /bills reaches back to day 3 plus the one-hour margin.
        (0, 10 * DAY_MS, [(OKX_BILLS, 3 * DAY_MS + HOUR_MS, 10 * DAY_MS),
                          (OKX_BILLS_ARCHIVE, 0, 3 * DAY_MS + HOUR_MS)]),
        (5 * DAY_MS, 6 * DAY_MS, [(OKX_BILLS, 5 * DAY_MS, 6 * DAY_MS)]),
        (DAY_MS, 2 * DAY_MS, [(OKX_BILLS_ARCHIVE, DAY_MS, 2 * DAY_MS)]),
        (DAY_MS, DAY_MS, []),
    ],
)  # fmt: skip
def test_bill_segments_split_at_the_seven_day_edge(start, end, pieces):
    assert okx.bill_segments(start, end, now_ms=10 * DAY_MS) == pieces


# --- the client against the fake --------------------------------------------------


async def test_balances_from_the_fixture_and_from_a_set_balance(desk):
    account = desk.account
    client = desk.client()
    assert await client.balances() == okx.parse_balances(
        fixture_bytes("okx/api_v5_account_balance.json")
    )
    account.set_balance(25_000.0, 18_000.5, upnl=-42.25)
    assert await client.balances() == [Balance("okx", "USD", 25_000.0, 18_000.5, -42.25)]
    assert account.signed_paths == [OKX_BALANCE, OKX_BALANCE]


async def test_positions_are_in_coins_of_the_canonical_asset(desk):
    fake, account = desk.fake, desk.account
    client = desk.client()
    assert [(p.asset, p.side, p.size) for p in await client.positions()] == [
        ("APE", "short", 100_000.0),
        ("SOL", "long", 500.0),
    ]
    pepe = account.position_row("PEPE-USDT-SWAP", "long", 50_000_000, 3.5e-6, 3.6e-6, 5.0, 3)
    btc = account.position_row("BTC-USDT-SWAP", "short", 0.25, 77_000, 77_600, -150, 5, 90_000)
    assert (pepe["pos"], btc["pos"]) == ("5", "-25")  # contracts on the wire
    account.positions = [pepe, btc]
    assert await client.positions() == [
        Position("okx", "PEPE", "PEPE-USDT-SWAP", "long", 50_000_000.0, 3.5e-6, 3.6e-6, 5.0,
                 3.0, None, "cross"),
        Position("okx", "BTC", "BTC-USDT-SWAP", "short", 0.25, 77_000.0, 77_600.0, -150.0,
                 5.0, 90_000.0, "cross"),
    ]  # fmt: skip
    assert fake.hits("okx", INSTRUMENTS) == 1  # the instrument list is cached


async def test_a_swap_missing_from_the_cached_list_is_refetched_once(desk, caplog):
    fake, account = desk.fake, desk.account
    client = desk.client()
    await client.positions()
    account.ct_val["NEW-USDT-SWAP"] = Decimal(1)
    account.positions = [account.position_row("NEW-USDT-SWAP", "long", 10, 1, 1, 0, 2)]
    assert await client.positions() == []
    assert fake.hits("okx", INSTRUMENTS) == 2
    assert "no contract size for NEW-USDT-SWAP" in caplog.text


async def test_thirty_days_of_funding_paged_over_both_endpoints(desk):
    fake, account = desk.fake, desk.account
    account.clock_at(T0_MS)
    start, end = T0_MS - 30 * DAY_MS, T0_MS
    rows = account.funding_series("BTC-USDT-SWAP", 1, 35, 1, H0_MS)
    rows += account.funding_series("SOL-USDT-SWAP", 4, 35, -1, H0_MS)
    rows += [
        account.funding_row("ETH-USDT-SWAP", 9.0, start),  # the start is inclusive
        account.funding_row("ETH-USDT-SWAP", 9.0, end),  # the end is not
    ]
    account.bills = rows
    sleeps = Sleeps()
    client = desk.client(sleeps)

    got = await client.funding(start, end)

    expected = account.payments(rows, start, end)
    assert len(expected) == 720 + 180 + 1
    assert got == expected
    assert got[0].time_ms == start and got[-1].time_ms < end
    assert {p.amount > 0 for p in got if p.symbol == "BTC-USDT-SWAP"} == {True, False}
    # The last 7 days (less an hour): 167 BTC, 42 SOL and the row at `end` = 3 pages;
    # the 692 older rows = 7 pages of the archive, each endpoint paced to its limit.
    assert fake.hits("okx", OKX_BILLS) == 3
    assert fake.hits("okx", OKX_BILLS_ARCHIVE) == 7
    assert sleeps.calls == [0.2] * 2 + [0.4] * 6
    bills = [r for r in fake.requests if r.path in (OKX_BILLS, OKX_BILLS_ARCHIVE)]
    assert all(r.query["limit"] == "100" and r.query["type"] == "8" for r in bills)
    recent = [r for r in bills if r.path == OKX_BILLS]
    assert all(int(r.query["begin"]) >= T0_MS - 7 * DAY_MS for r in recent)
    assert [("after" in r.query) for r in recent] == [False, True, True]


async def test_the_request_bound_keeps_the_newest_payments(desk, caplog):
    fake, account = desk.fake, desk.account
    account.clock_at(T0_MS)
    start, end = T0_MS - 30 * DAY_MS, T0_MS
    rows = [
        row
        for symbol in ("BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP", "APE-USDT-SWAP")
        for row in account.funding_series(symbol, 1, 31, 1, H0_MS)
    ]
    account.bills = rows
    client = desk.client()

    got = await client.funding(start, end)

    assert len(account.payments(rows, start, end)) == 4 * 720
    hits = fake.hits("okx", OKX_BILLS) + fake.hits("okx", OKX_BILLS_ARCHIVE)
    assert hits == okx.MAX_FUNDING_REQUESTS == 25
    # 7 pages hold the recent 4 x 167 rows, 18 full archive pages 1800 more.
    assert len(got) == 668 + 1800
    assert got == account.payments(rows, start, end)[-len(got) :]
    assert "funding cut at 25 requests" in caplog.text


async def test_the_fixture_bills_through_the_client_with_the_server_clock_at_t0(desk):
    account = desk.account
    account.clock_at(T0_MS)
    client = desk.client()
    got = await client.funding(T0_MS - DAY_MS, T0_MS)
    assert [(p.asset, p.amount) for p in got] == [
        ("ETH", -0.60724344),
        ("SOL", 0.68505336),
        ("APE", 7.1681348),
    ]


async def test_the_query_signed_is_the_query_sent(desk):
    account = desk.account
    account.clock_at(T0_MS)
    client = desk.client()
    await client.funding(T0_MS - DAY_MS, T0_MS)
    await client.positions()
    params = BILLS_QUERY | {"begin": str(T0_MS - DAY_MS), "end": str(T0_MS), "limit": "100"}
    # The fake checked each signature over the raw path and query it received.
    assert account.signed_paths == [
        OKX_BILLS + "?" + urlencode(params),
        okx.request_path(OKX_POSITIONS, {"instType": "SWAP"}),
    ]
    assert account.signed_paths[0] == okx.request_path(OKX_BILLS, params)
    assert account.refused == 0


# --- the fake's own check -----------------------------------------------------------


def headers_for(account: FakeOkxPrivate, ts_ms: int, path: str) -> dict[str, str]:
    timestamp = okx.iso_timestamp(ts_ms)
    return {
        "OK-ACCESS-KEY": account.key,
        "OK-ACCESS-SIGN": hmac_b64(account.secret, f"{timestamp}GET{path}"),
        "OK-ACCESS-TIMESTAMP": timestamp,
        "OK-ACCESS-PASSPHRASE": account.passphrase,
    }


@pytest.mark.parametrize(
    ("missing", "code"),
    [
        ("OK-ACCESS-KEY", "50103"),
        ("OK-ACCESS-PASSPHRASE", "50104"),
        ("OK-ACCESS-SIGN", "50106"),
        ("OK-ACCESS-TIMESTAMP", "50107"),
    ],
)
async def test_the_fake_answers_a_missing_header_with_okx_401(desk, missing, code):
    account = desk.account
    headers = headers_for(account, account.now_ms(), OKX_BALANCE)
    del headers[missing]
    status, reply = await desk.raw_get(OKX_BALANCE, headers)
    assert status == 401 and reply["code"] == code and reply["data"] == []
    assert account.refusals == [code]


@pytest.mark.parametrize(
    ("offset_ms", "code"),
    [(-31_000, "50102"), (31_000, "50102"), (-25_000, None), (25_000, None)],
)
async def test_the_fake_holds_timestamps_to_thirty_seconds_of_its_clock(desk, offset_ms, code):
    account = desk.account
    account.clock_at(T0_MS)
    headers = headers_for(account, account.now_ms() + offset_ms, OKX_BALANCE)
    status, reply = await desk.raw_get(OKX_BALANCE, headers)
    if code is None:
        assert status == 200 and reply["data"][0]["totalEq"] == "99.88870288820581"
    else:
        assert status == 401
        assert reply == json.loads(fixture_bytes("okx/error_50102_timestamp.json"))


async def test_the_fake_refuses_an_epoch_timestamp_and_a_signature_over_other_bytes(desk):
    account = desk.account
    headers = headers_for(account, account.now_ms(), OKX_BALANCE)
    status, reply = await desk.raw_get(
        OKX_BALANCE, headers | {"OK-ACCESS-TIMESTAMP": str(account.now_ms())}
    )
    assert (status, reply["code"]) == (401, "50112")
    # Signed without the query it is sent with.
    signed_for = headers_for(account, account.now_ms(), OKX_POSITIONS)
    status, reply = await desk.raw_get(OKX_POSITIONS + "?instType=SWAP", signed_for)
    assert status == 401
    assert reply == json.loads(fixture_bytes("okx/error_50113_signature.json"))
    assert account.refusals == ["50112", "50113"]


# --- risk fields: margin mode, ADL rank, margin ratio; the key's permissions ---------


def held(symbol: str = "SOL-USDT-SWAP", **risk: object) -> Held:
    return Held(symbol, "long", 10.0, 86.0, 86.2, 2.0, 5.0, 70.0, **risk)  # type: ignore[arg-type]


async def test_positions_carry_their_margin_mode_and_adl_rank(desk):
    account = desk.account
    account.positions = [
        account.position(held(adl_rank=5)),
        account.position(held("APE-USDT-SWAP", margin_mode="isolated")),
    ]
    assert account.positions[1]["mgnMode"] == "isolated" and account.positions[1]["margin"]
    positions = await desk.client().positions()
    assert [(p.margin_mode, p.adl_rank) for p in positions] == [("cross", 5), ("isolated", None)]


@pytest.mark.parametrize(
    ("adl", "rank"), [("0", 1), ("1", 1), ("3", 3), ("5", 5), ("6", None), ("", None)]
)
def test_okx_adl_levels_0_to_5_become_ranks_1_to_5(adl, rank):
    assert okx.adl_rank(adl) == rank


def test_a_margin_mode_okx_does_not_name_is_unknown():
    contracts = okx.parse_contracts(fixture_bytes("okx/api_v5_public_instruments_SWAP.json"))
    doc = json.loads(fixture_bytes("okx/api_v5_account_positions.json"))
    doc["data"][0]["mgnMode"] = ""
    ape, _ = okx.to_positions(okx.decode_positions(json.dumps(doc).encode()), contracts)
    assert ape.margin_mode is None


def test_the_recorded_balance_gives_no_margin_ratio():
    """Futures mode with no cross position: both `mgnRatio`s are ""."""
    [balance] = okx.parse_balances(fixture_bytes("okx/api_v5_account_balance.json"))
    assert balance.margin_ratio is None


def test_the_margin_ratio_is_one_over_okxs_account_mgn_ratio_first():
    doc = json.loads(fixture_bytes("okx/api_v5_account_balance.json"))
    doc["data"][0]["details"][0]["mgnRatio"] = "8"
    [balance] = okx.parse_balances(json.dumps(doc).encode())
    assert balance.margin_ratio == 0.125  # Futures mode: the currency's
    doc["data"][0]["mgnRatio"] = "2.5"  # Multi-currency or Portfolio margin
    [balance] = okx.parse_balances(json.dumps(doc).encode())
    assert balance.margin_ratio == 0.4


def test_in_futures_mode_the_most_exposed_currency_sets_the_ratio():
    doc = json.loads(fixture_bytes("okx/api_v5_account_balance.json"))
    usdt = doc["data"][0]["details"][0]
    doc["data"][0]["details"] = [dict(usdt, mgnRatio="20"), dict(usdt, ccy="USDC", mgnRatio="4")]
    [balance] = okx.parse_balances(json.dumps(doc).encode())
    assert balance.margin_ratio == 0.25


async def test_the_fakes_margin_ratio_comes_back_as_written(desk):
    client = desk.client()
    desk.account.set_balance(5_000, 4_000, margin_ratio=0.2)
    assert desk.account.balance["details"][0]["mgnRatio"] == "5.0"  # OKX's way round
    [balance] = await client.balances()
    assert balance.margin_ratio == pytest.approx(0.2)
    desk.account.set_balance(5_000, 4_000)
    assert [b.margin_ratio for b in await client.balances()] == [None]


def test_the_documented_config_is_a_key_that_may_trade_and_withdraw():
    access = okx.parse_key_access(fixture_bytes("okx/api_v5_account_config.json"))
    assert access == KeyAccess("okx", True, True, "perm=read_only,withdraw,trade")


def test_a_config_without_perm_is_unknown():
    access = okx.parse_key_access(body({"code": "0", "data": [{"uid": "1"}], "msg": ""}))
    assert (access.can_trade, access.can_withdraw, access.read_only) == (None, None, None)


@pytest.mark.parametrize(
    ("can_trade", "can_withdraw", "perm"),
    [
        (False, False, "read_only"),
        (True, False, "read_only,trade"),
        (False, True, "read_only,withdraw"),
        (True, True, "read_only,withdraw,trade"),
    ],
)
async def test_key_access_is_the_keys_perm(desk, can_trade, can_withdraw, perm):
    account = desk.account
    account.can_trade, account.can_withdraw = can_trade, can_withdraw
    access = await desk.client().key_access()
    assert access == KeyAccess("okx", can_trade, can_withdraw, f"perm={perm}")
    assert access.read_only is not (can_trade or can_withdraw)
    for secret in (account.key, account.secret, account.passphrase):
        assert secret not in repr(access)
    assert desk.queries(OKX_CONFIG) == [""]


async def test_a_refused_key_access_read_shows_no_secret(desk):
    account = desk.account
    with pytest.raises(AuthError) as e:
        await desk.client(passphrase="wrong-pass-77").key_access()
    text = str(e.value)
    assert "wrong-pass-77" not in text and account.key not in text and account.secret not in text
