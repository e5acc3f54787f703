"""Sending replies: HTML, split under Telegram's limit, in the right forum topic.

Telegram's flood limits are kept, and RetryAfter waited out, by
bot.ratelimit.DeskRateLimiter; transient network failures are retried here a
few times with backoff. A BadRequest is not a network failure (although PTB
derives it from NetworkError) and is never retried. A reply to a person may
thus, rarely, land twice after a timeout; alerts, whose repeats a desk must be
able to trust, go through bot.delivery instead, which never resends unmarked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from telegram import Bot, InlineKeyboardMarkup, InputFile, LinkPreviewOptions, Message, Update
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, NetworkError, TelegramError, TimedOut
from telegram.ext import ContextTypes

from bot.render import split_message

log = logging.getLogger(__name__)

ATTEMPTS = 3
BACKOFF_S = 0.5
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
CAPTION_LIMIT = 1024
TYPING_EVERY_S = 4.5  # Telegram shows an action for 5 s


def thread_of(message: Message | None) -> int | None:
    """Reply in the forum topic the command came from (None outside topics)."""
    if message is None or not message.is_topic_message:
        return None
    return message.message_thread_id


async def with_retries(call, what: str):
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await call()
        except BadRequest:
            raise
        except (TimedOut, NetworkError) as e:
            if attempt == ATTEMPTS:
                raise
            log.warning("%s failed (%s), retry %d of %d", what, e, attempt, ATTEMPTS - 1)
            await asyncio.sleep(BACKOFF_S * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


async def send_html(
    bot: Bot,
    chat_id: int,
    text: str,
    *,
    thread_id: int | None = None,
    reply_markup: InlineKeyboardMarkup | None = None,
) -> Message:
    """Send `text` as one or more messages; the keyboard goes on the last one."""
    parts = split_message(text)
    sent: Message | None = None
    for i, part in enumerate(parts):
        last = i == len(parts) - 1

        async def call(part: str = part, last: bool = last) -> Message:
            return await bot.send_message(
                chat_id,
                part,
                parse_mode=ParseMode.HTML,
                message_thread_id=thread_id,
                reply_markup=reply_markup if last else None,
                link_preview_options=NO_PREVIEW,
            )

        sent = await with_retries(call, "sendMessage")
    assert sent is not None
    return sent


async def send_photo(
    bot: Bot, chat_id: int, photo: InputFile, caption: str, thread_id: int | None = None
) -> Message:
    """A photo with an HTML caption (at most 1024 characters, cut at a line)."""
    return await with_retries(
        lambda: bot.send_photo(
            chat_id,
            photo,
            caption=split_message(caption, CAPTION_LIMIT)[0],
            parse_mode=ParseMode.HTML,
            message_thread_id=thread_id,
        ),
        "sendPhoto",
    )


async def reply_html(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    text: str,
    reply_markup: InlineKeyboardMarkup | None = None,
) -> Message:
    chat = update.effective_chat
    assert chat is not None
    return await send_html(
        context.bot,
        chat.id,
        text,
        thread_id=thread_of(update.effective_message),
        reply_markup=reply_markup,
    )


async def edit_html(
    message: Message, text: str, reply_markup: InlineKeyboardMarkup | None = None
) -> None:
    """Edit in place; 'message is not modified' means it already shows this."""
    part = split_message(text)[0]
    try:
        await with_retries(
            lambda: message.edit_text(
                part,
                parse_mode=ParseMode.HTML,
                reply_markup=reply_markup,
                link_preview_options=NO_PREVIEW,
            ),
            "editMessageText",
        )
    except BadRequest as e:
        if "not modified" not in e.message.lower():
            raise


@contextlib.asynccontextmanager
async def keep_typing(
    bot: Bot, chat_id: int, thread_id: int | None = None, action: str = ChatAction.TYPING
) -> AsyncIterator[None]:
    """Show "typing…" (or `action`) until the block ends. Failures only cost the indicator."""

    async def typing() -> None:
        while True:
            try:
                await bot.send_chat_action(chat_id, action, message_thread_id=thread_id)
            except TelegramError as e:
                log.debug("sendChatAction failed: %s", e)
            await asyncio.sleep(TYPING_EVERY_S)

    task = asyncio.create_task(typing(), name="typing")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def typing_in(
    update: Update, context: ContextTypes.DEFAULT_TYPE, action: str = ChatAction.TYPING
) -> contextlib.AbstractAsyncContextManager[None]:
    """keep_typing in the chat and forum topic `update` came from."""
    chat = update.effective_chat
    assert chat is not None
    return keep_typing(context.bot, chat.id, thread_of(update.effective_message), action)
