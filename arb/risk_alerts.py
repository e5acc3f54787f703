"""What the risk watch tells the desk, from one `RiskReport` and what it told before.

Pure: `plan_risk(report, states, params, now)` returns the alerts to send now and the
state every key moves to. Each condition is a key (`RiskKey`) with hysteresis: it alerts
when it starts, re-arms only once the figure is back past a margin, and never alerts twice
within `params.min_gap_s`. The bot persists the states with the queued messages (one
transaction), so a restart repeats nothing and loses nothing.

Keys and when they alert (each alert's last line says what to do next):
- ("liq_warn", leg) distance to liquidation < liq_warn_pct; re-arms at >= warn x 1.2.
- ("liq_crit", leg) distance < liq_crit_pct; re-arms at >= crit x 1.2.
- ("carry", asset) a hedged book's carry nets < exit_apr; re-arms at >= exit_apr + 0.02.
- ("drift", asset) |drift| > max_drift_pct of the larger side; re-arms at <= 0.8 x max.
- ("leg_gone", leg) a leg seen at the last read is gone while its venue was read and
  another leg of its asset is still open; ("leg", leg) keys remember which legs were open.
- ("unreadable", venue) an account unreadable for >= unreadable_s; re-arms when read.
A leg's scope is "<asset> <venue> <symbol> <side>", an asset's is the asset, a venue's
the venue.

What a read cannot see, it does not judge: a key whose venue could not be read this time
(an error, or no account for it in the report) neither alerts nor re-arms, and keeps its
state; an asset with a leg on such a venue keeps its book keys (carry, drift, leg_gone)
as they were, since half a book would look lopsided. A missing read is neither a recovery
nor a disappearance.

A critical crossing counts as the warning's too: no separate warning in the same read (the
critical alert says it). A leg gone in the same read as its book's drift crosses is told
once, by leg_gone. A crossing within min_gap_s of its key's last alert waits, and alerts at
the first read after the gap if it still holds. A leg that closes (its venue read) re-arms
its liquidation keys; a book that closes re-arms its carry and drift keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Literal

from arb.accounts.models import Position
from arb.formats import ago, apr_pct, coins, interval, pct, price, signed_usd, utc, venue_label
from arb.models import RiskKey, RiskKind, RiskState  # in arb.models: storage keeps them
from arb.risk import AccountRisk, BookRisk, LegRisk, RiskParams, RiskReport

LIQ_REARM = 1.2  # a liquidation key re-arms at its threshold x this
CARRY_REARM_APR = 0.02  # a carry key re-arms at the exit APR + this
DRIFT_REARM = 0.8  # a drift key re-arms at its maximum x this
MAX_ERROR = 200  # characters of a venue's error an alert quotes

Kind = RiskKind
Level = Literal["warning", "critical"]


@dataclass(frozen=True, slots=True)
class RiskAlert:
    key: RiskKey
    level: Level
    lines: tuple[str, ...]  # plain text (the bot escapes it): what happened, the figures
    next_step: str  # one line: what to do next


def plan_risk(
    report: RiskReport,
    states: Mapping[RiskKey, RiskState],
    params: RiskParams,
    now: float,
) -> tuple[list[RiskAlert], dict[RiskKey, RiskState]]:
    """The alerts `report` calls for and every key's new state (only keys that changed)."""
    plan = _Plan(states, params, now)
    read = {a.venue for a in report.accounts if a.error is None}
    frozen = _frozen_assets(report, states, read)
    gone_told = _gone_legs(plan, report, read, frozen)
    for b in report.books:
        for x in b.legs:
            if x.position.venue in read:
                _open_leg(plan, b, x)
        if b.asset not in frozen:
            _book_keys(plan, b, quiet_drift=b.asset in gone_told)
    _closed(plan, report, read, frozen)
    for a in report.accounts:
        _account(plan, a)
    alerts = sorted(plan.alerts, key=lambda a: a.level != "critical")  # stable: books' order
    return alerts, plan.changed


def leg_scope(p: Position) -> str:
    return f"{p.asset} {p.venue} {p.symbol} {p.side}"


def scope_parts(scope: str) -> tuple[str, str, str, str]:
    """A leg's scope back into (asset, venue, symbol, side)."""
    asset, venue, symbol, side = scope.split(" ")
    return asset, venue, symbol, side


