"""Settings from the environment (and a `.env` file if present), validated at start.

A bad value fails with the variable's name and what it expects. Secrets are
kept out of `repr()` so that a logged settings object never carries them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

from dotenv import dotenv_values

from arb.books import SizeParams
from arb.risk import RiskParams
from arb.spread import ScanParams
from arb.venues.registry import SPECS

if TYPE_CHECKING:
    from arb.trading.engine import TradingParams

T = TypeVar("T")

VENUE_NAMES = tuple(SPECS)
DEFAULT_TELEGRAM_API = "https://api.telegram.org/bot"


class SettingsError(ValueError):
    """One line naming the variable, what it expects and what it got."""


@dataclass(frozen=True, slots=True)
class VenueSettings:
    name: str
    rest_url: str
    ws_url: str
    taker_fee: float
    api_key: str | None = field(default=None, repr=False)
    api_secret: str | None = field(default=None, repr=False)
    api_passphrase: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Settings:
    venues: tuple[str, ...]
    venue: Mapping[str, VenueSettings]
    telegram_api_base_url: str
    db_path: str
    scan_interval_s: float
    http_timeout_s: float
    http_attempts: int  # the first try plus ARB_HTTP_RETRIES
    venue_deadline_s: float
    min_turnover_24h: float
    max_quote_age_s: float
    horizon_h: float
    alert_cooldown_s: float
    alert_min_gap_s: float  # a key never alerts twice within this, re-armed or not
    allowed_chats: frozenset[int]
    admins: frozenset[int]
    webhook_url: str | None
    llm_base_url: str | None
    llm_model: str | None
    llm_alert_notes: bool
    llm_timeout_s: float
    llm_attempts: int  # the first try plus LLM_RETRIES
    llm_price_in_per_m: float  # USD per million prompt tokens
    llm_price_out_per_m: float  # USD per million completion tokens
    llm_cache_s: float
    feeds: bool  # live WebSocket feeds, REST polling as the fallback
    history_every_s: float  # 0: no snapshots
    history_days: float
    log_level: str
    retention_days: float = 30.0  # deliveries, ended subscriptions, idle alert state
    max_reply_bytes: int = 32 * 1024 * 1024  # a venue reply larger than this is refused
    max_cooldown_s: float = 600.0  # cap on an honoured Retry-After or ban cool-down
    telegram_timeout_s: float = 30.0  # read/write timeout of a Bot API request
    webhook_listen: str = "0.0.0.0"
    notional_usd: float = 10_000.0  # per leg: what /size and the capacity lines size at
    max_slippage_bps: float = 10.0  # a leg's capacity: the notional it fills within this
    min_capacity_usd: float | None = None  # alerts skip a carry below it; None: off
    liq_warn_pct: float = 15.0  # a leg this close to liquidation (% of mark) warns
    liq_crit_pct: float = 7.0  # and this close is critical
    exit_apr: float = 0.0  # a decimal APR: a held carry netting under it alerts
    max_drift_pct: float = 5.0  # a book's net size over this % of its larger side alerts
    risk_chats: frozenset[int] = frozenset()  # risk alerts go here too (admins always)
    risk_interval_s: float = 60.0  # how often the accounts are read for risk, with keys
    risk_unreadable_s: float = 180.0  # an account unreadable this long alerts
    webhook_port: int = 8443
    metrics_port: int | None = None  # Prometheus metrics at /metrics; None: off
    metrics_host: str = "127.0.0.1"  # where they listen: this machine only, by default
    cache_dir: str | None = None  # one-shot commands keep venue metadata here; None: off
    trading: str = "off"  # off, paper (recorded, never sent) or live
    max_notional_usd: float | None = None  # per trade and leg; live needs it
    max_asset_usd: float | None = None  # held per asset and leg; live needs it
    leverage: float = 3.0  # set on each venue before the first order of a symbol
    repair_slippage_bps: float = 50.0  # a repair order's price cap past the best price
    hedge_tolerance: float = 0.001  # legs within this share of the coins are hedged
    order_timeout_s: float = 5.0  # an order's answer; past it the order is looked up
    lookup_window_s: float = 63.5  # an unanswered order is looked up this long
    demo: frozenset[str] = frozenset()  # venues whose keys are demo-trading keys
    telegram_bot_token: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    llm_api_key: str | None = field(default=None, repr=False)

    @property
    def taker_fees(self) -> dict[str, float]:
        return {name: v.taker_fee for name, v in self.venue.items()}

    def scan_params(self) -> ScanParams:
        """The filters and costs every figure is computed with (no /scan floor)."""
        return ScanParams(
            taker_fees=self.taker_fees,
            horizon_h=self.horizon_h,
            min_turnover_24h=self.min_turnover_24h,
            max_quote_age_s=self.max_quote_age_s,
        )

    def size_params(self) -> SizeParams:
        """What /size, the capacity lines and the alerts' capacity floor size a carry at."""
        return SizeParams(self.notional_usd, self.max_slippage_bps, self.min_capacity_usd)

    def risk_params(self) -> RiskParams:
        """The thresholds /risk, `arb-bot risk` and the risk alerts judge the books by."""
        return RiskParams(
            fees=self.taker_fees,
            horizon_h=self.horizon_h,
            liq_warn_pct=self.liq_warn_pct,
            liq_crit_pct=self.liq_crit_pct,
            exit_apr=self.exit_apr,
            max_drift_pct=self.max_drift_pct,
            unreadable_s=self.risk_unreadable_s,
            min_gap_s=self.alert_min_gap_s,
        )

    def trading_params(self) -> TradingParams:
        """How /open and /close trade: the mode, the limits, the caps."""
        from arb.trading.engine import TradingParams, lookup_schedule

        return TradingParams(
            mode=self.trading,  # type: ignore[arg-type]
            fees=self.taker_fees,
            max_notional_usd=self.max_notional_usd,
            max_asset_usd=self.max_asset_usd,
            leverage=self.leverage,
            max_slippage_bps=self.max_slippage_bps,
            repair_slippage_bps=self.repair_slippage_bps,
            tolerance=self.hedge_tolerance,
            lookups_s=lookup_schedule(self.lookup_window_s),
        )

    def secrets(self) -> list[str]:
        """Every secret value configured, so logging can blank them."""
        values = [self.telegram_bot_token, self.webhook_secret, self.llm_api_key]
        for v in self.venue.values():
            values += [v.api_key, v.api_secret, v.api_passphrase]
        return [x for x in values if x]


