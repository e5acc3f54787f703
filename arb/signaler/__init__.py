"""The LLM signaler: a trade note on one opportunity, grounded in computed figures.

The math decides, the model explains. `rules` gives a deterministic verdict;
`client` talks to any OpenAI-compatible endpoint; `answer` validates what the
model says against the JSON asked for and the computed direction; `service`
puts them together with cost accounting and a short cache.
"""

from __future__ import annotations

from arb.settings import Settings
from arb.signaler.client import LlmClient, LlmConfig, LlmError, Usage
from arb.signaler.facts import Facts
from arb.signaler.rules import Verdict, rule_verdict
from arb.signaler.service import LlmCall, Prices, Recorder, Signal, Signaler, cost_usd

__all__ = [
    "Facts",
    "LlmCall",
    "LlmClient",
    "LlmConfig",
    "LlmError",
    "Prices",
    "Signal",
    "Signaler",
    "Usage",
    "Verdict",
    "cost_usd",
    "rule_verdict",
    "signaler_from_settings",
]


def signaler_from_settings(settings: Settings, record: Recorder | None = None) -> Signaler:
    client = None
    if settings.llm_base_url and settings.llm_model:
        client = LlmClient(
            LlmConfig(
                base_url=settings.llm_base_url,
                model=settings.llm_model,
                api_key=settings.llm_api_key,
                timeout_s=settings.llm_timeout_s,
                attempts=settings.llm_attempts,
            )
        )
    prices = Prices(settings.llm_price_in_per_m, settings.llm_price_out_per_m)
    return Signaler(client, prices=prices, cache_s=settings.llm_cache_s, record=record)
