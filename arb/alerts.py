"""Threshold alerts as pure functions: the /subscribe grammar, matching, hysteresis.

A subscription asks for an alert when an asset's best spread per 8 h reaches
its threshold: the spread of the pair /scan ranks first, gross (before fees; the
net APR depends on an assumed holding horizon, the spread does not). Which
subscription's threshold applies to a (chat, topic, asset) is `ThresholdIndex`'s
answer, read by matching, re-arming, the live trigger and /history and /chart
alike. The alert key is (chat, topic, asset, long venue, short venue).
A key alerts when it crosses; it re-arms only after the spread falls below
threshold * REARM and then alerts again on the next crossing, or, while still
above, after COOLDOWN once the spread has grown by half since the last alert.
A key that is not observed in a cycle (a venue failed) keeps its state.

With ARB_MIN_CAPACITY_USD set, the crossings a run plans are sized on their legs' books
(`thin_out`): a carry the books could not take at that size within the slippage allowed
is not alerted, and its key keeps its state, as if it had not crossed.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from arb.depth import SizedCarry
from arb.models import (
    HOURS_PER_YEAR,
    AlertKey,
    AlertState,
    Opportunity,
    Subscription,
    Target,
)
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
class Crossing:
    """An alert to send: the opportunity, the threshold it crossed and why."""

    key: AlertKey
    opportunity: Opportunity
    threshold_8h: float
    reason: str  # "crossed" or "grew"
    sized: SizedCarry | None = None  # at the desk's notional, when its books were fetched


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


# --- which threshold applies ------------------------------------------------------


class ThresholdIndex:
    """The one answer to "which threshold applies to (chat, topic, asset)".

    In a chat topic, the asset's own subscription (the newest one naming it) overrides
    the topic's catch-all (the newest one without assets; storage keeps one). Alerting
    (`match`, `plan`), re-arming, the live trigger's levels (`levels`) and /history and
    /chart all read this; the bot builds it once each time the subscriptions change.
    """

    __slots__ = ("_levels", "catch_all", "own", "subs")

    def __init__(self, subs: Iterable[Subscription] = ()) -> None:
        self.subs: tuple[Subscription, ...] = tuple(subs)
        # chat topic -> its catch-all; chat topic -> asset -> the asset's own subscription
        self.catch_all: dict[Target, Subscription] = {}
        self.own: dict[Target, dict[str, Subscription]] = {}
        catch_all, own = self.catch_all, self.own
        for s in self.subs:
            target = (s.chat_id, s.thread_id)
            if s.assets:
                named = own.get(target)
                if named is None:
                    named = own[target] = {}
                for a in s.assets:
                    old = named.get(a)
                    if old is None or s.id > old.id:
                        named[a] = s
            else:
                old = catch_all.get(target)
                if old is None or s.id > old.id:
                    catch_all[target] = s
        self._levels: WatchLevels | None = None

    @classmethod
    def of(cls, subs: ThresholdIndex | Iterable[Subscription]) -> ThresholdIndex:
        return subs if isinstance(subs, ThresholdIndex) else cls(subs)

    def __len__(self) -> int:
        return len(self.subs)

    def applying(self, chat_id: int, thread_id: int | None, asset: str) -> Subscription | None:
        """The subscription whose threshold applies to `asset` in this chat topic."""
        target = (chat_id, thread_id)
        named = self.own.get(target)
        if named is not None:
            s = named.get(asset)
            if s is not None:
                return s
        return self.catch_all.get(target)

    def threshold(self, chat_id: int, thread_id: int | None, asset: str) -> float | None:
        """The threshold per 8 h that applies to `asset` in this chat topic, or None."""
        s = self.applying(chat_id, thread_id, asset)
        return None if s is None else s.threshold_8h

    def overlaps(self, chat_id: int, thread_id: int | None) -> list[Overlap]:
        """Each asset of this chat topic that more than one subscription covers: which one
        applies and which it overrides, assets in name order."""
        target = (chat_id, thread_id)
        catch_all = self.catch_all.get(target)
        topic = [s for s in self.subs if (s.chat_id, s.thread_id) == target]
        out = []
        for asset, s in sorted(self.own.get(target, {}).items()):
            older = tuple(o for o in topic if o is not s and asset in o.assets)
            if catch_all is not None or older:
                out.append(Overlap(asset, s, catch_all, older))
        return out

    @property
    def levels(self) -> WatchLevels:
        """Where an alert decision can flip, per asset: each threshold that applies to it
        somewhere and its re-arm level (a catch-all every topic overrides for an asset
        does not count for that asset)."""
        if self._levels is None:
            self._levels = _levels(self)
        return self._levels


@dataclass(frozen=True, slots=True)
class Overlap:
    """`asset` in one chat topic: `applies` is its own subscription; it overrides the
    topic's catch-all (if any) and `older` subscriptions that also name it."""

    asset: str
    applies: Subscription
    catch_all: Subscription | None
    older: tuple[Subscription, ...]


# --- matching -----------------------------------------------------------------