def load_settings(
    environ: Mapping[str, str] | None = None, dotenv_path: str | None = ".env"
) -> Settings:
    """Read settings. The process environment wins over `.env`."""
    env: dict[str, str] = {}
    if dotenv_path and os.path.exists(dotenv_path):
        env.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    env.update(os.environ if environ is None else environ)
    return parse_settings(env)


def parse_settings(env: Mapping[str, str]) -> Settings:
    def get(name: str) -> str | None:
        value = env.get(name)
        return value.strip() if value is not None and value.strip() != "" else None

    def typed(name: str, default: T, conv: Callable[[str], T], expects: str) -> T:
        raw = get(name)
        if raw is None:
            return default
        try:
            return conv(raw)
        except (ValueError, TypeError):
            raise SettingsError(f"{name} must be {expects}, got {_show(raw)}") from None

    def number(name: str, default: float, low: float, high: float, expects: str) -> float:
        def conv(raw: str) -> float:
            value = float(raw)
            if not low <= value <= high:
                raise ValueError
            return value

        return typed(name, default, conv, expects)

    def seconds(name: str, default: float, low: float, high: float) -> float:
        return number(name, default, low, high, f"a number of seconds from {low:g} to {high:g}")

    venues = typed(
        "ARB_VENUES",
        VENUE_NAMES,
        _venue_list,
        f"a comma-separated list of venues from {', '.join(VENUE_NAMES)}",
    )
    per_venue: dict[str, VenueSettings] = {}
    for name, spec in SPECS.items():
        up = name.upper()
        per_venue[name] = VenueSettings(
            name=name,
            rest_url=typed(f"{up}_REST_URL", spec.rest_url, _http_url, "an http(s) URL"),
            ws_url=typed(f"{up}_WS_URL", spec.ws_url, _ws_url, "a ws(s) URL"),
            taker_fee=number(
                f"{up}_TAKER_FEE",
                spec.taker_fee,
                0.0,
                0.01,
                "a decimal fee between 0 and 0.01 (0.0005 = 0.05%)",
            ),
            api_key=get(f"{up}_API_KEY"),
            api_secret=get(f"{up}_API_SECRET"),
            api_passphrase=get(f"{up}_API_PASSPHRASE"),
        )
    for name, vs in per_venue.items():
        up = name.upper()
        if bool(vs.api_key) != bool(vs.api_secret):
            missing = f"{up}_API_SECRET" if vs.api_key else f"{up}_API_KEY"
            raise SettingsError(f"{missing} must be set too: account keys come in pairs")
        if SPECS[name].passphrase and vs.api_key and not vs.api_passphrase:
            raise SettingsError(f"{up}_API_PASSPHRASE must be set too: {name} signs with it")
    llm_base_url = typed("LLM_BASE_URL", None, _http_url, "an http(s) URL")
    llm_model = get("LLM_MODEL")
    if (llm_base_url is None) != (llm_model is None):
        missing = "LLM_MODEL" if llm_model is None else "LLM_BASE_URL"
        raise SettingsError(
            f"{missing} must be set too: the signaler needs both LLM_BASE_URL and LLM_MODEL"
        )
    llm_alert_notes = typed("LLM_ALERT_NOTES", False, _flag, "0 or 1")
    if llm_alert_notes and llm_model is None:
        raise SettingsError("LLM_ALERT_NOTES=1 needs a model: set LLM_BASE_URL and LLM_MODEL")
    log_level = (get("ARB_LOG_LEVEL") or "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError(
            f"ARB_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, got {_show(log_level)}"
        )
    settings = Settings(
        venues=venues,
        venue=per_venue,
        telegram_bot_token=get("TELEGRAM_BOT_TOKEN"),
        telegram_api_base_url=typed(
            "TELEGRAM_API_BASE_URL", DEFAULT_TELEGRAM_API, _http_url, "an http(s) URL"
        ),
        db_path=get("ARB_DB") or "arb.sqlite3",
        scan_interval_s=seconds("ARB_SCAN_INTERVAL_S", 60.0, 5.0, 86_400.0),
        http_timeout_s=seconds("ARB_HTTP_TIMEOUT_S", 10.0, 0.1, 120.0),
        http_attempts=int(
            number("ARB_HTTP_RETRIES", 2, 0, 10, "a whole number of retries from 0 to 10")
        )
        + 1,
        venue_deadline_s=seconds("ARB_VENUE_DEADLINE_S", 30.0, 0.5, 600.0),
        min_turnover_24h=number(
            "ARB_MIN_TURNOVER_USD", 500_000.0, 0.0, 1e13, "a non-negative amount in USD"
        ),
        max_quote_age_s=seconds("ARB_MAX_QUOTE_AGE_S", 300.0, 1.0, 86_400.0),
        horizon_h=number(
            "ARB_HORIZON_H", 168.0, 1.0, 8_760.0, "a holding horizon in hours from 1 to 8760"
        ),
        alert_cooldown_s=number(
            "ARB_ALERT_COOLDOWN_S", 3600.0, 0.0, 7 * 86_400.0, "a number of seconds up to 604800"
        ),
        alert_min_gap_s=seconds("ARB_ALERT_MIN_GAP_S", 900.0, 0.0, 86_400.0),
        retention_days=number(
            "ARB_RETENTION_DAYS", 30.0, 1.0, 3650.0, "a number of days from 1 to 3650"
        ),
        max_reply_bytes=int(
            number("ARB_MAX_REPLY_MB", 32.0, 1.0, 1024.0, "a size in MiB from 1 to 1024")
            * 1024
            * 1024
        ),
        max_cooldown_s=seconds("ARB_MAX_COOLDOWN_S", 600.0, 1.0, 86_400.0),
        telegram_timeout_s=seconds("TELEGRAM_TIMEOUT_S", 30.0, 1.0, 300.0),
        allowed_chats=typed(
            "ARB_ALLOWED_CHATS", frozenset(), _id_set, "a comma-separated list of chat ids"
        ),
        admins=typed("ARB_ADMINS", frozenset(), _id_set, "a comma-separated list of user ids"),
        webhook_url=typed("TELEGRAM_WEBHOOK_URL", None, _https_url, "an https URL"),
        webhook_listen=get("TELEGRAM_WEBHOOK_LISTEN") or "0.0.0.0",
        webhook_port=int(
            number("TELEGRAM_WEBHOOK_PORT", 8443, 1, 65535, "a TCP port from 1 to 65535")
        ),
        webhook_secret=get("TELEGRAM_WEBHOOK_SECRET"),
        llm_base_url=llm_base_url,
        llm_api_key=get("LLM_API_KEY"),
        llm_model=llm_model,
        llm_alert_notes=llm_alert_notes,
        llm_timeout_s=seconds("LLM_TIMEOUT_S", 15.0, 0.1, 300.0),
        llm_attempts=int(number("LLM_RETRIES", 1, 0, 5, "a whole number of retries from 0 to 5"))
        + 1,
        llm_price_in_per_m=number(
            "LLM_PRICE_IN_PER_M", 0.0, 0.0, 10_000.0, "a USD price per million tokens"
        ),
        llm_price_out_per_m=number(
            "LLM_PRICE_OUT_PER_M", 0.0, 0.0, 10_000.0, "a USD price per million tokens"
        ),
        feeds=typed("ARB_FEEDS", True, _flag, "0 or 1"),
        history_every_s=number(
            "ARB_HISTORY_EVERY_S", 900.0, 0.0, 86_400.0, "a number of seconds up to 86400"
        ),
        history_days=number("ARB_HISTORY_DAYS", 30.0, 1.0, 3650.0, "a number of days from 1"),
        llm_cache_s=seconds("LLM_CACHE_S", 300.0, 0.0, 86_400.0),
        log_level=log_level,
        cache_dir=_cache_dir(get("ARB_CACHE_DIR"), env),
        notional_usd=number(
            "ARB_NOTIONAL_USD", 10_000.0, 1.0, 1e9, "a USD amount per leg from 1 to 1000000000"
        ),
        max_slippage_bps=number(
            "ARB_MAX_SLIPPAGE_BPS", 10.0, 0.1, 1000.0, "basis points from 0.1 to 1000"
        ),
        min_capacity_usd=typed(
            "ARB_MIN_CAPACITY_USD", None, _usd_amount, "a non-negative USD amount, or empty (off)"
        ),
        liq_warn_pct=number("ARB_LIQ_WARN_PCT", 15.0, 0.1, 100.0, "a percent from 0.1 to 100"),
        liq_crit_pct=number("ARB_LIQ_CRIT_PCT", 7.0, 0.1, 100.0, "a percent from 0.1 to 100"),
        exit_apr=number(
            "ARB_EXIT_APR", 0.0, -1000.0, 1000.0, "an APR in percent from -1000 to 1000"
        )
        / 100,
        max_drift_pct=number("ARB_MAX_DRIFT_PCT", 5.0, 0.1, 100.0, "a percent from 0.1 to 100"),
        risk_chats=typed(
            "ARB_RISK_CHATS", frozenset(), _id_set, "a comma-separated list of chat ids"
        ),
        risk_interval_s=seconds("ARB_RISK_INTERVAL_S", 60.0, 5.0, 86_400.0),
        risk_unreadable_s=seconds("ARB_RISK_UNREADABLE_S", 180.0, 0.0, 86_400.0),
        metrics_port=typed(
            "ARB_METRICS_PORT", None, _port_or_off, "a TCP port from 1 to 65535, or 0 (off)"
        ),
        metrics_host=get("ARB_METRICS_HOST") or "127.0.0.1",
        **_trading(typed, number, venues),
    )
    if settings.trading == "live" and not settings.admins:
        raise SettingsError("ARB_TRADING=live needs ARB_ADMINS: only an admin may trade")
    return settings