# --- keys and their states ---------------------------------------------------------------


class _Plan:
    """One read's alerts and the states that changed, over the states it started from."""

    def __init__(self, states: Mapping[RiskKey, RiskState], params: RiskParams, now: float):
        self.states, self.params, self.now = states, params, now
        self.alerts: list[RiskAlert] = []
        self.changed: dict[RiskKey, RiskState] = {}

    def state(self, key: RiskKey) -> RiskState | None:
        return self.changed.get(key, self.states.get(key))

    def active(self, key: RiskKey) -> bool:
        st = self.state(key)
        return st is not None and st.active

    def put(self, new: RiskState) -> None:
        old = self.states.get(new.key)
        if new == old or (old is None and not new.active and new.last_sent_at is None):
            self.changed.pop(new.key, None)  # nothing to remember, or nothing new
        else:
            self.changed[new.key] = new

    def gap_ok(self, last_sent_at: float | None) -> bool:
        return last_sent_at is None or self.now - last_sent_at >= self.params.min_gap_s

    def crossing(
        self,
        key: RiskKey,
        value: float | None,
        crossed: bool,
        rearmed: bool,
        alert: Callable[[], RiskAlert] | None,
    ) -> tuple[bool, bool]:
        """One threshold key at this read: (active after, alerted now). `alert` None: a
        crossing that another alert already tells activates the key silently."""
        old = self.state(key)
        since = self.now if old is None else old.since
        sent = None if old is None else old.last_sent_at
        if old is not None and old.active:
            if rearmed:
                self.put(RiskState(key, False, self.now, value, sent))
                return False, False
            self.put(RiskState(key, True, since, value, sent))
            return True, False
        if crossed and alert is None:
            self.put(RiskState(key, True, self.now, value, sent))
            return True, False
        if crossed and self.gap_ok(sent):
            self.alerts.append(alert())
            self.put(RiskState(key, True, self.now, value, self.now))
            return True, True
        self.put(RiskState(key, False, since, value, sent))  # quiet, or waiting for the gap
        return False, False

    def rearm(self, key: RiskKey) -> None:
        old = self.state(key)
        if old is not None and old.active:
            self.put(RiskState(key, False, self.now, old.value, old.last_sent_at))


def _frozen_assets(
    report: RiskReport, states: Mapping[RiskKey, RiskState], read: set[str]
) -> set[str]:
    """Assets with a leg (open now, or open at the last read) on a venue not read now."""
    frozen = {b.asset for b in report.books for x in b.legs if x.position.venue not in read}
    for key, st in states.items():
        if key.kind == "leg" and st.active:
            asset, venue, _, _ = scope_parts(key.scope)
            if venue not in read:
                frozen.add(asset)
    return frozen


def _gone_legs(plan: _Plan, report: RiskReport, read: set[str], frozen: set[str]) -> set[str]:
    """Legs open at the last read and gone now: told while their book is still open.
    Returns the assets told."""
    open_now = {leg_scope(x.position) for b in report.books for x in b.legs}
    books = {b.asset: b for b in report.books}
    told: set[str] = set()
    for key, st in sorted(plan.states.items()):
        if key.kind != "leg" or not st.active or key.scope in open_now:
            continue
        asset, venue, _, _ = scope_parts(key.scope)
        if venue not in read or asset in frozen:
            continue
        book = books.get(asset)
        if book is not None:
            gone = RiskKey("leg_gone", key.scope)
            alert = partial(_gone_alert, gone, book, st.value)
            active, sent = plan.crossing(gone, st.value, True, False, alert)
            if not active:
                continue  # within the gap: the leg stays remembered and is told next read
            if sent:
                told.add(asset)
        plan.put(RiskState(key, False, plan.now, st.value, st.last_sent_at))
    return told


