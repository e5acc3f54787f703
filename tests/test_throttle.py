"""Command spam: one "Slow down", then silence until the sender pauses, then normal again."""

from __future__ import annotations

import pytest
from telegram import Update

from bot.access import is_command
from bot.throttle import QUIET_S, SLOW_DOWN, SPAM_LIMIT, SPAM_WINDOW_S, Throttle, Verdict
from tests.bot_harness import running_bot
from tests.fakes.telegram import BOT_USERNAME, FakeTelegram


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_sixth_command_in_five_seconds_gets_one_warning_then_silence() -> None:
    clock = Clock()
    throttle = Throttle(clock=clock)
    verdicts = []
    for n in range(SPAM_LIMIT + 3):
        clock.now += 0.5 if n else 0.0
        verdicts.append(throttle.check("alice"))
    answer, warn, drop = Verdict.ANSWER, Verdict.WARN, Verdict.DROP
    assert verdicts == [answer] * SPAM_LIMIT + [warn, drop, drop]
    assert throttle.check("bob") is answer  # someone else is not held up
    clock.now += QUIET_S - 0.1  # not quiet for long enough: silence goes on ...
    assert throttle.check("alice") is drop and throttle.throttled("alice")
    clock.now += QUIET_S  # ... and each ignored command starts the quiet time again
    assert not throttle.throttled("alice")
    assert [throttle.check("alice") for _ in range(SPAM_LIMIT)] == [answer] * SPAM_LIMIT


def test_a_steady_person_is_never_throttled() -> None:
    clock = Clock()
    throttle = Throttle(clock=clock)
    for _ in range(200):
        assert throttle.check(("chat", "user")) is Verdict.ANSWER
        clock.now += SPAM_WINDOW_S / SPAM_LIMIT  # exactly the limit, for ever


def test_quiet_senders_are_forgotten() -> None:
    clock = Clock()
    throttle = Throttle(clock=clock)
    for key in range(3000):
        throttle.check(key)
    clock.now += SPAM_WINDOW_S + QUIET_S
    for key in range(3000, 4100):  # enough new ones to reach the next sweep
        throttle.check(key)
    assert len(throttle._states) < 1200


@pytest.mark.parametrize(
    ("text", "chat_type", "counts"),
    [
        ("/funding BTC", "private", True),
        ("hello", "private", True),  # answered with a hint, so it counts
        ("/funding BTC", "supergroup", True),
        (f"/funding@{BOT_USERNAME} BTC", "supergroup", True),
        ("/funding@other_bot BTC", "supergroup", False),
        ("hello everyone", "supergroup", False),
        ("see /funding", "supergroup", False),
    ],
)
def test_what_counts_as_a_command(text: str, chat_type: str, counts: bool) -> None:
    tg = FakeTelegram()
    chat_id = 1001 if chat_type == "private" else -100777
    update = Update.de_json(tg.user_message(text, chat_id=chat_id, chat_type=chat_type), None)
    assert is_command(update, BOT_USERNAME) is counts


async def test_a_spammer_gets_one_slow_down_then_nothing_then_answers(venues) -> None:
    async with (
        FakeTelegram() as tg,
        running_bot(venues, tg, telegram_pacing=True, ARB_SCAN_INTERVAL_S="3600") as bot,
    ):
        tg.flood_control = True
        clock = Clock()
        bot.desk.throttle = Throttle(limit=2, clock=clock)
        chat = 6001
        scan = await bot.ask("/scan 2", chat_id=chat)
        await bot.ask("/status", chat_id=chat)
        slow = await bot.ask("/funding BTC", chat_id=chat)  # the third: too many
        assert slow.text == SLOW_DOWN
        mark = len(tg.calls)
        tg.user_message("/funding BTC", chat_id=chat)
        tg.user_message("hello?", chat_id=chat)
        press = tg.user_callback(scan, "s:2:")
        answer = await tg.wait_for_call("answerCallbackQuery", after_calls=mark)
        assert answer.params == {"callback_query_id": press["callback_query"]["id"]}  # no toast
        assert [m.text for m in bot.to_chat(chat)][2:] == [SLOW_DOWN]  # nothing else
        assert tg.edits == []  # the press was not acted on
        other = await bot.ask("/help", chat_id=6002)  # another person is answered meanwhile
        assert other.text.startswith("<b>Funding carry desk</b>")

        clock.now += QUIET_S
        again = await bot.ask("/help", chat_id=chat)
        assert again.text.startswith("<b>Funding carry desk</b>")
        assert len(bot.to_chat(chat)) == 4
        assert [f for f in tg.failures if f.status == 429] == []


async def test_a_button_press_that_tips_it_over_gets_the_warning_as_a_toast(venues) -> None:
    async with FakeTelegram() as tg, running_bot(venues, tg, ARB_SCAN_INTERVAL_S="3600") as bot:
        bot.desk.throttle = Throttle(limit=1, clock=Clock())
        scan = await bot.ask("/scan 2", chat_id=6003)
        tg.user_callback(scan, "s:2:")
        answer = await tg.wait_for_call("answerCallbackQuery")
        assert answer.params["text"] == SLOW_DOWN
        assert len(bot.to_chat(6003)) == 1 and tg.edits == []
