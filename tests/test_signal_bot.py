"""`/signal`, `/usage` and alert notes end to end: the real PTB client against the fake
Bot API, the fake venues and the fake OpenAI-compatible server.

The desk market's APE carry (tests/conftest.py): long hl 0.00125%/1h, short bybit
0.031%/1h; spread 0.2380%/8h, APR 260.6%, net 250.2% over 168 h, break-even
0.002 / 0.0002975 = 6.7 h, basis (0.13791 - 0.13799) / 0.13799 = -5.8 bp; both legs
$50M a day. The rules call it a take: 60 + 35 x min(1, (2.502 - 0.15) / 0.85) = 95.
"""

from __future__ import annotations

import json

import pytest

from tests.bot_harness import running_bot
from tests.fakes.llm import Behaviour, FakeLlm, good_answer

SECRET = "sk-live-5e1f0c2b9a8d7e6f"
ADMIN, USER = 5, 6
RULES_TAKE = "🟢 <b>TAKE</b> · confidence 95/100"


@pytest.fixture
async def llm():
    async with FakeLlm() as fake:
        yield fake


def llm_env(llm: FakeLlm, **extra: str) -> dict[str, str]:
    return {
        "LLM_BASE_URL": llm.base_url,
        "LLM_MODEL": "deepseek-chat",
        "LLM_API_KEY": SECRET,
        "LLM_TIMEOUT_S": "2",
        "LLM_PRICE_IN_PER_M": "0.27",
        "LLM_PRICE_OUT_PER_M": "1.10",
        "ARB_SCAN_INTERVAL_S": "3600",
        "ARB_ADMINS": str(ADMIN),
        **extra,
    }


@pytest.fixture
async def bot(venues, llm):
    async with running_bot(venues, **llm_env(llm)) as b:
        yield b


def assert_no_secret(b) -> None:
    for m in b.tg.sent:
        assert SECRET not in (m.text or "") and "sk-" not in (m.text or "")


async def test_signal_shows_figures_then_the_models_verdict(bot, llm):
    mark = len(bot.tg.calls)
    reply = await bot.ask("/signal ape")
    text = reply.text
    assert text.startswith("📡 <b>APE signal</b>")
    assert "long hl 0.0013%/1h · short bybit 0.0310%/1h" in text
    assert "0.2380%/8h · APR 260.6% · net 250.2% (168h)" in text
    assert "Break-even 6.7h · basis -5.8bp" in text
    assert "🟢 <b>TAKE</b> · confidence 64/100" in text
    assert "The APE carry nets 250.2% APR after fees." in text
    assert "• Funding can flip at the next settlement." in text
    assert text.endswith(
        "<i>Written by fake-model-1 from the figures above, which the bot computed.</i>"
    )
    # "typing" was shown in that chat before the reply
    calls = [c.method for c in bot.tg.calls[mark:]]
    assert "sendChatAction" in calls
    assert calls.index("sendChatAction") < calls.index("sendMessage")
    (req,) = llm.requests
    assert req.facts["asset"] == "APE" and req.facts["apr_net_pct"] == 250.2
    assert req.facts["short_leg"]["interval_h"] == 1.0
    # The start-up scan stored the hour in progress: the pair's record so far goes along.
    record = req.facts["recent_history_of_this_pair"]
    assert [h["window_h"] for h in record] == [24.0, 168.0]
    assert {h["avg_spread_per_8h_pct"] for h in record} == {0.238}
    assert 0 <= record[0]["hours_with_data"] <= 1.0
    assert req.headers["Authorization"] == f"Bearer {SECRET}"


@pytest.mark.parametrize(
    ("behaviours", "why"),
    [
        ([Behaviour(content="I think you should take it!")],
         "Rule-based verdict: the model's answer was not the JSON asked for."),
        ([Behaviour(status=500)] * 2, "Rule-based verdict: the model endpoint failed (HTTP 500)."),
        ([Behaviour(status=401)],
         "Rule-based verdict: the model endpoint refused the API key (HTTP 401)."),
        ([Behaviour(status=429, headers={"Retry-After": "30"})],
         "Rule-based verdict: the model endpoint is rate limiting us (HTTP 429)."),
        ([Behaviour(hang=True)], "Rule-based verdict: the model did not answer within 2 s."),
    ],
)  # fmt: skip
async def test_a_failing_model_gives_the_rules_verdict_and_says_why(
    bot, llm, behaviours, why, caplog
):
    llm.then(*behaviours)
    reply = await bot.ask("/signal APE")
    assert RULES_TAKE in reply.text
    # (0.002 fees + 0.00058 adverse basis) / 0.0002975 per hour = 8.7 h
    assert "Net APR 250.2% after fees, break-even with the entry basis 8.7h" in reply.text
    assert reply.text.endswith(f"<i>{why}</i>")
    assert "Traceback" not in reply.text
    assert_no_secret(bot)
    assert caplog.records and SECRET not in caplog.text


async def test_a_contradicting_direction_falls_back_to_the_rules(bot, llm):
    llm.answer(lambda req: good_answer(req.facts, long="bybit", short="hyperliquid"))
    reply = await bot.ask("/signal APE")
    assert RULES_TAKE in reply.text
    assert (
        "Rule-based verdict: the model's direction (long bybit / short hyperliquid) "
        "contradicted the computed one." in reply.text
    )


