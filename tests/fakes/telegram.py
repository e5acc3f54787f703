"""A fake Telegram Bot API server, on 127.0.0.1, that the real python-telegram-bot talks to.

Point PTB at it and drive it from the test:

    async with FakeTelegram() as tg:
        app = (
            Application.builder()
            .token(tg.token)
            .base_url(tg.base_url)            # http://127.0.0.1:PORT/bot
            .base_file_url(tg.base_file_url)  # http://127.0.0.1:PORT/file/bot
            .build()
        )
        ...start the app and its updater (long polling)...
        mark = len(tg.sent)
        tg.user_message("/start")                     # queued for getUpdates
        reply = await tg.wait_for(lambda m: m.chat_id == 1001, after=mark)
        assert reply.text.startswith("<b>")           # the text as the bot sent it
        tg.user_callback(reply, "refresh")            # a button press on that message
        await tg.wait_for_call("answerCallbackQuery")

What it keeps:
- `tg.calls`: every request as `Call(method, params)`; params are decoded the way Telegram
  reads them (ints, bools, JSON objects; file uploads as `Upload`). `tg.failures` lists the
  calls that were answered with an error.
- `tg.sent`: each message the bot sent (`SentMessage`); an edit updates that record in place
  and appends a snapshot to `tg.edits`.
- `tg.commands` (the default command menu), `tg.webhook`, `tg.callback_answers`.

What it checks, like Telegram: HTML text (`check_html`, see below), the 4096/1024 UTF-16 limits
on text after entity parsing, empty text, callback_data of 1-64 bytes, "message is not
modified" on identical edits, replies to unknown messages, command names, chat actions.
Markdown parse modes are accepted but not validated.

Users are simulated with `user_message`, `user_callback` and `queue_update`; `getUpdates`
long-polls on them and answers as soon as one is queued (or the poll's timeout passes, or
the server stops). Waiting never sleeps: `wait_for`, `wait_for_edit` and `wait_for_call` wake
on every recorded request.

Faults: `fail_next(method, status, ...)` (e.g. 429 with retry_after, 403 blocked, 400 with
migrate_to_chat_id), `fail_chat(chat_id, ...)` for a chat that keeps failing (e.g. 429 with
retry_after), and `tg.down = "502" | "reset" | True` (True means "502": an nginx-style HTML
502; "reset" drops the connection) to make every request fail until `tg.down = False`.
`route(method, fn)` adds or overrides a method. Slow and lossy answers:
`delay(method, seconds, times=None)` answers those calls `seconds` late (the message is
stored when the request arrives, as Telegram would have sent it), and
`drop_after_send(method, times=1)` stores the message and then drops the connection without
an answer, so the client sees a network error and cannot know that it landed.

Flood control, off by default: `tg.flood_control = True` (or a `FloodControl` with other
numbers) answers a message-producing request (`MESSAGE_METHODS`: sends, copies, forwards,
edits) with 429 "Too Many Requests: retry after N" and `parameters.retry_after` N when it would
make more than 30 in any 1 s window overall, more than 20 in any 60 s window in one group,
supergroup or channel, or more than 3 in any 1 s window in one private chat (Telegram asks for
about one a second there and lets short bursts pass; 3 is that, leniently). Only accepted
requests count, and a refused one produces no message. To measure what the bot did:
`tg.peak_per_second(method)` (the most accepted messages in any 1 s sliding window, from
`SentMessage.at`), `tg.peak(window, method=..., chat_id=...)` and `tg.peak_per_chat(window)`.

Note on HTML: real Telegram passes a bare `&` that starts no entity through as text; this
fake rejects it (`FakeTelegram(strict_html=False)` to allow it) so unescaped text is caught.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import copy
import dataclasses
import inspect
import itertools
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from aiohttp import web

from tests.fakes.local_server import LocalServer

__all__ = [
    "BOT_ID",
    "BOT_USERNAME",
    "MESSAGE_METHODS",
    "TOKEN",
    "ApiError",
    "Call",
    "Failure",
    "FakeTelegram",
    "FloodControl",
    "HtmlError",
    "SentMessage",
    "Upload",
    "check_html",
    "most_in_any",
    "parse_html",
    "utf16_len",
]

_LOG = logging.getLogger(__name__)

TOKEN = "123456:TEST-token-abcdefghijklmnopqrstuvwxyz"
BOT_ID = 123456
BOT_USERNAME = "arb_test_bot"
MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
BLOCKED = "Forbidden: bot was blocked by the user"
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
BAD_GATEWAY_HTML = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)

BOT_USER: dict[str, Any] = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "Arb Test Bot",
    "username": BOT_USERNAME,
}
GET_ME: dict[str, Any] = {
    **BOT_USER,
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
    "can_connect_to_business": False,
    "has_main_web_app": False,
}

# What flood control counts (lower case, as routes are matched): requests that produce or
# change a message.
MESSAGE_METHODS = frozenset({
    "sendmessage", "sendphoto", "sendaudio", "senddocument", "sendvideo", "sendanimation",
    "sendvoice", "sendvideonote", "sendpaidmedia", "sendmediagroup", "sendlocation",
    "sendvenue", "sendcontact", "sendpoll", "sendchecklist", "senddice", "sendsticker",
    "sendinvoice", "sendgame", "copymessage", "copymessages", "forwardmessage",
    "forwardmessages", "editmessagetext", "editmessagecaption", "editmessagemedia",
    "editmessagereplymarkup", "editmessagelivelocation", "stopmessagelivelocation",
    "editmessagechecklist", "stoppoll",
})  # fmt: skip

CHAT_ACTIONS = frozenset({
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note",
    "upload_video_note",
})  # fmt: skip


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's limits and entity offsets."""
    return len(text.encode("utf-16-le")) // 2


# --------------------------------------------------------------------------- HTML parse mode


class HtmlError(ValueError):
    """Why Telegram would refuse a text with parse_mode HTML ("can't parse entities: ...")."""


