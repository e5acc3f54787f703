"""The market's ranking kept warm: `spread.scan`'s answer, recomputed only where it moved.

A book (`arb.book.MarketBook`) hands every snapshot it builds its `Ranking`. An asset's
pairs are ranked again only when its legs changed (the book replaced one of its quotes:
a REST fetch of a venue it trades on, or a live update) or when time moved one of its
legs across the max-age line; every other asset keeps the pairs ranked before. The whole
ranking is computed once per snapshot (a book version) and filters, and shared by every
caller that asks for it on that snapshot: /scan, the alerts, `arb-bot scan`.

The answer is `spread.scan`'s, pair for pair: the same `eligible`, `ranked_pairs`,
`opportunity` and `rank_key`, only cached. `ranked()` is the one entry point; a snapshot
without a ranking (a one-shot command's) is scanned whole.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from arb.market import MarketSnapshot
from arb.models import Opportunity, Quote
from arb.spread import RankedPair, ScanParams, eligible, opportunity, rank_key, ranked_pairs, scan
from arb.symbols import normalize_asset

# What an asset's ranked pairs depend on (not the /scan floor nor best-per-asset, applied
# after): taker fees, horizon, turnover floor, max quote age.
PairsKey = tuple[tuple[tuple[str, float], ...], float, float, float]
Keyed = tuple[tuple[float, float, str, str, str, str, str], Opportunity]  # (rank_key, o)

MAX_PARAMS = 4  # distinct filter sets kept warm at once; a fifth evicts the oldest


def pairs_key(params: ScanParams) -> PairsKey:
    fees = tuple(sorted(params.taker_fees.items()))
    return (fees, params.horizon_h, params.min_turnover_24h, params.max_quote_age_s)


@dataclass(slots=True)
class _Asset:
    """One asset's legs as last ranked, their ranked pairs and when that stops holding."""

    legs: Sequence[Quote]  # compared by identity: the book replaces a quote that changes
    usable: list[Quote]  # the eligible legs: their pairs are ranked when first asked for
    oldest_in: float | None  # received_at of the oldest eligible leg: it ages out first
    newest_out: float | None  # of the newest leg refused for its age alone: back if time ran back
    best: list[Keyed] | None = None  # built on first use: [] when no pair, else [the best]
    every: list[Keyed] | None = None  # every pair, built on first use

    def holds(self, legs: Sequence[Quote], params: ScanParams, now: float) -> bool:
        """Same leg objects, and no leg crossed the max-age line since."""
        if len(legs) != len(self.legs) or not all(map(operator.is_, legs, self.legs)):
            return False
        max_age = params.max_quote_age_s
        if self.oldest_in is not None and now - self.oldest_in > max_age:
            return False
        return self.newest_out is None or now - self.newest_out > max_age


@dataclass(slots=True)
class _Memo:
    """The ranking of one snapshot for one filter set, best pairs or every pair."""

    snapshot: MarketSnapshot
    now: float
    found: list[Keyed]


