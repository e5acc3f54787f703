"""The signaler without Telegram: rules, answer validation, the client, cost and cache.

The client tests talk to the local fake OpenAI-compatible server.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arb.depth import Book, Level, size_carry
from arb.models import Quote
from arb.signaler import (
    Facts,
    LlmClient,
    LlmConfig,
    LlmError,
    Prices,
    Signaler,
    Usage,
    cost_usd,
    rule_verdict,
)
from arb.signaler.answer import MAX_RATIONALE, AnswerError, clean, parse_answer
from arb.signaler.facts import facts_json
from arb.signaler.prompt import messages
from arb.spread import DEFAULT_TAKER_FEES, opportunity
from storage.db import Database
from storage.store import Store
from tests.fakes.llm import Behaviour, FakeLlm, good_answer

NOW = 1_789_015_942.967
SECRET = "sk-test-4f8a1c0e9b7d"
RANK = {"skip": 0, "watch": 1, "take": 2}


def quote(venue: str, rate: float, *, mark: float = 100.0, turnover: float | None = 1e9, **kw):
    fields = dict(
        venue=venue,
        asset="BTC",
        symbol=f"BTC-{venue}",
        rate=rate,
        interval_h=8.0,
        next_funding_time=None,
        mark_price=mark,
        turnover_24h=turnover,
        open_interest_value=None,
        received_at=NOW,
    )
    return Quote(**{**fields, **kw})


def facts(long_rate=-0.0001, short_rate=0.001, *, long_kw=None, short_kw=None) -> Facts:
    """Long binance, short bybit; fees 2 x (0.05% + 0.055%) = 0.21%, horizon 168 h."""
    long = quote("binance", long_rate, **(long_kw or {}))
    short = quote("bybit", short_rate, **(short_kw or {}))
    return Facts(opportunity(long, short, DEFAULT_TAKER_FEES, 168.0), NOW)


# --- rules ------------------------------------------------------------------------


def test_rules_take_a_strong_liquid_carry():
    # spread 0.1375%/h... per hour 0.0001375: net APR (0.0231 - 0.0021) / 168 * 8760 = 109.5%,
    # break-even 0.0021 / 0.0001375 = 15.3 h; confidence 60 + 35 * min(1, 0.945 / 0.85) = 95.
    v = rule_verdict(facts())
    assert (v.verdict, v.confidence) == ("take", 95)
    assert v.rationale == (
        "Net APR 109.5% after fees, break-even with the entry basis 15h, basis +0.0bp, both legs"
        " liquid."
    )


def test_rules_watch_a_slow_break_even():
    # short 0.04%/8h: spread 0.0000625/h, break-even 0.0021 / 0.0000625 = 33.6 h > 24 h.
    v = rule_verdict(facts(short_rate=0.0004))
    assert (v.verdict, v.confidence) == ("watch", 50)
    assert v.rationale == "Positive carry, but break-even with the entry basis 34h is over 24h."


def test_rules_count_an_adverse_basis_in_the_break_even():
    # short priced 50 bp under the long: (0.0021 + 0.005) / 0.0001375 = 51.6 h.
    f = facts(short_kw={"mark_price": 99.5})
    assert f.opportunity.basis_bps == pytest.approx(-50.0)
    v = rule_verdict(f)
    assert v.verdict == "watch"
    assert "break-even with the entry basis 52h is over 24h" in v.rationale
    assert "Entry basis costs 50.0bp." in v.risks


def test_rules_skip_when_fees_eat_the_carry():
    v = rule_verdict(facts(long_rate=0.0001, short_rate=0.00012))
    assert (v.verdict, v.confidence) == ("skip", 90)
    assert v.rationale.startswith("Round-trip fees outweigh the spread over the 168h horizon")


def test_rules_skip_a_thin_leg():
    v = rule_verdict(facts(short_kw={"turnover_24h": 500_000.0}))
    assert (v.verdict, v.confidence) == ("skip", 70)
    assert v.rationale.startswith("The bybit leg trades only $500K a day")


def test_rules_do_not_take_with_unknown_liquidity():
    v = rule_verdict(facts(long_kw={"turnover_24h": None}, short_kw={"turnover_24h": None}))
    assert v.verdict == "watch" and "liquidity" in v.rationale


def book(venue: str, depth_coins: float, half_spread: float = 0.01) -> Book:
    """Fifty levels a side around 100, 0.01 apart, `depth_coins` at each."""
    bids = tuple(Level(100 - half_spread - k * 0.01, depth_coins) for k in range(50))
    asks = tuple(Level(100 + half_spread + k * 0.01, depth_coins) for k in range(50))
    return Book(venue, f"BTC-{venue}", bids, asks, NOW)


def sized(f: Facts, depth_coins: float, notional: float = 10_000.0, **kw) -> Facts:
    """`f` with its carry sized on books holding `depth_coins` at each level."""
    o = f.opportunity
    s = size_carry(o, book("binance", depth_coins, **kw), book("bybit", depth_coins, **kw),
                   notional, 10.0)  # fmt: skip
    return replace(f, sized=s)


def test_rules_skip_a_carry_the_books_cannot_fill():
    # Fifty levels of 1 coin near $100: about $5,000 a side, half the $10,000 asked.
    f = sized(facts(), 1.0)
    assert f.sized is not None and not f.sized.complete
    v = rule_verdict(f)
    assert (v.verdict, v.confidence) == ("skip", 70)
    assert v.rationale == (
        f"The books fill only ${f.sized.fillable_usd:,.0f} of the $10,000 per leg asked."
    )


def test_rules_skip_a_carry_whose_slippage_eats_it():
    # Bids and asks 30 bp from the mid: entry and exit cost 120 bp, more than the 84 bp the
    # carry nets over 168 h after fees (0.0000625 x 168 - 0.0021).
    f = sized(facts(short_rate=0.0004), 1000.0, half_spread=0.3)
    assert f.sized is not None and f.sized.apr_net is not None and f.sized.apr_net <= 0
    v = rule_verdict(f)
    assert (v.verdict, v.confidence) == ("skip", 80)
    assert v.rationale.startswith("At $10,000 per leg, fees and slippage outweigh the spread")


def test_rules_do_not_take_a_carry_whose_capacity_is_under_the_notional():
    deep = rule_verdict(sized(facts(), 1000.0))
    assert deep.verdict == "take"  # $100,000 a level: capacity far above $10,000
    # 5 coins a level: the $10,000 fills within fifty levels, but a vwap within 10 bp
    # (100.10) reaches only the first nineteen: about $9,500 per leg.
    f = sized(facts(), 5.0)
    assert f.sized is not None and f.sized.complete
    assert f.sized.capacity_usd < 10_000.0
    v = rule_verdict(f)
    cap = f"${f.sized.capacity_usd:,.0f}"
    assert v.verdict == "watch"
    assert f"capacity {cap} per leg within 10bp is under the $10,000 notional" in v.rationale
    assert f"Depth: capacity {cap} per leg within 10bp is under the $10,000 notional." in v.risks


def test_the_model_is_told_the_carry_at_the_desks_notional():
    f = sized(facts(), 1000.0)
    s = f.sized
    assert s is not None
    got = facts_json(f, "take")
    assert got["notional_usd"] == 10_000.0 and got["book_fills_notional"] is True
    assert got["capacity_usd"] == round(s.capacity_usd)
    assert got["capacity_max_slippage_bps"] == 10.0
    assert got["apr_net_at_size_pct"] == float(f"{s.apr_net * 100:.4g}")
    assert got["entry_slippage_bps"] == float(f"{s.entry_slippage_bps:.4g}")
    assert got["breakeven_at_size_h"] == float(f"{s.breakeven_h:.4g}")
    assert "capacity_usd" not in facts_json(facts(), "take")  # no books, no sizing
    thin = facts_json(sized(facts(), 1.0), "skip")
    assert thin["book_fills_notional"] is False and thin["apr_net_at_size_pct"] is None
    # A different sizing is a different question for the model's cache.
    assert f.cache_key() != facts().cache_key() != sized(facts(), 1.0).cache_key()


rates = st.floats(min_value=-0.01, max_value=0.01, allow_nan=False)


@given(rates, rates, st.floats(min_value=0, max_value=0.01))
def test_rules_never_take_a_losing_carry_and_never_like_a_wider_spread_less(a, b, more):
    low, high = sorted((a, b))
    if high - low < 1e-9:
        return
    f = facts(low, high)
    v = rule_verdict(f)
    assert 0 <= v.confidence <= 100
    if f.opportunity.apr_net <= 0:
        assert v.verdict == "skip"
    wider = rule_verdict(facts(low, high + more))
    assert RANK[wider.verdict] >= RANK[v.verdict]


# --- the model's answer -------------------------------------------------------------


def answer(f: Facts, **override) -> str:
    return json.dumps(good_answer(facts_json(f, "take"), **override))


def test_a_valid_answer_is_taken():
    f = facts()
    v = parse_answer(answer(f, verdict="watch", confidence=40, risks=["a", " ", "b"]), f)
    assert (v.verdict, v.confidence, v.risks) == ("watch", 40, ("a", "b"))


def test_a_fenced_answer_and_venue_aliases_are_accepted():
    f = Facts(opportunity(quote("hyperliquid", 0.0), quote("bybit", 0.001), DEFAULT_TAKER_FEES,
                          168.0), NOW)  # fmt: skip
    text = "```json\n" + answer(f, long="HL", short="Bybit") + "\n```"
    assert parse_answer(text, f).verdict == "take"


@pytest.mark.parametrize(
    "text",
    [
        "Sure! Here is my analysis: take it.",
        '{"verdict": "take"',
        '{"verdict": "buy", "confidence": 50, "long": "binance", "short": "bybit",'
        ' "rationale": "x"}',
        '{"verdict": "take", "confidence": 150, "long": "binance", "short": "bybit",'
        ' "rationale": "x"}',
        '{"verdict": "take", "confidence": 50, "long": "binance", "short": "bybit",'
        ' "rationale": "   "}',
        "[]",
    ],
)
def test_an_answer_not_of_the_asked_shape_is_invalid(text):
    with pytest.raises(AnswerError) as e:
        parse_answer(text, facts())
    assert e.value.kind == "invalid"


def test_a_swapped_direction_contradicts_the_math():
    f = facts()
    with pytest.raises(AnswerError) as e:
        parse_answer(answer(f, long="bybit", short="binance"), f)
    assert e.value.kind == "contradiction"
    assert "long bybit / short binance" in e.value.reason


def test_take_on_a_losing_carry_contradicts_the_math():
    f = facts(long_rate=0.0001, short_rate=0.00012)
    with pytest.raises(AnswerError) as e:
        parse_answer(answer(f, verdict="take"), f)
    assert e.value.kind == "contradiction"


def test_long_texts_are_cut_cleanly_at_a_word():
    f = facts()
    v = parse_answer(answer(f, rationale="word " * 1000, risks=["x" * 500] * 9), f)
    assert len(v.rationale) <= MAX_RATIONALE and v.rationale.endswith("word…")
    assert len(v.risks) == 4 and all(len(r) <= 160 for r in v.risks)
    assert clean("a\x00b\nc\td", 100) == "a b c d"


# --- the prompt ------------------------------------------------------------------------


def test_the_prompt_carries_the_computed_figures():
    f = facts(long_kw={"next_funding_time": int(NOW * 1000) + 47 * 60_000})
    system, user = messages(f, rule_verdict(f))
    assert "only one JSON object" in system["content"]
    sent = json.loads(user["content"])
    assert sent["direction"] == {"long": "binance", "short": "bybit"}
    assert sent["long_leg"]["funding_rate_pct"] == -0.01
    assert sent["long_leg"]["interval_h"] == 8.0
    assert sent["long_leg"]["minutes_to_next_funding"] == 47
    assert sent["short_leg"]["rate_per_8h_pct"] == 0.1
    assert sent["spread_per_8h_pct"] == 0.11
    assert sent["apr_net_pct"] == 109.5
    assert sent["breakeven_h"] == 15.27
    assert sent["basis_bps"] == 0.0
    assert sent["rule_based_verdict"] == "take"
    assert "e-" not in user["content"]  # plain decimals only


# --- the client --------------------------------------------------------------------------


@pytest.fixture
async def llm():
    async with FakeLlm() as fake:
        yield fake


def client(fake: FakeLlm, **kw) -> LlmClient:
    waits: list[float] = []

    async def no_sleep(s: float) -> None:
        waits.append(s)

    c = LlmClient(LlmConfig(fake.base_url, "m-1", **{"api_key": SECRET, **kw}), sleep=no_sleep)
    c.waits = waits  # type: ignore[attr-defined]
    return c


async def test_client_sends_an_openai_request_and_reads_usage(llm):
    c = client(llm)
    try:
        done = await c.complete(messages(facts(), rule_verdict(facts())))
    finally:
        await c.close()
    (req,) = llm.requests
    assert req.headers["Authorization"] == f"Bearer {SECRET}"
    assert req.body["model"] == "m-1"
    assert req.body["response_format"] == {"type": "json_object"}
    assert [m["role"] for m in req.body["messages"]] == ["system", "user"]
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (1000, 200)
    assert json.loads(done.content)["verdict"] == "take"
    assert (done.model, done.attempts) == ("fake-model-1", 1)


async def test_client_without_a_key_sends_no_authorization(llm):
    c = client(llm, api_key=None)
    try:
        await c.complete([{"role": "user", "content": json.dumps(facts_json(facts(), "take"))}])
    finally:
        await c.close()
    assert "Authorization" not in llm.requests[0].headers


async def test_client_drops_json_mode_for_an_endpoint_that_rejects_it(llm):
    def picky(req):
        if "response_format" in req.body:
            refusal = {"error": {"message": "unknown field response_format"}}
            return Behaviour(status=400, raw=json.dumps(refusal))
        return Behaviour()

    llm.then(picky, picky, picky)
    c = client(llm)
    try:
        first = await c.complete(messages(facts(), rule_verdict(facts())))
        second = await c.complete(messages(facts(), rule_verdict(facts())))
    finally:
        await c.close()
    assert ["response_format" in r.body for r in llm.requests] == [True, False, False]
    assert json.loads(first.content)["verdict"] == json.loads(second.content)["verdict"] == "take"


async def test_client_retries_a_500_once(llm):
    llm.then(Behaviour(status=500))
    c = client(llm)
    try:
        done = await c.complete(messages(facts(), rule_verdict(facts())))
    finally:
        await c.close()
    assert done.attempts == 2 and len(llm.requests) == 2
    assert len(c.waits) == 1 and 0.5 <= c.waits[0] <= 0.75  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("behaviours", "kind", "reason", "requests"),
    [
        ([Behaviour(status=500)] * 2, "server", "the model endpoint failed (HTTP 500)", 2),
        ([Behaviour(status=502)] * 2, "server", "the model endpoint failed (HTTP 502)", 2),
        ([Behaviour(status=401)], "auth", "the model endpoint refused the API key (HTTP 401)", 1),
        ([Behaviour(status=400)], "rejected", "the model endpoint rejected the request (HTTP 400)",
         1),
        ([Behaviour(status=429, headers={"Retry-After": "120"})], "rate_limited",
         "the model endpoint is rate limiting us (HTTP 429)", 1),
        ([Behaviour(raw="<html>502 Bad Gateway</html>")], "bad_reply",
         "the model endpoint sent a reply that is not a chat completion", 1),
    ],
)  # fmt: skip
async def test_client_failures_are_typed_and_carry_no_secret(llm, behaviours, kind, reason,
                                                              requests):  # fmt: skip
    llm.then(*behaviours)
    c = client(llm)
    with pytest.raises(LlmError) as e:
        try:
            await c.complete(messages(facts(), rule_verdict(facts())))
        finally:
            await c.close()
    assert (e.value.kind, str(e.value)) == (kind, reason)
    assert len(llm.requests) == requests
    assert SECRET not in repr(e.value) and "sk-" not in str(e.value)


async def test_client_abandons_a_reply_over_its_size_cap(llm):
    llm.then(Behaviour(raw="x" * 5000))
    c = client(llm, max_reply_bytes=4096)
    with pytest.raises(LlmError) as e:
        try:
            await c.complete(messages(facts(), rule_verdict(facts())))
        finally:
            await c.close()
    assert (e.value.kind, str(e.value)) == (
        "bad_reply",
        "the model endpoint sent a reply larger than 4 KiB",
    )
    assert len(llm.requests) == 1  # not retried: it would be as large again


async def test_client_waits_out_a_short_retry_after(llm):
    llm.then(Behaviour(status=429, headers={"Retry-After": "1"}))
    c = client(llm)
    try:
        await c.complete(messages(facts(), rule_verdict(facts())))
    finally:
        await c.close()
    assert c.waits == [1.0] and len(llm.requests) == 2  # type: ignore[attr-defined]


async def test_client_gives_up_at_its_time_budget(llm):
    llm.then(Behaviour(hang=True))
    c = client(llm, timeout_s=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(LlmError) as e:
        try:
            await c.complete(messages(facts(), rule_verdict(facts())))
        finally:
            await c.close()
    assert e.value.kind == "timeout"
    assert str(e.value) == "the model did not answer within 0.3 s"
    assert loop.time() - started < 2.0


async def test_client_names_an_unreachable_endpoint():
    c = LlmClient(LlmConfig("http://127.0.0.1:9/v1", "m", attempts=1))
    with pytest.raises(LlmError) as e:
        try:
            await c.complete([{"role": "user", "content": "{}"}])
        finally:
            await c.close()
    assert e.value.kind == "unreachable"


# --- the signaler: fallback, cache, cost -------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.calls: list = []

    async def __call__(self, call) -> None:
        self.calls.append(call)


def test_cost_is_tokens_times_price_per_million():
    assert cost_usd(Usage(1000, 200), Prices(0.27, 1.10)) == pytest.approx(0.00049)
    assert cost_usd(Usage(1_000_000, 0), Prices(2.5, 10.0)) == pytest.approx(2.5)
    assert cost_usd(Usage(0, 0), Prices(2.5, 10.0)) == 0.0


@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), max_size=20))
def test_cost_of_calls_adds_up_to_the_cost_of_their_tokens(calls):
    prices = Prices(0.27, 1.10)
    total = sum(cost_usd(Usage(p, c), prices) for p, c in calls)
    summed = Usage(sum(p for p, _ in calls), sum(c for _, c in calls))
    assert total == pytest.approx(cost_usd(summed, prices), rel=1e-9, abs=1e-12)


async def test_without_a_model_the_rules_answer_and_say_so():
    s = await Signaler(None).signal(facts())
    assert (s.source, s.verdict.verdict) == ("rules", "take")
    assert s.fallback == "no model is configured (LLM_BASE_URL, LLM_MODEL)"


async def test_signal_records_cost_and_reuses_the_answer(llm):
    record, clock = Recorder(), [NOW]
    sig = Signaler(client(llm), prices=Prices(0.27, 1.10), cache_s=300, record=record,
                   clock=lambda: clock[0])  # fmt: skip
    try:
        first = await sig.signal(facts(), chat_id=7)
        again = await sig.signal(facts(short_rate=0.00100001))  # same rounded figures
        clock[0] += 301
        later = await sig.signal(facts())
    finally:
        await sig.close()
    assert (first.source, first.cached, again.cached, later.cached) == ("model", False, True, False)
    assert first.model == "fake-model-1" and first.verdict.confidence == 64
    assert len(llm.requests) == 2 and sig.cache_hits == 1
    assert [(c.outcome, c.prompt_tokens, c.completion_tokens, c.chat_id) for c in record.calls] == [
        ("ok", 1000, 200, 7), ("ok", 1000, 200, None),
    ]  # fmt: skip
    assert record.calls[0].cost_usd == pytest.approx(0.00049)


async def test_concurrent_asks_share_one_model_call(llm):
    sig = Signaler(client(llm))
    try:
        a, b = await asyncio.gather(sig.signal(facts()), sig.signal(facts()))
    finally:
        await sig.close()
    assert len(llm.requests) == 1 and a.verdict == b.verdict


async def test_a_refused_answer_falls_back_but_its_tokens_are_counted(llm):
    record = Recorder()
    llm.answer("not json at all")
    sig = Signaler(client(llm), prices=Prices(1.0, 1.0), record=record)
    try:
        s = await sig.signal(facts())
    finally:
        await sig.close()
    assert (s.source, s.fallback) == ("rules", "the model's answer was not the JSON asked for")
    (call,) = record.calls
    assert (call.outcome, call.prompt_tokens, call.cost_usd) == ("invalid", 1000, 0.0012)


async def test_a_failed_call_is_recorded_without_tokens_and_not_cached(llm):
    record = Recorder()
    llm.then(Behaviour(status=401))
    sig = Signaler(client(llm), record=record)
    try:
        s = await sig.signal(facts())
        again = await sig.signal(facts())
    finally:
        await sig.close()
    assert s.source == "rules" and "API key" in (s.fallback or "")
    assert again.source == "model"  # the error was not cached
    assert [(c.outcome, c.prompt_tokens) for c in record.calls] == [("auth", 0), ("ok", 1000)]


# --- storage ----------------------------------------------------------------------------


async def test_usage_totals_by_window(tmp_path):
    from arb.signaler import LlmCall

    db = await Database.open(str(tmp_path / "u.db"))
    store = Store(db)
    try:
        for at, outcome, p, c, cost in [
            (NOW - 31 * 86400, "ok", 5000, 500, 0.5),  # outside 30 days
            (NOW - 2 * 86400, "ok", 1000, 200, 0.00049),
            (NOW - 60, "ok", 1000, 200, 0.00049),
            (NOW - 30, "timeout", 0, 0, 0.0),
        ]:
            await store.record_llm_call(LlmCall(at, "BTC", "m", outcome, p, c, cost, 0.1))
        day = await store.llm_usage(since=NOW - 3600)
        month = await store.llm_usage(since=NOW - 30 * 86400)
    finally:
        await db.close()
    assert (day.calls, day.failed, day.prompt_tokens, day.completion_tokens) == (2, 1, 1000, 200)
    assert (month.calls, month.failed, month.tokens) == (3, 1, 2400)
    assert month.cost_usd == pytest.approx(0.00098)
