"""A local fake OpenAI-compatible `/v1/chat/completions` server.

By default it behaves like a good model: it reads the facts JSON the bot sent
and answers with the asked JSON, agreeing with the computed direction and the
rule-based verdict. Tests queue other behaviours with `then(...)`: any answer
text, a given HTTP error (with Retry-After), or a hang that lasts until the
test releases it or the server stops. Every request is kept in `requests`.
`GET /v1/models` lists the model (what `arb-bot doctor` asks), or answers the
next queued behaviour's HTTP error.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

MODEL = "fake-model-1"
USAGE = {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200}


@dataclass
class Request:
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def facts(self) -> dict[str, Any]:
        return json.loads(self.body["messages"][-1]["content"])


@dataclass
class Behaviour:
    status: int = 200
    content: str | None = None  # None: the well-behaved answer
    usage: dict[str, int] | None = field(default_factory=lambda: dict(USAGE))
    headers: dict[str, str] = field(default_factory=dict)
    raw: str | None = None  # a whole reply body instead of a completion
    hang: bool = False


def good_answer(facts: dict[str, Any], **override: Any) -> dict[str, Any]:
    answer = {
        "verdict": facts["rule_based_verdict"],
        "confidence": 64,
        "long": facts["direction"]["long"],
        "short": facts["direction"]["short"],
        "rationale": f"The {facts['asset']} carry nets {facts['apr_net_pct']}% APR after fees.",
        "risks": ["Funding can flip at the next settlement."],
    }
    return {**answer, **override}


class FakeLlm:
    def __init__(self, model: str = MODEL) -> None:
        self.model = model
        self.requests: list[Request] = []
        self.queue: deque[Behaviour | Callable[[Request], Behaviour]] = deque()
        self.release = asyncio.Event()  # ends every hang
        self.arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def then(self, *behaviours: Behaviour | Callable[[Request], Behaviour]) -> FakeLlm:
        """Answer the next requests this way, in order; then the good answer again."""
        self.queue.extend(behaviours)
        return self

    def answer(self, content: str | dict[str, Any] | Callable[[Request], Any], **kw: Any) -> None:
        """The next request gets this answer text (a dict is sent as JSON)."""

        def make(req: Request) -> Behaviour:
            value = content(req) if callable(content) else content
            text = value if isinstance(value, str) else json.dumps(value)
            return Behaviour(content=text, **kw)

        self.then(make)

    async def wait_requests(self, n: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout), self.arrived:
            await self.arrived.wait_for(lambda: len(self.requests) >= n)

    async def __aenter__(self) -> FakeLlm:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _models(self, request: web.Request) -> web.StreamResponse:
        item = self.queue.popleft() if self.queue else Behaviour()
        b = item(Request({}, dict(request.headers))) if callable(item) else item
        if b.status != 200:
            return web.json_response(_error(b.status), status=b.status, headers=b.headers)
        models = [{"id": self.model, "object": "model", "owned_by": "fake"}]
        return web.json_response({"object": "list", "data": models})

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        req = Request(await request.json(), dict(request.headers))
        async with self.arrived:
            self.requests.append(req)
            self.arrived.notify_all()
        item = self.queue.popleft() if self.queue else Behaviour()
        b = item(req) if callable(item) else item
        if b.hang:
            await self.release.wait()
            return web.json_response({"error": {"message": "released"}}, status=503)
        if b.raw is not None or b.status != 200:
            body = b.raw if b.raw is not None else json.dumps(_error(b.status))
            return web.Response(
                status=b.status, text=body, headers=b.headers, content_type="application/json"
            )
        content = b.content if b.content is not None else json.dumps(good_answer(req.facts))
        reply: dict[str, Any] = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": 1764045142,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
        }
        if b.usage is not None:
            reply["usage"] = b.usage
        return web.json_response(reply, headers=b.headers)


def _error(status: int) -> dict[str, Any]:
    kinds = {
        401: ("Incorrect API key provided: sk-****cret", "invalid_request_error", "bad_key"),
        429: ("Rate limit reached for requests", "requests", "rate_limit_exceeded"),
    }
    message, kind, code = kinds.get(status, ("The server had an error", "server_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}