def _open_leg(plan: _Plan, b: BookRisk, x: LegRisk) -> None:
    """A leg open on a venue read now: remembered, and judged by its liquidation distance."""
    p = x.position
    scope = leg_scope(p)
    presence = RiskKey("leg", scope)
    old = plan.state(presence)
    since = old.since if old is not None and old.active else plan.now
    plan.put(RiskState(presence, True, since, p.size, None if old is None else old.last_sent_at))
    plan.rearm(RiskKey("leg_gone", scope))
    d = x.liq_distance_pct
    if d is None:
        return
    warn_pct, crit_pct = plan.params.liq_warn_pct, plan.params.liq_crit_pct
    crit_key, warn_key = RiskKey("liq_crit", scope), RiskKey("liq_warn", scope)
    crit, _ = plan.crossing(
        crit_key,
        d,
        plan.params.critical(d),
        d >= crit_pct * LIQ_REARM,
        lambda: _liq_alert(crit_key, "critical", b, x, crit_pct),
    )
    plan.crossing(
        warn_key,
        d,
        crit or plan.params.near(d),
        not crit and d >= warn_pct * LIQ_REARM,
        None if crit else lambda: _liq_alert(warn_key, "warning", b, x, warn_pct),
    )


def _book_keys(plan: _Plan, b: BookRisk, quiet_drift: bool) -> None:
    """A book read whole: its drift and, with both sides quoted, its carry."""
    params = plan.params
    if b.drift_pct is not None:
        key = RiskKey("drift", b.asset)
        limit = params.max_drift_pct
        plan.crossing(
            key,
            b.drift_pct,
            params.drifting(b.drift_pct),
            b.drift_pct <= limit * DRIFT_REARM,
            None if quiet_drift else lambda: _drift_alert(key, b, limit),
        )
    if b.carry is not None:
        key = RiskKey("carry", b.asset)
        apr, floor = b.carry_apr, params.exit_apr
        assert apr is not None
        plan.crossing(
            key,
            apr,
            params.losing(apr),
            apr >= floor + CARRY_REARM_APR,
            lambda: _carry_alert(key, b, floor),
        )


def _closed(plan: _Plan, report: RiskReport, read: set[str], frozen: set[str]) -> None:
    """Legs and books that closed (their venues read) re-arm their keys."""
    kept = {b.asset for b in report.books} | frozen  # book keys of open or unseen books
    for key in sorted(plan.states):
        if key.kind in ("liq_warn", "liq_crit"):
            asset, venue, _, _ = scope_parts(key.scope)
            if venue in read and asset not in frozen and not plan.active(RiskKey("leg", key.scope)):
                plan.rearm(key)
        elif key.kind in ("carry", "drift") and key.scope not in kept:
            plan.rearm(key)


def _account(plan: _Plan, a: AccountRisk) -> None:
    """An account read re-arms its key; one failing since `unreadable_s` ago alerts once."""
    key = RiskKey("unreadable", a.venue)
    old = plan.state(key)
    if a.error is None:
        if old is not None and old.active:
            plan.put(RiskState(key, False, plan.now, 0.0, old.last_sent_at))
        return
    since = old.since if old is not None and old.active else plan.now
    sent = None if old is None else old.last_sent_at
    down = plan.now - since
    told = sent is not None and sent >= since
    if down >= plan.params.unreadable_s and not told and plan.gap_ok(sent):
        plan.alerts.append(_unreadable_alert(key, a, since, down))
        sent = plan.now
    plan.put(RiskState(key, True, since, down, sent))


# --- what each alert says ----------------------------------------------------------------


def _liq_alert(key: RiskKey, level: Level, b: BookRisk, x: LegRisk, threshold: float) -> RiskAlert:
    p = x.position
    where = venue_label(p.venue)
    lines = [
        f"{p.asset} {p.side} on {where} is {x.liq_distance_pct:.1f}% from liquidation "
        f"(under {threshold:g}%).",
        f"{where} {p.symbol} {p.side} {coins(p.size)} {p.asset}: mark {price(p.mark_price)}, "
        f"liquidation {price(p.liquidation_price)}, {margin_words(p)}"
        + ("" if p.adl_rank is None else f", ADL rank {p.adl_rank}/5")
        + ".",
    ]
    others = [o for o in b.legs if o.position.side != p.side]
    if others:
        lines.append("Other side: " + "; ".join(_leg_words(o) for o in others) + ".")
        step = f"Add margin on {where} or cut both legs of {p.asset} by the same size."
    else:
        step = f"Add margin on {where} or reduce the {p.asset} {p.side} there."
    return RiskAlert(key, level, tuple(lines), step)


