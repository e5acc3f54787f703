import pytest

from arb.symbols import normalize_asset, split_multiplier


@pytest.mark.parametrize(
    "text",
    [
        "BTC",
        "btc",
        " Btc ",
        "BTCUSDT",
        "btcusdt",
        "BTC-USDT-SWAP",
        "BTC-USDC-SWAP",
        "BTCPERP",
        "BTC/USDT",
        "BTC_USDT",
        "BTCUSDC",
    ],
)
def test_every_spelling_of_btc_is_btc(text):
    assert normalize_asset(text) == "BTC"


@pytest.mark.parametrize("text", ["1000PEPE", "1000PEPEUSDT", "kPEPE", "PEPE-USDT-SWAP", "pepe"])
def test_multiplied_names_are_the_coin(text):
    assert normalize_asset(text) == "PEPE"


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("1000PEPE", ("PEPE", 1000.0)),
        ("kPEPE", ("PEPE", 1000.0)),
        ("1000000MOG", ("MOG", 1_000_000.0)),
        ("1MBABYDOGE", ("BABYDOGE", 1_000_000.0)),
        ("1INCH", ("1INCH", 1.0)),  # a coin whose name starts with a digit
        ("BTC", ("BTC", 1.0)),
        ("KAVA", ("KAVA", 1.0)),  # upper-case K is part of the name, not a multiplier
    ],
)
def test_split_multiplier_whitelists_prefixes(base, expected):
    assert split_multiplier(base) == expected


@pytest.mark.parametrize("text", ["", "   ", "<b>", "BTC;DROP", "x" * 200, "BTC\x00"])
def test_garbage_is_not_an_asset(text):
    with pytest.raises(ValueError):
        normalize_asset(text)


# --- every venue's naming rule names the canonical coin ---------------------------------


@pytest.mark.parametrize(
    "text",
    ["SHIB", "shib", "SHIB1000", "shib1000usdt", "SHIB1000PERP", "1000SHIB", "1000shibusdt",
     "kSHIB", "SHIB-USDT-SWAP", "SHIB_USDT", "SHIB/USDT"],
)  # fmt: skip
def test_every_spelling_of_shib_is_shib(text):
    assert normalize_asset(text) == "SHIB"


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("SHIB1000", ("SHIB", 1000.0)),  # Bybit's suffix multiplier (SHIB1000USDT, SHIB1000PERP)
        ("10000LADYS", ("LADYS", 10_000.0)),
        ("10000000AIDOGE", ("AIDOGE", 10_000_000.0)),
        ("kBONK", ("BONK", 1000.0)),
        # Real names that start or end in digits are never cut.
        ("0G", ("0G", 1.0)),
        ("LUNA2", ("LUNA2", 1.0)),
        ("API3", ("API3", 1.0)),
        ("C98", ("C98", 1.0)),
        ("G7", ("G7", 1.0)),
        ("L3", ("L3", 1.0)),
        ("X2Y2", ("X2Y2", 1.0)),
        ("SPX6900", ("SPX6900", 1.0)),
        ("AI16Z", ("AI16Z", 1.0)),
        # The suffix is whitelisted, not any trailing digits, and needs a name before it.
        ("X1000", ("X1000", 1.0)),
        ("A2B1000", ("A2B1000", 1.0)),
        ("1000", ("1000", 1.0)),
    ],
)
def test_split_multiplier_whitelists_suffixes_too(base, expected):
    assert split_multiplier(base) == expected


@pytest.mark.parametrize(
    "text",
    [
        "ß",  # Python upper-cases it to SS
        "straße",
        "ＢＴＣ",  # full-width
        "ВТС",  # Cyrillic look-alikes of BTC
        "ВTC",  # one Cyrillic letter among Latin ones
        "ﬁl",  # the fi ligature upper-cases to FI
        "ſol",  # long s upper-cases to S
        "BTC\u200b",  # a zero-width space
        "１INCH",  # a full-width digit
    ],
)
def test_only_ascii_names_are_read(text):
    with pytest.raises(ValueError, match="not an asset name"):
        normalize_asset(text)


# --- a Bybit ticker with a suffix multiplier, through the parser ------------------------


def suffix_quotes():
    from arb.venues.bybit import rest as bybit
    from tests.conftest import T0, fixture_bytes

    body = fixture_bytes("bybit/v5_market_tickers_linear_suffix.json")
    return {q.symbol: q for q in bybit.parse_tickers(body, T0)}


def test_bybit_suffix_multiplier_rows_are_the_coin_priced_per_coin():
    quotes = suffix_quotes()
    usdt, usdc = quotes["SHIB1000USDT"], quotes["SHIB1000PERP"]
    assert (usdt.asset, usdt.multiplier, usdt.settle) == ("SHIB", 1000.0, "USDT")
    assert (usdc.asset, usdc.multiplier, usdc.settle) == ("SHIB", 1000.0, "USDC")
    assert usdt.unit_price == pytest.approx(0.012502 / 1000)
    # Names ending in digits stay whole.
    assert (quotes["LUNA2USDT"].asset, quotes["LUNA2USDT"].multiplier) == ("LUNA2", 1.0)
    assert (quotes["API3USDT"].asset, quotes["API3USDT"].multiplier) == ("API3", 1.0)


