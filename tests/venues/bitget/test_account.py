"""Bitget's signed account client: the signer's known answers, each fixture parsed by hand,
and the client against the fake private API (balances and their cross risk rate,
positions in coins with their margin mode, 30 days of funding paged under the request
bound, what a key may do, refused keys, a drifting server clock)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from arb.accounts.base import Credentials
from arb.accounts.models import Balance, FundingPayment, KeyAccess, Position
from arb.http import ReplyError, VenueHttp
from arb.venues.bitget import account as bitget
from tests.conftest import T0_MS, fixture_bytes
from tests.fakes.private_base import DAY_MS, H0_MS, Held, Sleeps, hmac_b64
from tests.fakes.venues import Fault
from tests.venues.bitget.fake_account import (
    BITGET_ACCOUNT_INFO,
    BITGET_ACCOUNTS,
    BITGET_BILLS,
    BITGET_POSITIONS,
    FakeBitgetPrivate,
)

KAT_SECRET = "6f1d7c0e3b9a4f52a8e1c7d09b3e5a21"
BILLS_QUERY = {
    "businessType": "contract_settle_fee",
    "endTime": str(T0_MS - 1),
    "limit": "100",
    "productType": "USDT-FUTURES",
    "startTime": str(T0_MS - 30 * DAY_MS),
}
ORDER_BODY = (
    '{"symbol":"BTCUSDT","productType":"USDT-FUTURES","marginMode":"crossed",'
    '"marginCoin":"USDT","size":"0.01","side":"buy","orderType":"market"}'
)
FIXTURES = {
    "time": "bitget/api_v2_public_time.json",
    "accounts": "bitget/api_v2_mix_account_accounts_USDT-FUTURES.json",
    "positions": "bitget/api_v2_mix_position_all_position_USDT-FUTURES.json",
    "bills": "bitget/api_v2_mix_account_bill_contract_settle_fee.json",
    "account_info": "bitget/api_v2_spot_account_info.json",
}


def envelope(data: object) -> bytes:
    return json.dumps({"code": "00000", "msg": "success", "requestTime": 1, "data": data}).encode()


# --- the signer ---------------------------------------------------------------------


def test_a_get_signs_timestamp_method_path_and_query():
    query = bitget.query_string(BILLS_QUERY)
    assert query == (
        "businessType=contract_settle_fee&endTime=1789015942966&limit=100"
        "&productType=USDT-FUTURES&startTime=1786423942967"
    )
    assert bitget.prehash(T0_MS, "get", BITGET_BILLS, query) == (
        f"1789015942967GET{BITGET_BILLS}?{query}"
    )
    # No query, no "?".
    assert bitget.prehash(T0_MS, "GET", BITGET_ACCOUNTS) == f"1789015942967GET{BITGET_ACCOUNTS}"


def test_a_post_signs_its_raw_json_body_after_the_path():
    message = bitget.prehash(T0_MS, "POST", "/api/v2/mix/order/place-order", body=ORDER_BODY)
    assert message == "1789015942967POST/api/v2/mix/order/place-order" + ORDER_BODY


@pytest.mark.parametrize(
    ("message", "signature"),
    [
        (
            f"1789015942967GET{BITGET_BILLS}?{urlencode(BILLS_QUERY)}",
            "LbRNaXtivFTAeLkknyfkke43bmrIo2Tfa/M2ajmnzwU=",
        ),
        (
            "1789015942967POST/api/v2/mix/order/place-order" + ORDER_BODY,
            "d36+NnEHpMif4CCrBzTpj6QZAgQ0a5+V3JgOJzugbHc=",
        ),
    ],
)
def test_the_signature_is_base64_hmac_sha256(message, signature):
    assert hmac_b64(KAT_SECRET, message) == signature
    assert bitget.sign(KAT_SECRET, message) == signature
    assert bitget.sign(KAT_SECRET + "x", message) != signature


def test_auth_headers_carry_key_timestamp_passphrase_and_signature():
    creds = Credentials("the-key", KAT_SECRET, "the-passphrase")
    client = bitget.BitgetPrivate(VenueHttp("bitget", "http://127.0.0.1:9"), creds)
    headers = client.headers(T0_MS, "GET", BITGET_BILLS, BILLS_QUERY)
    assert headers == {
        "ACCESS-KEY": "the-key",
        "ACCESS-SIGN": "LbRNaXtivFTAeLkknyfkke43bmrIo2Tfa/M2ajmnzwU=",
        "ACCESS-TIMESTAMP": "1789015942967",
        "ACCESS-PASSPHRASE": "the-passphrase",
        "Content-Type": "application/json",
        "locale": "en-US",
    }
    assert KAT_SECRET not in repr(creds) and "the-passphrase" not in repr(creds)


def test_a_client_without_a_passphrase_is_refused_before_any_request():
    http = VenueHttp("bitget", "http://127.0.0.1:9")
    with pytest.raises(ValueError, match="BITGET_API_PASSPHRASE"):
        bitget.BitgetPrivate(http, Credentials("k", "s"))


# --- parsing the fixtures (built from the docs) -----------------------------------------


def test_server_time_fixture():
    assert bitget.parse_server_time(fixture_bytes(FIXTURES["time"])) == T0_MS


def test_balance_fixture_is_one_usdt_account():
    assert bitget.parse_balances(fixture_bytes(FIXTURES["accounts"])) == [
        Balance("bitget", "USDT", 48250.61734, 44427.11734, 93.0, margin_ratio=0.008549)
    ]


@pytest.mark.parametrize(
    ("rate", "ratio"),
    [("0.3571", 0.3571), ("1.02", 1.02), ("0", 0.0), ("", None), (None, None), ("-1", None),
     ("n/a", None)],
)  # fmt: skip
def test_the_cross_risk_rate_is_the_margin_ratio_as_is(rate, ratio):
    row = {"marginCoin": "USDT", "accountEquity": "100", "crossedRiskRate": rate}
    (balance,) = bitget.parse_balances(envelope([row]))
    assert balance.margin_ratio == ratio


def test_balances_fall_back_field_by_field_and_skip_junk_accounts():
    rows = [
        {"marginCoin": "USDT", "accountEquity": ""},
        {"accountEquity": "5"},  # no margin coin: not an account we can name
        {"marginCoin": "USDT", "accountEquity": "-4767.74", "available": "-4500.1",
         "crossedMaxAvailable": "82755.87", "unrealizedPL": "-267.63"},
        {"marginCoin": "USDC", "accountEquity": "1000", "available": "900",
         "crossedMaxAvailable": "", "unrealizedPL": "", "crossedUnrealizedPL": "12.5",
         "isolatedUnrealizedPL": "-2.5"},
        {"marginCoin": "USDT", "accountEquity": "10", "unrealizedPL": "",
         "crossedUnrealizedPL": "", "isolatedUnrealizedPL": None},
    ]  # fmt: skip
    assert bitget.parse_balances(envelope(rows)) == [
        # Union mode: `available` negative, what can still be opened is crossedMaxAvailable.
        Balance("bitget", "USDT", -4767.74, 82755.87, -267.63),
        Balance("bitget", "USDC", 1000.0, 900.0, 10.0),
        Balance("bitget", "USDT", 10.0, None, None),
    ]


def test_positions_fixture_in_coins():
    ape, soph = bitget.parse_positions(fixture_bytes(FIXTURES["positions"]))
    assert ape == Position(
        venue="bitget",
        asset="APE",
        symbol="APEUSDT",
        side="short",
        size=150_000.0,
        entry_price=0.1383,
        mark_price=0.1378,
        unrealised_pnl=75.0,
        leverage=10.0,
        liquidation_price=0.4589,
        margin_mode="cross",  # "crossed"
        adl_rank=None,  # the row publishes none
    )
    assert (soph.asset, soph.side, soph.size, soph.leverage) == ("SOPH", "long", 2e6, 5.0)
    assert soph.margin_mode == "cross"
    assert soph.liquidation_price is None  # "0": cross margin with room to spare
    assert soph.notional == pytest.approx(8298.0)


def test_positions_convert_1000x_symbols_exactly_and_skip_junk():
    account = FakeBitgetPrivate()
    row = account.position_row
    rows = [
        row("1000PEPEUSDT", "long", 2_000, 0.0036, 0.0036339, 67.8, 5, 0.003),
        row("BTCUSDT", "short", 0.3, 77_600, 77_606.2, -1.86, 20),
        dict(row("1000BONKUSDT", "long", 1, 0.0195, 0.0196, 0.1), total="1.001"),
        dict(row("APEUSDT", "long", 1, 1, 1, 0), total="0"),
        dict(row("APEUSDT", "long", 1, 1, 1, 0), total=""),
        dict(row("APEUSDT", "long", 1, 1, 1, 0), total="lots"),
        dict(row("APEUSDT", "long", 1, 1, 1, 0), holdSide="net"),
        row("BTCUSD", "long", 1, 77_600, 77_600, 0),  # coin-margined
        row("BTCPERP", "long", 1, 77_600, 77_600, 0),
    ]
    pepe, btc, bonk = bitget.parse_positions(envelope(rows))
    assert (pepe.asset, pepe.symbol, pepe.side, pepe.size) == (
        "PEPE",
        "1000PEPEUSDT",
        "long",
        2_000_000.0,
    )
    assert pepe.entry_price == pytest.approx(0.0000036)
    assert pepe.mark_price == pytest.approx(0.0000036339)
    assert pepe.liquidation_price == pytest.approx(0.000003)
    assert pepe.notional == pytest.approx(2_000 * 0.0036339)  # the lots' own value
    assert (btc.asset, btc.side, btc.size, btc.signed_size) == ("BTC", "short", 0.3, -0.3)
    assert (btc.leverage, btc.unrealised_pnl) == (20.0, -1.86)
    assert (bonk.asset, bonk.size) == ("BONK", 1001.0)  # 1.001 lots x 1000, in decimal


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("crossed", "cross"), ("isolated", "isolated"), ("", None), (None, None), ("fixed", None)],
)
def test_margin_modes_in_bitgets_words(mode, expected):
    row = FakeBitgetPrivate().position_row("BTCUSDT", "long", 0.1, 77_000, 77_600, 60)
    (position,) = bitget.parse_positions(envelope([dict(row, marginMode=mode)]))
    assert (position.margin_mode, position.adl_rank) == (expected, None)


def test_bills_fixture_newest_first_positive_when_received():
    page = bitget.parse_bills_page(fixture_bytes(FIXTURES["bills"]))
    assert page.rows == 4 and page.end_id == "1304849912456982529"
    soph, ape, *older = page.payments
    assert soph == FundingPayment("bitget", "SOPH", "SOPHUSDT", 6.76287, "USDT", 1789012800000)
    assert (ape.asset, ape.amount, ape.time_ms) == ("APE", 5.45688, 1789012800000)
    assert [(p.amount, p.time_ms) for p in older] == [
        (5.21442, 1789009200000),
        (-0.8268, 1789005600000),  # paid
    ]


def test_junk_bills_are_skipped_but_counted_for_paging():
    def bill(**kw):
        row = {"billId": "1", "symbol": "XUSDT", "amount": "1.5", "fee": "0"}
        return (
            row | {"businessType": "contract_settle_fee", "coin": "USDT", "cTime": "3600000"} | kw
        )

    bills = [
        bill(billId="9", amount="-0.25", cTime="7200000"),
        bill(billId="8", businessType="open_long"),
        bill(billId="7", symbol="XUSD"),  # coin-margined
        bill(billId="6", amount=""),
        bill(billId="5", amount="0"),
        bill(billId="4", cTime="soon"),
        bill(billId="3", coin=None),
        bill(billId=2),
    ]
    page = bitget.parse_bills_page(envelope({"bills": bills, "endId": None}))
    assert page.payments == [
        FundingPayment("bitget", "X", "XUSDT", -0.25, "USDT", 7200000),
        FundingPayment("bitget", "X", "XUSDT", 1.5, "USDT", 3600000),
        FundingPayment("bitget", "X", "XUSDT", 1.5, "USDT", 3600000),
    ]
    # Without an endId the last bill's id is the cursor.
    assert page.rows == 8 and page.end_id == "2"
    assert bitget.parse_bills_page(envelope(None)) == bitget.BillsPage([], 0, None)


@pytest.mark.parametrize(
    "parse",
    [
        bitget.parse_server_time,
        bitget.parse_balances,
        bitget.parse_positions,
        bitget.parse_bills_page,
    ],
)
@pytest.mark.parametrize(
    ("path", "code"),
    [("bitget/error_40009_sign.json", "40009"), ("bitget/error_40008_timestamp.json", "40008")],
)
def test_error_envelopes_are_reply_errors(parse, path, code):
    with pytest.raises(ReplyError) as e:
        parse(fixture_bytes(path))
    assert (e.value.code, e.value.retryable) == (code, False)


def test_a_reply_without_a_code_is_not_bitgets():
    with pytest.raises(msgspec.ValidationError):
        bitget.parse_balances(b'{"msg": "success", "data": []}')
    with pytest.raises(ReplyError) as e:
        bitget.parse_balances(b'{"code": "429", "msg": "Too Many Requests"}')
    assert e.value.retryable


# --- the client against the fake ----------------------------------------------------


async def test_balances_from_the_fixture_and_from_a_set_balance(desk):
    account = desk.account
    client = desk.client()
    assert await client.balances() == [
        Balance("bitget", "USDT", 48250.61734, 44427.11734, 93.0, margin_ratio=0.008549)
    ]
    account.set_balance(25_000.0, 18_000.5, upnl=-42.25)
    assert await client.balances() == [Balance("bitget", "USDT", 25_000.0, 18_000.5, -42.25)]
    account.set_balance(25_000.0, 18_000.5, upnl=-42.25, margin_ratio=0.8125)
    assert await client.balances() == [
        Balance("bitget", "USDT", 25_000.0, 18_000.5, -42.25, margin_ratio=0.8125)
    ]
    query = urlencode({"productType": "USDT-FUTURES"})
    assert account.signed_paths == [f"{BITGET_ACCOUNTS}?{query}"] * 3


async def test_positions_are_in_coins_of_the_canonical_asset(desk):
    account = desk.account
    client = desk.client()
    assert [(p.asset, p.side, p.size) for p in await client.positions()] == [
        ("APE", "short", 150_000.0),
        ("SOPH", "long", 2_000_000.0),
    ]
    account.positions = [
        account.position_row("1000PEPEUSDT", "short", 3_000, 0.0036, 0.0036339, -1.0, 3),
        account.position_row("BTCUSDT", "long", 0.25, 77_000, 77_606.2, 151.55, 5, 60_000),
        dict(account.position_row("ETHUSDT", "long", 1, 2100, 2124, 24), marginCoin="USDC"),
    ]
    assert await client.positions() == [
        Position("bitget", "PEPE", "1000PEPEUSDT", "short", 3_000_000.0, 0.0000036,
                 0.0000036339, -1.0, 3.0, None, "cross"),
        Position("bitget", "BTC", "BTCUSDT", "long", 0.25, 77_000.0, 77_606.2, 151.55, 5.0,
                 60_000.0, "cross"),
    ]  # fmt: skip


async def test_positions_carry_their_margin_mode_and_no_adl_rank(desk):
    account = desk.account
    account.positions = [
        account.position(Held("APEUSDT", "short", 1_000, 0.14, 0.13, 10, 10, 0.3, "isolated", 5)),
        account.position(Held("SOPHUSDT", "long", 1_000, 0.004, 0.0041, 0.1, 5, None, "cross", 2)),
    ]
    got = await desk.client().positions()
    assert [(p.asset, p.margin_mode, p.adl_rank) for p in got] == [
        ("APE", "isolated", None),  # Bitget publishes no rank on the position
        ("SOPH", "cross", None),
    ]
    assert [row["marginMode"] for row in account.positions] == ["isolated", "crossed"]


async def test_thirty_days_of_funding_paged_under_the_bound(desk):
    fake, account = desk.fake, desk.account
    account.clock_at(T0_MS)
    start, end = T0_MS - 30 * DAY_MS, T0_MS
    rows = account.funding_series("BTCUSDT", 1, 35, 1, H0_MS)
    rows += account.funding_series("SOLUSDT", 4, 35, -1, H0_MS)
    rows += [
        account.funding_row("ETHUSDT", 9.0, start),  # the start is inclusive
        account.funding_row("ETHUSDT", 9.0, end),  # the end is not
    ]
    account.bills = rows
    sleeps = Sleeps()
    client = desk.client(sleeps)

    got = await client.funding(start - 10 * DAY_MS, end)  # more than 30 days: cut to 30

    expected = account.payments(rows, start, end)
    assert len(expected) == 720 + 180 + 1
    assert got == expected
    assert got[0].time_ms == start and got[-1].time_ms < end
    assert {p.amount > 0 for p in got if p.symbol == "BTCUSDT"} == {True, False}
    # 901 bills, 100 a page: 10 requests, paced to the endpoint's 10 a second.
    requests = [r for r in fake.requests if r.path == BITGET_BILLS]
    assert len(requests) == 10 <= bitget.MAX_FUNDING_REQUESTS
    assert sleeps.calls == [0.1] * 9
    assert all({k: r.query[k] for k in BILLS_QUERY} == BILLS_QUERY for r in requests)
    assert ["idLessThan" in r.query for r in requests] == [False] + [True] * 9
    assert account.refused == 0


async def test_the_request_bound_keeps_the_newest_payments(desk, caplog):
    fake, account = desk.fake, desk.account
    account.clock_at(T0_MS)
    start, end = T0_MS - 30 * DAY_MS, T0_MS
    symbols = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "APEUSDT", "LDOUSDT")
    account.bills = [row for s in symbols for row in account.funding_series(s, 1, 31, 1, H0_MS)]
    client = desk.client()

    got = await client.funding(start, end)

    expected = account.payments(account.bills, start, end)
    assert len(expected) == 5 * 720
    assert fake.hits("bitget", BITGET_BILLS) == bitget.MAX_FUNDING_REQUESTS == 30
    # 30 pages hold the newest 600 settlement hours of five symbols; the oldest of them
    # may go on in the next page, so it is left out.
    assert got == expected[-2995:]
    assert "stopped after 30 requests" in caplog.text


async def test_the_fixture_bills_through_the_client_with_the_server_clock_at_t0(desk):
    account = desk.account
    account.clock_at(T0_MS)
    got = await desk.client().funding(T0_MS - DAY_MS, T0_MS)
    assert [(p.asset, p.amount, p.time_ms) for p in got] == [
        ("APE", -0.8268, 1789005600000),
        ("APE", 5.21442, 1789009200000),
        ("APE", 5.45688, 1789012800000),
        ("SOPH", 6.76287, 1789012800000),
    ]


async def test_the_query_signed_is_the_query_sent(desk):
    account = desk.account
    account.clock_at(T0_MS)
    client = desk.client()
    await client.funding(T0_MS - 30 * DAY_MS, T0_MS)
    await client.positions()
    # The fake checked each signature over the raw path and query it received: sorted by
    # key, and the bytes urlencode writes.
    assert account.signed_paths == [
        f"{BITGET_BILLS}?{urlencode(BILLS_QUERY)}",
        f"{BITGET_POSITIONS}?marginCoin=USDT&productType=USDT-FUTURES",
    ]
    assert account.signed_paths[0] == f"{BITGET_BILLS}?{bitget.query_string(BILLS_QUERY)}"
    assert account.refused == 0


# --- what the key may do ------------------------------------------------------------


def account_info(authorities: object) -> bytes:
    data = json.loads(fixture_bytes(FIXTURES["account_info"]))["data"]
    return envelope(dict(data, authorities=authorities))


@pytest.mark.parametrize(
    ("authorities", "trade", "withdraw"),
    [
        (["stor", "coor", "cpor"], False, False),
        (["coor", "cpor", "coow", "cpow"], True, False),
        (["cpor", "wwow"], False, True),  # withdrawal alone: nothing else written
        (["stow", "wtow", "wwow"], True, True),
        (["wtow"], True, False),  # wallet transfer writes: not a read-only key
        (["readonly"], False, False),  # the example's older words
        (["trade", "readonly"], True, False),
        ([], False, False),
        (["coor", "uta_mgt"], None, None),  # a code we do not know: nothing assumed
        (["coow", "uta_mgt"], True, None),
        (["wwow", "uta_mgt"], None, True),
    ],
)
def test_key_access_from_the_authorities(authorities, trade, withdraw):
    access = bitget.parse_key_access(account_info(authorities))
    assert access == KeyAccess("bitget", trade, withdraw, "authorities=" + ",".join(authorities))


KNOWN = sorted(bitget.READ_AUTHORITIES | bitget.WRITE_AUTHORITIES | bitget.WITHDRAW_AUTHORITIES)


@given(st.lists(st.sampled_from([*KNOWN, "uta_mgt", "newr"]), max_size=8))
def test_a_key_is_read_only_only_when_every_code_is_a_known_read_code(codes):
    access = bitget.parse_key_access(account_info(codes))
    assert (access.read_only is True) == set(codes).issubset(bitget.READ_AUTHORITIES)
    if {"wwow", "withdraw"} & set(codes):
        assert access.can_withdraw is True and access.read_only is not True
    if not set(codes).issubset(KNOWN):  # something unknown: never "no"
        assert False not in (access.can_trade, access.can_withdraw)


def test_key_access_fixture_is_a_read_only_key():
    access = bitget.parse_key_access(fixture_bytes(FIXTURES["account_info"]))
    assert access == KeyAccess("bitget", False, False, "authorities=stor,coor,cpor")
    assert access.read_only is True


def test_key_access_without_authorities_is_unknown():
    access = bitget.parse_key_access(envelope({"userId": "1"}))
    assert (access.can_trade, access.can_withdraw, access.read_only) == (None, None, None)
    with pytest.raises(ReplyError):
        bitget.parse_key_access(fixture_bytes("bitget/error_40009_sign.json"))


@pytest.mark.parametrize(
    ("trade", "withdraw", "read_only"),
    [(False, False, True), (True, False, False), (False, True, False), (True, True, False)],
)
async def test_key_access_through_the_signed_client(desk, trade, withdraw, read_only):
    account = desk.account
    account.can_trade, account.can_withdraw = trade, withdraw
    access = await desk.client().key_access()
    assert (access.can_trade, access.can_withdraw, access.read_only) == (
        trade,
        withdraw,
        read_only,
    )
    assert account.signed_paths == [BITGET_ACCOUNT_INFO] and account.refused == 0
    secrets = (account.key, account.secret, account.passphrase)
    assert not any(secret in repr(access) for secret in secrets)


async def test_a_key_refused_its_permissions_is_unknown_without_its_secrets(desk):
    account = desk.account
    refused = {"code": "40014", "msg": "Incorrect permissions", "requestTime": T0_MS,
               "data": None}  # fmt: skip
    desk.fake.fail("bitget", BITGET_ACCOUNT_INFO, Fault.venue_error(refused, status=400))
    access = await desk.client().key_access()
    assert (access.can_trade, access.can_withdraw) == (None, None)
    assert "40014" in access.detail and "Incorrect permissions" in access.detail
    desk.fake.clear_faults()
    bad = {"key": "bg_wrong_key_77aa", "secret": "wrong-secret-4d1f", "passphrase": "pw-x9"}
    access = await desk.client(**bad).key_access()
    assert access.read_only is None and "refused" in access.detail
    shown = repr(access)
    secrets = (account.key, account.secret, account.passphrase, *bad.values())
    assert not any(secret in shown for secret in secrets)


# --- the fake's own check -----------------------------------------------------------


def headers_for(account: FakeBitgetPrivate, ts_ms: int, path: str) -> dict[str, str]:
    return {
        "ACCESS-KEY": account.key,
        "ACCESS-SIGN": hmac_b64(account.secret, f"{ts_ms}GET{path}"),
        "ACCESS-TIMESTAMP": str(ts_ms),
        "ACCESS-PASSPHRASE": account.passphrase,
    }


ACCOUNTS_PATH = BITGET_ACCOUNTS + "?productType=USDT-FUTURES"


@pytest.mark.parametrize(
    ("missing", "code"),
    [
        ("ACCESS-KEY", "40001"),
        ("ACCESS-SIGN", "40002"),
        ("ACCESS-TIMESTAMP", "40003"),
        ("ACCESS-PASSPHRASE", "40011"),
    ],
)
async def test_the_fake_answers_a_missing_header_with_bitgets_400(desk, missing, code):
    account = desk.account
    headers = headers_for(account, account.now_ms(), ACCOUNTS_PATH)
    del headers[missing]
    status, reply = await desk.raw_get(ACCOUNTS_PATH, headers)
    assert status == 400 and reply["code"] == code and reply["data"] is None
    assert account.refusals == [code]


@pytest.mark.parametrize(
    ("offset_ms", "code"),
    [(-31_000, "40008"), (31_000, "40008"), (-25_000, None), (25_000, None)],
)
async def test_the_fake_holds_timestamps_to_thirty_seconds_of_its_clock(desk, offset_ms, code):
    account = desk.account
    account.clock_at(T0_MS)
    headers = headers_for(account, account.now_ms() + offset_ms, ACCOUNTS_PATH)
    status, reply = await desk.raw_get(ACCOUNTS_PATH, headers)
    if code is None:
        assert status == 200 and reply["data"][0]["accountEquity"] == "48250.61734"
    else:
        expected = json.loads(fixture_bytes("bitget/error_40008_timestamp.json"))
        assert status == 400
        assert (reply["code"], reply["msg"]) == (expected["code"], expected["msg"])


async def test_the_fake_refuses_a_seconds_timestamp_and_a_signature_over_other_bytes(desk):
    account = desk.account
    now = account.now_ms()
    headers = headers_for(account, now, ACCOUNTS_PATH)
    status, reply = await desk.raw_get(
        ACCOUNTS_PATH, headers | {"ACCESS-TIMESTAMP": str(now // 1000)}
    )
    assert (status, reply["code"]) == (400, "40005")
    # Signed without the query it is sent with.
    signed_for = headers_for(account, now, BITGET_ACCOUNTS)
    status, reply = await desk.raw_get(ACCOUNTS_PATH, signed_for)
    expected = json.loads(fixture_bytes("bitget/error_40009_sign.json"))
    assert status == 400 and (reply["code"], reply["msg"]) == (expected["code"], expected["msg"])
    assert account.refusals == ["40005", "40009"]
