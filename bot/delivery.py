"""One alert message sent once, and what is known of its fate afterwards.

Telegram either answers (the message is out, or it was refused and nothing went
out) or it does not, and then nobody knows: a request that timed out while
waiting for the answer, or whose connection dropped after it was written, may
have been delivered. Those outcomes are UNKNOWN and are never retried as if
nothing happened; the caller resends them marked as a possible repeat. A
request that provably never reached the Bot API (no connection, a full local
pool, a gateway error page in front of it) is NOT_SENT and safe to retry as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import httpx
from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions, Message
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.ratelimit import RateLimiterClosed, retry_after_s
from storage.db import STORAGE_ERRORS

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
# Telegram's words for a chat the bot can no longer write to, and for a deleted topic.
CHAT_GONE = ("chat not found", "bot was kicked", "user is deactivated", "have no rights to send",
             "bot is not a member", "bot was blocked")  # fmt: skip
TOPIC_GONE = ("message thread not found", "topic_deleted", "topic_closed")
_NEVER_LEFT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_GATEWAY_PAGE = ("(502)", "(503)")


class Fate(Enum):
    SENT = "sent"
    NOT_SENT = "not sent"  # never reached Telegram, or Telegram asked to wait: retry as is
    UNKNOWN = "unknown"  # may have been delivered: resend only marked
    REFUSED = "refused"  # Telegram answered no: resending the same thing will not help
    CHAT_GONE = "chat gone"
    TOPIC_GONE = "topic gone"
    MIGRATED = "migrated"  # the group is a supergroup now: send there
    HELD = "held"  # storage could not record the send: it was not made


@dataclass(frozen=True, slots=True)
class Outcome:
    fate: Fate
    message: Message | None = None
    error: str = ""
    new_chat_id: int | None = None
    retry_after_s: float = 0.0


async def send_alert(
    bot: Bot,
    chat_id: int,
    thread_id: int | None,
    text: str,
    keyboard: InlineKeyboardMarkup | None,
    rate_limit_args: object,
) -> Outcome:
    """One sendMessage; never raises for what Telegram or the network did."""
    try:
        message = await bot.send_message(
            chat_id,
            text,
            parse_mode=ParseMode.HTML,
            message_thread_id=thread_id,
            reply_markup=keyboard,
            link_preview_options=NO_PREVIEW,
            rate_limit_args=rate_limit_args,
        )
    except STORAGE_ERRORS as e:  # the "sending" mark could not be written: nothing was sent
        return Outcome(Fate.HELD, error=f"storage: {e}")
    except Forbidden as e:
        return Outcome(Fate.CHAT_GONE, error=e.message)
    except ChatMigrated as e:
        return Outcome(Fate.MIGRATED, error=e.message, new_chat_id=e.new_chat_id)
    except RetryAfter as e:
        return Outcome(Fate.NOT_SENT, error=e.message, retry_after_s=retry_after_s(e))
    except BadRequest as e:
        lowered = e.message.lower()
        if any(g in lowered for g in TOPIC_GONE):
            return Outcome(Fate.TOPIC_GONE, error=e.message)
        if any(g in lowered for g in CHAT_GONE):
            return Outcome(Fate.CHAT_GONE, error=e.message)
        return Outcome(Fate.REFUSED, error=f"BadRequest: {e.message}")
    except (TimedOut, NetworkError) as e:
        fate = Fate.NOT_SENT if never_left(e) else Fate.UNKNOWN
        return Outcome(fate, error=f"{type(e).__name__}: {e.message}")
    except RateLimiterClosed as e:  # shutting down before its turn came
        return Outcome(Fate.NOT_SENT, error=e.message)
    except TelegramError as e:  # InvalidToken, Conflict, EndPointNotFound: Telegram said no
        return Outcome(Fate.REFUSED, error=f"{type(e).__name__}: {e.message}")
    return Outcome(Fate.SENT, message=message)


def never_left(e: NetworkError) -> bool:
    """Whether the request provably did not reach the Bot API."""
    if isinstance(e.__cause__, _NEVER_LEFT):
        return True
    # PTB names an unparsable error page by its status: a gateway that had no Bot API
    # behind it. Telegram's own answers are JSON and carry their description instead.
    return "Parsing the server response" in e.message and any(
        code in e.message for code in _GATEWAY_PAGE
    )