@dataclass
class Ranking:
    """Each asset's ranked pairs across book versions, per filter set (see the module)."""

    recomputed: int = 0  # assets ranked again, all filter sets: what an update cost
    computed: int = 0  # whole rankings assembled (one per snapshot, filter set and mode)
    _assets: dict[PairsKey, dict[str, _Asset]] = field(default_factory=dict)
    _memo: dict[tuple[PairsKey, bool], _Memo] = field(default_factory=dict)

    def scan(
        self,
        snapshot: MarketSnapshot,
        params: ScanParams,
        now: float | None = None,
        assets: Iterable[str] | None = None,
    ) -> list[Opportunity]:
        """`spread.scan(snapshot.quotes, params, now)`, from what is kept; `now` defaults
        to the snapshot's time, as every reply ranks. With `assets`, of those assets'
        quotes only (a live update's): the others are neither checked nor ranked."""
        at = snapshot.taken_at if now is None else now
        if assets is None:
            found = self._ranked(snapshot, params, at)
        else:
            found = self._ranked_only(snapshot, params, at, assets)
        floor = params.min_apr
        if floor is None:
            return [o for _, o in found]
        return [o for _, o in found if o.apr_net >= floor]

    def _ranked(self, snapshot: MarketSnapshot, params: ScanParams, now: float) -> list[Keyed]:
        key = pairs_key(params)
        memo_key = (key, params.best_per_asset)
        memo = self._memo.get(memo_key)
        if memo is not None and memo.snapshot is snapshot and memo.now == now:
            return memo.found
        assets = self._refresh(key, snapshot, params, now)
        found: list[Keyed] = []
        for a in assets.values():
            found += _best(a, params) if params.best_per_asset else _every(a, params)
        found.sort(key=_FIRST, reverse=True)
        self.computed += 1
        self._memo[memo_key] = _Memo(snapshot, now, found)
        return found

    def _ranked_only(
        self, snapshot: MarketSnapshot, params: ScanParams, now: float, assets: Iterable[str]
    ) -> list[Keyed]:
        kept = self._assets.setdefault(pairs_key(params), {})
        grouped = snapshot.grouped()
        found: list[Keyed] = []
        for asset in dict.fromkeys(normalize_asset(a) for a in assets):
            legs = grouped.get(asset)
            if legs is None:
                kept.pop(asset, None)
                continue
            a = kept.get(asset)
            if a is None or not a.holds(legs, params, now):
                a = kept[asset] = _rank(legs, params, now)
                self.recomputed += 1
            found += _best(a, params) if params.best_per_asset else _every(a, params)
        found.sort(key=_FIRST, reverse=True)
        return found

    def _refresh(
        self, key: PairsKey, snapshot: MarketSnapshot, params: ScanParams, now: float
    ) -> dict[str, _Asset]:
        """Every asset of the snapshot, ranked again only where it no longer holds."""
        kept = self._assets.pop(key, {})
        assets: dict[str, _Asset] = {}
        for asset, legs in snapshot.grouped().items():
            old = kept.get(asset)
            if old is None or not old.holds(legs, params, now):
                old = _rank(legs, params, now)
                self.recomputed += 1
            assets[asset] = old
        self._assets[key] = assets  # last in the dict: the most recently used
        while len(self._assets) > MAX_PARAMS:
            dropped = next(iter(self._assets))
            del self._assets[dropped]
            for mode in (True, False):
                self._memo.pop((dropped, mode), None)
        return assets


def _rank(legs: Sequence[Quote], params: ScanParams, now: float) -> _Asset:
    usable = [q for q in legs if eligible(q, params, now)]
    aged = [
        q.received_at
        for q in legs
        if now - q.received_at > params.max_quote_age_s
        and (q.turnover_24h is None or q.turnover_24h >= params.min_turnover_24h)
    ]
    return _Asset(
        legs=legs,
        usable=usable,
        oldest_in=min((q.received_at for q in usable), default=None),
        newest_out=max(aged, default=None),
    )


def _best(a: _Asset, params: ScanParams) -> list[Keyed]:
    if a.best is None:
        top = max(_pairs(a, params), key=_FIRST, default=None)
        a.best = [] if top is None else [_keyed(top[1], top[2], params)]
    return a.best


def _every(a: _Asset, params: ScanParams) -> list[Keyed]:
    if a.every is None:
        a.every = [_keyed(long, short, params) for _, long, short in _pairs(a, params)]
    return a.every


def _pairs(a: _Asset, params: ScanParams) -> list[RankedPair]:
    return ranked_pairs(a.usable, params.taker_fees, params.horizon_h)


def _keyed(a: Quote, b: Quote, params: ScanParams) -> Keyed:
    o = opportunity(a, b, params.taker_fees, params.horizon_h)
    return rank_key(o), o


def ranked(
    snapshot: MarketSnapshot,
    params: ScanParams,
    assets: Iterable[str] | None = None,
    now: float | None = None,
) -> list[Opportunity]:
    """`spread.scan` of the snapshot at `now` (default: the snapshot's time), of those
    assets' quotes only with `assets`: from the snapshot's warm ranking when its book
    keeps one, else computed whole."""
    at = snapshot.taken_at if now is None else now
    if snapshot.ranking is None:
        return scan(_quotes(snapshot, assets), params, at)
    return snapshot.ranking.scan(snapshot, params, at, assets)


def _quotes(snapshot: MarketSnapshot, assets: Iterable[str] | None) -> Iterable[Quote]:
    if assets is None:
        return snapshot.quotes
    return [q for a in assets for q in snapshot.for_asset(a)]


_FIRST = operator.itemgetter(0)
