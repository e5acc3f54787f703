"""Gate's signed account client: the signer against Gate's documented examples, each
recorded reply parsed by hand, and the client against the fake private API (balances and
their cross margin ratio, positions in coins with their margin mode and ADL rank, 30 days
of funding paged by offset, key permissions left unknown, refused keys, a drifting
clock)."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from urllib.parse import urlencode

import pytest

from arb.accounts.base import AuthError, Credentials
from arb.accounts.models import Balance, FundingPayment, Position
from arb.http import (
    ReplyError,
    ReplyShapeError,
    VenueAPIError,
    VenueHttp,
    VenueHTTPError,
)
from arb.venues.gate import account as gate
from tests.conftest import T0_MS, fixture_bytes
from tests.fakes.private_base import DAY_MS, H0_MS, Held
from tests.fakes.venues import Fault
from tests.venues.gate.fake_account import (
    GATE_ACCOUNT_BOOK,
    GATE_ACCOUNTS,
    GATE_CONTRACTS,
    GATE_POSITIONS,
    FakeGatePrivate,
)

EMPTY_SHA512 = (
    "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
)
# Gate's own signing examples (its API docs, "API Signature string generation"): key
# `key`, secret `secret`, Timestamp 1541993715.
DOC_SECRET = "secret"
DOC_TS = 1541993715
DOC_QUERY = {"contract": "BTC_USD", "status": "finished", "limit": "50"}
DOC_BODY = b'{"contract":"BTC_USD","type":"limit","size":100,"price":6800,"time_in_force":"gtc"}'
DOC_GET_SIGN = (
    "55f84ea195d6fe57ce62464daaa7c3c02fa9d1dde954e4c898289c9a2407a3d6"
    "fb3faf24deff16790d726b66ac9f74526668b13bd01029199cc4fcc522418b8a"
)
DOC_POST_SIGN = (
    "eae42da914a590ddf727473aff25fc87d50b64783941061f47a3fdb92742541f"
    "c4c2c14017581b4199a1418d54471c269c03a38d788d802e2c306c37636389f0"
)


def hmac_sha512_hex(secret: str, message: str) -> str:
    """The signature as the reference defines it, written here apart from the client."""
    return hmac.new(secret.encode(), message.encode(), hashlib.sha512).hexdigest()


def body(payload: object) -> bytes:
    return json.dumps(payload).encode()


# --- the signer ---------------------------------------------------------------------


def test_the_empty_body_hashes_to_the_documented_constant():
    assert gate.body_hash() == gate.body_hash(b"") == EMPTY_SHA512
    assert gate.body_hash(b" ") != EMPTY_SHA512


def test_a_get_signs_method_path_query_empty_body_hash_and_seconds():
    query = gate.query_string(DOC_QUERY)
    assert query == "contract=BTC_USD&status=finished&limit=50"
    message = gate.presign("get", "/api/v4/futures/orders", query, b"", DOC_TS)
    assert message == (
        "GET\n/api/v4/futures/orders\ncontract=BTC_USD&status=finished&limit=50\n"
        f"{EMPTY_SHA512}\n1541993715"
    )


def test_a_post_signs_an_empty_query_line_and_the_body_hash():
    body_sha = hashlib.sha512(DOC_BODY).hexdigest()
    assert body_sha.startswith("ad3c169203dc3026558f01b4df307641")  # the docs' value
    message = gate.presign("POST", "/api/v4/futures/orders", "", DOC_BODY, DOC_TS)
    assert message == f"POST\n/api/v4/futures/orders\n\n{body_sha}\n1541993715"


@pytest.mark.parametrize(
    ("method", "query", "payload", "documented"),
    [
        ("GET", "contract=BTC_USD&status=finished&limit=50", b"", DOC_GET_SIGN),
        ("POST", "", DOC_BODY, DOC_POST_SIGN),
    ],
)
def test_the_signature_is_hex_hmac_sha512(method, query, payload, documented):
    message = gate.presign(method, "/api/v4/futures/orders", query, payload, DOC_TS)
    expected = hmac_sha512_hex(DOC_SECRET, message)
    assert expected == documented
    assert gate.sign(DOC_SECRET, message) == expected
    assert gate.sign(DOC_SECRET + "x", message) != expected


def test_auth_headers_carry_key_seconds_and_signature():
    creds = Credentials("key", DOC_SECRET)
    client = gate.GatePrivate(VenueHttp("gate", "http://127.0.0.1:9"), creds)
    headers = client.headers(DOC_TS * 1000 + 999, "GET", "/api/v4/futures/orders", DOC_QUERY)
    assert headers == {"KEY": "key", "Timestamp": "1541993715", "SIGN": DOC_GET_SIGN}
    assert DOC_SECRET not in repr(creds)


def test_a_request_without_parameters_signs_an_empty_query_line():
    assert gate.query_string(None) == gate.query_string({}) == ""
    client = gate.GatePrivate(VenueHttp("gate", "http://127.0.0.1:9"), Credentials("k", "s"))
    headers = client.headers(T0_MS, "GET", GATE_ACCOUNTS, None)
    message = f"GET\n{GATE_ACCOUNTS}\n\n{EMPTY_SHA512}\n{T0_MS // 1000}"
    assert headers["SIGN"] == hmac_sha512_hex("s", message)


# --- parsing the recorded replies ---------------------------------------------------


def contracts_fixture() -> dict[str, gate.Contract]:
    return gate.to_contracts(
        gate.decode_contracts(fixture_bytes("gate/api_v4_futures_usdt_contracts.json"))
    )


def test_server_time_fixture_is_milliseconds():
    assert gate.parse_server_time(fixture_bytes("gate/api_v4_spot_time.json")) == T0_MS
    with pytest.raises(ReplyShapeError, match="server_time"):
        gate.parse_server_time(b'{"server_time": ""}')


def test_account_fixture_is_one_usdt_balance_with_the_unrealised_pnl_added():
    (b,) = gate.parse_balances(fixture_bytes("gate/api_v4_futures_usdt_accounts.json"))
    assert (b.venue, b.currency, b.available, b.unrealised_pnl) == (
        "gate",
        "USDT",
        21000.25,
        588.925,
    )
    assert b.equity == pytest.approx(25000.5 + 588.925, abs=1e-9)  # total excludes it
    # Cross maintenance margin over the cross margin balance; `cross_mmr` is its inverse.
    assert b.margin_ratio == pytest.approx(99.9295 / 22734.74)
    assert 1 / b.margin_ratio == pytest.approx(227.5, abs=0.01)  # the fixture's 227.5091


@pytest.mark.parametrize(
    ("fields", "ratio"),
    [
        ({"cross_maintenance_margin": "450", "cross_margin_balance": "500"}, 0.9),
        ({"cross_maintenance_margin": "0", "cross_margin_balance": "500"}, 0.0),
        ({"cross_maintenance_margin": "600", "cross_margin_balance": "500"}, 1.2),
        ({"cross_maintenance_margin": "450", "cross_margin_balance": "0"}, None),
        ({"cross_maintenance_margin": "", "cross_margin_balance": "500"}, None),
        ({"cross_margin_balance": "500"}, None),
        ({"cross_maintenance_margin": "-1", "cross_margin_balance": "500"}, None),
        ({}, None),
        # The old classic mode: the cross figures do not apply.
        ({"enable_evolved_classic": False, "cross_maintenance_margin": "450",
          "cross_margin_balance": "500"}, None),
    ],
)  # fmt: skip
def test_the_margin_ratio_is_cross_maintenance_over_cross_balance(fields, ratio):
    account = {"currency": "USDT", "total": "500", "enable_evolved_classic": True} | fields
    (b,) = gate.parse_balances(body(account))
    assert b.margin_ratio == (None if ratio is None else pytest.approx(ratio))


def test_an_account_without_a_total_is_skipped_and_no_upnl_means_total():
    assert gate.parse_balances(body({"currency": "USDT", "total": "", "available": "5"})) == []
    got = gate.parse_balances(body({"currency": "usdt", "total": "100.5", "available": "80"}))
    assert got == [Balance("gate", "USDT", 100.5, 80.0, None)]


def test_contracts_keep_every_usdt_perpetual_delisting_or_not():
    contracts = contracts_fixture()
    assert contracts["PEPE_USDT"] == gate.Contract("PEPE", 10_000_000, 1.0)
    assert contracts["BTC_USDT"].coins == gate.Decimal("0.0001")
    assert "MKR_USDT" in contracts  # in_delisting, but a held one must still size
    rows = [
        {"name": "1000SATS_USDT", "quanto_multiplier": "10"},
        {"name": "BTC_USD", "quanto_multiplier": "1"},
        {"name": "BTC_USDT_20260925", "quanto_multiplier": "1"},
        {"name": "X_USDT", "quanto_multiplier": "0"},
        {"name": "Y_USDT", "quanto_multiplier": ""},
    ]
    assert gate.to_contracts(gate.decode_contracts(body(rows))) == {
        "1000SATS_USDT": gate.Contract("SATS", 10_000, 1000.0)
    }


def test_positions_fixture_in_coins():
    rows = gate.decode_positions(fixture_bytes("gate/api_v4_futures_usdt_positions.json"))
    btc, pepe = gate.to_positions(rows, contracts_fixture())
    # BTC: size "-2500" contracts of 0.0001 BTC, isolated at 5x.
    assert btc == Position(
        venue="gate",
        asset="BTC",
        symbol="BTC_USDT",
        side="short",
        size=0.25,
        entry_price=77000.0,
        mark_price=77587.9,
        unrealised_pnl=-146.975,
        leverage=5.0,
        liquidation_price=92210.4,
        margin_mode="isolated",
        adl_rank=1,  # Gate's grade 5, its lowest: last to be deleveraged
    )
    # PEPE: 550 contracts of 10,000,000 PEPE, cross margin (`leverage` "0", lever 10).
    assert (pepe.asset, pepe.side, pepe.size, pepe.leverage) == ("PEPE", "long", 5.5e9, 10.0)
    assert (pepe.margin_mode, pepe.adl_rank) == ("cross", 1)
    assert pepe.notional == pytest.approx(19985.9, abs=1e-6)  # the row's own `value`


def test_sizes_convert_exactly_sides_follow_the_mode_and_junk_is_skipped():
    contracts = {
        "APE_USDT": gate.Contract("APE", gate.Decimal("0.1"), 1.0),
        "1000SATS_USDT": gate.Contract("SATS", gate.Decimal("10000"), 1000.0),
    }
    rows = [
        {"contract": "APE_USDT", "size": "3", "mode": "single", "lever": "3"},
        {"contract": "APE_USDT", "size": -7, "mode": "dual_short", "leverage": "0",
         "cross_leverage_limit": "20", "liq_price": "0"},
        {"contract": "APE_USDT", "size": "2", "mode": "dual_long", "leverage": "4"},
        {"contract": "1000SATS_USDT", "size": "-2", "mode": "single", "entry_price": "0.05",
         "mark_price": "0.04", "liq_price": "0.08", "lever": "2"},
        {"contract": "APE_USDT", "size": "0"},
        {"contract": "APE_USDT", "size": ""},
        {"contract": "APE_USDT", "size": "lots"},
        {"contract": "UNKNOWN_USDT", "size": "5"},
    ]  # fmt: skip
    got = gate.to_positions(gate.decode_positions(body(rows)), contracts)
    assert [(p.asset, p.side, p.size, p.leverage, p.liquidation_price) for p in got] == [
        ("APE", "long", 0.3, 3.0, None),  # 3 x 0.1 in decimal, not 0.30000000000000004
        ("APE", "short", 0.7, 20.0, None),
        ("APE", "long", 0.2, 4.0, None),
        ("SATS", "short", 20_000.0, 2.0, 0.00008),
    ]
    # 1000SATS prices are per 1000 SATS: per coin they are a thousandth.
    assert (got[3].entry_price, got[3].mark_price) == (0.00005, 0.00004)


@pytest.mark.parametrize(
    ("fields", "mode"),
    [
        ({"pos_margin_mode": "cross", "leverage": "5"}, "cross"),  # the newer field first
        ({"pos_margin_mode": "isolated", "leverage": "0"}, "isolated"),
        ({"leverage": "0", "cross_leverage_limit": "10"}, "cross"),  # "0 means cross margin"
        ({"leverage": "5"}, "isolated"),
        ({"leverage": ""}, None),
        ({"pos_margin_mode": "portfolio"}, None),
        ({}, None),
    ],
)
def test_margin_mode_from_pos_margin_mode_else_leverage_zero(fields, mode):
    contracts = {"APE_USDT": gate.Contract("APE", gate.Decimal("1"), 1.0)}
    row = {"contract": "APE_USDT", "size": "1", "mode": "single"} | fields
    (position,) = gate.to_positions(gate.decode_positions(body([row])), contracts)
    assert position.margin_mode == mode


@pytest.mark.parametrize(
    ("grade", "rank"),
    [(1, 5), (2, 4), (3, 3), (4, 2), (5, 1), (6, None), (0, None), (2.5, None), ("3", 3),
     ("", None), (None, None)],
)  # fmt: skip
def test_adl_grade_one_is_first_to_be_deleveraged_and_six_is_none(grade, rank):
    contracts = {"APE_USDT": gate.Contract("APE", gate.Decimal("1"), 1.0)}
    row = {"contract": "APE_USDT", "size": "1", "mode": "single", "adl_ranking": grade}
    (position,) = gate.to_positions(gate.decode_positions(body([row])), contracts)
    assert position.adl_rank == rank


def test_account_book_fixture_funding_positive_when_received():
    page = gate.parse_book_page(fixture_bytes("gate/api_v4_futures_usdt_account_book_fund.json"))
    assert page.rows == 4
    pepe, btc, *older = page.payments
    # `time` 1788998400.004121 s is 2026-09-10T00:00:00.004Z.
    assert pepe == FundingPayment("gate", "PEPE", "PEPE_USDT", -1.5788861, "USDT", 1788998400004)
    assert (btc.asset, btc.amount, btc.time_ms) == ("BTC", 0.75648202, 1788998400004)
    assert [(p.symbol, p.time_ms) for p in older] == [
        ("PEPE_USDT", 1788969600004),
        ("BTC_USDT", 1788969600004),
    ]


def test_junk_book_rows_are_skipped_but_counted_for_paging():
    def row(**kw):
        return {"time": 3600.0, "change": "1.5", "type": "fund", "contract": "X_USDT"} | kw

    rows = [
        row(change="-0.25", time="7200.5"),  # times may come as strings
        row(type="fee"),
        row(contract=""),  # before 2023-10-30 rows had no contract
        row(contract="X_USD"),
        row(change=""),
        row(time="soon"),
        row(time=0),
        row(),
    ]
    page = gate.parse_book_page(body(rows))
    assert page.payments == [
        FundingPayment("gate", "X", "X_USDT", -0.25, "USDT", 7200500),
        FundingPayment("gate", "X", "X_USDT", 1.5, "USDT", 3600000),
    ]
    assert page.rows == 8


@pytest.mark.parametrize(
    "parse",
    [gate.parse_server_time, gate.parse_balances, gate.decode_positions, gate.parse_book_page,
     gate.decode_contracts],
)  # fmt: skip
@pytest.mark.parametrize(
    ("path", "label", "retryable"),
    [
        ("gate/error_INVALID_SIGNATURE.json", "INVALID_SIGNATURE", False),
        ("gate/error_REQUEST_EXPIRED.json", "REQUEST_EXPIRED", False),
        ("gate/error_INVALID_KEY.json", "INVALID_KEY", False),
    ],
)
def test_error_replies_are_reply_errors(parse, path, label, retryable):
    with pytest.raises(ReplyError) as e:
        parse(fixture_bytes(path))
    assert (e.value.code, e.value.retryable) == (label, retryable)


def test_a_busy_server_label_is_retryable():
    with pytest.raises(ReplyError) as e:
        gate.parse_book_page(body({"label": "TOO_BUSY", "message": "Server is too busy"}))
    assert e.value.retryable


def test_book_params_cover_the_range_whatever_gate_reads_as_inclusive():
    params = gate.book_params(1_000_000_500, 1_000_086_400_250, 2)
    assert params == {
        "type": "fund",
        "from": "999999",  # a second before the start
        "to": "1000086401",  # the end rounded up
        "limit": "1000",
        "offset": "2000",
    }


# --- the client against the fake ----------------------------------------------------


async def test_balances_from_the_fixture_and_from_a_set_balance(desk):
    account = desk.account
    client = desk.client()
    assert await client.balances() == gate.parse_balances(
        fixture_bytes("gate/api_v4_futures_usdt_accounts.json")
    )
    account.set_balance(25_000.0, 18_000.5, upnl=-42.25)
    assert await client.balances() == [Balance("gate", "USDT", 25_000.0, 18_000.5, -42.25)]
    account.set_balance(25_000.0, 18_000.5, upnl=-42.25, margin_ratio=0.875)
    (b,) = await client.balances()
    assert b.margin_ratio == pytest.approx(0.875)
    account.set_balance(25_000.0, 18_000.5, margin_ratio=0.0)
    assert (await client.balances())[0].margin_ratio == 0.0
    assert account.signed_paths == [GATE_ACCOUNTS] * 4


async def test_positions_are_in_coins_of_the_canonical_asset(desk):
    fake, account = desk.fake, desk.account
    client = desk.client()
    assert [(p.asset, p.side, p.size) for p in await client.positions()] == [
        ("BTC", "short", 0.25),
        ("PEPE", "long", 5.5e9),
    ]
    pepe = account.position_row("PEPE_USDT", "long", 3_000_000, 3.5e-6, 3.6e-6, 0.3, 3)
    eth = account.position_row("ETH_USDT", "short", 1.5, 2100, 2124.92, -37.38, 5, 2500)
    assert (pepe["size"], eth["size"]) == ("0.3", "-150")  # contracts on the wire
    account.positions = [pepe, eth]
    assert await client.positions() == [
        Position("gate", "PEPE", "PEPE_USDT", "long", 3_000_000.0, 3.5e-6, 3.6e-6, 0.3, 3.0,
                 None, "cross"),
        Position("gate", "ETH", "ETH_USDT", "short", 1.5, 2100.0, 2124.92, -37.38, 5.0, 2500.0,
                 "cross"),
    ]  # fmt: skip
    assert fake.hits("gate", GATE_CONTRACTS) == 1  # the contract list is cached
    contract_query = next(r.query for r in fake.requests if r.path == GATE_CONTRACTS)
    assert contract_query == {"limit": "1000", "offset": "0"}


async def test_positions_carry_margin_mode_leverage_and_adl_rank(desk):
    account = desk.account
    account.positions = [
        account.position(Held("BTC_USDT", "short", 0.25, 77_000, 77_600, -150, 5, 92_000,
                              "isolated", 4)),
        account.position(Held("PEPE_USDT", "long", 5e9, 3.5e-6, 3.6e-6, 500, 10, 2e-6,
                              "cross", 1)),
        account.position(Held("ETH_USDT", "long", 1, 2100, 2124, 24, 3, None)),
    ]  # fmt: skip
    got = await desk.client().positions()
    assert [(p.asset, p.margin_mode, p.leverage, p.adl_rank) for p in got] == [
        ("BTC", "isolated", 5.0, 4),
        ("PEPE", "cross", 10.0, 1),
        ("ETH", "cross", 3.0, None),  # no rank given: Gate's special 6
    ]
    # As Gate writes them: cross margin is `leverage` "0" beside its limit; grades run
    # the other way (1 first to be deleveraged).
    wire = [
        (float(r["leverage"]), float(r["cross_leverage_limit"]), r["adl_ranking"])
        for r in account.positions
    ]
    assert wire == [(5, 0, 2), (0, 10, 5), (0, 3, 6)]
    # Without `lever` and `pos_margin_mode` (older replies) the same modes and leverage.
    account.positions = [
        {k: v for k, v in row.items() if k not in ("lever", "pos_margin_mode")}
        for row in account.positions
    ]
    got = await desk.client().positions()
    assert [(p.margin_mode, p.leverage) for p in got] == [
        ("isolated", 5.0),
        ("cross", 10.0),
        ("cross", 3.0),
    ]


async def test_key_permissions_stay_unknown_and_nothing_is_asked(desk):
    account = desk.account
    access = await desk.client().key_access()
    assert (access.venue, access.can_trade, access.can_withdraw, access.read_only) == (
        "gate",
        None,
        None,
        None,
    )
    assert access.detail and account.key not in repr(access)
    assert account.signed_paths == [] and desk.fake.hits("gate") == 0


async def test_a_thousand_x_contract_listed_after_the_cache_is_refetched_once(desk, caplog):
    fake, account = desk.fake, desk.account
    client = desk.client()
    await client.positions()
    account.add_contract("1000SATS_USDT", "10")
    account.positions = [account.position_row("1000SATS_USDT", "long", 50_000, 0.05, 0.04, 0, 2)]
    (sats,) = await client.positions()
    assert (sats.asset, sats.size, sats.mark_price) == ("SATS", 50_000.0, 0.00004)
    assert account.positions[0]["size"] == "5"  # 5 contracts of 10 x 1000 SATS
    assert fake.hits("gate", GATE_CONTRACTS) == 2

    account.positions = [dict(account.positions[0], contract="NEW_USDT")]
    assert await client.positions() == []
    assert fake.hits("gate", GATE_CONTRACTS) == 3
    assert "no contract size for NEW_USDT" in caplog.text


async def test_positions_page_by_offset(desk):
    fake, account = desk.fake, desk.account
    client = desk.client()
    account.positions = [
        account.position_row("SOL_USDT", "long", n + 1, 86, 86.21, 0, 2) for n in range(1001)
    ]
    got = await client.positions()
    assert [p.size for p in got] == [float(n + 1) for n in range(1001)]
    offsets = [r.query["offset"] for r in fake.requests if r.path == GATE_POSITIONS]
    assert offsets == ["0", "1000"]


async def test_thirty_days_of_funding_paged_by_offset(desk):
    fake, account = desk.fake, desk.account
    start, end = T0_MS - 30 * DAY_MS, T0_MS
    rows = account.funding_series("BTC_USDT", 1, 35, 1, H0_MS)
    rows += account.funding_series("LDO_USDT", 1, 35, -1, H0_MS)
    rows += account.funding_series("APE_USDT", 1, 35, 1, H0_MS)
    rows += account.funding_series("SOL_USDT", 4, 35, -1, H0_MS)
    rows += [
        account.funding_row("ETH_USDT", 9.0, start),  # the start is inclusive
        account.funding_row("ETH_USDT", 9.0, end),  # the end is not
    ]
    account.book = rows
    client = desk.client()

    got = await client.funding(start, end)

    expected = account.payments(rows, start, end)
    assert len(expected) == 3 * 720 + 180 + 1
    assert got == expected
    assert got[0].time_ms == start and got[-1].time_ms < end
    assert {p.amount > 0 for p in got if p.symbol == "BTC_USDT"} == {True, False}
    # 2,342 rows in range (the one at `end` too, dropped by the client) = 3 pages.
    pages = [r.query for r in fake.requests if r.path == GATE_ACCOUNT_BOOK]
    assert [q["offset"] for q in pages] == ["0", "1000", "2000"]
    assert all(
        q == {"type": "fund", "from": str(start // 1000 - 1), "to": str(math.ceil(end / 1000)),
              "limit": "1000", "offset": q["offset"]}
        for q in pages
    )  # fmt: skip
    assert len(pages) <= gate.MAX_FUNDING_REQUESTS


async def test_the_request_bound_keeps_the_newest_complete_settlements(desk, caplog):
    fake, account = desk.fake, desk.account
    start, end = T0_MS - 30 * DAY_MS, T0_MS
    symbols = [f"C{i:02d}_USDT" for i in range(28)]
    account.book = [row for s in symbols for row in account.funding_series(s, 1, 30, 1, H0_MS)]
    client = desk.client()

    got = await client.funding(start, end)

    assert len(account.book) == 28 * 720 > gate.MAX_FUNDING_REQUESTS * gate.PAGE_LIMIT
    assert fake.hits("gate", GATE_ACCOUNT_BOOK) == gate.MAX_FUNDING_REQUESTS == 20
    # 20,000 rows fetched newest first: 714 whole hours of 28, and 8 rows of hour 715,
    # which may go on in the next page and are left out.
    assert len(got) == 714 * 28
    assert got == account.payments(account.book, start, end)[-len(got) :]
    assert "stopped after 20 requests" in caplog.text


async def test_funding_reaches_back_thirty_days_and_an_empty_range_asks_nothing(desk):
    fake = desk.fake
    client = desk.client()
    assert await client.funding(T0_MS, T0_MS) == []
    assert fake.hits("gate", GATE_ACCOUNT_BOOK) == 0
    await client.funding(T0_MS - 45 * DAY_MS, T0_MS)
    (query,) = [r.query for r in fake.requests if r.path == GATE_ACCOUNT_BOOK]
    assert query["from"] == str((T0_MS - 30 * DAY_MS) // 1000 - 1)


async def test_the_fixture_book_through_the_client(desk):
    client = desk.client()
    got = await client.funding(T0_MS - DAY_MS, T0_MS)
    assert [(p.asset, p.amount) for p in got] == [
        ("BTC", 0.484931),
        ("PEPE", -1.1990213),
        ("BTC", 0.75648202),
        ("PEPE", -1.5788861),
    ]


async def test_the_query_signed_is_the_query_sent(desk):
    account = desk.account
    client = desk.client()
    await client.funding(T0_MS - DAY_MS, T0_MS)
    await client.positions()
    params = gate.book_params(T0_MS - DAY_MS, T0_MS, 0)
    # The fake checked each signature over the raw path and query it received.
    assert account.signed_paths == [
        GATE_ACCOUNT_BOOK + "?" + urlencode(params),
        GATE_POSITIONS + "?holding=true&limit=1000&offset=0",
    ]
    assert account.signed_paths[0] == f"{GATE_ACCOUNT_BOOK}?{gate.query_string(params)}"
    assert account.refused == 0


async def test_errors_name_the_path_without_the_query(desk):
    fake = desk.fake
    fake.fail("gate", GATE_ACCOUNT_BOOK, Fault.http(404))
    with pytest.raises(VenueHTTPError) as e:
        await desk.client().funding(T0_MS - DAY_MS, T0_MS)
    assert e.value.endpoint == GATE_ACCOUNT_BOOK
    assert "?" not in str(e.value) and "SIGN" not in str(e.value)


async def test_a_label_sent_with_a_2xx_is_a_venue_api_error(desk):
    fake = desk.fake
    busy = {"label": "TOO_BUSY", "message": "Server is too busy at the moment"}
    fake.fail("gate", GATE_POSITIONS, Fault.venue_error(busy))
    with pytest.raises(VenueAPIError) as e:
        await desk.client().positions()
    assert (e.value.code, e.value.retryable, e.value.venue) == ("TOO_BUSY", True, "gate")


# --- refusals -----------------------------------------------------------------------


async def test_an_ip_outside_the_whitelist_is_an_auth_error(desk):
    fake = desk.fake
    ip = {"label": "IP_FORBIDDEN", "message": "Request IP not in whitelist"}
    fake.fail("gate", GATE_ACCOUNTS, Fault.venue_error(ip, status=401))
    with pytest.raises(AuthError, match="IP_FORBIDDEN"):
        await desk.client().balances()


# --- the fake's own check -----------------------------------------------------------


def headers_for(account: FakeGatePrivate, timestamp: str, path: str, query: str = ""):
    message = f"GET\n{path}\n{query}\n{EMPTY_SHA512}\n{timestamp}"
    return {
        "KEY": account.key,
        "Timestamp": timestamp,
        "SIGN": hmac_sha512_hex(account.secret, message),
    }


@pytest.mark.parametrize("missing", ["KEY", "Timestamp", "SIGN"])
async def test_the_fake_answers_a_missing_header_with_gate_401(desk, missing):
    account = desk.account
    headers = headers_for(account, str(account.now_ms() // 1000), GATE_ACCOUNTS)
    del headers[missing]
    status, reply = await desk.raw_get(GATE_ACCOUNTS, headers)
    assert (status, reply["label"]) == (401, "MISSING_REQUIRED_HEADER")
    assert account.refusals == ["MISSING_REQUIRED_HEADER"]


@pytest.mark.parametrize(
    ("offset_s", "refused"), [(-61, True), (61, True), (-55, False), (55, False)]
)
async def test_the_fake_holds_timestamps_to_sixty_seconds_of_its_clock(desk, offset_s, refused):
    account = desk.account
    account.clock_at(T0_MS)
    timestamp = str(account.now_ms() // 1000 + offset_s)
    status, reply = await desk.raw_get(
        GATE_ACCOUNTS, headers_for(account, timestamp, GATE_ACCOUNTS)
    )
    if refused:
        assert status == 401
        assert reply == json.loads(fixture_bytes("gate/error_REQUEST_EXPIRED.json"))
    else:
        assert status == 200 and reply["total"] == "25000.5"


async def test_the_fake_takes_a_fractional_timestamp_as_gates_own_example_sends(desk):
    account = desk.account
    timestamp = f"{account.now_ms() / 1000:.3f}"
    status, _ = await desk.raw_get(GATE_ACCOUNTS, headers_for(account, timestamp, GATE_ACCOUNTS))
    assert status == 200 and account.refused == 0


async def test_the_fake_refuses_a_signature_over_other_bytes(desk):
    account = desk.account
    timestamp = str(account.now_ms() // 1000)
    query = "holding=true&limit=1000&offset=0"
    # Signed without the query it is sent with.
    signed_for = headers_for(account, timestamp, GATE_POSITIONS)
    status, reply = await desk.raw_get(f"{GATE_POSITIONS}?{query}", signed_for)
    assert status == 401
    assert reply == json.loads(fixture_bytes("gate/error_INVALID_SIGNATURE.json"))
    # Signed with it.
    signed_with = headers_for(account, timestamp, GATE_POSITIONS, query)
    status, reply = await desk.raw_get(f"{GATE_POSITIONS}?{query}", signed_with)
    assert status == 200 and [p["contract"] for p in reply] == ["BTC_USDT", "PEPE_USDT"]
    assert account.refusals == ["INVALID_SIGNATURE"]
    assert account.signed_paths == [f"{GATE_POSITIONS}?{query}"]
