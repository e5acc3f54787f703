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