_TAGS = frozenset({
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
    "code", "pre", "blockquote", "tg-emoji",
})  # fmt: skip
_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(?:#([0-9]{1,10})|#[xX]([0-9a-fA-F]{1,8})|([a-zA-Z]+));")
_PLAIN_RUN_RE = re.compile(r"[^<&]+")
_NAME_TOKEN_RE = re.compile(r"[A-Za-z0-9.\-]*")


@dataclass
class _OpenTag:
    name: str
    argument: str | None
    offset: int  # UTF-16 offset in the parsed text
    chunk: int  # index into the output chunks where the tag's text begins


class _HtmlParser:
    """Telegram's (TDLib's) HTML rules; an error names the byte offset like Telegram does."""

    def __init__(self, source: str, strict_amp: bool) -> None:
        self.src = source
        self.strict_amp = strict_amp
        self.pos = 0
        self.chunks: list[str] = []
        self.offset = 0
        self.stack: list[_OpenTag] = []
        self.entities: list[dict[str, Any]] = []

    def parse(self) -> tuple[str, list[dict[str, Any]]]:
        while self.pos < len(self.src):
            char = self.src[self.pos]
            if char == "&":
                self._html_entity()
            elif char == "<":
                if self.src.startswith("</", self.pos):
                    self._end_tag()
                else:
                    self._start_tag()
            else:
                run = _PLAIN_RUN_RE.match(self.src, self.pos)
                assert run is not None
                self._emit(run.group())
                self.pos = run.end()
        if self.stack:
            name = self.stack[-1].name
            raise HtmlError(f'Can\'t find end tag corresponding to start tag "{name}"')
        return _strip_text("".join(self.chunks), self.entities)

    def _byte_offset(self, pos: int) -> int:
        return len(self.src[:pos].encode("utf-8"))

    def _emit(self, text: str) -> None:
        self.chunks.append(text)
        self.offset += utf16_len(text)

    def _skip_spaces(self, pos: int) -> int:
        while pos < len(self.src) and self.src[pos].isspace():
            pos += 1
        return pos

    def _decode_entity(self, pos: int) -> tuple[str | None, int]:
        """The character an HTML entity at `pos` stands for, and where it ends."""
        found = _ENTITY_RE.match(self.src, pos)
        if found is None:
            return None, pos
        decimal, hexadecimal, name = found.groups()
        if name is not None:
            return _NAMED_ENTITIES.get(name), found.end()
        code = int(decimal) if decimal is not None else int(hexadecimal, 16)
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None, found.end()
        return chr(code), found.end()

    def _html_entity(self) -> None:
        char, end = self._decode_entity(self.pos)
        if char is not None:
            self._emit(char)
            self.pos = end
            return
        if self.strict_amp:
            where = f"at byte offset {self._byte_offset(self.pos)}"
            if end > self.pos:
                raise HtmlError(f'Unsupported HTML entity "{self.src[self.pos : end]}" {where}')
            raise HtmlError(f'Character "&" must be escaped as "&amp;" {where}')
        self._emit("&")
        self.pos += 1

    def _start_tag(self) -> None:
        begin = self.pos
        where = f"at byte offset {self._byte_offset(begin)}"
        end = begin + 1
        while end < len(self.src) and not self.src[end].isspace() and self.src[end] != ">":
            end += 1
        if end >= len(self.src):
            raise HtmlError(f"Unclosed start tag {where}")
        name = self.src[begin + 1 : end].lower()
        if name not in _TAGS:
            raise HtmlError(f'Unsupported start tag "{name}" {where}')
        attributes, self.pos = self._attributes(name, end, where)
        argument = _tag_argument(name, attributes, where)
        self.stack.append(_OpenTag(name, argument, self.offset, len(self.chunks)))

    def _attributes(self, tag: str, pos: int, where: str) -> tuple[dict[str, str], int]:
        """Parses `name="value"` pairs up to the closing ">"; returns them and the position
        after it."""
        attributes: dict[str, str] = {}
        while True:
            pos = self._skip_spaces(pos)
            if pos >= len(self.src):
                raise HtmlError(f'Unclosed start tag "{tag}" {where}')
            if self.src[pos] == ">":
                return attributes, pos + 1
            end = pos
            while end < len(self.src) and not self.src[end].isspace():
                if self.src[end] in "=>/\"'":
                    break
                end += 1
            name = self.src[pos:end].lower()
            if not name:
                raise HtmlError(f'Empty attribute name in the tag "{tag}" {where}')
            pos = self._skip_spaces(end)
            if pos >= len(self.src):
                raise HtmlError(f'Unclosed start tag "{tag}" {where}')
            if self.src[pos] != "=":
                attributes[name] = ""
                continue
            attributes[name], pos = self._attribute_value(self._skip_spaces(pos + 1), tag, where)

    def _attribute_value(self, pos: int, tag: str, where: str) -> tuple[str, int]:
        if pos >= len(self.src):
            raise HtmlError(f'Unclosed start tag "{tag}" {where}')
        quote = self.src[pos]
        if quote not in "\"'":
            token = _NAME_TOKEN_RE.match(self.src, pos)
            assert token is not None
            end = token.end()
            if end >= len(self.src):
                raise HtmlError(f'Unclosed start tag "{tag}" {where}')
            if not self.src[end].isspace() and self.src[end] != ">":
                raise HtmlError(
                    f"Unexpected end of name token at byte offset {self._byte_offset(end)}"
                )
            return token.group().lower(), end
        value: list[str] = []
        pos += 1
        while pos < len(self.src) and self.src[pos] != quote:
            if self.src[pos] == "&":
                char, end = self._decode_entity(pos)
                if char is None and self.strict_amp:
                    raise HtmlError(
                        f'Character "&" must be escaped as "&amp;" at byte offset '
                        f"{self._byte_offset(pos)}"
                    )
                if char is not None:
                    value.append(char)
                    pos = end
                    continue
            value.append(self.src[pos])
            pos += 1
        if pos >= len(self.src):
            raise HtmlError(f'Unclosed start tag "{tag}" {where}')
        return "".join(value), pos + 1

    def _end_tag(self) -> None:
        begin = self.pos
        where = f"at byte offset {self._byte_offset(begin)}"
        if not self.stack:
            raise HtmlError(f"Unexpected end tag {where}")
        end = begin + 2
        while end < len(self.src) and not self.src[end].isspace() and self.src[end] != ">":
            end += 1
        name = self.src[begin + 2 : end].lower()
        end = self._skip_spaces(end)
        if end >= len(self.src) or self.src[end] != ">":
            raise HtmlError(f"Unclosed end tag {where}")
        top = self.stack[-1]
        if name and name != top.name:
            raise HtmlError(
                f'Unmatched end tag {where}, expected "</{top.name}>", found "</{name}>"'
            )
        self.stack.pop()
        self.pos = end + 1
        self._close(top)

    def _close(self, tag: _OpenTag) -> None:
        length = self.offset - tag.offset
        if tag.name == "tg-emoji" and not (tag.argument or "").isdigit():
            raise HtmlError("Invalid custom emoji identifier specified")
        if length <= 0:
            return
        entity: dict[str, Any] = {"type": "", "offset": tag.offset, "length": length}
        if tag.name == "a":
            entity["type"] = "text_link"
            entity["url"] = tag.argument or "".join(self.chunks[tag.chunk :])
        elif tag.name == "tg-emoji":
            entity["type"] = "custom_emoji"
            entity["custom_emoji_id"] = tag.argument
        elif tag.name == "blockquote":
            entity["type"] = "expandable_blockquote" if tag.argument else "blockquote"
        elif tag.name == "pre" and self._wraps_code(tag.offset, length):
            entity = self.entities.pop()
            entity["type"] = "pre"
        else:
            entity["type"] = _ENTITY_TYPES[tag.name]
            if tag.name == "code" and tag.argument:
                entity["language"] = tag.argument
        self.entities.append(entity)

    def _wraps_code(self, offset: int, length: int) -> bool:
        last = self.entities[-1] if self.entities else None
        return bool(
            last and last["type"] == "code" and (last["offset"], last["length"]) == (offset, length)
        )


def _tag_argument(name: str, attributes: dict[str, str], where: str) -> str | None:
    if name == "a":
        return attributes.get("href")
    if name == "code":
        css = attributes.get("class", "")
        return css.removeprefix("language-") if css.startswith("language-") else None
    if name == "span":
        if attributes.get("class") != "tg-spoiler":
            raise HtmlError(f'Tag "span" must have class "tg-spoiler" {where}')
        return None
    if name == "tg-emoji":
        return attributes.get("emoji-id")
    if name == "blockquote":
        return "expandable" if "expandable" in attributes else None
    return None


def _strip_text(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Telegram trims a message; entities are shifted and clipped to the trimmed text."""
    body = text.strip()
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    total = utf16_len(body)
    kept = []
    for entity in entities:
        start = min(max(entity["offset"] - lead, 0), total)
        end = min(max(entity["offset"] + entity["length"] - lead, 0), total)
        if end > start:
            if entity["type"] == "code":
                entity.pop("language", None)  # only a pre keeps its language
            kept.append({**entity, "offset": start, "length": end - start})
    kept.sort(key=lambda e: (e["offset"], -e["length"]))
    return body, kept


def parse_html(text: str, *, strict_amp: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """The plain text and the message entities (UTF-16 offsets) of an HTML-formatted text.

    Raises HtmlError (a ValueError) with Telegram's reason. With `strict_amp` (the default)
    a `&` that starts no entity is an error; Telegram itself would keep it as text."""
    return _HtmlParser(text, strict_amp).parse()


def check_html(text: str, *, strict_amp: bool = True) -> str:
    """Validates `text` as Telegram's parse_mode HTML would; returns the plain text.

    Raises ValueError (HtmlError) with the reason, e.g. 'Unsupported start tag "br" at byte
    offset 5'. Length and emptiness are not checked here: use `utf16_len` on the result."""
    return parse_html(text, strict_amp=strict_amp)[0]


# --------------------------------------------------------------------------- records


class ApiError(Exception):
    """A Bot API error answer; raise it from a `route` handler to answer with it."""

    def __init__(self, status: int, description: str, **parameters: Any) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = {k: v for k, v in parameters.items() if v is not None}

    def envelope(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


class Call(NamedTuple):
    """One request: the method's canonical name and its decoded parameters."""

    method: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Failure:
    """A call answered with an error; status 0 means the connection was dropped."""

    call: Call
    status: int
    description: str


@dataclass(frozen=True)
class Upload:
    """A file sent as a multipart part."""

    filename: str | None
    content_type: str
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class SentMessage:
    """A message the bot sent. `text`/`caption` are as sent (with markup); `plain` is the
    text after entity parsing. Edits update this record in place."""

    method: str
    chat_id: int
    message_id: int
    text: str | None = None
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    message_thread_id: int | None = None
    reply_to_message_id: int | None = None
    caption: str | None = None
    plain: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    photo_size: int | None = None
    deleted: bool = False
    params: dict[str, Any] = field(default_factory=dict, repr=False)
    at: float = field(default_factory=time.monotonic)

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """The inline keyboard's buttons, row by row, flattened."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]


@dataclass
class FloodControl:
    """Telegram's flood limits on message-producing requests, each as (requests, seconds):
    at most that many accepted in any window of that many seconds (sliding)."""

    overall: tuple[int, float] = (30, 1.0)
    per_group: tuple[int, float] = (20, 60.0)  # groups, supergroups, channels
    per_private: tuple[int, float] = (3, 1.0)  # Telegram: "about one a second", bursts pass


# --------------------------------------------------------------------------- decoding requests

_CHAT_KEYS = frozenset({"chat_id", "from_chat_id"})
_INT_KEYS = frozenset({
    "message_id", "user_id", "offset", "limit", "message_thread_id", "reply_to_message_id",
    "until_date", "cache_time", "max_connections",
})  # fmt: skip
_FLOAT_KEYS = frozenset({"timeout"})
_BOOL_KEYS = frozenset({
    "disable_notification", "protect_content", "show_alert", "drop_pending_updates",
    "disable_web_page_preview", "allow_sending_without_reply", "allow_paid_broadcast",
    "has_spoiler", "show_caption_above_media", "only_if_banned", "revoke_messages",
})  # fmt: skip
_JSON_KEYS = frozenset({
    "reply_markup", "entities", "caption_entities", "commands", "scope", "allowed_updates",
    "reply_parameters", "link_preview_options", "media", "results", "permissions",
    "message_ids", "reaction",
})  # fmt: skip


def _decode_value(key: str, value: Any) -> Any:
    """Form fields arrive as strings (PTB JSON-dumps all but str values); JSON bodies are
    native. Decode by the parameter's type, as Telegram does."""
    try:
        if key in _CHAT_KEYS:
            if isinstance(value, str) and value.startswith("@"):
                return value
            return int(value)
        if key in _INT_KEYS:
            return int(value)
        if key in _FLOAT_KEYS:
            return float(value)
        if key in _BOOL_KEYS:
            return value if isinstance(value, bool) else str(value).lower() in ("true", "1")
        if key in _JSON_KEYS and isinstance(value, str):
            return json.loads(value)
    except ValueError as exc:
        if key == "reply_markup":
            raise ApiError(
                400, "Bad Request: can't parse reply keyboard markup JSON object"
            ) from exc
        if key in _CHAT_KEYS:
            raise ApiError(400, "Bad Request: chat not found") from exc
        raise ApiError(400, f"Bad Request: invalid {key} specified") from exc
    return value


async def _read_request(request: web.Request) -> tuple[dict[str, Any], dict[str, Upload]]:
    """Query string, then a form (urlencoded or multipart) or a JSON body."""
    params: dict[str, Any] = dict(request.query)
    files: dict[str, Upload] = {}
    if request.content_type == "application/json":
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ApiError(400, "Bad Request: can't parse JSON encoded request body")
        params.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                files[key] = Upload(value.filename, value.content_type, value.file.read())
            else:
                params[key] = value
    else:
        await request.read()
    return params, files


def _check_inline_keyboard(markup: dict[str, Any]) -> None:
    for row in markup.get("inline_keyboard") or []:
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= CALLBACK_DATA_LIMIT:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            if len(button) < 2:  # only "text": no action
                raise ApiError(
                    400,
                    "Bad Request: can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard",
                )


def _inline_markup(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    """The part of a reply markup that a message carries (only inline keyboards)."""
    if markup and markup.get("inline_keyboard"):
        return {"inline_keyboard": markup["inline_keyboard"]}
    return None


def _short(text: str | None, width: int = 70) -> str:
    text = (text or "").replace("\n", "⏎")
    return text if len(text) <= width else text[: width - 1] + "…"


def _default_description(status: int, retry_after: int | None, migrate: int | None) -> str:
    if migrate is not None:
        return "Bad Request: group chat was upgraded to a supergroup chat"
    return {
        400: "Bad Request",
        401: "Unauthorized",
        403: BLOCKED,
        404: "Not Found",
        409: POLL_CONFLICT,
        429: f"Too Many Requests: retry after {retry_after}",
        500: "Internal Server Error",
        502: "Bad Gateway",
    }.get(status, "Error")


def most_in_any(times: Iterable[float], window: float) -> int:
    """The most of `times` in any `window` seconds, sliding."""
    ordered = sorted(times)
    best, first = 0, 0
    for last, at in enumerate(ordered):
        while at - ordered[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best


def _window_wait(times: list[float], limit: tuple[int, float], now: float) -> float:
    """Seconds until one more fits in a window of `limit` = (count, seconds) over the sorted
    `times` of accepted requests; 0 if it fits now."""
    count, period = limit
    recent = len(times) - bisect.bisect_right(times, now - period)
    if recent < count:
        return 0.0
    return times[len(times) - count] + period - now


class _Signal:
    """Broadcast "something changed" that sync code can fire (an asyncio.Condition needs its
    lock held to notify, which a sync helper like `user_message` cannot take)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(self, probe: Callable[[], Any], timeout: float) -> Any:
        """Returns probe()'s first non-None value, or None once `timeout` has passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (found := probe()) is None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            event = self._event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)
        return found


_AUTO: Any = object()
_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")
_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")
_CHAT_MEMBER_STATUSES = {
    "owner": "creator",
    "creator": "creator",
    "administrator": "administrator",
    "member": "member",
    "restricted": "restricted",
    "left": "left",
    "kicked": "kicked",
    "banned": "kicked",
}


# --------------------------------------------------------------------------- the server


class FakeTelegram(LocalServer):
    """The fake Bot API. `async with FakeTelegram() as tg:` serves on 127.0.0.1:tg.port."""

    def __init__(self, token: str = TOKEN, *, strict_html: bool = True) -> None:
        super().__init__(handle_signals=False, access_log=None, shutdown_timeout=1.0)
        self.token = token
        self.strict_html = strict_html
        self.calls: list[Call] = []
        self.failures: list[Failure] = []
        self.sent: list[SentMessage] = []
        self.edits: list[SentMessage] = []
        self.chat_members: dict[tuple[int, int], str] = {}
        self.chats: dict[int, dict[str, Any]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.my_commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.webhook: dict[str, Any] = {}
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.chat_failures: dict[int | str, ApiError] = {}
        self.down: bool | str = False
        self._flood_control: FloodControl | None = None
        self._accepted: list[float] = []  # when each message-producing request was accepted
        self._accepted_in: dict[int | str, list[float]] = {}  # the same, per chat
        self._delays: dict[str, list[Any]] = {}  # method -> [seconds, times left or None]
        self._drops: dict[str, int] = {}
        self._fail_next: dict[str, list[ApiError]] = {}
        self._updates: list[dict[str, Any]] = []
        self._last_update_id = 0
        self._query_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._bot_messages: dict[tuple[int, int], SentMessage] = {}
        self._open_queries: set[str] = set()
        self._poll_generation = 0
        self._closing = False
        self._signal = _Signal()
        self._routes: dict[str, tuple[str, Callable[[dict[str, Any]], Any]]] = {}
        for name, handler in self._builtin_methods().items():
            self.route(name, handler)

    # ----------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._handle)
        return app

    async def start(self) -> FakeTelegram:
        self._closing = False
        return await super().start()

    async def stop(self) -> None:
        """Releases pending long polls at once, then closes the server."""
        self._closing = True
        self._signal.notify()
        await super().stop()

    # ----------------------------------------------------------------- configuration

    def route(self, method: str, handler: Callable[[dict[str, Any]], Any]) -> None:
        """Adds or replaces a method: handler(params) returns the result (or an awaitable of
        it) or raises ApiError. Method names match case-insensitively, like Telegram's."""
        self._routes[method.lower()] = (method, handler)

    def fail_next(
        self,
        method: str,
        status: int = 400,
        description: str | None = None,
        *,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` calls of `method` get this error instead of being served."""
        if description is None:
            description = _default_description(status, retry_after, migrate_to_chat_id)
        error = ApiError(
            status, description, retry_after=retry_after, migrate_to_chat_id=migrate_to_chat_id
        )
        self._fail_next.setdefault(method.lower(), []).extend([error] * times)

    def fail_chat(
        self,
        chat_id: int | str,
        status: int = 403,
        description: str | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        """Every call naming this chat_id fails until `del tg.chat_failures[chat_id]`
        (403 "bot was blocked by the user" by default; 429 with retry_after for a flood)."""
        if description is None:
            description = _default_description(status, retry_after, None)
        self.chat_failures[chat_id] = ApiError(status, description, retry_after=retry_after)

    @property
    def flood_control(self) -> FloodControl | None:
        return self._flood_control

    @flood_control.setter
    def flood_control(self, rules: FloodControl | bool | None) -> None:
        """True: Telegram's limits (FloodControl()); False or None: off."""
        self._flood_control = FloodControl() if rules is True else rules or None

    def delay(self, method: str, seconds: float, times: int | None = None) -> None:
        """The next `times` calls of `method` (every one if None) are answered `seconds`
        late; what they do happens on arrival (a message is in `tg.sent` at once). Replaces
        an earlier delay of `method`; seconds=0 ends it."""
        if seconds > 0:
            self._delays[method.lower()] = [seconds, times]
        else:
            self._delays.pop(method.lower(), None)

    def drop_after_send(self, method: str, times: int = 1) -> None:
        """The next `times` calls of `method` that succeed take effect (the message is
        stored) but get no answer: the connection is dropped, so the client sees a network
        error and cannot tell that the message landed. Each is in `tg.failures` with status
        0 and "dropped after send"."""
        self._drops[method.lower()] = self._drops.get(method.lower(), 0) + times

    @property
    def commands(self) -> list[dict[str, Any]]:
        """The command menu set for the default scope and all languages."""
        return self.my_commands.get((_scope_key(None), ""), [])

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Queued updates that getUpdates has not had confirmed yet."""
        return list(self._updates)

    # ----------------------------------------------------------------- waiting

    async def wait_for(
        self,
        predicate: Callable[[SentMessage], bool] | None = None,
        timeout: float = 5.0,
        *,
        after: int = 0,
    ) -> SentMessage:
        """The first message in `tg.sent[after:]` matching `predicate` (any if None), waiting
        for it up to `timeout` seconds. Take `after = len(tg.sent)` before acting."""
        return await self._wait_in(self.sent, predicate, timeout, after, "sent message")

    async def wait_for_edit(
        self,
        predicate: Callable[[SentMessage], bool] | None = None,
        timeout: float = 5.0,
        *,
        after: int = 0,
    ) -> SentMessage:
        """Like wait_for, over `tg.edits` (snapshots of edited messages)."""
        return await self._wait_in(self.edits, predicate, timeout, after, "edit")

    async def wait_for_call(
        self,
        method: str,
        timeout: float = 5.0,
        *,
        after_calls: int | None = None,
        count: int = 1,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
    ) -> Call:
        """The `count`-th call of `method` in `tg.calls[after_calls:]` (None: from the start)
        whose params match `predicate`. Calls that were failed (injected errors, the server
        being down) count too."""
        start = after_calls or 0
        wanted = method.lower()

        def probe() -> Call | None:
            matches = (
                call
                for call in itertools.islice(self.calls, start, None)
                if call.method.lower() == wanted and (predicate is None or predicate(call.params))
            )
            return next(itertools.islice(matches, count - 1, None), None)

        found = await self._signal.wait_until(probe, timeout)
        if found is None:
            raise TimeoutError(
                f"no {count}x {method} call within {timeout}s (after call {start}).\n"
                + self.describe()
            )
        return found

    async def _wait_in(
        self,
        items: list[SentMessage],
        predicate: Callable[[SentMessage], bool] | None,
        timeout: float,
        after: int,
        what: str,
    ) -> SentMessage:
        def probe() -> SentMessage | None:
            matches = itertools.islice(items, after, None)
            return next((m for m in matches if predicate is None or predicate(m)), None)

        found = await self._signal.wait_until(probe, timeout)
        if found is None:
            raise TimeoutError(
                f"no {what} matched within {timeout}s (looking after index {after}).\n"
                + self.describe()
            )
        return found

    # ----------------------------------------------------------------- measuring

    def peak(
        self, window: float = 1.0, *, method: str | None = None, chat_id: int | None = None
    ) -> int:
        """The most messages sent or edited (`tg.sent` and `tg.edits`, by their `at`) in any
        `window` seconds, sliding; only `method`'s (e.g. "sendMessage") and `chat_id`'s if
        given."""
        wanted = method.lower() if method else None
        return most_in_any(
            (
                m.at
                for m in itertools.chain(self.sent, self.edits)
                if (wanted is None or m.method.lower() == wanted)
                and (chat_id is None or m.chat_id == chat_id)
            ),
            window,
        )

    def peak_per_second(
        self, method: str | None = "sendMessage", chat_id: int | None = None
    ) -> int:
        """The most accepted messages in any 1 s sliding window (None: every method)."""
        return self.peak(1.0, method=method, chat_id=chat_id)

    def peak_per_chat(self, window: float = 1.0, method: str | None = None) -> dict[int, int]:
        """Each chat's `peak(window)`, e.g. peak_per_chat(60.0) for the per-group limit."""
        chats = dict.fromkeys(m.chat_id for m in itertools.chain(self.sent, self.edits))
        return {chat: self.peak(window, method=method, chat_id=chat) for chat in chats}

    def describe(self, last: int = 15) -> str:
        """What the bot sent and asked for lately, for failure messages."""
        lines = [f"sent ({len(self.sent)}):"]
        first = max(len(self.sent) - last, 0)
        for index, m in enumerate(self.sent[first:], start=first):
            body = m.text if m.text is not None else m.caption
            lines.append(
                f"  [{index}] {m.method} chat={m.chat_id} id={m.message_id}: {_short(body)}"
            )
        lines.append(f"edits ({len(self.edits)}), calls ({len(self.calls)}), latest:")
        lines.extend(
            f"  {call.method} {_short(repr(call.params), 90)}" for call in self.calls[-last:]
        )
        if self.failures:
            lines.append("failures, latest:")
            lines.extend(
                f"  {f.call.method} -> {f.status} {f.description}" for f in self.failures[-last:]
            )
        return "\n".join(lines)

    # ----------------------------------------------------------------- simulated users

    def queue_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queues a raw update for getUpdates (update_id assigned if missing); returns it."""
        update = copy.deepcopy(update)
        update.setdefault("update_id", self._last_update_id + 1)
        self._last_update_id = max(self._last_update_id, int(update["update_id"]))
        for kind in ("message", "edited_message", "channel_post"):
            message = update.get(kind)
            if isinstance(message, dict) and "chat" in message and "message_id" in message:
                self._messages[(message["chat"]["id"], message["message_id"])] = message
        self._updates.append(update)
        self._signal.notify()
        return update

    def user_message(
        self,
        text: str,
        chat_id: int | None = None,
        user_id: int | None = None,
        chat_type: str = "private",
        thread_id: int | None = None,
        username: str | None = "alice",
        is_topic_message: bool | None = None,
        entities: list[dict[str, Any]] | None = _AUTO,
        *,
        is_forum: bool | None = None,
        title: str | None = None,
        reply_to: SentMessage | int | None = None,
    ) -> dict[str, Any]:
        """A user writes `text`; returns the queued update.

        In a private chat, chat_id and user_id default to each other (else 1001); in groups
        user_id defaults to 1001 and chat_id to -4001 ("group") or -1001000001001
        ("supergroup"). A "/command" gets its bot_command entity (pass entities to
        override). A supergroup is a forum if is_forum, or (default) if a thread_id is given or
        the chat was a forum before; in a forum a thread_id message is a topic message."""
        if user_id is None:
            private_chat = chat_type == "private" and chat_id is not None
            user_id = chat_id if private_chat else 1001
        user = self._user(user_id, username)
        chat = self._user_chat(chat_type, chat_id, user, thread_id, is_forum, title)
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat["id"]),
            "from": user,
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        if entities is _AUTO:
            entities = _command_entities(text)
        if entities:
            message["entities"] = entities
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            if is_topic_message is None:
                is_topic_message = bool(chat.get("is_forum"))
        if is_topic_message:
            message["is_topic_message"] = True
        if reply_to is not None:
            message["reply_to_message"] = self._reply_target(chat["id"], reply_to)
        return self.queue_update({"message": message})

    def user_callback(
        self,
        message: SentMessage | dict[str, Any],
        data: str,
        user_id: int | None = None,
        *,
        username: str | None = "alice",
        check_button: bool = True,
    ) -> dict[str, Any]:
        """A user presses the button with callback_data `data` on a message the bot sent;
        the query carries the message as it is now (after edits). Returns the update."""
        if isinstance(message, SentMessage):
            key = (message.chat_id, message.message_id)
        else:
            key = (message["chat"]["id"], message["message_id"])
        stored = self._messages.get(key)
        if stored is None:
            raise ValueError(f"no message {key} in the chat (never sent, or deleted)")
        if check_button:
            rows = (stored.get("reply_markup") or {}).get("inline_keyboard") or []
            offered = [button.get("callback_data") for row in rows for button in row]
            if data not in offered:
                raise ValueError(f"message {key} has no button {data!r}; it has {offered}")
        if user_id is None:
            user_id = key[0] if key[0] > 0 else 1001
        query_id = str(next(self._query_ids))
        self._open_queries.add(query_id)
        query = {
            "id": query_id,
            "from": self._user(user_id, username),
            "message": copy.deepcopy(stored),
            "chat_instance": f"ci{key[0]}",
            "data": data,
        }
        return self.queue_update({"callback_query": query})

    def _user(self, user_id: int, username: str | None) -> dict[str, Any]:
        user: dict[str, Any] = {
            "id": user_id,
            "is_bot": False,
            "first_name": (username or f"user{user_id}").capitalize(),
            "language_code": "en",
        }
        if username:
            user["username"] = username
        self.users[user_id] = user
        return user

    def _user_chat(
        self,
        chat_type: str,
        chat_id: int | None,
        user: dict[str, Any],
        thread_id: int | None,
        is_forum: bool | None,
        title: str | None,
    ) -> dict[str, Any]:
        if chat_type == "private":
            chat: dict[str, Any] = {"id": user["id"] if chat_id is None else chat_id}
            chat.update(type="private", first_name=user["first_name"])
            if "username" in user:
                chat["username"] = user["username"]
        elif chat_type in ("group", "supergroup"):
            default_id = -4001 if chat_type == "group" else -1001000001001
            chat = {"id": default_id if chat_id is None else chat_id, "type": chat_type}
            known = self.chats.get(chat["id"], {})
            chat["title"] = title or known.get("title") or f"Test {chat_type}"
            if is_forum is None:
                is_forum = known.get("is_forum") or thread_id is not None
            if chat_type == "supergroup" and is_forum:
                chat["is_forum"] = True
        else:
            raise ValueError(f"chat_type {chat_type!r}: private, group or supergroup")
        self.chats[chat["id"]] = chat
        return dict(chat)

    def _reply_target(self, chat_id: int, reply_to: SentMessage | int) -> dict[str, Any]:
        message_id = reply_to.message_id if isinstance(reply_to, SentMessage) else reply_to
        stored = self._messages.get((chat_id, message_id))
        if stored is None:
            raise ValueError(f"no message {message_id} in chat {chat_id} to reply to")
        return {k: v for k, v in copy.deepcopy(stored).items() if k != "reply_to_message"}

    # ----------------------------------------------------------------- HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if not path.startswith("/bot"):
            return _answer(ApiError(404, "Not Found").envelope(), 404)
        token, _, method = path[len("/bot") :].partition("/")
        name, handler = self._routes.get(method.lower(), (method, None))
        try:
            raw, files = await _read_request(request)
        except ApiError as error:
            return self._fail(Call(name, {}), error)
        try:
            params = {key: _decode_value(key, value) for key, value in raw.items()}
        except ApiError as error:
            return self._fail(Call(name, raw), error)
        params.update(files)
        call = Call(name, params)
        self.calls.append(call)
        self._signal.notify()
        if self.down:
            return self._answer_down(request, call)
        delay = self._take_delay(name)
        dropped = False
        try:
            if token != self.token:
                raise ApiError(401, "Unauthorized")
            self._raise_injected(name, params)
            if handler is None or not method:
                raise ApiError(404, "Not Found")
            self._check_flood(name, params)
            result = handler(params)
            if inspect.isawaitable(result):
                result = await result
            self._count_flood(name, params)
            dropped = self._take_drop(name)
            response = _answer({"ok": True, "result": result})
        except ApiError as error:
            response = self._fail(call, error)
        except Exception as exc:  # a bug in the fake: make it visible
            _LOG.exception("FakeTelegram failed on %s", name)
            response = self._fail(call, ApiError(500, f"Internal Server Error: {exc!r}"))
        if delay:
            await self._signal.wait_until(lambda: True if self._closing else None, delay)
        if dropped:
            self.failures.append(Failure(call, 0, "dropped after send"))
            self._signal.notify()
            if request.transport is not None:
                request.transport.abort()
        return response

    def _fail(self, call: Call, error: ApiError) -> web.Response:
        self.failures.append(Failure(call, error.status, error.description))
        self._signal.notify()
        return _answer(error.envelope(), error.status)

    def _answer_down(self, request: web.Request, call: Call) -> web.Response:
        mode = "502" if self.down is True else self.down
        if mode not in ("reset", "502"):
            raise ValueError(f'tg.down = {self.down!r}: use "reset", "502", True or False')
        self.failures.append(Failure(call, 502 if mode == "502" else 0, f"down: {mode}"))
        self._signal.notify()
        if mode == "reset" and request.transport is not None:
            request.transport.abort()  # the client sees the connection dropped
        return web.Response(status=502, text=BAD_GATEWAY_HTML, content_type="text/html")

    def _take_delay(self, method: str) -> float:
        delay = self._delays.get(method.lower())
        if delay is None:
            return 0.0
        seconds, times = delay
        if times is not None:
            if times <= 1:
                del self._delays[method.lower()]
            else:
                delay[1] = times - 1
        return seconds

    def _take_drop(self, method: str) -> bool:
        left = self._drops.get(method.lower(), 0)
        if left <= 0:
            return False
        self._drops[method.lower()] = left - 1
        return True

    def _check_flood(self, method: str, params: dict[str, Any]) -> None:
        """429 if one more message would break a flood limit (see FloodControl)."""
        rules = self._flood_control
        if rules is None or method.lower() not in MESSAGE_METHODS:
            return
        now = time.monotonic()
        wait = _window_wait(self._accepted, rules.overall, now)
        chat_id = params.get("chat_id")
        if chat_id is not None:
            group = isinstance(chat_id, str) or chat_id < 0
            limit = rules.per_group if group else rules.per_private
            wait = max(wait, _window_wait(self._accepted_in.get(chat_id, []), limit, now))
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )

    def _count_flood(self, method: str, params: dict[str, Any]) -> None:
        if method.lower() not in MESSAGE_METHODS:
            return
        now = time.monotonic()
        self._accepted.append(now)
        chat_id = params.get("chat_id")
        if chat_id is not None:
            self._accepted_in.setdefault(chat_id, []).append(now)

    def _raise_injected(self, method: str, params: dict[str, Any]) -> None:
        queued = self._fail_next.get(method.lower())
        if queued:
            raise queued.pop(0)
        chat_id = params.get("chat_id")
        if chat_id is not None and chat_id in self.chat_failures:
            raise self.chat_failures[chat_id]

    # ----------------------------------------------------------------- methods

    def _builtin_methods(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {
            "getMe": lambda p: dict(GET_ME),
            "logOut": lambda p: True,
            "close": lambda p: True,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
        }

    async def _get_updates(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook.get("url"):
            raise ApiError(409, WEBHOOK_CONFLICT)
        self._confirm(p.get("offset", 0))
        limit = min(max(p.get("limit", 100), 1), 100)
        self._poll_generation += 1
        generation = self._poll_generation

        def probe() -> str | None:
            if self._closing:
                return "closing"
            if generation != self._poll_generation:
                return "superseded"
            return "updates" if self._updates else None

        outcome = await self._signal.wait_until(probe, max(p.get("timeout", 0.0), 0.0))
        if outcome == "superseded":
            raise ApiError(409, POLL_CONFLICT)
        return copy.deepcopy(self._updates[:limit])

    def _confirm(self, offset: int) -> None:
        """Forgets updates below `offset`; a negative offset keeps only the last -offset."""
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

    def _set_webhook(self, p: dict[str, Any]) -> bool:
        url = p.get("url", "")
        if url and not str(url).startswith("https://"):
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        self.webhook = {k: v for k, v in p.items() if not isinstance(v, Upload)}
        if p.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _delete_webhook(self, p: dict[str, Any]) -> bool:
        self.webhook = {}
        if p.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _get_webhook_info(self, p: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook.get("max_connections"):
            info["max_connections"] = self.webhook["max_connections"]
        return info

    def _send_message(self, p: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_id(p)
        text = p.get("text")
        if not text:
            raise ApiError(400, "Bad Request: message text is empty")
        plain, entities = self._render(str(text), p, "entities", MESSAGE_LIMIT)
        sent = SentMessage(
            "sendMessage",
            chat_id,
            self._next_message_id(chat_id),
            text=str(text),
            parse_mode=p.get("parse_mode"),
            reply_markup=self._reply_markup(p),
            message_thread_id=p.get("message_thread_id"),
            reply_to_message_id=self._reply_to_id(chat_id, p),
            plain=plain,
            entities=entities,
            params=p,
        )
        return self._store_sent(sent)

    def _send_photo(self, p: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_id(p)
        photo = p.get("photo")
        if isinstance(photo, str) and photo.startswith("attach://"):
            photo = p.get(photo.removeprefix("attach://"))
        if photo is None or photo == "":
            raise ApiError(400, "Bad Request: there is no photo in the request")
        caption = p.get("caption")
        plain, entities = None, []
        if caption:
            plain, entities = self._render(str(caption), p, "caption_entities", CAPTION_LIMIT)
        sent = SentMessage(
            "sendPhoto",
            chat_id,
            self._next_message_id(chat_id),
            parse_mode=p.get("parse_mode"),
            reply_markup=self._reply_markup(p),
            message_thread_id=p.get("message_thread_id"),
            reply_to_message_id=self._reply_to_id(chat_id, p),
            caption=None if caption is None else str(caption),
            plain=plain,
            entities=entities,
            photo_size=photo.size if isinstance(photo, Upload) else None,
            params=p,
        )
        return self._store_sent(sent)

    def _edit_message_text(self, p: dict[str, Any]) -> dict[str, Any]:
        sent = self._editable(p)
        if sent.text is None:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text = p.get("text")
        if not text:
            raise ApiError(400, "Bad Request: message text is empty")
        plain, entities = self._render(str(text), p, "entities", MESSAGE_LIMIT)
        markup = self._reply_markup(p)  # no reply_markup: Telegram drops the keyboard
        self._raise_if_unchanged(sent, plain, entities, markup)
        changes = {"text": str(text), "parse_mode": p.get("parse_mode"), "plain": plain}
        return self._apply_edit(sent, "editMessageText", p, entities=entities, **changes)

    def _edit_message_caption(self, p: dict[str, Any]) -> dict[str, Any]:
        sent = self._editable(p)
        if sent.text is not None:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        caption = p.get("caption")
        plain, entities = None, []
        if caption:
            plain, entities = self._render(str(caption), p, "caption_entities", CAPTION_LIMIT)
        markup = self._reply_markup(p)
        self._raise_if_unchanged(sent, plain, entities, markup)
        changes = {"caption": caption, "parse_mode": p.get("parse_mode"), "plain": plain}
        return self._apply_edit(sent, "editMessageCaption", p, entities=entities, **changes)

    def _edit_message_reply_markup(self, p: dict[str, Any]) -> dict[str, Any]:
        sent = self._editable(p)
        markup = self._reply_markup(p)
        self._raise_if_unchanged(sent, sent.plain, sent.entities, markup)
        return self._apply_edit(sent, "editMessageReplyMarkup", p)

    def _delete_message(self, p: dict[str, Any]) -> bool:
        key = (self._chat_id(p), p.get("message_id"))
        if self._messages.pop(key, None) is None:  # type: ignore[arg-type]
            raise ApiError(400, "Bad Request: message to delete not found")
        sent = self._bot_messages.pop(key, None)  # type: ignore[arg-type]
        if sent is not None:
            sent.deleted = True
        return True

    def _answer_callback_query(self, p: dict[str, Any]) -> bool:
        query_id = str(p.get("callback_query_id", ""))
        if query_id not in self._open_queries:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        self.callback_answers[query_id] = p
        return True

    def _send_chat_action(self, p: dict[str, Any]) -> bool:
        self._chat_id(p)
        if p.get("action") not in CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    def _set_my_commands(self, p: dict[str, Any]) -> bool:
        commands = p.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        if len(commands) > 100:
            raise ApiError(400, "Bad Request: BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not _COMMAND_NAME_RE.fullmatch(str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise ApiError(400, "Bad Request: command description is empty or too long")
        key = (_scope_key(p.get("scope")), p.get("language_code", ""))
        self.my_commands[key] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _get_my_commands(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        key = (_scope_key(p.get("scope")), p.get("language_code", ""))
        return copy.deepcopy(self.my_commands.get(key, []))

    def _delete_my_commands(self, p: dict[str, Any]) -> bool:
        self.my_commands.pop((_scope_key(p.get("scope")), p.get("language_code", "")), None)
        return True

    def _get_chat(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(self._chat_id(p))
        chat.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        return chat

    def _get_chat_member(self, p: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_id(p)
        user_id = p.get("user_id")
        if user_id is None:
            raise ApiError(400, "Bad Request: user_id is empty")
        wanted = self.chat_members.get((chat_id, user_id), "member")
        status = _CHAT_MEMBER_STATUSES.get(wanted)
        if status is None:
            raise ValueError(f"chat_members[{(chat_id, user_id)}] = {wanted!r} is not a status")
        if user_id == BOT_ID:
            user = dict(BOT_USER)
        else:
            user = self.users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": "User"}
        return _chat_member(status, user)

    # ----------------------------------------------------------------- message helpers

    def _chat_id(self, p: dict[str, Any]) -> int:
        chat_id = p.get("chat_id")
        if chat_id is None or chat_id == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        if isinstance(chat_id, str):  # "@username"
            for known in self.chats.values():
                if known.get("username") and f"@{known['username']}" == chat_id:
                    return known["id"]
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _chat(self, chat_id: int) -> dict[str, Any]:
        known = self.chats.get(chat_id)
        if known is not None:
            return dict(known)
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"}
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": f"Chat {chat_id}"}

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def _render(
        self, text: str, p: dict[str, Any], entities_key: str, limit: int
    ) -> tuple[str, list[dict[str, Any]]]:
        """Plain text and entities of a text or caption, checked like Telegram does."""
        parse_mode = str(p.get("parse_mode") or "")
        if parse_mode.lower() == "html":
            try:
                plain, entities = parse_html(text, strict_amp=self.strict_html)
            except HtmlError as error:
                raise ApiError(400, f"Bad Request: can't parse entities: {error}") from error
        elif parse_mode.lower() in ("", "markdown", "markdownv2"):
            plain, entities = text.strip(), list(p.get(entities_key) or [])
        else:
            raise ApiError(400, "Bad Request: unsupported parse_mode")
        if limit == MESSAGE_LIMIT and not plain:
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(plain) > limit:
            what = (
                "message is too long" if limit == MESSAGE_LIMIT else "message caption is too long"
            )
            raise ApiError(400, f"Bad Request: {what}")
        return plain, entities

    def _reply_markup(self, p: dict[str, Any]) -> dict[str, Any] | None:
        markup = p.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        _check_inline_keyboard(markup)
        return markup

    def _reply_to_id(self, chat_id: int, p: dict[str, Any]) -> int | None:
        reply = p.get("reply_parameters")
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            target_chat = reply.get("chat_id", chat_id)
            lenient = reply.get("allow_sending_without_reply")
        else:
            message_id = p.get("reply_to_message_id")
            target_chat = chat_id
            lenient = p.get("allow_sending_without_reply")
        if message_id is None:
            return None
        if (target_chat, int(message_id)) not in self._messages:
            if lenient:
                return None
            raise ApiError(400, "Bad Request: message to be replied not found")
        return int(message_id)

    def _message_json(self, sent: SentMessage, date: int) -> dict[str, Any]:
        chat = self._chat(sent.chat_id)
        message: dict[str, Any] = {
            "message_id": sent.message_id,
            "from": dict(BOT_USER),
            "chat": chat,
            "date": date,
        }
        if sent.message_thread_id is not None:
            message["message_thread_id"] = sent.message_thread_id
            if chat.get("is_forum"):
                message["is_topic_message"] = True
        if sent.reply_to_message_id is not None:
            target = self._messages.get((sent.chat_id, sent.reply_to_message_id))
            if target is not None:
                message["reply_to_message"] = {
                    k: v for k, v in target.items() if k != "reply_to_message"
                }
        if sent.method == "sendPhoto":
            message["photo"] = _photo_sizes(sent)
            if sent.plain:
                message["caption"] = sent.plain
        else:
            message["text"] = sent.plain
        if sent.entities:
            message["entities" if sent.method == "sendMessage" else "caption_entities"] = (
                sent.entities
            )
        markup = _inline_markup(sent.reply_markup)
        if markup:
            message["reply_markup"] = markup
        return message

    def _store_sent(self, sent: SentMessage) -> dict[str, Any]:
        key = (sent.chat_id, sent.message_id)
        message = self._message_json(sent, int(time.time()))
        self._messages[key] = message
        self._bot_messages[key] = sent
        self.sent.append(sent)
        self._signal.notify()
        return copy.deepcopy(message)

    def _editable(self, p: dict[str, Any]) -> SentMessage:
        if p.get("inline_message_id"):
            raise ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
        chat_id = self._chat_id(p)
        message_id = p.get("message_id")
        if message_id is None:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        sent = self._bot_messages.get((chat_id, message_id))
        if sent is None:
            if (chat_id, message_id) in self._messages:
                raise ApiError(400, "Bad Request: message can't be edited")
            raise ApiError(400, "Bad Request: message to edit not found")
        return sent

    def _raise_if_unchanged(
        self,
        sent: SentMessage,
        plain: str | None,
        entities: list[dict[str, Any]],
        markup: dict[str, Any] | None,
    ) -> None:
        same_markup = _inline_markup(markup) == _inline_markup(sent.reply_markup)
        if plain == sent.plain and entities == sent.entities and same_markup:
            raise ApiError(400, NOT_MODIFIED)

    def _apply_edit(
        self, sent: SentMessage, method: str, p: dict[str, Any], **changes: Any
    ) -> dict[str, Any]:
        key = (sent.chat_id, sent.message_id)
        for name, value in changes.items():
            setattr(sent, name, value)
        sent.reply_markup = self._reply_markup(p)
        date = self._messages[key]["date"]
        message = self._message_json(sent, date)
        message["edit_date"] = int(time.time())
        self._messages[key] = message
        self.edits.append(dataclasses.replace(sent, method=method, params=p, at=time.monotonic()))
        self._signal.notify()
        return copy.deepcopy(message)


def _answer(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(
        body, status=status, dumps=lambda obj: json.dumps(obj, ensure_ascii=False)
    )


def _scope_key(scope: Any) -> str:
    return json.dumps(scope or {"type": "default"}, sort_keys=True)


def _command_entities(text: str) -> list[dict[str, Any]]:
    found = _COMMAND_RE.match(text)
    if found is None:
        return []
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(found.group())}]


def _photo_sizes(sent: SentMessage) -> list[dict[str, Any]]:
    file_id = f"photo-{sent.chat_id}-{sent.message_id}"
    sizes = [(90, 51), (320, 180), (1280, 720)]
    return [
        {
            "file_id": f"{file_id}-{width}",
            "file_unique_id": f"u{file_id}-{width}",
            "width": width,
            "height": height,
            "file_size": sent.photo_size or 0,
        }
        for width, height in sizes
    ]


def _chat_member(status: str, user: dict[str, Any]) -> dict[str, Any]:
    """A ChatMember of `status` with every field PTB requires for that status."""
    member: dict[str, Any] = {"status": status, "user": user}
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        member.update(dict.fromkeys(_ADMIN_RIGHTS, True), can_be_edited=False, is_anonymous=False)
    elif status == "restricted":
        member.update(dict.fromkeys(_RESTRICTED_RIGHTS, False), is_member=True, until_date=0)
    elif status == "kicked":
        member["until_date"] = 0
    return member


_ADMIN_RIGHTS = (
    "can_manage_chat", "can_delete_messages", "can_manage_video_chats", "can_restrict_members",
    "can_promote_members", "can_change_info", "can_invite_users", "can_post_stories",
    "can_edit_stories", "can_delete_stories", "can_pin_messages", "can_manage_topics",
)  # fmt: skip
_RESTRICTED_RIGHTS = (
    "can_change_info", "can_invite_users", "can_pin_messages", "can_send_messages",
    "can_send_polls", "can_send_other_messages", "can_add_web_page_previews",
    "can_manage_topics", "can_send_audios", "can_send_documents", "can_send_photos",
    "can_send_videos", "can_send_video_notes", "can_send_voice_notes", "can_edit_tag",
    "can_react_to_messages",
)  # fmt: skip