def _carry_alert(key: RiskKey, b: BookRisk, floor: float) -> RiskAlert:
    c = b.carry
    assert c is not None
    long, short = venue_label(c.long_venue), venue_label(c.short_venue)
    lines = (
        f"{b.asset} carry nets {apr_pct(b.carry_apr)} APR after the exit fees, under the exit "
        f"{apr_pct(floor)}: "
        f"long {long} / short {short}.",
        f"Funding now: long {long} {pct(c.long.rate)} per {interval(c.long.interval_h)}, "
        f"short {short} {pct(c.short.rate)} per {interval(c.short.interval_h)}; gross "
        f"{apr_pct(c.apr_gross)} APR, exit fees {pct(c.fees_round_trip / 2, 3)} over "
        f"{c.horizon_h:g} h.",
        f"Next settlement: {signed_usd(b.next_settlement_usd)} (the legs' next payments at "
        "today's rates).",
    )
    step = f"Close both legs of {b.asset} by the same size, unless you expect funding to turn."
    return RiskAlert(key, "warning", lines, step)


def _drift_alert(key: RiskKey, b: BookRisk, limit: float) -> RiskAlert:
    heavy = "long" if b.drift_coins > 0 else "short"
    light = "short" if heavy == "long" else "long"
    lines = [
        f"{b.asset} book drifts {b.drift_pct or 0.0:.1f}% of its larger side (max {limit:g}%): "
        f"net {heavy} {coins(abs(b.drift_coins))} {b.asset} ({signed_usd(b.drift_usd)}).",
        "Legs: " + "; ".join(_leg_words(x) for x in b.legs) + ".",
    ]
    extra = f"{coins(abs(b.drift_coins))} {b.asset}"
    heavy_at, light_at = _venues(b.legs, heavy), _venues(b.legs, light)
    if light_at:
        step = f"Cut {extra} from the {heavy} on {heavy_at} or add it to the {light} on {light_at}."
    else:
        step = f"Open the {light} leg of {b.asset} or close the {heavy} on {heavy_at}."
    return RiskAlert(key, "warning", tuple(lines), step)


def _gone_alert(key: RiskKey, b: BookRisk, last_size: float | None) -> RiskAlert:
    asset, venue, symbol, side = scope_parts(key.scope)
    where = venue_label(venue)
    net = "long" if b.drift_coins > 0 else "short"
    lines = (
        f"{asset} {side} on {where} ({symbol}) is gone: {coins(last_size)} {asset} at the last "
        "read.",
        "Still open: " + "; ".join(_leg_words(x) for x in b.legs) + ".",
        f"The book is now net {net} {coins(abs(b.drift_coins))} {asset} "
        f"({signed_usd(b.drift_usd)}).",
    )
    step = (
        f"Check {where} for a liquidation or ADL, then re-hedge or close the rest of {asset} "
        f"on {_venues(b.legs, None)}."
    )
    return RiskAlert(key, "critical", lines, step)


def _unreadable_alert(key: RiskKey, a: AccountRisk, since: float, down: float) -> RiskAlert:
    where = venue_label(a.venue)
    error = a.error or "unknown error"
    if len(error) > MAX_ERROR:
        error = error[: MAX_ERROR - 1] + "…"
    lines = (
        f"{where} account unreadable for {ago(down)}, since {utc(since)}: its legs are not "
        "watched.",
        f"Error: {error}",
    )
    step = f"Check {where}'s status and its API key; its positions go unwatched until it answers."
    return RiskAlert(key, "warning", lines, step)


def margin_words(p: Position) -> str:
    """'10x cross', '3x isolated', '10x' (mode not given), 'leverage not given'."""
    parts = [f"{p.leverage:g}x" if p.leverage is not None else None, p.margin_mode]
    shown = " ".join(x for x in parts if x)
    return shown or "leverage not given"


def _leg_words(x: LegRisk) -> str:
    """'short 0.5 BTC on B, 12.3% from liquidation'."""
    p = x.position
    text = f"{p.side} {coins(p.size)} {p.asset} on {venue_label(p.venue)}"
    if x.liq_distance_pct is not None:
        text += f", {x.liq_distance_pct:.1f}% from liquidation"
    return text


def _venues(legs: Iterable[LegRisk], side: str | None) -> str:
    """The labels of the venues holding `side` (every side: None), in the legs' order."""
    names = (x.position.venue for x in legs if side is None or x.position.side == side)
    return ", ".join(venue_label(v) for v in dict.fromkeys(names))
