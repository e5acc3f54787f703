"""The one error handler: a short apology with an id that matches the log line.

No exception text ever reaches a chat. Known, harmless Telegram answers
("message is not modified", a user who blocked the bot) are not errors.
"""

from __future__ import annotations

import contextlib
import logging
import secrets

from telegram import Update
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError
from telegram.ext import ContextTypes

from bot.send import reply_html
from storage.db import STORAGE_ERRORS

log = logging.getLogger(__name__)


def apology(error_id: str) -> str:
    return f"Sorry, that failed on our side (error {error_id}). Please try again in a moment."


STORAGE_APOLOGY = (
    "Sorry, the bot's storage is failing right now, so nothing was changed (error {id}). "
    "The desk's admins are told; please try again later."
)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    err = context.error
    if isinstance(err, BadRequest) and "not modified" in err.message.lower():
        return
    if isinstance(err, Forbidden):
        log.info("chat unreachable: %s", err.message)
        return
    if update is None and isinstance(err, NetworkError):
        # The updater's own polling failing: it retries by itself.
        log.warning("Telegram polling: %s", err)
        return
    error_id = secrets.token_hex(4)
    update_id = update.update_id if isinstance(update, Update) else None
    log.error(
        "error %s while handling update %s: %s",
        error_id,
        update_id,
        type(err).__name__,
        exc_info=err,
    )
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    if update.callback_query is not None:
        with contextlib.suppress(TelegramError):
            await update.callback_query.answer()
    text = (
        STORAGE_APOLOGY.format(id=error_id)
        if isinstance(err, STORAGE_ERRORS)
        else apology(error_id)
    )
    try:
        await reply_html(update, context, text)
    except TelegramError as e:
        log.warning("could not deliver apology %s: %s", error_id, e)