def _trading(typed: Callable, number: Callable, venues: tuple[str, ...]) -> dict[str, Any]:
    """ARB_TRADING and its limits. Live trading needs both limits and an admin: a desk
    that turns it on without them is told at start, not at its first order."""
    mode = typed("ARB_TRADING", "off", _trading_mode, "off, paper or live")
    usd = "a positive USD amount, or empty (none)"
    facts = dict(
        trading=mode,
        max_notional_usd=typed("ARB_MAX_NOTIONAL_USD", None, _positive_usd, usd),
        max_asset_usd=typed("ARB_MAX_ASSET_USD", None, _positive_usd, usd),
        leverage=number("ARB_LEVERAGE", 3.0, 1.0, 100.0, "a leverage from 1 to 100"),
        repair_slippage_bps=number(
            "ARB_REPAIR_SLIPPAGE_BPS", 50.0, 1.0, 1000.0, "basis points from 1 to 1000"
        ),
        hedge_tolerance=number("ARB_HEDGE_TOLERANCE_PCT", 0.1, 0.0, 10.0, "a percent from 0 to 10")
        / 100,
        order_timeout_s=number(
            "ARB_ORDER_TIMEOUT_S", 5.0, 0.1, 60.0, "a number of seconds from 0.1 to 60"
        ),
        lookup_window_s=number(
            "ARB_ORDER_LOOKUP_S", 63.5, 0.1, 600.0, "a number of seconds from 0.1 to 600"
        ),
        demo=frozenset(v for v in venues if typed(f"{v.upper()}_DEMO", False, _flag, "0 or 1")),
    )
    if mode == "live":
        limits = {"ARB_MAX_NOTIONAL_USD": "max_notional_usd", "ARB_MAX_ASSET_USD": "max_asset_usd"}
        missing = [name for name, key in limits.items() if facts[key] is None]
        if missing:
            raise SettingsError(
                f"ARB_TRADING=live needs limits: set {' and '.join(missing)} (USD per leg)"
            )
    return facts


