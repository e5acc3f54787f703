"""Threshold alerts as pure functions: the /subscribe grammar, matching, hysteresis.

A subscription asks for an alert when an asset's best spread per 8 h reaches
its threshold. The alert key is (chat, topic, asset, long venue, short venue).
A key alerts when it crosses; it re-arms only after the spread falls below
threshold * REARM and then alerts again on the next crossing, or, while still
above, after COOLDOWN once the spread has grown by half since the last alert.
A key that is not observed in a cycle (a venue failed) keeps its state.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from arb.models import HOURS_PER_YEAR, Opportunity
from arb.symbols import normalize_asset

REARM = 0.8
GROWTH = 1.5
MIN_THRESHOLD_8H = 0.00001  # 0.001 % per 8 h
MAX_THRESHOLD_8H = 0.02  # 2 % per 8 h
EXAMPLE = "e.g. /subscribe 0.05% or /subscribe 5bps BTC ETH or /subscribe 50% apr"
MAX_ASSETS = 20


class ThresholdError(ValueError):
    """One line for the user: what is wrong and an example."""


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    chat_id: int
    thread_id: int | None
    threshold_8h: float
    assets: frozenset[str]  # empty: every asset
    created_by: int | None = None
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class AlertKey:
    chat_id: int
    thread_id: int | None
    asset: str
    long_venue: str
    short_venue: str


@dataclass(frozen=True, slots=True)
class AlertState:
    key: AlertKey
    above: bool
    last_spread: float
    last_sent_spread: float | None
    last_sent_at: float | None


@dataclass(frozen=True, slots=True)
class Crossing:
    """An alert to send: the opportunity, the threshold it crossed and why."""

    key: AlertKey
    opportunity: Opportunity
    threshold_8h: float
    reason: str  # "crossed" or "grew"


# --- the /subscribe grammar ---------------------------------------------------

_NUMBER = r"([0-9]*\.?[0-9]+)"
_FORMS = [
    (re.compile(rf"^apr\s*{_NUMBER}\s*%$"), "apr"),
    (re.compile(rf"^{_NUMBER}\s*%\s*apr$"), "apr"),
    (re.compile(rf"^{_NUMBER}\s*bps?$"), "bps"),
    (re.compile(rf"^{_NUMBER}\s*%$"), "pct"),
    (re.compile(rf"^{_NUMBER}$"), "decimal"),
]


def apr_to_8h(apr: float) -> float:
    return apr / HOURS_PER_YEAR * 8


def threshold_to_apr(threshold_8h: float) -> float:
    return threshold_8h / 8 * HOURS_PER_YEAR


def parse_subscribe(args: Sequence[str]) -> tuple[float, frozenset[str]]:
    """`/subscribe` arguments -> (threshold per 8 h as a decimal, asset filter).

    Accepts 0.05%, 5bps, 0.0005, 50% apr, apr 50%, then optional assets.
    """
    if not args:
        raise ThresholdError(f"Give a threshold, {EXAMPLE}")
    words = [a.strip().lower() for a in args if a.strip()]
    threshold: float | None = None
    used = 0
    for n in (2, 1):  # "50% apr" and "apr 50%" span two words
        if len(words) >= n:
            threshold = _threshold(" ".join(words[:n]))
            if threshold is not None:
                used = n
                break
    if threshold is None:
        raise ThresholdError(f"“{_show(args[0])}” is not a threshold, {EXAMPLE}")
    if not MIN_THRESHOLD_8H <= threshold <= MAX_THRESHOLD_8H:
        hint = ""
        if threshold > MAX_THRESHOLD_8H and used == 1 and words[0].replace(".", "", 1).isdigit():
            hint = f" ({words[0]} is a decimal: did you mean {words[0]}%?)"
        raise ThresholdError(
            f"Threshold {threshold * 100:.4g}% per 8h is out of range: use "
            f"{MIN_THRESHOLD_8H * 100:g}% to {MAX_THRESHOLD_8H * 100:g}% per 8h{hint}, {EXAMPLE}"
        )
    assets = []
    for word in args[used:]:
        try:
            assets.append(normalize_asset(word))
        except ValueError:
            raise ThresholdError(f"“{_show(word)}” is not an asset name, {EXAMPLE}") from None
    if len(set(assets)) > MAX_ASSETS:
        raise ThresholdError(f"At most {MAX_ASSETS} assets per subscription, {EXAMPLE}")
    return threshold, frozenset(assets)


def _threshold(text: str) -> float | None:
    text = " ".join(text.split())
    for pattern, kind in _FORMS:
        m = pattern.match(text)
        if m is None:
            continue
        value = float(m.group(1))
        if kind == "apr":
            return apr_to_8h(value / 100)
        if kind == "bps":
            return value / 10_000
        if kind == "pct":
            return value / 100
        return value
    return None


def _show(text: str) -> str:
    return text if len(text) <= 30 else text[:29] + "…"


# --- matching -----------------------------------------------------------------


def match(
    subs: Sequence[Subscription], opportunities: Sequence[Opportunity]
) -> list[tuple[Subscription, Opportunity]]:
    """Every (subscription, opportunity) whose spread per 8 h reaches the threshold.

    One pass: opportunities sorted once by spread; a threshold's matches are a
    prefix found by bisection and shared by every subscription with it. In a
    chat and topic, a subscription naming an asset overrides the catch-all
    one for that asset.
    """
    ranked = sorted(opportunities, key=lambda o: o.spread_8h, reverse=True)
    negated = [-o.spread_8h for o in ranked]
    by_asset = {o.asset: o for o in ranked}  # best per asset: the first seen
    specific: dict[tuple[int, int | None], set[str]] = defaultdict(set)
    for s in subs:
        if s.assets:
            specific[(s.chat_id, s.thread_id)].update(s.assets)
    prefixes: dict[float, list[Opportunity]] = {}
    out: list[tuple[Subscription, Opportunity]] = []
    add, best_of, overrides_of = out.append, by_asset.get, specific.get
    for s in subs:
        threshold = s.threshold_8h
        if s.assets:
            for asset in s.assets:
                o = best_of(asset)
                if o is not None and o.spread_8h >= threshold:
                    add((s, o))
            continue
        above = prefixes.get(threshold)
        if above is None:
            above = prefixes[threshold] = ranked[: bisect.bisect_right(negated, -threshold)]
        if not above:
            continue
        overridden = overrides_of((s.chat_id, s.thread_id))
        for o in above:
            if not overridden or o.asset not in overridden:
                add((s, o))
    return out


def key_of(s: Subscription, o: Opportunity) -> AlertKey:
    return AlertKey(s.chat_id, s.thread_id, o.asset, o.long_venue, o.short_venue)


# --- hysteresis ---------------------------------------------------------------


def decide(
    state: AlertState | None,
    key: AlertKey,
    spread_8h: float,
    threshold_8h: float,
    now: float,
    cooldown_s: float,
    min_gap_s: float = 0.0,
) -> tuple[str | None, AlertState]:
    """(reason to alert or None, the key's new state) for one observation.

    A key never alerts twice within `min_gap_s`, re-armed or not: a crossing inside
    the gap leaves the key armed, so it alerts once the gap has passed if the spread
    is still above (a spread flapping around its threshold alerts once).
    """
    above = state.above if state is not None else False
    sent_spread = state.last_sent_spread if state is not None else None
    sent_at = state.last_sent_at if state is not None else None
    since_sent = float("inf") if sent_at is None else now - sent_at
    reason: str | None = None
    if spread_8h >= threshold_8h:
        if not above:
            if since_sent >= min_gap_s:
                reason, above = "crossed", True
        elif (
            sent_spread is not None
            and spread_8h >= sent_spread * GROWTH
            and since_sent >= max(cooldown_s, min_gap_s)
        ):
            reason = "grew"
    elif spread_8h < threshold_8h * REARM:
        above = False
    if reason is not None:
        sent_spread, sent_at = spread_8h, now
    return reason, AlertState(key, above, spread_8h, sent_spread, sent_at)


def rearm_candidates(
    states: Iterable[AlertState],
    thresholds: dict[tuple[int, int | None, str], float],
    spreads: dict[tuple[str, str, str], float],
) -> list[AlertState]:
    """States still 'above' whose pair is observed below threshold * REARM now."""
    out = []
    for st in states:
        if not st.above:
            continue
        k = st.key
        spread = spreads.get((k.asset, k.long_venue, k.short_venue))
        threshold = thresholds.get((k.chat_id, k.thread_id, k.asset))
        if spread is not None and threshold is not None and spread < threshold * REARM:
            out.append(AlertState(k, False, spread, st.last_sent_spread, st.last_sent_at))
    return out


# --- the planner -----------------------------------------------------------------

Target = tuple[int, int | None]  # chat, forum topic


@dataclass(frozen=True, slots=True)
class AlertPlan:
    """What one alert run decided: the crossings to send, per chat topic, each with the
    key's state once it is sent, and the states that changed without an alert."""

    outbox: dict[Target, list[tuple[Crossing, AlertState]]]
    quiet: list[AlertState]
    subscriptions: int
    matches: int


def best_per_asset(pairs: Sequence[Opportunity]) -> list[Opportunity]:
    """`pairs` come ranked best first: keep each asset's first."""
    seen: set[str] = set()
    out = []
    for o in pairs:
        if o.asset not in seen:
            seen.add(o.asset)
            out.append(o)
    return out


def thresholds(
    subs: Iterable[Subscription], keys: Iterable[AlertKey]
) -> dict[tuple[int, int | None, str], float]:
    """The threshold in force for each key: the asset's own, else the catch-all."""
    catch_all: dict[Target, float] = {}
    own: dict[tuple[int, int | None, str], float] = {}
    for s in subs:
        if s.assets:
            for a in s.assets:
                own[(s.chat_id, s.thread_id, a)] = s.threshold_8h
        else:
            catch_all[(s.chat_id, s.thread_id)] = s.threshold_8h
    out = {}
    for k in keys:
        t = own.get((k.chat_id, k.thread_id, k.asset), catch_all.get((k.chat_id, k.thread_id)))
        if t is not None:
            out[(k.chat_id, k.thread_id, k.asset)] = t
    return out


def plan(
    subs: Sequence[Subscription],
    states: Mapping[AlertKey, AlertState],
    pairs: Sequence[Opportunity],
    now: float,
    *,
    cooldown_s: float,
    min_gap_s: float,
) -> AlertPlan:
    """One alert run over `pairs` (every pair, ranked best first; a live run passes only
    the assets it covers, and keys of other assets keep their state)."""
    best = best_per_asset(pairs)
    matched = match(subs, best)
    outbox: dict[Target, list[tuple[Crossing, AlertState]]] = defaultdict(list)
    quiet: list[AlertState] = []
    seen: set[AlertKey] = set()
    for sub, opp in matched:
        key = key_of(sub, opp)
        if key in seen:
            continue
        seen.add(key)
        old = states.get(key)
        reason, state = decide(
            old, key, opp.spread_8h, sub.threshold_8h, now, cooldown_s, min_gap_s
        )
        if reason is not None:
            crossing = Crossing(key, opp, sub.threshold_8h, reason)
            outbox[(sub.chat_id, sub.thread_id)].append((crossing, state))
        elif state != old:
            quiet.append(state)
    spreads = {(o.asset, o.long_venue, o.short_venue): o.spread_8h for o in pairs}
    # A pair whose legs swapped since its alert is below its threshold: negative carry.
    spreads |= {(o.asset, o.short_venue, o.long_venue): -o.spread_8h for o in pairs}
    unseen = [s for k, s in states.items() if k not in seen]
    quiet += rearm_candidates(unseen, thresholds(subs, (s.key for s in unseen)), spreads)
    return AlertPlan(dict(outbox), quiet, len(subs), len(matched))


# --- live updates: which changes can alert --------------------------------------------


@dataclass(frozen=True, slots=True)
class WatchLevels:
    """The spread levels (per 8 h) where an alert decision can flip: each subscription's
    threshold and its re-arm level, for the assets it names and for every asset."""

    by_asset: dict[str, frozenset[float]]
    every_asset: frozenset[float]

    def for_asset(self, asset: str) -> frozenset[float]:
        own = self.by_asset.get(asset)
        return self.every_asset if own is None else own | self.every_asset


NO_LEVELS = WatchLevels({}, frozenset())


def watch_levels(subs: Iterable[Subscription]) -> WatchLevels:
    by_asset: dict[str, set[float]] = {}
    every: set[float] = set()
    for s in subs:
        levels = {s.threshold_8h, s.threshold_8h * REARM}
        if s.assets:
            for a in s.assets:
                by_asset.setdefault(a, set()).update(levels)
        else:
            every |= levels
    return WatchLevels({a: frozenset(v) for a, v in by_asset.items()}, frozenset(every))


def crosses(old: float | None, new: float | None, levels: Iterable[float]) -> bool:
    """Whether moving from `old` to `new` passes a level (None: a pair appeared or vanished)."""
    if old is None or new is None:
        return old is not new
    lo, hi = (old, new) if old <= new else (new, old)
    return any(lo < level <= hi for level in levels)