async def test_markup_and_script_from_the_model_are_shown_as_text(bot, llm):
    evil = '<script>alert("x")</script> <b>buy</b> & <a href="http://x">now</a>'
    llm.answer(lambda req: good_answer(req.facts, rationale=evil, risks=["<i>none</i>"]))
    reply = await bot.ask("/signal APE")
    assert '&lt;script&gt;alert("x")&lt;/script&gt; &lt;b&gt;buy&lt;/b&gt; &amp;' in reply.text
    assert "• &lt;i&gt;none&lt;/i&gt;" in reply.text
    assert '<script>alert("x")</script>' in reply.plain  # shown, not interpreted
    assert all(e["type"] in ("bold", "italic") for e in reply.entities)


async def test_a_5000_character_answer_is_cut_cleanly(bot, llm):
    long = "This carry looks durable because funding has been persistent. " * 90
    assert len(long) > 5000
    llm.answer(lambda req: good_answer(req.facts, rationale=long, risks=[long] * 5))
    reply = await bot.ask("/signal APE")
    lines = reply.text.split("\n")
    rationale = lines[lines.index("🟢 <b>TAKE</b> · confidence 64/100") + 1]
    assert len(rationale) <= 400 and rationale.endswith("…")
    assert long.startswith(rationale[:-1]) and long[len(rationale) - 1] == " "  # at a word
    assert len(reply.text) < 1800  # one tidy message, not a wall


async def test_no_model_configured_uses_the_rules(venues):
    async with running_bot(venues, ARB_SCAN_INTERVAL_S="3600") as b:
        reply = await b.ask("/signal APE")
    assert RULES_TAKE in reply.text
    assert reply.text.endswith(
        "<i>Rule-based verdict: no model is configured (LLM_BASE_URL, LLM_MODEL).</i>"
    )


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("/signal", "Usage: /signal ASSET, e.g. /signal BTC"),
        ("/signal BTC ETH", "Usage: /signal ASSET, e.g. /signal BTC"),
        ("/signal <b>!!", "“&lt;b&gt;!!” is not an asset name. Try /signal BTC"),
        (
            "/signal DOGE",
            "No fresh cross-venue carry for DOGE passes the filters right now, so there is "
            "nothing to judge. /funding DOGE shows its rates.",
        ),
    ],
)
async def test_bad_signal_requests_get_a_short_answer_and_no_model_call(bot, llm, text, answer):
    reply = await bot.ask(text)
    assert reply.text == answer
    assert llm.requests == []


async def test_usage_adds_up_for_admins_only(bot, llm):
    await bot.ask("/signal APE")
    await bot.ask("/signal APE")  # same figures: from the cache, no call
    await bot.ask("/signal SOPH")
    llm.then(Behaviour(status=401))
    await bot.ask("/signal LDO")
    assert len(llm.requests) == 3
    refused = await bot.ask("/usage", user_id=USER)
    assert refused.text == "Only the desk's admins (ARB_ADMINS) can see this."
    reply = await bot.ask("/usage", user_id=ADMIN)
    # 2 answered calls x (1000 x $0.27 + 200 x $1.10) / 1M = $0.00098; the 401 costs nothing.
    assert reply.plain.split("\n") == [
        "Model usage · deepseek-chat",
        "          calls failed tok in tok out     cost",
        "today UTC     3      1  2,000     400 $0.00098",
        "30 days       3      1  2,000     400 $0.00098",
        "Priced at $0.27 in / $1.10 out per million tokens.",
        "Answers reused from the cache since start: 1.",
    ]
    rows = await bot.desk.store.db.fetchall("SELECT * FROM llm_calls ORDER BY id")
    assert [(r["asset"], r["outcome"], r["cost_usd"]) for r in rows] == [
        ("APE", "ok", pytest.approx(0.00049)),
        ("SOPH", "ok", pytest.approx(0.00049)),
        ("LDO", "auth", 0.0),
    ]
    assert SECRET not in json.dumps([dict(r) for r in rows])


async def test_alert_goes_out_first_and_the_note_is_edited_in(venues, llm):
    llm.then(Behaviour(hang=True))  # the first note waits until released
    env = llm_env(llm, LLM_ALERT_NOTES="1")
    async with running_bot(venues, tg=None, **env) as b:
        await b.ask("/subscribe 0.2% APE")
        before = len(b.tg.sent)
        report = await b.cycle()
        assert report.sent == 1
        (alert,) = b.to_chat(1001)[-1:]
        assert b.tg.sent.index(alert) >= before and "🤖" not in alert.text
        sent_text, sent_buttons = alert.text, alert.buttons  # edits update `alert` in place
        await llm.wait_requests(1)
        assert b.tg.edits == []  # the model is still thinking; the alert is out
        llm.release.set()
        edited = await b.tg.wait_for_edit(lambda m: m.message_id == alert.message_id)
    # The hung request failed (503 after release) and was retried once: the retry answered.
    assert edited.text == (
        sent_text + "\n\n🤖 <b>APE</b> take (64): The APE carry nets 250.2% APR after fees."
    )
    assert edited.buttons == sent_buttons
