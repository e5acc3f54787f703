"""A fake Telegram Bot API on 127.0.0.1 that the real python-telegram-bot client talks to.

    async with FakeTelegram() as tg:
        app = Application.builder().token(tg.token).base_url(tg.base_url)...
        tg.user_message("/funding BTC")                  # a user writes to the bot
        reply = await tg.wait_for(lambda m: m.chat_id == 1001)

PTB posts every method to `{base_url}{token}/{method}` as form fields (complex
values JSON-encoded; multipart when a file is attached) and expects Telegram's
envelope `{"ok": true, "result": ...}` or `{"ok": false, "error_code", "description",
"parameters"}`. Outgoing text is validated as Telegram does: HTML parse mode
with only Telegram's tags and entities, at most 4096 UTF-16 code units after
parsing, callback data of 1 to 64 bytes. Faults are injected per method
(`fail_next`) or per chat (`fail_chat`); `down` makes the whole API unreachable.

Waiting is event-driven (`wait_for`, `wait_for_call`), never a sleep.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_ID = 123456
BOT_USERNAME = "arb_test_bot"
TOKEN = f"{BOT_ID}:TEST-token-abcdefghijklmnopqrstuvwxyz"
MAX_TEXT = 4096
MAX_CAPTION = 1024
# Parameters PTB sends JSON-encoded; every other value is a plain string.
JSON_FIELDS = frozenset({
    "reply_markup", "commands", "allowed_updates", "link_preview_options", "reply_parameters",
    "entities", "caption_entities", "scope", "media",
})  # fmt: skip
BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "Arb", "username": BOT_USERNAME}

# --- Telegram's HTML ---------------------------------------------------------

ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
    "a", "code", "pre", "blockquote", "tg-emoji",
}  # fmt: skip
_TAG = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)"
    r"((?:\s+[a-zA-Z-]+(?:\s*=\s*(?:\"[^\"<>]*\"|'[^'<>]*'|[^\s<>\"']+))?)*)\s*>"
)
_ATTR = re.compile(r"([a-zA-Z-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"']+)))?")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def check_html(text: str) -> str:
    """Parse `text` as Telegram's HTML; return the plain text or raise ValueError."""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "<":
            m = _TAG.match(text, i)
            if m is None:
                raise ValueError(f"unescaped '<' or malformed tag at offset {i}")
            closing, name = m.group(1) == "/", m.group(2).lower()
            if name not in ALLOWED_TAGS:
                raise ValueError(f'unsupported start tag "{name}" at offset {i}')
            if closing:
                if not stack or stack[-1] != name:
                    raise ValueError(f'unexpected end tag "{name}" at offset {i}')
                stack.pop()
            else:
                _check_attrs(name, m.group(3), i)
                if (
                    stack
                    and stack[-1] in ("pre", "code")
                    and not (stack[-1] == "pre" and name == "code")
                ):
                    raise ValueError(f'tag "{name}" inside "{stack[-1]}" at offset {i}')
                stack.append(name)
            i = m.end()
        elif c == "&":
            m = _ENTITY.match(text, i)
            if m is None:
                raise ValueError(f"unescaped '&' at offset {i}")
            out.append(html.unescape(m.group(0)))
            i = m.end()
        elif c == ">":
            raise ValueError(f"unescaped '>' at offset {i}")
        else:
            out.append(c)
            i += 1
    if stack:
        raise ValueError(f'can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def _check_attrs(tag: str, attrs: str, offset: int) -> None:
    for m in _ATTR.finditer(attrs):
        name = m.group(1).lower()
        value = next((g for g in m.group(2, 3, 4) if g is not None), "")
        ok = (
            (tag == "a" and name == "href")
            or (tag == "span" and name == "class" and value == "tg-spoiler")
            or (tag == "code" and name == "class" and value.startswith("language-"))
            or (tag == "tg-emoji" and name == "emoji-id")
            or (tag == "blockquote" and name == "expandable")
        )
        if not ok:
            raise ValueError(f'unsupported attribute "{name}" of "{tag}" at offset {offset}')
    if tag == "span" and "tg-spoiler" not in attrs:
        raise ValueError(f"span without class tg-spoiler at offset {offset}")


# --- records -----------------------------------------------------------------


@dataclass
class SentMessage:
    method: str
    chat_id: int
    message_id: int
    text: str | None
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    message_thread_id: int | None
    reply_to_message_id: int | None = None
    caption: str | None = None
    photo_size: int | None = None
    at: float = field(default_factory=time.monotonic)


@dataclass
class Fault:
    status: int
    description: str
    retry_after: int | None = None
    migrate_to_chat_id: int | None = None
    times: int | None = 1


class FakeTelegram:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.port = 0
        self.sent: list[SentMessage] = []
        self.edits: list[SentMessage] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.commands: list[dict[str, str]] = []
        self.webhook: dict[str, Any] = {}
        self.chat_members: dict[tuple[int, int], str] = {}
        self.down: bool | str = False  # "502" or "reset" (True means "502")
        self._faults: dict[str, list[Fault]] = {}
        self._chat_faults: dict[int, Fault] = {}
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._changed = asyncio.Condition()
        self._closing = False
        self._runner: web.AppRunner | None = None

    # lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    async def start(self) -> FakeTelegram:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self._closing = True
        await self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # faults

    def fail_next(
        self,
        method: str,
        status: int = 400,
        description: str = "Bad Request",
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
        times: int = 1,
    ) -> None:
        fault = Fault(status, description, retry_after, migrate_to_chat_id, times)
        self._faults.setdefault(method, []).append(fault)

    def fail_chat(self, chat_id: int, status: int = 403, description: str = "") -> None:
        """Every send to `chat_id` fails (e.g. 403 'Forbidden: bot was blocked by the user')."""
        self._chat_faults[chat_id] = Fault(
            status, description or "Forbidden: bot was blocked by the user", times=None
        )

    # users

    def user_message(
        self,
        text: str,
        chat_id: int = 1001,
        user_id: int | None = None,
        chat_type: str = "private",
        thread_id: int | None = None,
        username: str = "alice",
        is_forum: bool | None = None,
    ) -> dict[str, Any]:
        """Queue a user's message; commands get their bot_command entity as Telegram adds."""
        user_id = user_id if user_id is not None else (chat_id if chat_id > 0 else 1001)
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": self._chat(chat_id, chat_type, username, is_forum),
            "from": {
                "id": user_id,
                "is_bot": False,
                "first_name": username.title(),
                "username": username,
            },
            "text": text,
        }
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0] if text.strip() else text
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(command)}
            ]
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        return self.queue_update({"message": message})

    def user_callback(
        self, message: SentMessage, data: str, user_id: int = 1001, username: str = "alice"
    ) -> dict[str, Any]:
        """Queue a press of an inline button on a message the bot sent."""
        stored = self._messages[(message.chat_id, message.message_id)]
        query = {
            "id": str(next(self._update_ids) + 10_000),
            "from": {
                "id": user_id,
                "is_bot": False,
                "first_name": username.title(),
                "username": username,
            },
            "chat_instance": f"ci{message.chat_id}",
            "message": stored,
            "data": data,
        }
        return self.queue_update({"callback_query": query})

    def queue_update(self, body: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **body}
        self._updates.append(update)
        asyncio.get_running_loop().create_task(self._notify())
        return update

    # waiting

    async def wait_for(
        self,
        predicate: Callable[[SentMessage], bool],
        after: int = 0,
        timeout: float = 10.0,
    ) -> SentMessage:
        """The first message sent (at index >= `after`) that satisfies `predicate`."""

        def found() -> SentMessage | None:
            return next((m for m in self.sent[after:] if predicate(m)), None)

        try:
            async with self._changed:
                await asyncio.wait_for(self._changed.wait_for(lambda: found() is not None), timeout)
        except TimeoutError:
            seen = [(m.chat_id, (m.text or m.caption or "")[:60]) for m in self.sent[after:]]
            raise TimeoutError(f"no matching message within {timeout} s; sent: {seen}") from None
        message = found()
        assert message is not None
        return message

    async def wait_for_call(
        self, method: str, count: int = 1, timeout: float = 10.0, after_calls: int | None = 0
    ) -> list[dict[str, Any]]:
        """Wait until `method` has been called `count` times (counting from `after_calls`)."""
        start = after_calls or 0

        def calls() -> list[dict[str, Any]]:
            return [p for m, p in self.calls[start:] if m == method]

        try:
            async with self._changed:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: len(calls()) >= count), timeout
                )
        except TimeoutError:
            made = [m for m, _ in self.calls[start:]]
            raise TimeoutError(
                f"{method} x{count} not seen within {timeout} s; calls: {made}"
            ) from None
        return calls()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # the API

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params = await _params(request)
        self.calls.append((method, params))  # every request that arrived, even when "down"
        await self._notify()
        if self.down:
            if self.down == "reset" and request.transport is not None:
                request.transport.close()
                return web.Response(status=500)
            return web.Response(
                status=502, text="<html>502 Bad Gateway</html>", content_type="text/html"
            )
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        fault = self._take_fault(method, params)
        if fault is not None:
            return _error(
                fault.status, fault.description, fault.retry_after, fault.migrate_to_chat_id
            )
        handler = getattr(self, f"api_{method}", None)
        if handler is None:
            return _error(404, "Not Found")
        try:
            if method == "getUpdates":
                result = await handler(params)
            else:
                result = handler(params)
        except ApiError as e:
            return _error(400, e.description)
        await self._notify()
        return web.json_response({"ok": True, "result": result})

    def _take_fault(self, method: str, params: dict[str, Any]) -> Fault | None:
        chat = params.get("chat_id")
        if chat is not None and method.startswith(("send", "edit")):
            fault = self._chat_faults.get(int(chat))
            if fault is not None:
                return fault
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
        return fault

    def api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **BOT_USER,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def api_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = {}
        return True

    def api_setWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = dict(params)
        return True

    def api_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    async def api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        timeout = min(float(params.get("timeout") or 0), 30.0)
        limit = int(params.get("limit") or 100)
        if not self._updates and timeout > 0 and not self._closing:
            try:
                async with self._changed:
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: bool(self._updates) or self._closing),
                        timeout,
                    )
            except TimeoutError:
                pass
        return self._updates[:limit]

    def api_setMyCommands(self, params: dict[str, Any]) -> bool:
        self.commands = list(params.get("commands") or [])
        return True

    def api_getMyCommands(self, params: dict[str, Any]) -> list[dict[str, str]]:
        return self.commands

    def api_sendChatAction(self, params: dict[str, Any]) -> bool:
        return True

    def api_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        return True

    def api_getChatMember(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        status = self.chat_members.get((chat_id, user_id), "member")
        member: dict[str, Any] = {
            "status": status,
            "user": {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"},
        }
        if status == "administrator":
            member.update(
                can_be_edited=False,
                is_anonymous=False,
                can_manage_chat=True,
                can_delete_messages=True,
                can_manage_video_chats=True,
                can_restrict_members=True,
                can_promote_members=False,
                can_change_info=True,
                can_invite_users=True,
                can_post_stories=False,
                can_edit_stories=False,
                can_delete_stories=False,
            )
        elif status == "creator":
            member.update(is_anonymous=False)
        elif status == "kicked":
            member.update(until_date=0)
        return member

    def api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        text = str(params.get("text", ""))
        _check_text(text, params.get("parse_mode"), MAX_TEXT, "message text")
        markup = _check_markup(params.get("reply_markup"))
        return self._store("sendMessage", params, text=text, reply_markup=markup)

    def api_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        caption = params.get("caption")
        if caption:
            _check_text(str(caption), params.get("parse_mode"), MAX_CAPTION, "caption")
        photo = params.get("photo")
        size = len(photo) if isinstance(photo, bytes | bytearray) else None
        markup = _check_markup(params.get("reply_markup"))
        return self._store(
            "sendPhoto", params, caption=caption, photo_size=size, reply_markup=markup
        )

    def api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        stored = self._messages.get((chat_id, message_id))
        if stored is None:
            raise ApiError("Bad Request: message to edit not found")
        text = str(params.get("text", ""))
        _check_text(text, params.get("parse_mode"), MAX_TEXT, "message text")
        markup = _check_markup(params.get("reply_markup"))
        if stored.get("_source") == text and stored.get("reply_markup") == markup:
            raise ApiError(
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message"
            )
        stored.update(text=text, _source=text, edit_date=int(time.time()))
        stored.pop("reply_markup", None)
        if markup is not None:
            stored["reply_markup"] = markup
        record = SentMessage(
            "editMessageText",
            chat_id,
            message_id,
            text,
            params.get("parse_mode"),
            markup,
            stored.get("message_thread_id"),
        )
        self.edits.append(record)
        return _public(stored)

    def api_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        stored = self._messages.get((chat_id, message_id))
        if stored is None:
            raise ApiError("Bad Request: message to edit not found")
        stored["reply_markup"] = _check_markup(params.get("reply_markup"))
        return _public(stored)

    # helpers

    def _store(self, method: str, params: dict[str, Any], **fields: Any) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        thread = params.get("message_thread_id")
        thread_id = int(thread) if thread not in (None, "") else None
        message_id = self._next_message_id(chat_id)
        record = SentMessage(
            method=method,
            chat_id=chat_id,
            message_id=message_id,
            text=fields.get("text"),
            parse_mode=params.get("parse_mode"),
            reply_markup=fields.get("reply_markup"),
            message_thread_id=thread_id,
            caption=fields.get("caption"),
            photo_size=fields.get("photo_size"),
        )
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self._chat(chat_id, "private" if chat_id > 0 else "supergroup", "alice", None),
            "from": BOT_USER,
        }
        if record.text is not None:
            message["text"] = (
                check_html(record.text) if record.parse_mode == "HTML" else record.text
            )
            message["_source"] = record.text
        if record.caption is not None:
            message["caption"] = record.caption
        if record.photo_size is not None:
            message["photo"] = [
                {
                    "file_id": f"p{message_id}",
                    "file_unique_id": f"u{message_id}",
                    "width": 800,
                    "height": 600,
                }
            ]
        if record.reply_markup is not None:
            message["reply_markup"] = record.reply_markup
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        self._messages[(chat_id, message_id)] = message
        self.sent.append(record)
        return _public(message)

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    @staticmethod
    def _chat(chat_id: int, chat_type: str, username: str, is_forum: bool | None) -> dict:
        if chat_type == "private":
            return {
                "id": chat_id,
                "type": "private",
                "first_name": username.title(),
                "username": username,
            }
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type, "title": f"Desk {chat_id}"}
        if is_forum:
            chat["is_forum"] = True
        return chat


