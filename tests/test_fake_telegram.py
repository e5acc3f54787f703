"""The fake Bot API checked through the real python-telegram-bot client, so that tests built on
it can trust that what passes here would pass against Telegram."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    ChatMemberAdministrator,
    ChatMemberBanned,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    ChatMemberRestricted,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import Application, BaseHandler, CallbackQueryHandler, CommandHandler

from tests.fakes.telegram import (
    BOT_ID,
    BOT_USERNAME,
    FakeTelegram,
    FloodControl,
    SentMessage,
    Upload,
    check_html,
    parse_html,
    utf16_len,
)

HTML = ParseMode.HTML


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url) as client:
        yield client


@contextlib.asynccontextmanager
async def polling_app(tg: FakeTelegram, *handlers: BaseHandler) -> AsyncIterator[Application]:
    """A real Application long-polling the fake (a 10 s poll, so a prompt reply proves that
    getUpdates wakes up on a new update)."""
    app = (
        Application.builder()
        .token(tg.token)
        .base_url(tg.base_url)
        .base_file_url(tg.base_file_url)
        .build()
    )
    for handler in handlers:
        app.add_handler(handler)
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=10)
        await tg.wait_for_call("getUpdates")
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d.upper(), callback_data=d) for d in data]])


async def post(tg: FakeTelegram, method: str, token: str | None = None, **kw) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(f"{tg.base_url}{token or tg.token}/{method}", **kw)


# --------------------------------------------------------------------------- identity


async def test_get_me_through_the_real_bot(tg: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (BOT_ID, BOT_USERNAME, True)
    assert me.can_join_groups and not me.can_read_all_group_messages
    assert not me.supports_inline_queries
    assert bot.username == BOT_USERNAME  # initialize() called getMe too
    assert [call.method for call in tg.calls] == ["getMe", "getMe"]


async def test_wrong_token_and_unknown_method(tg: FakeTelegram, bot: Bot) -> None:
    stranger = Bot("999:wrong", base_url=tg.base_url)
    with pytest.raises(InvalidToken, match="rejected by the server"):
        await stranger.initialize()  # its getMe was answered 401
    await stranger.shutdown()
    assert tg.failures[-1].status == 401
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendTelepathy")

    missing = await post(tg, "sendTelepathy")
    assert missing.status_code == 404
    assert missing.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    refused = await post(tg, "getMe", token="999:wrong")
    assert refused.status_code == 401
    assert refused.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


# --------------------------------------------------------------------------- sending


async def test_send_message_records_and_returns_the_parsed_message(
    tg: FakeTelegram, bot: Bot
) -> None:
    text = '<b>APE</b> &amp; <a href="https://example.com/?a=1&amp;b=2">chart</a>'
    message = await bot.send_message(1001, text, parse_mode=HTML, reply_markup=keyboard("go"))
    assert message.text == "APE & chart"
    assert [(e.type, e.offset, e.length) for e in message.entities] == [
        ("bold", 0, 3),
        ("text_link", 6, 5),
    ]
    assert message.entities[1].url == "https://example.com/?a=1&b=2"
    assert message.reply_markup == keyboard("go")
    assert message.from_user.id == BOT_ID and message.chat.type == "private"

    sent = tg.sent[0]
    assert (sent.method, sent.chat_id, sent.message_id) == ("sendMessage", 1001, 1)
    assert sent.text == text and sent.plain == "APE & chart" and sent.parse_mode == "HTML"
    assert sent.reply_markup == {"inline_keyboard": [[{"text": "GO", "callback_data": "go"}]]}

    await bot.send_message(1001, "second")
    await bot.send_message(-100777, "elsewhere", message_thread_id=42)
    assert [(m.chat_id, m.message_id) for m in tg.sent] == [(1001, 1), (1001, 2), (-100777, 1)]
    assert tg.sent[2].message_thread_id == 42 and tg.sent[1].parse_mode is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("line<br>break", 'Unsupported start tag "br" at byte offset 4'),
        ("fish & chips", 'Character "&" must be escaped as "&amp;" at byte offset 5'),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
    ],
)
async def test_invalid_html_is_refused_and_not_stored(
    tg: FakeTelegram, bot: Bot, text: str, reason: str
) -> None:
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(1001, text, parse_mode=HTML)
    assert tg.failures[-1].description == f"Bad Request: can't parse entities: {reason}"
    assert tg.sent == []
    await bot.send_message(1001, text)  # the same text without a parse mode is fine


async def test_length_limit_counts_utf16_units_after_parsing(tg: FakeTelegram, bot: Bot) -> None:
    await bot.send_message(1001, "😀" * 2048)  # 2048 characters, 4096 UTF-16 units
    await bot.send_message(1001, "<b>" + "a" * 4096 + "</b>", parse_mode=HTML)
    await bot.send_message(1001, "&amp;" * 4096, parse_mode=HTML)
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(1001, "😀" * 2048 + "!")
    assert tg.failures[-1].description == "Bad Request: message is too long"
    for empty in ("   ", "<b> </b>"):
        with pytest.raises(BadRequest, match="Message text is empty"):
            await bot.send_message(1001, empty, parse_mode=HTML)
    assert len(tg.sent) == 3


async def test_callback_data_must_be_1_to_64_bytes(tg: FakeTelegram, bot: Bot) -> None:
    await bot.send_message(1001, "ok", reply_markup=keyboard("x" * 64))
    for data in ("x" * 65, "é" * 33):  # 66 bytes in 33 characters
        with pytest.raises(BadRequest, match="Button_data_invalid"):
            await bot.send_message(1001, "no", reply_markup=keyboard(data))
    assert tg.failures[-1].description == "Bad Request: BUTTON_DATA_INVALID"
    assert len(tg.sent) == 1


async def test_send_photo_is_multipart_with_a_checked_caption(tg: FakeTelegram, bot: Bot) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(5000)
    message = await bot.send_photo(1001, png, caption="<b>chart</b>", parse_mode=HTML)
    assert message.caption == "chart" and message.caption_entities[0].type == "bold"
    assert message.photo[-1].file_size == len(png)
    sent = tg.sent[0]
    assert (sent.method, sent.caption, sent.photo_size) == ("sendPhoto", "<b>chart</b>", len(png))
    assert isinstance(tg.calls[-1].params["photo"], Upload)
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_photo(1001, png, caption="x" * 1025)


# --------------------------------------------------------------------------- editing


async def test_edits_and_message_not_modified(tg: FakeTelegram, bot: Bot) -> None:
    first = await bot.send_message(1001, "<b>Top</b>", parse_mode=HTML, reply_markup=keyboard("r"))
    same = {"chat_id": 1001, "message_id": first.message_id, "parse_mode": HTML}
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("<b>Top</b>", reply_markup=keyboard("r"), **same)
    with pytest.raises(BadRequest, match="Message is not modified"):  # same text and entities
        await bot.edit_message_text("<strong>Top</strong>", reply_markup=keyboard("r"), **same)
    assert tg.failures[-1].description.startswith("Bad Request: message is not modified: ")

    edited = await bot.edit_message_text("<b>Top 2</b>", reply_markup=keyboard("r"), **same)
    assert edited.text == "Top 2" and edited.edit_date is not None
    assert tg.sent[0].text == "<b>Top 2</b>" and len(tg.sent) == 1
    assert [(e.method, e.message_id, e.text) for e in tg.edits] == [
        ("editMessageText", first.message_id, "<b>Top 2</b>")
    ]

    bare = await bot.edit_message_text("<b>Top 3</b>", **same)  # no markup: keyboard goes
    assert bare.reply_markup is None and tg.sent[0].reply_markup is None
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_reply_markup(1001, first.message_id, reply_markup=None)
    await bot.edit_message_reply_markup(1001, first.message_id, reply_markup=keyboard("x"))
    assert tg.edits[-1].method == "editMessageReplyMarkup" and tg.sent[0].buttons[0]["text"] == "X"
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("gone", 1001, 99)


# --------------------------------------------------------------------------- updates


async def test_an_application_polls_and_answers_commands(tg: FakeTelegram) -> None:
    async def start(update: Update, context) -> None:
        await update.effective_message.reply_text(f"<b>hi {update.effective_user.first_name}</b>")

    async with polling_app(tg, CommandHandler("start", start)):
        asked = time.monotonic()
        tg.user_message("/start")
        reply = await tg.wait_for(lambda m: m.chat_id == 1001)
        assert time.monotonic() - asked < 1.0  # the 10 s long poll returned at once
        assert reply.text == "<b>hi Alice</b>"

        group = {"chat_id": -100777, "chat_type": "supergroup", "is_forum": True}
        mark = len(tg.sent)
        question = tg.user_message("/start@arb_test_bot now", thread_id=42, user_id=5, **group)
        ignored = tg.user_message("/start@other_bot", **group)["update_id"]
        in_topic = await tg.wait_for(lambda m: m.chat_id == -100777, after=mark)
        assert in_topic.message_thread_id == 42
        assert in_topic.reply_to_message_id == question["message"]["message_id"]
        await tg.wait_for_call("getUpdates", predicate=lambda p: p.get("offset", 0) > ignored)
    assert [m.chat_id for m in tg.sent] == [1001, -100777]
    assert tg.pending_updates == []  # the updater confirmed everything on stop


async def test_callback_queries_reach_handlers_with_the_current_message(tg: FakeTelegram) -> None:
    async def pressed(update: Update, context) -> None:
        query = update.callback_query
        await query.answer(f"got {query.data}")
        await query.edit_message_text(f"<i>{query.data}</i> from {query.message.text}", "HTML")

    async with polling_app(tg, CallbackQueryHandler(pressed)) as app:
        await app.bot.send_message(1001, "menu", reply_markup=keyboard("go", "stop"))
        menu = tg.sent[0]
        with pytest.raises(ValueError, match="no button 'nope'"):
            tg.user_callback(menu, "nope")
        update = tg.user_callback(menu, "go")
        answer = await tg.wait_for_call("answerCallbackQuery")
        assert answer.params["callback_query_id"] == update["callback_query"]["id"]
        assert answer.params["text"] == "got go"
        edit = await tg.wait_for_edit(lambda e: e.message_id == menu.message_id)
        assert edit.text == "<i>go</i> from menu" and menu.plain == "go from menu"
        with pytest.raises(ValueError, match="no button 'go'"):  # the edit removed the keyboard
            tg.user_callback(menu, "go")
        with pytest.raises(BadRequest, match="Query is too old"):
            await app.bot.answer_callback_query("unknown-id")


async def test_long_poll_wakes_confirms_times_out_and_stops(tg: FakeTelegram, bot: Bot) -> None:
    waiting = asyncio.create_task(bot.get_updates(timeout=10))
    await tg.wait_for_call("getUpdates")
    asked = time.monotonic()
    tg.user_message("hello")
    updates = await asyncio.wait_for(waiting, 2)
    assert time.monotonic() - asked < 1.0
    assert [u.message.text for u in updates] == ["hello"]

    assert await bot.get_updates(offset=updates[-1].update_id + 1) == ()
    assert tg.pending_updates == []
    started = time.monotonic()
    assert await bot.get_updates(timeout=dtm.timedelta(seconds=0.2)) == ()
    assert 0.2 <= time.monotonic() - started < 1.5

    first = asyncio.create_task(bot.get_updates(timeout=10))
    await tg.wait_for_call("getUpdates", after_calls=len(tg.calls))
    assert (await post(tg, "getUpdates", data={"timeout": "0"})).json()["ok"]
    with pytest.raises(Conflict, match="terminated by other getUpdates"):
        await asyncio.wait_for(first, 2)

    pending = asyncio.create_task(bot.get_updates(timeout=30))
    await tg.wait_for_call("getUpdates", after_calls=len(tg.calls))
    started = time.monotonic()
    await tg.stop()
    assert await asyncio.wait_for(pending, 2) == ()
    assert time.monotonic() - started < 1.5


async def test_webhooks_are_recorded_and_block_polling(tg: FakeTelegram, bot: Bot) -> None:
    await bot.set_webhook("https://example.com/hook", secret_token="s3cret")
    assert tg.webhook["url"] == "https://example.com/hook"
    assert tg.webhook["secret_token"] == "s3cret"
    assert (await bot.get_webhook_info()).url == "https://example.com/hook"
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()
    tg.user_message("queued")
    await bot.delete_webhook(drop_pending_updates=True)
    assert tg.webhook == {} and tg.pending_updates == []


async def test_simulated_users_parse_as_ptb_updates(tg: FakeTelegram, bot: Bot) -> None:
    private = Update.de_json(tg.user_message("/funding@arb_test_bot BTC"), bot)
    assert private.message.chat.type == "private" and private.message.chat.id == 1001
    assert private.message.from_user.username == "alice"
    assert private.message.parse_entities() == {
        private.message.entities[0]: "/funding@arb_test_bot"
    }
    assert "entities" not in tg.user_message("no command")["message"]

    topic = Update.de_json(
        tg.user_message("hi", chat_id=-100777, chat_type="supergroup", thread_id=7), bot
    )
    assert topic.message.chat.is_forum and topic.message.is_topic_message
    assert topic.message.message_thread_id == 7 and topic.message.chat.title
    group = Update.de_json(tg.user_message("hi", chat_type="group"), bot)
    assert group.message.chat.type == "group" and group.message.from_user.id == 1001
    ids = [u["update_id"] for u in tg.pending_updates]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert Update.de_json(tg.queue_update({"update_id": 500, "message": {
        "message_id": 1, "date": 0, "chat": {"id": 3, "type": "private"}, "text": "raw",
    }}), bot).update_id == 500  # fmt: skip


# --------------------------------------------------------------------------- chats and menus


@pytest.mark.parametrize(
    ("status", "member_class"),
    [
        ("administrator", ChatMemberAdministrator),
        ("creator", ChatMemberOwner),
        ("member", ChatMemberMember),
        ("restricted", ChatMemberRestricted),
        ("left", ChatMemberLeft),
        ("kicked", ChatMemberBanned),
    ],
)
async def test_get_chat_member_statuses(
    tg: FakeTelegram, bot: Bot, status: str, member_class: type
) -> None:
    tg.user_message("hi", chat_id=-100555, chat_type="supergroup", user_id=5, username="bob")
    tg.chat_members[(-100555, 5)] = status
    member = await bot.get_chat_member(-100555, 5)
    assert isinstance(member, member_class) and member.status == status
    assert (member.user.id, member.user.username) == (5, "bob")
    assert isinstance(await bot.get_chat_member(-100555, 6), ChatMemberMember)  # the default


async def test_commands_chat_actions_and_chats(tg: FakeTelegram, bot: Bot) -> None:
    await bot.set_my_commands([("funding", "Funding of one asset"), ("scan", "Best carry")])
    assert [c["command"] for c in tg.commands] == ["funding", "scan"]
    assert await bot.get_my_commands() == (
        BotCommand("funding", "Funding of one asset"),
        BotCommand("scan", "Best carry"),
    )
    await bot.set_my_commands([("admin", "Admins only")], scope=BotCommandScopeChat(1001))
    assert len(tg.commands) == 2
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([("Funding", "capital letters are refused")])
    await tg.wait_for_call("setMyCommands", count=3)

    assert await bot.send_chat_action(1001, "typing")
    with pytest.raises(BadRequest, match="Wrong parameter action"):
        await bot.send_chat_action(1001, "dancing")

    tg.user_message("hi", chat_id=-100777, chat_type="supergroup", thread_id=1, title="Desk")
    chat = await bot.get_chat(-100777)
    assert (chat.type, chat.title, chat.is_forum) == ("supergroup", "Desk", True)
    sent = await bot.send_message(-100777, "bye")
    assert await bot.delete_message(-100777, sent.message_id) and tg.sent[0].deleted
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(-100777, sent.message_id)


# --------------------------------------------------------------------------- faults


async def test_injected_errors_map_to_ptb_exceptions(tg: FakeTelegram, bot: Bot) -> None:
    tg.fail_next("sendMessage", 429, retry_after=3)
    with pytest.raises(RetryAfter) as flood:
        await bot.send_message(1001, "a")
    assert flood.value.retry_after in (3, dtm.timedelta(seconds=3))
    await bot.send_message(1001, "a")  # only the next call failed

    tg.fail_next("sendMessage", 403, times=2)
    for _ in range(2):
        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await bot.send_message(1001, "b")
    tg.fail_next("sendMessage", 400, migrate_to_chat_id=-100123)
    with pytest.raises(ChatMigrated) as migrated:
        await bot.send_message(-123, "c")
    assert migrated.value.new_chat_id == -100123

    tg.fail_chat(2002)
    for _ in range(2):
        with pytest.raises(Forbidden):
            await bot.send_message(2002, "d")
    await bot.send_message(1001, "others still work")
    del tg.chat_failures[2002]
    await bot.send_message(2002, "unblocked")
    assert [m.text for m in tg.sent] == ["a", "others still work", "unblocked"]

    tg.fail_next("getMe", 429, retry_after=7)
    flooded = await post(tg, "getMe")
    assert flooded.status_code == 429
    assert flooded.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }


async def test_down_server_drops_or_502s_every_request(tg: FakeTelegram, bot: Bot) -> None:
    tg.down = "reset"
    with pytest.raises(NetworkError, match="RemoteProtocolError"):
        await bot.get_me()
    tg.down = True  # same as "502"
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(1001, "x")
    await tg.wait_for_call("sendMessage")  # a call while down is still recorded
    tg.down = False
    assert (await bot.get_me()).id == BOT_ID
    assert [f.status for f in tg.failures] == [0, 502]
    assert tg.sent == []


async def test_flood_control_refuses_what_telegram_would(tg: FakeTelegram, bot: Bot) -> None:
    for n in range(5):  # off by default
        await bot.send_message(1001, f"free {n}")
    tg.flood_control = True
    assert tg.flood_control == FloodControl(overall=(30, 1.0), per_group=(20, 60.0))
    # Long windows, so that nothing slides out while the test runs.
    tg.flood_control = FloodControl(overall=(12, 60.0), per_group=(3, 60.0), per_private=(2, 60.0))
    mark = len(tg.sent)
    await bot.send_message(2001, "a")
    await bot.send_message(2001, "b")
    with pytest.raises(RetryAfter) as private:
        await bot.send_message(2001, "c")  # a third in this private chat
    assert 58 <= private.value.retry_after <= 60
    await bot.send_chat_action(2001, "typing")  # not a message: never refused
    for n in range(3):
        await bot.send_message(-100777, f"group {n}")
    with pytest.raises(RetryAfter):
        await bot.send_message(-100777, "a fourth in the group")
    await bot.send_message(2002, "eleventh")
    await bot.edit_message_text("edited", 2002, tg.sent[-1].message_id)  # edits count too
    with pytest.raises(RetryAfter):
        await bot.send_message(2003, "thirteenth")  # the five sent before it was on count
    assert tg.failures[-1].description.startswith("Too Many Requests: retry after ")
    assert [m.text for m in tg.sent[mark:]] == ["a", "b", "group 0", "group 1", "group 2", "edited"]
    assert [f.status for f in tg.failures] == [429, 429, 429]
    tg.flood_control = False
    await bot.send_message(2001, "off again")


def test_peaks_count_messages_in_sliding_windows(tg: FakeTelegram) -> None:
    def sent(chat_id: int, at: float, method: str = "sendMessage") -> SentMessage:
        return SentMessage(method, chat_id, len(tg.sent) + 1, text="x", at=at)

    tg.sent.extend(sent(1, at) for at in (0.0, 0.5, 0.99, 1.0, 1.6))
    tg.sent.extend(sent(-5, at) for at in (2.0, 30.0, 61.9))
    tg.sent.append(sent(2, 1.1, "sendPhoto"))
    tg.edits.append(sent(-5, 1.15, "editMessageText"))
    assert tg.peak_per_second() == 3  # 0.0 and 1.0 are a second apart: never together
    assert tg.peak_per_second(method=None) == 5  # 0.5 to 1.15, with the photo and the edit
    assert tg.peak_per_second(chat_id=1) == 3 and tg.peak_per_second("sendPhoto") == 1
    assert tg.peak(60.0, method="sendMessage", chat_id=-5) == 3
    assert tg.peak(59.9, method="sendMessage", chat_id=-5) == 2
    assert tg.peak_per_chat(60.0) == {1: 5, -5: 3, 2: 1}


async def test_delay_answers_late_but_the_message_lands_on_arrival(
    tg: FakeTelegram, bot: Bot
) -> None:
    tg.delay("sendMessage", 0.4, times=1)
    started = time.monotonic()
    sending = asyncio.create_task(bot.send_message(1001, "slow"))
    landed = await tg.wait_for(lambda m: m.text == "slow")
    assert landed.at - started < 0.3 and not sending.done()
    assert (await sending).text == "slow"
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    await bot.send_message(1001, "fast")  # times=1: only the first was slow
    assert time.monotonic() - started < 0.3


async def test_drop_after_send_lands_the_message_but_loses_the_answer(
    tg: FakeTelegram, bot: Bot
) -> None:
    tg.drop_after_send("sendMessage")
    with pytest.raises(NetworkError):
        await bot.send_message(1001, "did it land?")
    assert [m.text for m in tg.sent] == ["did it land?"]  # it did
    assert (tg.failures[-1].status, tg.failures[-1].description) == (0, "dropped after send")
    tg.fail_next("sendMessage", 400, "Bad Request: chat not found")
    tg.drop_after_send("sendMessage")
    with pytest.raises(BadRequest):  # a refused call is answered: only a landed one is dropped
        await bot.send_message(1001, "refused")
    with pytest.raises(NetworkError):
        await bot.send_message(1001, "dropped")
    await bot.send_message(1001, "answered")
    assert [m.text for m in tg.sent] == ["did it land?", "dropped", "answered"]


async def test_a_chat_can_keep_answering_429(tg: FakeTelegram, bot: Bot) -> None:
    tg.fail_chat(3001, 429, retry_after=5)
    for _ in range(2):
        with pytest.raises(RetryAfter) as flood:
            await bot.send_message(3001, "x")
        assert flood.value.retry_after in (5, dtm.timedelta(seconds=5))
    assert tg.failures[-1].description == "Too Many Requests: retry after 5"
    await bot.send_message(3002, "others are fine")


# --------------------------------------------------------------------------- waiting


async def test_wait_for_sees_earlier_and_later_messages(tg: FakeTelegram, bot: Bot) -> None:
    await bot.send_message(1001, "earlier")
    assert (await tg.wait_for(lambda m: m.text == "earlier", timeout=0.1)).message_id == 1
    mark = len(tg.sent)
    later = asyncio.create_task(tg.wait_for(lambda m: m.chat_id == 1001, after=mark))
    await bot.send_message(1001, "later")
    assert (await asyncio.wait_for(later, 2)).text == "later"
    with pytest.raises(TimeoutError, match=r"(?s)no sent message matched.*chat=1001 id=1: earlier"):
        await tg.wait_for(lambda m: m.chat_id == 9, timeout=0.05)
    with pytest.raises(TimeoutError, match="no 1x answerCallbackQuery call"):
        await tg.wait_for_call("answerCallbackQuery", timeout=0.05)


async def test_json_and_form_bodies_are_read_by_parameter_type(tg: FakeTelegram) -> None:
    as_json = await post(tg, "sendMessage", json={"chat_id": 1001, "text": "123"})
    assert as_json.json()["result"]["text"] == "123"
    as_form = await post(tg, "sendMessage", data={"chat_id": "1001", "text": "true"})
    assert as_form.json()["result"]["text"] == "true"
    markup = '{"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}'
    await post(tg, "sendMessage", data={"chat_id": "1001", "text": "k", "reply_markup": markup})
    assert [m.text for m in tg.sent] == ["123", "true", "k"]
    assert tg.sent[2].buttons == [{"text": "A", "callback_data": "a"}]
    assert tg.calls[0].params == {"chat_id": 1001, "text": "123"}
    assert (await post(tg, "sendmessage", data={"chat_id": "1", "text": "x"})).json()["ok"]
    assert tg.calls[-1].method == "sendMessage"  # method names are case-insensitive


# --------------------------------------------------------------------------- check_html


@pytest.mark.parametrize(
    ("html", "plain"),
    [
        ("<b>b</b> <strong>s</strong> <i>i</i> <em>e</em> <u>u</u> <ins>n</ins>", "b s i e u n"),
        ("<s>s</s> <strike>k</strike> <del>d</del> <tg-spoiler>x</tg-spoiler>", "s k d x"),
        ('<span class="tg-spoiler">hidden</span>', "hidden"),
        ('<a href="https://t.me/x?a=1&amp;b=2">link</a>', "link"),
        ('<pre><code class="language-python">x = 1 &lt; 2</code></pre>', "x = 1 < 2"),
        ("<blockquote expandable>quote</blockquote><blockquote>q</blockquote>", "quoteq"),
        ('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>', "👍"),
        ("&lt;&gt;&amp;&quot; &#65;&#x42; a > b", '<>&" AB a > b'),
        ("<B>upper</B> <b>x</> ", "upper x"),
    ],
)
def test_check_html_accepts_telegrams_html(html: str, plain: str) -> None:
    assert check_html(html) == plain


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("a < b", 'Unsupported start tag ""'),
        ("<br>", 'Unsupported start tag "br"'),
        ("<p>x</p>", 'Unsupported start tag "p"'),
        ("<b/>", 'Unsupported start tag "b/"'),
        ("a & b", 'Character "&" must be escaped'),
        ("&nbsp;", 'Unsupported HTML entity "&nbsp;"'),
        ("&#0;", 'Unsupported HTML entity "&#0;"'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
        ("<tg-emoji>x</tg-emoji>", "Invalid custom emoji identifier"),
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<i>é</b>", 'Unmatched end tag at byte offset 5, expected "</i>", found "</b>"'),
        ('<a href="x>y</a>', 'Unclosed start tag "a"'),
        ("<b", "Unclosed start tag at byte offset 0"),
    ],
)
def test_check_html_refuses_what_telegram_refuses(html: str, reason: str) -> None:
    with pytest.raises(ValueError) as refused:
        check_html(html)
    assert str(refused.value).startswith(reason)


def test_parse_html_entities_use_utf16_offsets_of_the_trimmed_text() -> None:
    plain, entities = parse_html('  😀 <b>x</b> <pre><code class="language-py">y</code></pre> ')
    assert plain == "😀 x y" and utf16_len(plain) == 6
    assert entities == [
        {"type": "bold", "offset": 3, "length": 1},
        {"type": "pre", "offset": 5, "length": 1, "language": "py"},
    ]
    assert check_html("a & b", strict_amp=False) == "a & b"  # what Telegram itself accepts
