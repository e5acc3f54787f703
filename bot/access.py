"""Who may use the bot, and who may change a chat's settings.

`ARB_ALLOWED_CHATS` empty: every chat may use the read commands. Set: any
other chat gets one refusal and nothing else. `ARB_ADMINS` are admins
everywhere; in a group, its own administrators (getChatMember) may also change
that chat's settings; in a private chat its user may.
"""

from __future__ import annotations

import logging
import time

from telegram import Chat, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.desk import Desk, desk_of
from bot.send import reply_html

log = logging.getLogger(__name__)

ADMIN_CACHE_S = 300.0
REFUSAL = "This bot serves a private desk. Ask its owner to add this chat to ARB_ALLOWED_CHATS."


async def gate(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Runs before every handler: stops updates from chats that are not allowed."""
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    desk = desk_of(context)
    allowed = desk.settings.allowed_chats
    chat = update.effective_chat
    if not allowed or chat.id in allowed:
        return
    if update.callback_query is not None:
        await update.callback_query.answer()
    elif chat.id not in desk.refused_chats:
        desk.refused_chats.add(chat.id)
        log.info("refused chat %s", chat.id)
        await reply_html(update, context, REFUSAL)
    raise ApplicationHandlerStop


def is_global_admin(desk: Desk, user_id: int | None) -> bool:
    return user_id is not None and user_id in desk.settings.admins


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
    now = time.monotonic()
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