def _trading_mode(raw: str) -> str:
    mode = raw.strip().lower()
    if mode not in ("off", "paper", "live"):
        raise ValueError
    return mode


def _positive_usd(raw: str) -> float | None:
    if not raw.strip():
        return None
    value = float(raw.replace(",", "").replace("_", ""))
    if not 0 < value < math.inf:
        raise ValueError
    return value


def _show(raw: str) -> str:
    return repr(raw if len(raw) <= 40 else raw[:39] + "…")


def _venue_list(raw: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(p.strip().lower() for p in raw.split(",") if p.strip()))
    if not names or any(n not in VENUE_NAMES for n in names):
        raise ValueError
    return names


def _cache_dir(raw: str | None, env: Mapping[str, str]) -> str | None:
    """ARB_CACHE_DIR, else $XDG_CACHE_HOME/arb-bot, else ~/.cache/arb-bot; `off`: none."""
    if raw is not None:
        return None if raw.lower() == "off" else os.path.expanduser(raw)
    xdg = (env.get("XDG_CACHE_HOME") or "").strip()
    if xdg and os.path.isabs(xdg):  # the XDG spec ignores a relative one
        return os.path.join(xdg, "arb-bot")
    return os.path.join(os.path.expanduser("~"), ".cache", "arb-bot")


def _url(raw: str, schemes: tuple[str, ...]) -> str:
    parsed = urlparse(raw)
    if parsed.scheme not in schemes or not parsed.netloc:
        raise ValueError
    return raw.rstrip("/")


def _http_url(raw: str) -> str:
    return _url(raw, ("http", "https"))


def _https_url(raw: str) -> str:
    return _url(raw, ("https",))


def _ws_url(raw: str) -> str:
    return _url(raw, ("ws", "wss"))


def _id_set(raw: str) -> frozenset[int]:
    return frozenset(int(p) for p in raw.replace(" ", "").split(",") if p)


def _port_or_off(raw: str) -> int | None:
    port = int(raw)
    if not 0 <= port <= 65535:
        raise ValueError
    return port or None


def _usd_amount(raw: str) -> float:
    value = float(raw)
    if not 0.0 <= value <= 1e13:
        raise ValueError
    return value


def _flag(raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError
