"""Who may use the bot, and who may change a chat's settings.

`ARB_ALLOWED_CHATS` empty: every chat may use the read commands. Set: any
other chat gets one refusal and nothing else. Command spam gets one "Slow
down" and then silence until the sender pauses (bot.throttle). `ARB_ADMINS` are admins
everywhere; in a group, its own administrators (getChatMember) may also change
that chat's settings; in a private chat its user may.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable

from telegram import Chat, Update
from telegram.constants import ChatMemberStatus, ChatType, MessageEntityType
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.desk import Desk, desk_of
from bot.send import reply_html
from bot.throttle import SLOW_DOWN, Verdict

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]

log = logging.getLogger(__name__)

ADMIN_CACHE_S = 60.0  # a demoted admin loses the right within a minute
clock = time.monotonic  # the admin cache's clock (a test moves it on)
REFUSAL = "This bot serves a private desk. Ask its owner to add this chat to ARB_ALLOWED_CHATS."


async def admit(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Runs before every handler: stops updates from chats that are not allowed, and
    command spam (bot.throttle)."""
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    desk = desk_of(context)
    allowed = desk.settings.allowed_chats
    chat = update.effective_chat
    if not allowed or chat.id in allowed:
        await throttle_spam(update, context, desk)
        return
    if update.callback_query is not None:
        await update.callback_query.answer()
    elif chat.id not in desk.refused_chats:
        desk.refused_chats.add(chat.id)
        log.info("refused chat %s", chat.id)
        await reply_html(update, context, REFUSAL)
    raise ApplicationHandlerStop


async def throttle_spam(update: Update, context: ContextTypes.DEFAULT_TYPE, desk: Desk) -> None:
    """One "Slow down" to whoever sends commands faster than a person would, then nothing
    until they pause. A button press while throttled is answered (so its spinner stops) and
    not acted on."""
    if not is_command(update, context.bot.username):
        return
    chat, user = update.effective_chat, update.effective_user
    assert chat is not None
    verdict = desk.throttle.check((chat.id, user.id if user else chat.id))
    if verdict is Verdict.ANSWER:
        return
    query = update.callback_query
    with contextlib.suppress(TelegramError):
        if query is not None:
            await query.answer(SLOW_DOWN if verdict is Verdict.WARN else None)
        elif verdict is Verdict.WARN:
            log.info("chat %s: user %s throttled", chat.id, user.id if user else None)
            await reply_html(update, context, SLOW_DOWN)
    raise ApplicationHandlerStop


def is_command(update: Update, bot_username: str | None) -> bool:
    """What the throttle counts: anything the bot answers. A button press, any message in a
    private chat, and in a group a /command for this bot (not /command@another_bot)."""
    if update.callback_query is not None:
        return True
    message = update.message
    if message is None or update.effective_chat is None:
        return False
    if update.effective_chat.type == ChatType.PRIVATE:
        return True
    entity = message.entities[0] if message.entities else None
    if entity is None or entity.type != MessageEntityType.BOT_COMMAND or entity.offset != 0:
        return False
    _, at, target = message.parse_entity(entity).partition("@")
    return not at or target.lower() == (bot_username or "").lower()


def is_global_admin(desk: Desk, user_id: int | None) -> bool:
    return user_id is not None and user_id in desk.settings.admins


def is_admin(update: Update, desk: Desk) -> bool:
    """Whether the user behind `update` is one of the desk's admins (ARB_ADMINS)."""
    user = update.effective_user
    return is_global_admin(desk, user.id if user else None)


def in_vetted_chat(update: Update, desk: Desk) -> bool:
    """Whether `update` comes from a private chat or a group listed in ARB_ALLOWED_CHATS:
    where a desk's accounts may be shown and its trades made."""
    chat = update.effective_chat
    return chat is not None and (
        chat.type == ChatType.PRIVATE or chat.id in desk.settings.allowed_chats
    )


def admins_only(refusal: str) -> Callable[[Handler], Handler]:
    """A command only the desk's admins may run; anyone else is told `refusal`."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            if not is_admin(update, desk_of(context)):
                await reply_html(update, context, refusal)
                return
            await handler(update, context)

        return guarded

    return wrap


async def can_change_chat(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """ARB_ADMINS, the user of a private chat, or a group's own administrators."""
    desk = desk_of(context)
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        return False
    if is_global_admin(desk, user.id) or chat.type == ChatType.PRIVATE:
        return True
    return await is_group_admin(context, desk, chat, user.id)


async def is_group_admin(
    context: ContextTypes.DEFAULT_TYPE, desk: Desk, chat: Chat, user_id: int
) -> bool:
    key = (chat.id, user_id)
    cached = desk.admin_cache.get(key)
    now = clock()
    if cached is not None and now - cached[1] < ADMIN_CACHE_S:
        return cached[0]
    try:
        member = await context.bot.get_chat_member(chat.id, user_id)
    except TelegramError as e:
        log.warning("getChatMember failed for chat %s: %s", chat.id, e)
        return False
    is_admin = member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)
    desk.admin_cache[key] = (is_admin, now)
    return is_admin
