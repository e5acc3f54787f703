"""`arb-bot scan` and `arb-bot funding` end to end: a subprocess against the fake venues.

The market below mixes 1 h, 2 h, 4 h and 8 h intervals, negative rates and
1000x contracts; every expected figure is worked out by hand from the formulas in the
README's "The numbers", not by calling the code under test.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path

import pytest

from arb.chart import png_size
from tests.conftest import CORE_VENUES, clean_environ, desk_market
from tests.fakes.venues import FakeMarket, FakePerp, FakeVenues, Fault
from tests.test_size_bot import SIMPLE, hedge_by_hand, vwap_by_hand
from tests.venues.okx.fake_rest import OKX_FUNDING

HOUR_MS = 3_600_000
NOW_MS = 1789015942967  # 2026-09-10 04:52:22.967Z
FEE = {"bybit": 0.00055, "binance": 0.0005, "okx": 0.0005, "hyperliquid": 0.00045}
H = 168
TOL = 1e-9


@pytest.fixture
def market() -> FakeMarket:
    return desk_market(NOW_MS)


def expected(long_venue, long_hourly, long_px, short_venue, short_hourly, short_px):
    """The README's "The numbers" by hand: every figure of one opportunity."""
    spread_h = short_hourly - long_hourly
    fees = 2 * (FEE[long_venue] + FEE[short_venue])
    return {
        "long_venue": long_venue,
        "short_venue": short_venue,
        "spread_hourly": spread_h,
        "spread_8h": spread_h * 8,
        "apr_gross": spread_h * 8760,
        "fees_round_trip": fees,
        "breakeven_h": fees / spread_h,
        "apr_net": (spread_h * H - fees) / H * 8760,
        "basis_bps": (short_px - long_px) / long_px * 10000,
    }


EXPECTED = {
    # APE: short bybit 0.00031/1h, long hyperliquid 0.0000125/1h.
    "APE": expected("hyperliquid", 0.0000125, 0.13799, "bybit", 0.00031, 0.13791),
    # SOPH, all negative: short okx -0.00048/8h = -0.00006/h, long bybit -0.00102581/4h.
    "SOPH": expected("bybit", -0.00102581 / 4, 0.004136, "okx", -0.00006, 0.004149),
    # LDO: short okx 0.0001/2h = 0.00005/h, long binance -0.0000552/4h = -0.0000138/h.
    "LDO": expected("binance", -0.0000138, 0.34988277, "okx", 0.00005, 0.35),
    # PEPE: short okx 0.0003/8h, long kPEPE -0.00002/1h; prices per coin after x1000.
    "PEPE": expected("hyperliquid", -0.00002, 0.000003632, "okx", 0.0003 / 8, 0.0000036337),
    # BTC: binance is filtered out (turnover 1000 < 500k), so bybit against hyperliquid.
    "BTC": expected("hyperliquid", -0.0000015, 77562.0, "bybit", 0.0001 / 8, 77607.4),
}


def clean_env(fake, **extra: str) -> dict[str, str]:
    return clean_environ(
        **{**fake.env(), "ARB_HTTP_RETRIES": "0", "ARB_VENUES": CORE_VENUES, **extra}
    )


async def arb_bot(fake, *args: str, tmp_path: Path, **env: str) -> tuple[int, str, str]:
    script = Path(sys.executable).with_name("arb-bot")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        *args,
        env=clean_env(fake, **env),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    return proc.returncode, out.decode(), err.decode()


def assert_plain_decimals(text: str) -> None:
    assert not re.search(r"\d[eE][-+]?\d", text), "numbers must be plain decimals"


async def test_scan_json_matches_hand_computed_figures(fake_market, tmp_path):
    code, out, err = await arb_bot(fake_market, "scan", "--json", tmp_path=tmp_path)
    assert code == 0, err
    assert_plain_decimals(out)
    doc = json.loads(out)
    got = {o["asset"]: o for o in doc["opportunities"]}
    assert set(got) == set(EXPECTED)
    for asset, want in EXPECTED.items():
        for key, value in want.items():
            if isinstance(value, str):
                assert got[asset][key] == value, (asset, key)
            else:
                assert abs(got[asset][key] - value) <= TOL, (asset, key, got[asset][key], value)
        assert got[asset]["horizon_h"] == H
    # Ranked by net APR, best first.
    nets = [o["apr_net"] for o in doc["opportunities"]]
    assert nets == sorted(nets, reverse=True)
    assert [o["asset"] for o in doc["opportunities"]] == sorted(
        EXPECTED, key=lambda a: EXPECTED[a]["apr_net"], reverse=True
    )
    assert [v["venue"] for v in doc["venues"]] == ["bybit", "binance", "okx", "hyperliquid"]
    assert all(v["ok"] and v["error"] is None for v in doc["venues"])
    assert {v["venue"]: v["quote_count"] for v in doc["venues"]}["binance"] == 4


