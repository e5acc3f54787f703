"""A market that moves, for the demo (`make demo`) and the standalone fake venues
(`python -m tests.fakes.venues`): ten real-looking assets on every venue, a few with a
clear carry, whose funding rates and prices drift with the clock.

`demo_market(seed)` lists them; a `MovingMarket` serves each listed `FakePerp` as it stands
at the market's `now()`. Its state is a pure function of the seed and the time: the same seed
at the same instant gives the same market, and two reads minutes apart differ. The clock is
the real one unless `now_ms` is set, so every next funding lies ahead (the recorded
fixtures are a snapshot of the past: served as they are, every countdown reads "due").
Settled history follows the same drift, so a chart of it wanders as a real one does.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, fields

from arb.venues.registry import NAMES
from tests.fakes.venues import SEED, BookShape, FakeMarket, FakePerp

TICK_MS = 5_000  # the market holds still this long: one command's requests agree
DAY_MS = 86_400_000
MINUTE_MS = 60_000


USUAL_BOOK = BookShape()


@dataclass(frozen=True)
class Asset:
    """One asset as the demo lists it on every venue. Rates are per 8 h; a venue's own
    interval scales them. `carry` gives some venues a rate of their own: the carries."""

    name: str
    price: float  # USD per coin
    turnover: float  # 24 h, USD, on each venue
    rate_8h: float  # what most venues pay, give or take a little per venue
    carry: dict[str, float] = field(default_factory=dict)  # venue -> its rate per 8 h
    intervals: dict[str, float] = field(default_factory=dict)  # venue -> hours, if not usual
    book: BookShape = USUAL_BOOK
    multiplier: dict[str, int] = field(default_factory=dict)  # venue -> 1000 (1000PEPE, kPEPE)
    ct_val: str = "1"  # OKX's contract size, in coins


DEEP = BookShape(spread_bps=0.5, step_bps=1.0, depth_usd=100_000.0)
LIQUID = BookShape(spread_bps=1.0, step_bps=1.5, depth_usd=40_000.0)
THIN = BookShape(spread_bps=4.0, step_bps=3.0, depth_usd=8_000.0)

ASSETS = (
    Asset("BTC", 97_000.0, 2e9, 0.0001, {"bybit": 0.00028, "hyperliquid": -0.00004},
          book=DEEP, ct_val="0.01"),
    Asset("ETH", 3_400.0, 1e9, 0.0001, book=DEEP, ct_val="0.1"),
    Asset("SOL", 180.0, 4e8, 0.00008, {"okx": 0.00024}, book=LIQUID),
    Asset("XRP", 2.3, 3e8, 0.0001, book=LIQUID),
    Asset("DOGE", 0.32, 2e8, 0.0002, {"binance": 0.0006, "gate": -0.0002},
          intervals={"binance": 4.0}, book=LIQUID),
    Asset("WIF", 2.1, 8e7, 0.0003, {"hyperliquid": 0.0009, "bitget": -0.0001}, book=THIN),
    Asset("PEPE", 0.000018, 1.5e8, 0.00015, {"bybit": 0.0009, "okx": -0.0001},
          intervals={"okx": 4.0}, book=THIN,
          multiplier={"bybit": 1000, "binance": 1000, "hyperliquid": 1000}, ct_val="10000000"),
    Asset("SUI", 4.2, 1e8, 0.0001),
    Asset("LINK", 22.0, 8e7, 0.0001),
    Asset("AVAX", 38.0, 6e7, 0.00005, {"gate": -0.0004}),
)  # fmt: skip

# Hyperliquid settles every hour, whatever the asset; the others mostly every 8 h.
USUAL_INTERVAL_H = {"hyperliquid": 1.0}


@dataclass(frozen=True)
class Drift:
    """How one listing moves: a slow swing of its rate (a share of it, over days), a fast
    wiggle (per 8 h, over minutes), and its price's swing (shared by the asset's venues)
    plus a small basis of its own. Each wave is a sine: smooth, and defined at every t."""

    rate_swing: float
    rate_slow_ms: float
    rate_slow_phase: float
    wiggle_8h: float
    wiggle_ms: float
    wiggle_phase: float
    price_swing: float
    price_ms: float
    price_phase: float
    basis: float
    basis_ms: float
    basis_phase: float

    def rate(self, base: float, interval_h: float, t_ms: int) -> float:
        slow = self.rate_swing * abs(base) * wave(t_ms, self.rate_slow_ms, self.rate_slow_phase)
        fast = self.wiggle_8h * interval_h / 8 * wave(t_ms, self.wiggle_ms, self.wiggle_phase)
        return round(base + slow + fast, 8)

    def price(self, base: float, t_ms: int) -> float:
        swing = self.price_swing * wave(t_ms, self.price_ms, self.price_phase)
        basis = self.basis * wave(t_ms, self.basis_ms, self.basis_phase)
        return float(f"{base * (1 + swing) * (1 + basis):.8g}")


def wave(t_ms: float, period_ms: float, phase: float) -> float:
    return math.sin(2 * math.pi * t_ms / period_ms + phase)


def drift_for(seed: int, venue: str, asset: str) -> Drift:
    """`asset`'s drift on `venue`: its price's swing is the asset's (the same on every venue),
    the rest the listing's own; str seeds hash the same way in every process."""
    shared = random.Random(f"{seed}:{asset}")
    own = random.Random(f"{seed}:{asset}:{venue}")
    return Drift(
        rate_swing=own.uniform(0.15, 0.35),
        rate_slow_ms=own.uniform(1.5, 4.0) * DAY_MS,
        rate_slow_phase=own.uniform(0, 2 * math.pi),
        wiggle_8h=own.uniform(0.00001, 0.00003),
        wiggle_ms=own.uniform(15, 45) * MINUTE_MS,
        wiggle_phase=own.uniform(0, 2 * math.pi),
        price_swing=shared.uniform(0.01, 0.03),
        price_ms=shared.uniform(0.5, 2.0) * DAY_MS,
        price_phase=shared.uniform(0, 2 * math.pi),
        basis=own.uniform(0.0001, 0.0004),
        basis_ms=own.uniform(20, 90) * MINUTE_MS,
        basis_phase=own.uniform(0, 2 * math.pi),
    )