def match(
    subs: ThresholdIndex | Iterable[Subscription], opportunities: Sequence[Opportunity]
) -> list[tuple[Subscription, Opportunity]]:
    """Every (subscription, opportunity) whose spread per 8 h reaches the threshold that
    applies (`ThresholdIndex`): an asset's own subscription, else the topic's catch-all.

    One pass: opportunities sorted once by spread; a threshold's matches are a
    prefix found by bisection and shared by every catch-all with it.
    """
    index = ThresholdIndex.of(subs)
    ranked = sorted(opportunities, key=lambda o: o.spread_8h, reverse=True)
    negated = [-o.spread_8h for o in ranked]
    by_asset = {o.asset: o for o in reversed(ranked)}  # best per asset: the first ranked
    prefixes: dict[float, list[Opportunity]] = {}
    out: list[tuple[Subscription, Opportunity]] = []
    add, best_of, own_of = out.append, by_asset.get, index.own.get
    for target, s in index.catch_all.items():
        threshold = s.threshold_8h
        above = prefixes.get(threshold)
        if above is None:
            above = prefixes[threshold] = ranked[: bisect.bisect_right(negated, -threshold)]
        if not above:
            continue
        overridden = own_of(target)
        if overridden:
            for o in above:
                if o.asset not in overridden:
                    add((s, o))
        else:
            out += [(s, o) for o in above]
    for named in index.own.values():
        for asset, s in named.items():
            o = best_of(asset)
            if o is not None and o.spread_8h >= s.threshold_8h:
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
    index: ThresholdIndex,
    spreads: dict[tuple[str, str, str], float],
) -> list[AlertState]:
    """States still 'above' whose pair is observed below REARM x the threshold that
    applies to the key now (`index`)."""
    out = []
    for st in states:
        if not st.above:
            continue
        k = st.key
        spread = spreads.get((k.asset, k.long_venue, k.short_venue))
        threshold = index.threshold(k.chat_id, k.thread_id, k.asset)
        if spread is not None and threshold is not None and spread < threshold * REARM:
            out.append(AlertState(k, False, spread, st.last_sent_spread, st.last_sent_at))
    return out


# --- the planner -----------------------------------------------------------------


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


def plan(
    subs: ThresholdIndex | Sequence[Subscription],
    states: Mapping[AlertKey, AlertState],
    pairs: Sequence[Opportunity],
    now: float,
    *,
    cooldown_s: float,
    min_gap_s: float,
) -> AlertPlan:
    """One alert run over `pairs` (every pair, ranked best first; a live run passes only
    the assets it covers, and keys of other assets keep their state). Every threshold
    is the one `ThresholdIndex` says applies: the same for alerting and re-arming."""
    index = ThresholdIndex.of(subs)
    best = best_per_asset(pairs)
    matched = match(index, best)
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
    quiet += rearm_candidates(unseen, index, spreads)
    return AlertPlan(dict(outbox), quiet, len(index), len(matched))


PairKey = tuple[str, str, str]  # (asset, long venue, short venue)


def pair_of(o: Opportunity) -> PairKey:
    return (o.asset, o.long_venue, o.short_venue)


def thin_out(
    outbox: Mapping[Target, Sequence[tuple[Crossing, AlertState]]],
    sized: Mapping[PairKey, SizedCarry | None],
    min_capacity_usd: float,
) -> tuple[dict[Target, list[tuple[Crossing, AlertState]]], list[Crossing]]:
    """The outbox with each crossing's sizing, less those whose capacity is under
    `min_capacity_usd` (returned apart: not alerted, their keys keep their state). A
    crossing whose books could not be fetched (no sizing) is kept: better an alert
    without its capacity than none."""
    kept: dict[Target, list[tuple[Crossing, AlertState]]] = {}
    skipped: list[Crossing] = []
    for target, items in outbox.items():
        out = []
        for crossing, state in items:
            s = sized.get(pair_of(crossing.opportunity))
            if s is not None and s.capacity_usd < min_capacity_usd:
                skipped.append(crossing)
                continue
            out.append((replace(crossing, sized=s), state))
        if out:
            kept[target] = out
    return kept, skipped


# --- live updates: which changes can alert --------------------------------------------


@dataclass(frozen=True, slots=True)
class WatchLevels:
    """The spread levels (per 8 h) where an alert decision can flip: each threshold that
    applies and its re-arm level, per asset that some topic names, and for every other
    asset (the catch-alls')."""

    by_asset: dict[str, frozenset[float]]
    every_asset: frozenset[float]

    def for_asset(self, asset: str) -> frozenset[float]:
        own = self.by_asset.get(asset)
        return self.every_asset if own is None else own


NO_LEVELS = WatchLevels({}, frozenset())


def watch_levels(subs: ThresholdIndex | Iterable[Subscription]) -> WatchLevels:
    return ThresholdIndex.of(subs).levels


def _levels(index: ThresholdIndex) -> WatchLevels:
    # How many topics have a catch-all at each threshold, and per named asset how many of
    # those its own subscriptions override: a catch-all level counts for the asset while
    # some topic still applies it.
    catch_alls: dict[float, int] = defaultdict(int)
    for s in index.catch_all.values():
        catch_alls[s.threshold_8h] += 1
    own: dict[str, set[float]] = defaultdict(set)
    shadowed: dict[str, dict[float, int]] = defaultdict(lambda: defaultdict(int))
    for target, named in index.own.items():
        catch_all = index.catch_all.get(target)
        for asset, s in named.items():
            own[asset].add(s.threshold_8h)
            if catch_all is not None:
                shadowed[asset][catch_all.threshold_8h] += 1
    by_asset = {}
    for asset, thresholds in own.items():
        hidden = shadowed.get(asset, {})
        applied = thresholds | {t for t, n in catch_alls.items() if n > hidden.get(t, 0)}
        by_asset[asset] = frozenset(x for t in applied for x in (t, t * REARM))
    every = frozenset(x for t in catch_alls for x in (t, t * REARM))
    return WatchLevels(by_asset, every)


def crosses(old: float | None, new: float | None, levels: Iterable[float]) -> bool:
    """Whether moving from `old` to `new` passes a level (None: a pair appeared or vanished)."""
    if old is None or new is None:
        return old is not new
    lo, hi = (old, new) if old <= new else (new, old)
    return any(lo < level <= hi for level in levels)