async def test_scan_json_legs_carry_their_own_interval_and_next_funding(fake_market, tmp_path):
    _code, out, _ = await arb_bot(fake_market, "scan", "--json", tmp_path=tmp_path)
    doc = json.loads(out)
    got = {o["asset"]: o for o in doc["opportunities"]}
    ldo_short = got["LDO"]["short"]
    assert (ldo_short["venue"], ldo_short["symbol"]) == ("okx", "LDO-USDT-SWAP")
    assert (ldo_short["rate"], ldo_short["interval_h"]) == (0.0001, 2)
    assert ldo_short["next_funding_time"] == 1789020000000  # 06:00Z, the next 2 h boundary
    ape_short = got["APE"]["short"]
    assert ape_short["interval_h"] == 1 and ape_short["next_funding_time"] == 1789016400000
    soph_long = got["SOPH"]["long"]
    assert soph_long["interval_h"] == 4 and soph_long["next_funding_time"] == 1789027200000
    pepe_long = got["PEPE"]["long"]
    assert (pepe_long["symbol"], pepe_long["multiplier"]) == ("kPEPE", 1000)
    assert abs(pepe_long["mark_price"] - 0.003632) <= TOL
    assert abs(pepe_long["unit_price"] - 0.000003632) <= 1e-15
    hl_next = got["APE"]["long"]["next_funding_time"]
    assert hl_next % HOUR_MS == 0  # Hyperliquid settles on the hour of the real clock
    for leg in ("long", "short"):
        assert got["APE"][leg]["turnover_24h"] == 50_000_000


async def scan_doc(fake, tmp_path, *args: str) -> dict:
    code, out, err = await arb_bot(fake, "scan", "--json", *args, tmp_path=tmp_path)
    assert code == 0, err
    return json.loads(out)


async def test_scan_filters_top_and_venues(fake_market, tmp_path):
    cut = EXPECTED["LDO"]["apr_net"] * 100 - 0.01  # percent, just under LDO's net APR
    doc = await scan_doc(fake_market, tmp_path, "--min-apr", f"{cut:.4f}")
    above = {a for a, e in EXPECTED.items() if e["apr_net"] * 100 >= cut}
    assert "LDO" in above and len(above) < len(EXPECTED)
    assert {o["asset"] for o in doc["opportunities"]} == above

    doc = await scan_doc(fake_market, tmp_path, "--top", "2")
    assert doc["count"] == 2 and doc["total"] == 5

    before = len(fake_market.requests)
    doc = await scan_doc(fake_market, tmp_path, "--venues", "bybit,okx")
    assert {r.venue for r in fake_market.requests[before:]} == {"bybit", "okx"}
    assert [v["venue"] for v in doc["venues"]] == ["bybit", "okx"]
    assert {o["asset"] for o in doc["opportunities"]} == {"APE", "SOPH", "PEPE"}

    doc = await scan_doc(fake_market, tmp_path, "--all-pairs", "--top", "0")
    assert doc["total"] == 6 + 3 + 3 + 3 + 1  # APE, SOPH, PEPE, LDO, BTC venue pairs


async def test_scan_table_is_aligned_and_names_a_failed_venue(fake_market, tmp_path):
    fake_market.fail("okx", OKX_FUNDING, Fault.http(500))
    code, out, err = await arb_bot(fake_market, "scan", tmp_path=tmp_path)
    assert code == 0, err
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("#"))
    table = lines[header : lines.index("", header)]
    assert table[0].split() == [
        "#",
        "Asset",
        "Long",
        "Short",
        "Spread/8h",
        "APR",
        "Net",
        "APR",
        "B/E",
        "Basis",
        "bp",
        "Next",
        "L",
        "/",
        "S",
    ]
    assert len({len(line) for line in table}) <= 2  # right-aligned numbers end together
    assert all(line.index("%") == table[1].index("%") for line in table[1:])
    assert "APE    hyperliquid  bybit" in out
    assert (
        out.strip()
        .splitlines()[-1]
        .startswith("Failed venues: okx (/api/v5/public/funding-rate: HTTP 500")
    )
    assert "Traceback" not in out + err


async def test_funding_one_asset_every_spelling(fake_market, tmp_path):
    for spelling in ("pepe", "1000PEPE", "PEPE-USDT-SWAP", "1000pepeusdt", "kPEPE"):
        code, out, err = await arb_bot(
            fake_market, "funding", spelling, "--json", tmp_path=tmp_path
        )
        assert code == 0, err
        assert_plain_decimals(out)
        doc = json.loads(out)
        assert doc["asset"] == "PEPE"
        assert [q["venue"] for q in doc["quotes"]] == ["okx", "bybit", "hyperliquid"]
        best = doc["best"]
        for key in ("spread_8h", "apr_net", "basis_bps"):
            assert abs(best[key] - EXPECTED["PEPE"][key]) <= TOL


async def test_funding_table_shows_rates_in_percent(fake_market, tmp_path):
    code, out, _ = await arb_bot(fake_market, "funding", "APE", tmp_path=tmp_path)
    assert code == 0
    rows = {
        line.split()[0]: line.split()
        for line in out.splitlines()
        if line[:3] in ("byb", "bin", "okx", "hyp")
    }
    assert rows["bybit"][2:6] == ["0.0310%", "1h", "0.2480%", "271.6%"]
    assert rows["okx"][2:6] == ["0.0520%", "4h", "0.1040%", "113.9%"]
    assert "Best carry: long hyperliquid, short bybit" in out


async def test_funding_names_the_leg_left_out_of_the_best_carry_and_why(fake_market, tmp_path):
    thin = "24h turnover $1.00K under the $500K minimum"  # binance BTC: $1K a day
    code, out, err = await arb_bot(fake_market, "funding", "BTC", "--json", tmp_path=tmp_path)
    assert code == 0, err
    doc = json.loads(out)
    assert [q["venue"] for q in doc["quotes"]] == ["binance", "bybit", "hyperliquid"]  # all shown
    assert (doc["best"]["long_venue"], doc["best"]["short_venue"]) == ("hyperliquid", "bybit")
    for key in ("spread_8h", "apr_net", "basis_bps"):
        assert abs(doc["best"][key] - EXPECTED["BTC"][key]) <= TOL  # the pair `scan` ranks
    assert doc["left_out"] == [{"venue": "binance", "symbol": "BTCUSDT", "reason": thin}]
    code, out, _ = await arb_bot(fake_market, "funding", "BTC", tmp_path=tmp_path)
    assert code == 0
    shown = [line.split()[0] for line in out.splitlines()[3:6]]
    assert shown == ["binance†", "bybit", "hyperliquid"]  # still in the table, marked
    assert "Best carry: long hyperliquid, short bybit" in out
    assert f"† binance BTCUSDT left out of the best carry: {thin}." in out


async def test_all_venues_down_exits_1_with_reasons(fake_market, tmp_path):
    code, out, _err = await arb_bot(
        fake_market,
        "scan",
        "--json",
        tmp_path=tmp_path,
        **{
            f"{v}_REST_URL": "http://127.0.0.1:9/x"
            for v in ("BYBIT", "BINANCE", "OKX", "HYPERLIQUID")
        },
    )
    assert code == 1
    doc = json.loads(out)
    assert doc["opportunities"] == [] and not any(v["ok"] for v in doc["venues"])
    assert all("connection failed" in v["error"] for v in doc["venues"])