def test_bybit_shib1000_pairs_with_shib_elsewhere_and_prices_compare_per_coin():
    """SHIB1000USDT (Bybit, per 1000), 1000SHIBUSDT (Binance, per 1000), SHIB-USDT-SWAP
    (OKX, per coin) and kSHIB (Hyperliquid, per 1000): one asset, basis within bps."""
    import json

    from arb.spread import ScanParams, scan
    from arb.venues.binance import rest as binance
    from arb.venues.hyperliquid import rest as hyperliquid
    from arb.venues.okx import rest as okx
    from tests.conftest import T0

    bybit_shib = suffix_quotes()["SHIB1000USDT"]
    perps = binance.parse_exchange_info(
        json.dumps({"symbols": [{
            "symbol": "1000SHIBUSDT", "pair": "1000SHIBUSDT", "contractType": "PERPETUAL",
            "status": "TRADING", "baseAsset": "1000SHIB", "quoteAsset": "USDT",
            "marginAsset": "USDT",
        }]}).encode()
    )  # fmt: skip
    premium = binance.decode_premium_index(
        json.dumps([{
            "symbol": "1000SHIBUSDT", "markPrice": "0.01250310", "indexPrice": "0.01250120",
            "lastFundingRate": "0.00002100", "nextFundingTime": 1789027200000,
            "time": 1789015942000,
        }]).encode()
    )  # fmt: skip
    binance_shib = binance.join_quotes(premium, perps, {}, {}, T0)
    envelope = {"code": "0", "msg": ""}
    swaps = okx.parse_instruments(
        json.dumps(envelope | {"data": [{
            "instId": "SHIB-USDT-SWAP", "instType": "SWAP", "ctType": "linear",
            "ctVal": "1000000", "ctValCcy": "SHIB", "settleCcy": "USDT", "state": "live",
            "ruleType": "normal", "expTime": "", "uly": "SHIB-USDT",
        }]}).encode()
    )  # fmt: skip
    rates = okx.decode_funding(
        json.dumps(envelope | {"data": [{
            "instId": "SHIB-USDT-SWAP", "instType": "SWAP", "fundingRate": "-0.0000500",
            "fundingTime": "1789027200000", "nextFundingTime": "1789056000000",
        }]}).encode()
    )  # fmt: skip
    okx_shib = okx.join_quotes(rates, swaps, {"SHIB-USDT-SWAP": 0.000012501}, {}, T0)
    hl_shib = hyperliquid.parse_meta_and_ctxs(
        json.dumps([
            {"universe": [{"name": "kSHIB", "szDecimals": 0, "maxLeverage": 10}]},
            [{"funding": "0.000002", "markPx": "0.012499", "oraclePx": "0.0125"}],
        ]).encode(),
        T0,
    )  # fmt: skip
    quotes = [bybit_shib, *binance_shib, *okx_shib, *hl_shib]
    assert {q.asset for q in quotes} == {"SHIB"}
    assert sorted(q.multiplier for q in quotes) == [1.0, 1000.0, 1000.0, 1000.0]

    pairs = scan(quotes, ScanParams(best_per_asset=False), T0)
    assert len(pairs) == 6  # every pair of the four venues
    for o in pairs:
        assert o.basis_bps is not None and abs(o.basis_bps) < 5, (o.long_venue, o.short_venue)
    best = pairs[0]
    # Bybit pays 0.01 %/8h, OKX -0.005 %/8h: long OKX, short Bybit, 0.015 % per 8 h.
    assert (best.long_venue, best.short_venue) == ("okx", "bybit")
    assert best.spread_8h == pytest.approx(0.00015)


# --- accounts use the same rule: a Bybit SHIB1000 position hedges SHIB elsewhere -------


def test_bybit_shib1000_position_is_shib_in_coins():
    from arb.accounts.hedge import books
    from arb.accounts.models import Position
    from arb.venues.bybit import account as bybit_accounts

    row = bybit_accounts.PositionRow(
        symbol="SHIB1000USDT", side="Sell", size="2000000", avgPrice="0.012510",
        markPrice="0.012502", unrealisedPnl="16", leverage="5",
    )  # fmt: skip
    short = bybit_accounts.parse_position(row)
    assert short is not None
    assert (short.asset, short.size, short.side) == ("SHIB", 2_000_000_000.0, "short")
    assert short.mark_price == pytest.approx(0.012502 / 1000)
    long = Position("okx", "SHIB", "SHIB-USDT-SWAP", "long", 2_000_000_000.0, 0.0000125,
                    0.0000125, 0.0, 5.0, None)  # fmt: skip
    (book,) = books([short, long])
    assert (book.asset, book.status, book.venues) == ("SHIB", "hedged", ("okx", "bybit"))
