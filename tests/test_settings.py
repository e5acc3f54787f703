"""Settings: defaults, .env, and one-line errors that name the variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from arb.books import SizeParams
from arb.settings import VENUE_NAMES, SettingsError, load_settings, parse_settings


def test_defaults_need_nothing():
    s = parse_settings({})
    assert s.venues == ("bybit", "binance", "okx", "hyperliquid", "bitget", "gate")
    assert s.venue["okx"].rest_url == "https://www.okx.com"
    assert s.scan_interval_s == 60 and s.horizon_h == 168 and s.db_path == "arb.sqlite3"
    assert s.taker_fees["bybit"] == 0.00055
    assert s.telegram_bot_token is None


def test_values_are_read_and_typed():
    s = parse_settings(
        {
            "ARB_VENUES": "OKX, bybit,okx",
            "OKX_REST_URL": "http://127.0.0.1:8080/okx/",
            "OKX_TAKER_FEE": "0.0002",
            "ARB_ALLOWED_CHATS": "-1001, 42",
            "ARB_HTTP_RETRIES": "0",
            "LLM_ALERT_NOTES": "yes",
            "LLM_BASE_URL": "https://api.deepseek.com/",
            "LLM_MODEL": "deepseek-chat",
            "LLM_PRICE_OUT_PER_M": "1.10",
            "LLM_RETRIES": "0",
        }
    )
    assert s.venues == ("okx", "bybit")
    assert s.venue["okx"].rest_url == "http://127.0.0.1:8080/okx"
    assert s.taker_fees["okx"] == 0.0002
    assert s.allowed_chats == frozenset({-1001, 42})
    assert s.http_attempts == 1  # the first try plus zero retries
    assert s.llm_alert_notes is True
    assert s.llm_base_url == "https://api.deepseek.com" and s.llm_model == "deepseek-chat"
    assert (s.llm_timeout_s, s.llm_attempts, s.llm_price_out_per_m) == (15.0, 1, 1.10)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ARB_VENUES": "bybit,kraken"}, "ARB_VENUES must be a comma-separated list of venues"),
        ({"ARB_SCAN_INTERVAL_S": "soon"}, "ARB_SCAN_INTERVAL_S must be a number of seconds"),
        ({"ARB_SCAN_INTERVAL_S": "1"}, "ARB_SCAN_INTERVAL_S must be a number of seconds from 5"),
        ({"BYBIT_REST_URL": "api.bybit.com"}, "BYBIT_REST_URL must be an http(s) URL"),
        ({"OKX_WS_URL": "https://ws.okx.com"}, "OKX_WS_URL must be a ws(s) URL"),
        ({"BINANCE_TAKER_FEE": "5"}, "BINANCE_TAKER_FEE must be a decimal fee between 0 and 0.01"),
        ({"ARB_ADMINS": "alice"}, "ARB_ADMINS must be a comma-separated list of user ids"),
        ({"TELEGRAM_WEBHOOK_URL": "http://x.example"}, "TELEGRAM_WEBHOOK_URL must be an https"),
        ({"ARB_LOG_LEVEL": "loud"}, "ARB_LOG_LEVEL must be one of"),
        ({"ARB_HORIZON_H": "nan"}, "ARB_HORIZON_H must be a holding horizon"),
        ({"LLM_BASE_URL": "https://api.deepseek.com"}, "LLM_MODEL must be set too"),
        ({"BYBIT_API_KEY": "k"}, "BYBIT_API_SECRET must be set too"),
        ({"BINANCE_API_SECRET": "s"}, "BINANCE_API_KEY must be set too"),
        ({"OKX_API_KEY": "k", "OKX_API_SECRET": "s"}, "OKX_API_PASSPHRASE must be set too"),
        ({"LLM_MODEL": "gpt-4o-mini"}, "LLM_BASE_URL must be set too"),
        ({"LLM_ALERT_NOTES": "1"}, "LLM_ALERT_NOTES=1 needs a model"),
        ({"LLM_TIMEOUT_S": "0"}, "LLM_TIMEOUT_S must be a number of seconds from 0.1"),
        ({"LLM_PRICE_IN_PER_M": "-1"}, "LLM_PRICE_IN_PER_M must be a USD price"),
        ({"ARB_NOTIONAL_USD": "50k"}, "ARB_NOTIONAL_USD must be a USD amount per leg from 1"),
        ({"ARB_NOTIONAL_USD": "0"}, "ARB_NOTIONAL_USD must be a USD amount per leg from 1"),
        ({"ARB_MAX_SLIPPAGE_BPS": "0"}, "ARB_MAX_SLIPPAGE_BPS must be basis points from 0.1"),
        ({"ARB_MIN_CAPACITY_USD": "-5"}, "ARB_MIN_CAPACITY_USD must be a non-negative USD"),
        ({"ARB_MIN_CAPACITY_USD": "inf"}, "ARB_MIN_CAPACITY_USD must be a non-negative USD"),
    ],
)
def test_bad_values_name_the_variable_and_the_expectation(env, message):
    with pytest.raises(SettingsError) as e:
        parse_settings(env)
    assert str(e.value).startswith(message)
    assert "\n" not in str(e.value)


def test_size_settings_default_and_parse():
    assert parse_settings({}).size_params() == SizeParams(10_000.0, 10.0, None)
    s = parse_settings(
        {"ARB_NOTIONAL_USD": "50000", "ARB_MAX_SLIPPAGE_BPS": "5", "ARB_MIN_CAPACITY_USD": "2e5"}
    )
    assert s.size_params() == SizeParams(50_000.0, 5.0, 200_000.0)


def test_secrets_stay_out_of_repr_and_errors():
    s = parse_settings(
        {
            "TELEGRAM_BOT_TOKEN": "123456:SECRET-token",
            "BYBIT_API_KEY": "public-ish",
            "BYBIT_API_SECRET": "hush",
        }
    )
    assert "SECRET" not in repr(s) and "hush" not in repr(s)
    assert s.telegram_bot_token == "123456:SECRET-token"


def test_dotenv_is_read_and_the_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("ARB_SCAN_INTERVAL_S=30\nARB_HORIZON_H=24\n# comment\n")
    s = load_settings({"ARB_HORIZON_H": "48"}, dotenv_path=str(env_file))
    assert s.scan_interval_s == 30 and s.horizon_h == 48
    assert load_settings({}, dotenv_path=str(tmp_path / "missing.env")).scan_interval_s == 60


def test_env_example_is_valid_and_lists_every_variable_read():
    root = Path(__file__).resolve().parent.parent
    example = root / ".env.example"
    load_settings({}, dotenv_path=str(example))
    listed = set(re.findall(r"^([A-Z0-9_]+)=", example.read_text(), re.M))
    source = (root / "arb" / "settings.py").read_text()
    read = set(re.findall(r'"((?:ARB|TELEGRAM|LLM)_[A-Z0-9_]+)"', source))
    read |= {f"{v.upper()}_{k}" for v in VENUE_NAMES for k in ("REST_URL", "WS_URL", "TAKER_FEE")}
    assert read - listed == set()


LIVE = {
    "ARB_TRADING": "live",
    "ARB_ADMINS": "7",
    "ARB_MAX_NOTIONAL_USD": "10,000",
    "ARB_MAX_ASSET_USD": "50000",
}


def test_trading_is_off_by_default_and_live_needs_limits_and_an_admin():
    assert parse_settings({}).trading == "off"
    assert parse_settings({}).trading_params().mode == "off"
    for missing in ("ARB_MAX_NOTIONAL_USD", "ARB_MAX_ASSET_USD", "ARB_ADMINS"):
        env = {k: v for k, v in LIVE.items() if k != missing}
        with pytest.raises(SettingsError, match=missing):
            parse_settings(env)
    with pytest.raises(SettingsError, match="ARB_TRADING must be off, paper or live"):
        parse_settings({"ARB_TRADING": "yes"})
    params = parse_settings(LIVE).trading_params()
    assert (params.mode, params.max_notional_usd, params.max_asset_usd) == ("live", 1e4, 5e4)
    assert params.lookups_s == (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
    assert parse_settings({"ARB_TRADING": "paper"}).trading_params().max_notional_usd is None


def test_okx_demo_keys_make_its_order_client_send_the_demo_header():
    from arb.trading.setup import order_clients

    keys = {"OKX_API_KEY": "k", "OKX_API_SECRET": "s", "OKX_API_PASSPHRASE": "p"}
    for flag, demo in (("1", True), ("0", False)):
        settings = parse_settings({**LIVE, **keys, "OKX_DEMO": flag})
        clients = order_clients(settings)
        assert list(clients) == ["okx"]  # the only venue with keys
        headers = clients["okx"].headers(0, "GET", "/api/v5/account/config", None)
        assert (headers.get("x-simulated-trading") == "1") is demo