async def test_a_venue_answering_an_empty_list_is_failed_not_ok_with_0_quotes(
    market, fake_market, tmp_path
):
    market.venues["okx"] = []  # it answers, listing only the inverse swaps a scan skips
    code, out, _err = await arb_bot(fake_market, "scan", tmp_path=tmp_path)
    assert code == 0  # the others answered
    assert out.strip().splitlines()[-1] == "Failed venues: okx (answered an empty list)"
    market.venues.clear()
    code, out, _err = await arb_bot(fake_market, "scan", "--json", tmp_path=tmp_path)
    assert code == 1  # none answered with a quote
    venues = json.loads(out)["venues"]
    assert [(v["ok"], v["quote_count"], v["error"]) for v in venues] == [
        (False, 0, f"{v}: answered an empty list") for v in CORE_VENUES.split(",")
    ]


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["funding", "<b>bad</b>"], {}, "not an asset name"),
        (["scan", "--min-apr", "lots"], {}, "expected a percentage"),
        (["scan", "--top", "-1"], {}, "expected a whole number"),
        (["scan", "--venues", "kraken"], {}, "expected venues from"),
        (["chart", "BTC"], {}, "the following arguments are required: -o/--output"),
        (["chart", "BTC", "-o", "b.png", "--window", "2y"], {}, "invalid choice: '2y'"),
        (["scan"], {"ARB_SCAN_INTERVAL_S": "often"}, "ARB_SCAN_INTERVAL_S must be"),
        (["size", "BTC", "--usd", "lots"], {}, "a notional is a USD amount per leg from $1"),
        (["size", "BTC", "--usd", "0"], {}, "a notional is a USD amount per leg from $1"),
        (["size", "BTC"], {"ARB_MAX_SLIPPAGE_BPS": "0"}, "ARB_MAX_SLIPPAGE_BPS must be"),
    ],
)
async def test_bad_input_gets_one_clear_line_and_exit_2(fake_market, tmp_path, args, env, message):
    code, _out, err = await arb_bot(fake_market, *args, tmp_path=tmp_path, **env)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert fake_market.requests == []  # nothing was fetched


@pytest.fixture
async def live_market():
    """The desk market on the real clock: its history ends now, where `arb-bot chart` looks."""
    async with FakeVenues(desk_market()) as fake:
        yield fake


CHART_HISTORY = [
    ("bybit", "/v5/market/funding/history"),
    ("binance", "/fapi/v1/fundingRate"),
    ("okx", "/api/v5/public/funding-rate-history"),
]


async def test_chart_writes_a_png_from_the_venues_history(live_market, tmp_path):
    code, out, err = await arb_bot(
        live_market, "chart", "ape", "-o", "ape.png", "--window", "24h", tmp_path=tmp_path
    )
    assert code == 0, err
    # APE pays every hour on three venues and every 4 h on okx: 24 and 6 settlements.
    assert out == (
        "ape.png: 1280x800 PNG, APE over 24h; settled points per venue: binance 24, "
        "bybit 24, hl 24, okx 6; and the live rates\n"
    )
    assert png_size((tmp_path / "ape.png").read_bytes()) == (1280, 800)
    asked = {(v, p) for v, p in CHART_HISTORY if live_market.hits(v, p)}
    assert len(asked) == 3


async def test_a_chart_without_history_is_not_drawn_and_exits_1(live_market, tmp_path):
    for venue, path in CHART_HISTORY:
        live_market.fail(venue, path, Fault.http(500))
    code, out, err = await arb_bot(
        live_market, "chart", "APE", "-o", "x.png", "--venues", "bybit,binance,okx",
        tmp_path=tmp_path,
    )  # fmt: skip
    assert (code, out) == (1, "")
    *warnings, last = err.strip().split("\n")
    assert last == "arb-bot chart: no funding history for APE over the last 7d, so no chart"
    assert len(warnings) == 3 and all(w.startswith("warning: ") for w in warnings)
    assert not (tmp_path / "x.png").exists()


async def test_chart_of_an_unlisted_asset_exits_1(fake_market, tmp_path):
    code, _out, err = await arb_bot(fake_market, "chart", "DOGE", "-o", "x.png", tmp_path=tmp_path)
    assert (code, err.strip()) == (1, "arb-bot chart: no venue lists DOGE right now")
    assert not (tmp_path / "x.png").exists()


async def test_chart_to_an_unwritable_path_says_so(live_market, tmp_path):
    code, _out, err = await arb_bot(
        live_market, "chart", "APE", "-o", "no/such/dir/a.png", tmp_path=tmp_path
    )
    assert code == 2
    assert err.strip() == "arb-bot chart: cannot write no/such/dir/a.png: No such file or directory"


# --- size ------------------------------------------------------------------------------------
#
# ETH and PEPE on every venue, each rate its own so that any two venues make a carry, and every
# book simple (tests/test_size_bot.py): $30,000 of ETH at ~$2,000 and of PEPE at ~$0.0000036
# take the best level whole and the rest from the second. PEPE is 1000PEPE (bybit, binance,
# bitget, gate), kPEPE (hyperliquid) and 1,000,000 coins a contract (okx): every conversion.

