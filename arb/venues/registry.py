"""Every venue the app knows, in the order replies and settings list them.

Adding a venue is its package `arb/venues/<name>/` (its facts in `venue.toml`, its rest,
stream and account modules) and its name on the line below: nothing else names it.
"""

from __future__ import annotations

from arb.venues.spec import VenueSpec

NAMES = ("bybit", "binance", "okx", "hyperliquid", "bitget", "gate")

SPECS: dict[str, VenueSpec] = {name: VenueSpec.load(name) for name in NAMES}


def spec(name: str) -> VenueSpec:
    return SPECS[name]


def account_venues() -> tuple[str, ...]:
    """Venues with a signed client: the ones /balance, /positions and /pnl can read."""
    return tuple(s.name for s in SPECS.values() if s.account is not None)


def order_venues() -> tuple[str, ...]:
    """Venues whose signed client also takes orders: the ones the desk can trade on."""
    return tuple(s.name for s in SPECS.values() if s.orders is not None)


def key_variables(name: str) -> tuple[str, ...]:
    """The variables that hold one venue's API keys."""
    s = SPECS[name]
    names = ("API_KEY", "API_SECRET") + (("API_PASSPHRASE",) if s.passphrase else ())
    return tuple(s.env_prefix + n for n in names)


def labels() -> str:
    """Every venue's label in order, 'A, B and C', a short name in brackets: 'Name (nm)'."""
    shown = [s.label + (f" ({s.short})" if s.short else "") for s in SPECS.values()]
    return ", ".join(shown[:-1]) + " and " + shown[-1] if len(shown) > 1 else "".join(shown)


def env_prefixes() -> tuple[str, ...]:
    return tuple(s.env_prefix for s in SPECS.values())


def resolve(name: str) -> str | None:
    """A venue's name from what a person (or a model) wrote: its name, short name or an
    alias, any case; None for no venue."""
    key = name.strip().lower()
    for s in SPECS.values():
        if key == s.name or key == s.short or key in s.aliases:
            return s.name
    return None