@dataclass
class MovingPerp(FakePerp):
    """A listing at one instant: a `FakePerp` that remembers its base rate and drift, so
    the market can tell its settled history."""

    base_rate: float = 0.0
    drift: Drift | None = None


class MovingMarket(FakeMarket):
    """A `FakeMarket` whose perps (`venues`: their rates and prices at no drift) move
    with its clock, as each one's `Drift` says."""

    def __init__(
        self, venues: dict[str, list[FakePerp]], seed: int = SEED, now_ms: int | None = None
    ) -> None:
        super().__init__(venues=venues, now_ms=now_ms)
        self.seed = seed
        self._drifts = {
            (venue, p.asset): drift_for(seed, venue, p.asset)
            for venue, perps in venues.items()
            for p in perps
        }
        self._served: dict[tuple[str, int], list[FakePerp]] = {}

    def perps(self, venue: str) -> list[FakePerp]:
        """`venue`'s perps as they stand now (held for a tick)."""
        tick = self.now() // TICK_MS * TICK_MS
        key = (venue, tick)
        if key not in self._served:
            self._served = {k: v for k, v in self._served.items() if k[1] == tick}
            self._served[key] = [self.at(venue, p, tick) for p in self.venues.get(venue, [])]
        return self._served[key]

    def at(self, venue: str, perp: FakePerp, t_ms: int) -> MovingPerp:
        """`perp` as it stands at `t_ms`."""
        drift = self._drifts[(venue, perp.asset)]
        same = {f.name: getattr(perp, f.name) for f in fields(FakePerp)}
        return MovingPerp(
            **{
                **same,
                "rate": drift.rate(perp.rate, perp.interval_h, t_ms),
                "price": drift.price(perp.price, t_ms),
            },
            base_rate=perp.rate,
            drift=drift,
        )

    def settled(self, perp: FakePerp) -> list[tuple[int, float]]:
        """Each past settlement at the rate the drift gave then (a perp of its own
        history, or not of this market, as `FakeMarket` tells it)."""
        settlements = super().settled(perp)
        if not isinstance(perp, MovingPerp) or perp.drift is None or perp.history is not None:
            return settlements
        drift, base = perp.drift, perp.base_rate
        return [(t, drift.rate(base, perp.interval_h, t)) for t, _ in settlements]


def listing(asset: Asset, venue: str, seed: int) -> FakePerp:
    """`asset` on `venue`, undrifted: its carry rate or the usual one give or take a little,
    at its interval; a lot worth about $10 or less."""
    own = random.Random(f"{seed}:{asset.name}:{venue}:listing")
    rate_8h = asset.carry.get(venue, asset.rate_8h + own.uniform(-0.00003, 0.00003))
    interval = asset.intervals.get(venue, USUAL_INTERVAL_H.get(venue, 8.0))
    lot = 10.0 ** math.floor(math.log10(10 / asset.price))
    return FakePerp(
        asset=asset.name,
        rate=round(rate_8h * interval / 8, 8),
        interval_h=interval,
        price=asset.price * (1 + own.uniform(-0.0005, 0.0005)),
        turnover=asset.turnover * own.uniform(0.5, 1.5),
        open_interest=asset.turnover * 0.3 / asset.price,
        multiplier=asset.multiplier.get(venue, 1),
        ct_val=asset.ct_val,
        book=asset.book,
        lot=lot,
        min_qty=lot,
    )


def demo_market(
    seed: int = SEED, now_ms: int | None = None, assets: tuple[Asset, ...] = ASSETS
) -> MovingMarket:
    """Every asset on every venue, moving; `now_ms` None: on the real clock."""
    venues = {venue: [listing(a, venue, seed) for a in assets] for venue in NAMES}
    return MovingMarket(venues, seed=seed, now_ms=now_ms)