SIZE_RATES = {"bybit": 0.0001, "binance": -0.0001, "okx": 0.0002, "hyperliquid": -0.00001,
              "bitget": 0.00015, "gate": -0.00005}  # fmt: skip


def size_market() -> FakeMarket:
    venues = {}
    for i, (venue, rate) in enumerate(SIZE_RATES.items()):
        every = 1.0 if venue == "hyperliquid" else 8.0
        venues[venue] = [
            FakePerp("ETH", rate * every / 8, every, price=2000.0 + i, book=SIMPLE,
                     lot=0.01, min_qty=0.01),
            FakePerp("PEPE", rate * every / 8, every, price=0.0000036 * (1 + i / 1000),
                     multiplier=1 if venue == "okx" else 1000, ct_val="1000000", book=SIMPLE,
                     lot=1000.0, min_qty=1000.0),
        ]  # fmt: skip
    return FakeMarket(now_ms=NOW_MS, venues=venues)


@pytest.fixture
async def sized_market():
    async with FakeVenues(size_market()) as fake:
        yield fake


@pytest.mark.parametrize(
    ("asset", "pair"),
    [("ETH", "bybit,binance"), ("ETH", "okx,hyperliquid"), ("ETH", "bitget,gate"),
     ("PEPE", "bybit,okx"), ("PEPE", "binance,hyperliquid"), ("PEPE", "bitget,gate")],
)  # fmt: skip
async def test_size_json_matches_hand_computed_vwap_and_slippage_on_every_venue(
    sized_market, tmp_path, asset, pair
):
    code, out, err = await arb_bot(
        sized_market, "size", asset.lower(), "--usd", "30k", "--venues", pair, "--json",
        tmp_path=tmp_path,
    )  # fmt: skip
    assert code == 0, err
    assert_plain_decimals(out)
    doc = json.loads(out)
    sized, best = doc["sized"], doc["best"]
    assert (doc["asset"], doc["notional_usd"], doc["max_slippage_bps"]) == (asset, 30_000.0, 10.0)
    assert {best["long_venue"], best["short_venue"]} == set(pair.split(","))
    assert sized["complete"] is True and doc["failed"] == []
    perps = {v: next(p for p in sized_market.market.venues[v] if p.asset == asset)
             for v in pair.split(",")}  # fmt: skip
    books = {
        leg: perps[sized[leg]["venue"]].levels(sized[leg]["venue"]) for leg in ("long", "short")
    }
    lots = tuple(perps[sized[leg]["venue"]].lot for leg in ("long", "short"))
    coins = hedge_by_hand(books["long"][1], books["short"][0], 30_000.0, lots)
    assert sized["coins"] == coins  # the same on both legs, in lots both venues take
    slippage = {}
    for leg, buys in (("long", True), ("short", False)):
        venue = sized[leg]["venue"]
        bids, asks = books[leg]
        mid = (bids[0][0] + asks[0][0]) / 2
        vwap = vwap_by_hand(asks if buys else bids, coins)
        entry = sized[leg]["entry"]
        assert entry["side"] == ("buy" if buys else "sell") and entry["complete"] is True
        assert entry["coins"] == coins and sized[leg]["exit"]["coins"] == coins
        assert abs(entry["vwap"] - vwap) <= TOL * vwap, (venue, entry["vwap"], vwap)
        slippage[leg] = (vwap - mid) / mid * 1e4 if buys else (mid - vwap) / mid * 1e4
        assert abs(entry["slippage_bps"] - slippage[leg]) <= TOL, venue
    assert abs(sized["entry_slippage_bps"] - slippage["long"] - slippage["short"]) <= TOL
    # The cost and the net APR at the size, from the figures beside them.
    cost = (
        best["fees_round_trip"]
        + (sized["entry_slippage_bps"] + sized["exit_slippage_bps"] + sized["adverse_basis_bps"])
        / 1e4
    )
    assert abs(sized["cost"] - cost) <= TOL
    assert abs(sized["apr_net"] - (best["spread_hourly"] * H - cost) / H * 8760) <= TOL
    assert abs(sized["breakeven_h"] - cost / best["spread_hourly"]) <= TOL * sized["breakeven_h"]
    assert 0 < sized["capacity_usd"] <= 300_000.0  # never more than a side's five levels


