"""Canonical assets: strip venue multipliers, and read what users type.

Every venue's parser and every account client takes its asset and multiplier from
`split_multiplier`, and every command reads what the user typed with
`normalize_asset`, so one spelling rule decides which quotes pair up and which
positions hedge each other.
"""

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
# Whitelisted multiplier suffixes: SHIB1000USDT and SHIB1000PERP are listed, priced per
# 1000 SHIB. Never strip trailing digits in general: LUNA2, API3, C98, G7, L3, B3,
# X2Y2 and SPX6900 are real names. The rest must be letters only (so X2Y21000 stays).
_NUMERIC_SUFFIXES = (("1000", 1_000.0),)
# A lowercase k prefix means x1000 (kPEPE, kSHIB, kBONK).
_K_PREFIX = re.compile(r"^k(?=[A-Z0-9])")
_LETTERS = re.compile(r"[A-Z]{2,}")
_QUOTE_SUFFIXES = ("USDT", "USDC", "PERP")
_ASSET = re.compile(r"k?[A-Z0-9]{1,20}")


def split_multiplier(base: str) -> tuple[str, float]:
    """The canonical asset of a venue's base name and how many coins one unit holds:
    `1000PEPE` -> (`PEPE`, 1000); `kPEPE` -> (`PEPE`, 1000); `SHIB1000` -> (`SHIB`, 1000);
    `1INCH` and `LUNA2` unchanged."""
    if _K_PREFIX.match(base):
        return base[1:], 1000.0
    for prefix, factor in _NUMERIC_PREFIXES:
        rest = base[len(prefix) :]
        # The rest must start with a letter and be a plausible name on its own.
        if base.startswith(prefix) and len(rest) >= 2 and rest[0].isalpha():
            return rest, factor
    for suffix, factor in _NUMERIC_SUFFIXES:
        rest = base[: -len(suffix)]
        if base.endswith(suffix) and _LETTERS.fullmatch(rest):
            return rest, factor
    return base, 1.0


def normalize_asset(text: str) -> str:
    """What a user typed -> the canonical asset: BTC, btc, BTCUSDT, BTC-USDT-SWAP, BTCPERP,
    1000PEPE, kPEPE, SHIB1000, shib1000usdt all name their coin.

    Only ASCII is read: `ß`, full-width `ＢＴＣ` or a Cyrillic look-alike raise
    ValueError rather than being upper-cased into some other name (`ß` would be `SS`).
    """
    s = text.strip()
    if not s:
        raise ValueError("empty asset")
    if not s.isascii():
        raise ValueError(f"not an asset name (ASCII letters and digits only): {s[:40]!r}")
    # Keep a lowercase k prefix visible before upper-casing.
    s = "k" + s[1:].upper() if _K_PREFIX.match(s) else s.upper()
    s = s.replace("/", "-").replace("_", "-").replace(":", "-")
    if "-" in s:
        s = s.split("-", 1)[0]
    else:
        for suffix in _QUOTE_SUFFIXES:
            if s.endswith(suffix) and len(s) > len(suffix):
                s = s[: -len(suffix)]
                break
    if not _ASSET.fullmatch(s):
        raise ValueError(f"not an asset name: {text.strip()[:40]!r}")
    return split_multiplier(s)[0]