class ApiError(Exception):
    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def _public(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if not k.startswith("_")}


def _check_text(text: str, parse_mode: Any, limit: int, what: str) -> None:
    plain = text
    if parse_mode == "HTML":
        try:
            plain = check_html(text)
        except ValueError as e:
            raise ApiError(f"Bad Request: can't parse entities: {e}") from None
    elif parse_mode not in (None, ""):
        raise ApiError(f"Bad Request: unsupported parse_mode {parse_mode}")
    if not plain.strip():
        raise ApiError(f"Bad Request: {what} is empty")
    if utf16_len(plain) > limit:
        raise ApiError(f"Bad Request: {what} is too long")


def _check_markup(markup: Any) -> dict[str, Any] | None:
    if markup in (None, ""):
        return None
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode()) <= 64:
                raise ApiError("Bad Request: BUTTON_DATA_INVALID")
    return markup


async def _params(request: web.Request) -> dict[str, Any]:
    """PTB's form fields: JSON-encoded values decoded, files kept as bytes."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json() if request.can_read_body else {}
        params.update(body or {})
        return params
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, web.FileField):
            params[key] = value.file.read()
            continue
        params[key] = json.loads(str(value)) if key in JSON_FIELDS else str(value)
    return params


def _error(
    status: int,
    description: str,
    retry_after: int | None = None,
    migrate_to_chat_id: int | None = None,
) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    parameters = {}
    if retry_after is not None:
        parameters["retry_after"] = retry_after
    if migrate_to_chat_id is not None:
        parameters["migrate_to_chat_id"] = migrate_to_chat_id
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)