async def test_size_text_says_what_a_thin_book_fills_and_a_failed_book_exits_1(
    sized_market, tmp_path
):
    code, out, err = await arb_bot(
        sized_market, "size", "ETH", "--usd", "1m", "--venues", "bybit,binance", tmp_path=tmp_path
    )
    assert code == 0, err
    title, sentence, *_ = out.splitlines()
    assert title.startswith("ETH at $1,000,000 per leg, ")
    assert sentence.startswith("long binance / short bybit, $1,000,000 per leg: the books can "
                               "fill only $")  # fmt: skip
    assert "net APR" not in out and "break-even" not in out
    sized_market.fail("binance", "/fapi/v1/depth", Fault.http(500))
    code, out, err = await arb_bot(
        sized_market, "size", "ETH", "--venues", "bybit,binance", "--json", tmp_path=tmp_path
    )
    assert code == 1 and "Traceback" not in err
    doc = json.loads(out)
    assert doc["sized"] is None
    (failed,) = doc["failed"]
    assert (failed["side"], failed["venue"], failed["symbol"]) == ("long", "binance", "ETHUSDT")
    assert failed["reason"].startswith("binance /fapi/v1/depth: HTTP 500")


async def test_size_on_the_recorded_books_matches_the_hand_computation(tmp_path):
    """The fakes with no market serve the recorded fixtures: BTC's best carry between okx
    and hyperliquid is long hl / short okx, sized on info_l2Book_BTC.json and
    api_v5_market_books_BTC-USDT-SWAP.json.

    By hand, $50,000 per leg. hl asks 0.3105 @ 77559 ($24,082.0695), the other $25,917.9305
    at 77560: 0.644666... BTC. okx bids 4.56 BTC @ 77624.4: 50000 / 77624.4 = 0.644128...
    BTC, the fewer, in steps of 0.0001 (okx's lot; hl's is 0.00001): 0.6441 BTC a leg.
    Long: 0.3105 x 77559 + 0.3336 x 77560 = 49,956.0855, vwap 77,559.5179320... against
    hl's mid 77558.5: 0.131247 bp. Short: 0.6441 x 77624.4 against okx's mid 77624.45:
    0.0064413 bp. Exit: hl bids 0.5231 @ 77558 + 0.121 @ 77557, okx asks all at 77624.5.
    hl's mid is under okx's: no adverse basis. Capacity: every hl ask is within 10 bp of
    its mid (77566 is 0.97 bp over), so its whole ask side, $650,253.8725, under okx's.
    """
    async with FakeVenues() as fake:
        code, out, err = await arb_bot(
            fake, "size", "BTC", "--usd", "50k", "--json", tmp_path=tmp_path,
            ARB_VENUES="okx,hyperliquid",
        )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    best, s = doc["best"], doc["sized"]
    assert (best["long_venue"], best["short_venue"]) == ("hyperliquid", "okx")
    assert s["complete"] is True and s["coins"] == 0.6441
    long_vwap = (0.3105 * 77559 + 0.3336 * 77560) / 0.6441
    long_slip = (long_vwap - 77558.5) / 77558.5 * 1e4
    short_slip = (77624.45 - 77624.4) / 77624.45 * 1e4
    exit_vwap = (0.5231 * 77558 + 0.121 * 77557) / 0.6441
    exit_slip = (77558.5 - exit_vwap) / 77558.5 * 1e4 + (77624.5 - 77624.45) / 77624.45 * 1e4
    long, short = s["long"]["entry"], s["short"]["entry"]
    assert abs(long["filled_usd"] - 49_956.0855) <= TOL * 49_956.0855
    assert abs(long["vwap"] - long_vwap) <= TOL * long_vwap
    assert abs(long["slippage_bps"] - long_slip) <= TOL
    assert abs(long["slippage_bps"] - 0.131247) <= 1e-6
    assert short["vwap"] == 77624.4 and abs(short["slippage_bps"] - short_slip) <= TOL
    assert abs(s["exit_slippage_bps"] - exit_slip) <= TOL and s["adverse_basis_bps"] == 0.0
    cost = best["fees_round_trip"] + (long_slip + short_slip + exit_slip) / 1e4
    assert abs(s["cost"] - cost) <= TOL
    assert abs(s["apr_net"] - (best["spread_hourly"] * H - cost) / H * 8760) <= TOL
    assert abs(s["capacity_usd"] - 650_253.8725) <= TOL * 650_253.8725
