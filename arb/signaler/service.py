"""The signaler: the rules' verdict, the model's explanation, cost and a short cache.

`Signaler.signal(facts)` always returns a usable `Signal`: the model's answer
when one is configured and its answer is valid and agrees with the math, else
the rule-based verdict with the reason the model's was not used. Every request
that reaches the model is recorded (tokens, cost, outcome) through `record`.
Answers are reused for LLM_CACHE_S for the same asset and rounded figures, and
concurrent requests for the same key share one model call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field, replace
from typing import Literal

from arb.models import LlmCall
from arb.signaler.answer import AnswerError, parse_answer
from arb.signaler.client import LlmClient, LlmError, Usage
from arb.signaler.facts import Facts
from arb.signaler.prompt import messages
from arb.signaler.rules import Verdict, rule_verdict

log = logging.getLogger(__name__)

NO_MODEL = "no model is configured (LLM_BASE_URL, LLM_MODEL)"
CACHE_MAX = 512


@dataclass(frozen=True, slots=True)
class Prices:
    """USD per million tokens."""

    prompt_per_m: float = 0.0
    completion_per_m: float = 0.0


def cost_usd(usage: Usage, prices: Prices) -> float:
    prompt = usage.prompt_tokens * prices.prompt_per_m
    return (prompt + usage.completion_tokens * prices.completion_per_m) / 1_000_000


@dataclass(frozen=True, slots=True)
class Signal:
    facts: Facts
    verdict: Verdict
    source: Literal["model", "rules"]
    model: str | None = None  # the model that wrote it, or whose answer was refused
    fallback: str | None = None  # why the rules answered
    cached: bool = False


Recorder = Callable[[LlmCall], Awaitable[None]]


@dataclass(eq=False)
class Signaler:
    """Signals for facts, as the module says; `client` None: the rules alone."""

    client: LlmClient | None
    _: KW_ONLY
    prices: Prices = Prices()
    cache_s: float = 300.0
    record: Recorder | None = None
    clock: Callable[[], float] = time.time
    cache_hits: int = field(init=False, default=0)
    _cache: dict[tuple[object, ...], tuple[float, Signal]] = field(init=False, default_factory=dict)
    _inflight: dict[tuple[object, ...], asyncio.Task[Signal]] = field(
        init=False, default_factory=dict
    )

    @property
    def model(self) -> str | None:
        return self.client.config.model if self.client else None

    async def close(self) -> None:
        for task in self._inflight.values():
            task.cancel()
        if self.client is not None:
            await self.client.close()

    async def signal(self, facts: Facts, *, chat_id: int | None = None) -> Signal:
        rules = rule_verdict(facts)
        if self.client is None:
            return Signal(facts, rules, "rules", fallback=NO_MODEL)
        key = facts.cache_key()
        hit = self._cache.get(key)
        if hit is not None and self.clock() - hit[0] < self.cache_s:
            self.cache_hits += 1
            return replace(hit[1], facts=facts, cached=True)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._ask(self.client, facts, rules, chat_id, key))
            self._inflight[key] = task
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        # Shielded: a caller that gives up does not cancel the call others wait on.
        return await asyncio.shield(task)

    async def _ask(
        self,
        client: LlmClient,
        facts: Facts,
        rules: Verdict,
        chat_id: int | None,
        key: tuple[object, ...],
    ) -> Signal:
        model = client.config.model
        started = time.monotonic()
        try:
            completion = await client.complete(messages(facts, rules))
        except LlmError as e:
            await self._record(facts, model, e.kind, Usage(), started, chat_id)
            log.warning("signal %s: model failed: %s", facts.asset, e.reason)
            return Signal(facts, rules, "rules", model=model, fallback=e.reason)
        try:
            verdict = parse_answer(completion.content, facts)
            signal = Signal(facts, verdict, "model", completion.model)
            outcome = "ok"
        except AnswerError as e:
            log.warning("signal %s: answer refused: %s", facts.asset, e.reason)
            signal = Signal(facts, rules, "rules", model=completion.model, fallback=e.reason)
            outcome = e.kind
        await self._record(facts, completion.model, outcome, completion.usage, started, chat_id)
        # Paid-for answers are reused, refused ones too: asking again would likely repeat them.
        self._remember(key, signal)
        return signal

    def _remember(self, key: tuple[object, ...], signal: Signal) -> None:
        now = self.clock()
        if len(self._cache) >= CACHE_MAX:
            self._cache = {k: v for k, v in self._cache.items() if now - v[0] < self.cache_s}
            if len(self._cache) >= CACHE_MAX:
                self._cache.pop(next(iter(self._cache)))
        self._cache[key] = (now, signal)

    async def _record(
        self,
        facts: Facts,
        model: str,
        outcome: str,
        usage: Usage,
        started: float,
        chat_id: int | None,
    ) -> None:
        if self.record is None:
            return
        call = LlmCall(
            at=self.clock(),
            asset=facts.asset,
            model=model,
            outcome=outcome,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=cost_usd(usage, self.prices),
            latency_s=time.monotonic() - started,
            chat_id=chat_id,
        )
        try:
            await self.record(call)
        except Exception:  # the answer matters more than its bookkeeping
            log.exception("could not record a model call")
