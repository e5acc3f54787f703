"""An OpenAI-compatible `/chat/completions` client over aiohttp.

Works with any endpoint that speaks the OpenAI chat API: DeepSeek, resellers,
OpenAI, a local server. One overall time budget per request (LLM_TIMEOUT_S),
retries (tenacity) only where a retry can help (timeouts, connection errors,
429 and 5xx) and only while the budget allows, Retry-After honoured. Every
failure is an `LlmError` whose text a user may read: it never carries the API
key or the provider's reply body.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from arb.http import parse_retry_after, size
from arb.wire import read_capped

log = logging.getLogger(__name__)

BACKOFF_S = 0.5
MIN_ATTEMPT_S = 0.5  # no retry is started with less budget than this left


class LlmError(Exception):
    """A model call failed; `str()` is one line fit for a chat."""

    def __init__(
        self, kind: str, reason: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        # timeout, unreachable, auth, rate_limited, server, rejected, bad_reply (no_json_mode
        # is handled inside the client)
        self.kind = kind
        self.reason = reason
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in ("timeout", "unreachable", "rate_limited", "server")


class Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _Message(msgspec.Struct):
    content: str | None = None


class _Choice(msgspec.Struct):
    message: _Message
    finish_reason: str | None = None


class _Completion(msgspec.Struct):
    choices: list[_Choice]
    usage: Usage | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    content: str  # "" when the model sent no text
    usage: Usage
    model: str
    attempts: int
    finish_reason: str | None


@dataclass(frozen=True, slots=True)
class LlmConfig:
    base_url: str
    model: str
    api_key: str | None = None
    timeout_s: float = 15.0
    attempts: int = 2
    max_tokens: int = 500
    temperature: float = 0.2
    # A completion of max_tokens is a few KiB; a reply past this is abandoned, read no further.
    max_reply_bytes: int = 1024 * 1024


class LlmClient:
    def __init__(
        self,
        config: LlmConfig,
        *,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        self._sleep = sleep
        self.json_mode = True  # ask for response_format json_object while the endpoint takes it
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"Content-Type": "application/json", "User-Agent": "arb-bot"}
            if self.config.api_key:
                headers["Authorization"] = f"Bearer {self.config.api_key}"
            self._session = aiohttp.ClientSession(headers=headers)
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def complete(self, messages: list[dict[str, str]]) -> Completion:
        """One chat completion in JSON mode, within the configured time budget.

        An endpoint that rejects `response_format` (some local servers) is asked
        again without it, and from then on; the prompt asks for JSON anyway.
        """
        cfg = self.config
        deadline = time.monotonic() + cfg.timeout_s
        retrying = AsyncRetrying(
            stop=stop_after_attempt(cfg.attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda e: self._worth_retrying(e, deadline)),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            async with asyncio.timeout(cfg.timeout_s):
                async for attempt in retrying:
                    with attempt:
                        try:
                            reply = await self._once(self._body(messages))
                        except LlmError as e:
                            if e.kind != "no_json_mode":
                                raise
                            log.info("the model endpoint takes no response_format; dropping it")
                            self.json_mode = False
                            reply = await self._once(self._body(messages))
                        n = attempt.retry_state.attempt_number
        except TimeoutError:
            raise LlmError(
                "timeout", f"the model did not answer within {cfg.timeout_s:g} s"
            ) from None
        choice = reply.choices[0] if reply.choices else None
        return Completion(
            content=(choice.message.content or "") if choice else "",
            usage=reply.usage or Usage(),
            model=reply.model or cfg.model,
            attempts=n,
            finish_reason=choice.finish_reason if choice else None,
        )

    def _body(self, messages: list[dict[str, str]]) -> bytes:
        cfg = self.config
        body: dict[str, Any] = {
            "model": cfg.model,
            "messages": messages,
            "temperature": cfg.temperature,
            "max_tokens": cfg.max_tokens,
            "stream": False,
        }
        if self.json_mode:
            body["response_format"] = {"type": "json_object"}
        return json.dumps(body).encode()

    async def _once(self, body: bytes) -> _Completion:
        try:
            async with self.session.post(self.url, data=body) as resp:
                raw = await read_capped(resp, self.config.max_reply_bytes)
                status = resp.status
                retry_after = parse_retry_after(resp.headers.get("Retry-After"), time.time())
        except aiohttp.ClientError as e:
            log.warning("model endpoint unreachable: %s", type(e).__name__)
            raise LlmError("unreachable", "the model endpoint could not be reached") from None
        if raw is None:
            cap = size(self.config.max_reply_bytes)
            log.warning("model endpoint reply over %s, abandoned", cap)
            raise LlmError("bad_reply", f"the model endpoint sent a reply larger than {cap}")
        if status == 400 and self.json_mode and b"response_format" in raw:
            raise LlmError("no_json_mode", "the model endpoint takes no response_format")
        if status != 200:
            log.warning("model endpoint answered HTTP %d%s", status, _error_detail(raw))
            raise _http_error(status, retry_after)
        try:
            return msgspec.json.decode(raw, type=_Completion)
        except msgspec.DecodeError:
            log.warning("model endpoint sent an unreadable reply (%d bytes)", len(raw))
            raise LlmError(
                "bad_reply", "the model endpoint sent a reply that is not a chat completion"
            ) from None

    def _worth_retrying(self, e: BaseException, deadline: float) -> bool:
        if not isinstance(e, LlmError) or not e.retryable:
            return False
        wait = e.retry_after if e.retry_after is not None else 0.0
        return deadline - time.monotonic() - wait >= MIN_ATTEMPT_S

    def _wait(self, state: Any) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return retry_after
        return BACKOFF_S * 2 ** (state.attempt_number - 1) + random.uniform(0, BACKOFF_S / 2)

    def _log_retry(self, state: Any) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("retrying the model after attempt %d: %s", state.attempt_number, exc)


def _http_error(status: int, retry_after: float | None) -> LlmError:
    if status in (401, 403):
        return LlmError(
            "auth", f"the model endpoint refused the API key (HTTP {status})", status=status
        )
    if status == 429:
        return LlmError(
            "rate_limited",
            "the model endpoint is rate limiting us (HTTP 429)",
            status=status,
            retry_after=retry_after,
        )
    if status >= 500:
        return LlmError("server", f"the model endpoint failed (HTTP {status})", status=status)
    return LlmError(
        "rejected", f"the model endpoint rejected the request (HTTP {status})", status=status
    )


def _error_detail(raw: bytes) -> str:
    """The provider's error type and code, for the log (its message may quote the key)."""
    try:
        err = json.loads(raw[:4096]).get("error")
    except (ValueError, AttributeError):
        return ""
    if not isinstance(err, dict):
        return ""
    parts = [str(err[k])[:60] for k in ("type", "code") if err.get(k)]
    return f" ({', '.join(parts)})" if parts else ""
