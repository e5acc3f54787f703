"""The model's one-line notes under alerts (LLM_ALERT_NOTES=1).

An alert goes out first; the notes are edited into it when the model answers, so a
slow model never delays an alert, and a note that would push the alert over one
message is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import InlineKeyboardMarkup, Message
from telegram.error import TelegramError

from arb.models import Opportunity
from arb.signaler import Facts, Signaler
from bot import render, render_signals
from bot.send import edit_html

log = logging.getLogger(__name__)

MAX_NOTES = 5  # assets per alert that get a model note


async def annotate_alert(
    signaler: Signaler,
    message: Message,
    text: str,
    keyboard: InlineKeyboardMarkup | None,
    opportunities: list[Opportunity],
    now: float,
) -> None:
    """Edit the model's one-line notes into an alert that has already been sent."""
    try:
        signals = await asyncio.gather(
            *(signaler.signal(Facts(o, now)) for o in opportunities[:MAX_NOTES])
        )
        notes = [render_signals.alert_note(s) for s in signals if s.source == "model"]
        if not notes:
            return
        annotated = text + "\n\n" + "\n".join(notes)
        if len(render.split_message(annotated)) > 1:
            return  # an alert is one message; the notes are not worth a second one
        await edit_html(message, annotated, keyboard)
    except TelegramError as e:
        log.warning("could not add notes to alert %s: %s", message.message_id, e)
    except Exception:
        log.exception("alert notes failed")


class NoteTasks:
    """Background note tasks, cancelled at shutdown."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro) -> None:
        task = asyncio.create_task(coro, name="alert-notes")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
