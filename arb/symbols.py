"""Canonical assets: strip venue multiplier prefixes, and read what users type."""

from __future__ import annotations

import re

# Whitelisted multiplier prefixes. Never strip every leading digit: 1INCH and 0G
# are real asset names.
_NUMERIC_PREFIXES = (
    ("10000000", 10_000_000.0),
    ("1000000", 1_000_000.0),
    ("100000", 100_000.0),
    ("10000", 10_000.0),
    ("1000", 1_000.0),
    ("1M", 1_000_000.0),
)
# Hyperliquid's lowercase k means x1000 (kPEPE, kSHIB, kBONK).
_HL_K = re.compile(r"^k(?=[A-Z0-9])")
_QUOTE_SUFFIXES = ("USDT", "USDC", "PERP")


def split_multiplier(base: str) -> tuple[str, float]:
    """`1000PEPE` -> (`PEPE`, 1000); `kPEPE` -> (`PEPE`, 1000); `1INCH` unchanged."""
    if _HL_K.match(base):
        return base[1:], 1000.0
    for prefix, factor in _NUMERIC_PREFIXES:
        rest = base[len(prefix) :]
        # The rest must start with a letter and be a plausible name on its own.
        if base.startswith(prefix) and len(rest) >= 2 and rest[0].isalpha():
            return rest, factor
    return base, 1.0


def normalize_asset(text: str) -> str:
    """What a user typed (BTC, btc, BTCUSDT, BTC-USDT-SWAP, 1000PEPE, kPEPE) -> asset."""
    s = text.strip()
    if not s:
        raise ValueError("empty asset")
    # Keep the Hyperliquid k prefix visible before upper-casing.
    s = "k" + s[1:].upper() if _HL_K.match(s) else s.upper()
    s = s.replace("/", "-").replace("_", "-").replace(":", "-")
    if "-" in s:
        s = s.split("-", 1)[0]
    else:
        for suffix in _QUOTE_SUFFIXES:
            if s.endswith(suffix) and len(s) > len(suffix):
                s = s[: -len(suffix)]
                break
    if not re.fullmatch(r"k?[A-Z0-9]{1,20}", s):
        raise ValueError(f"not an asset name: {text.strip()[:40]!r}")
    return split_multiplier(s)[0]
