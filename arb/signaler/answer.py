"""Validating the model's answer against the strict JSON asked for and the math.

An answer is taken only when it is one JSON object of the asked shape and it
agrees with the computed direction; a take on a carry that loses money after
fees contradicts the math as well. Texts are cleaned and cut to length here,
so that whatever the model wrote, what goes further is short plain text.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec

from arb.signaler.facts import Facts
from arb.signaler.rules import Verdict
from arb.venues.registry import resolve

MAX_RATIONALE = 400
MAX_RISK = 160
MAX_RISKS = 4

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL | re.IGNORECASE)


class AnswerError(ValueError):
    """The answer cannot be used. `kind` is "invalid" or "contradiction"."""

    def __init__(self, kind: Literal["invalid", "contradiction"], reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class _Answer(msgspec.Struct, forbid_unknown_fields=False):
    verdict: Literal["take", "watch", "skip"]
    confidence: Annotated[int, msgspec.Meta(ge=0, le=100)]
    long: str
    short: str
    rationale: str
    risks: list[str] = []


def parse_answer(content: str, facts: Facts) -> Verdict:
    text = content.strip()
    fenced = _FENCE.match(text)
    if fenced:  # ```json ... ``` is still the JSON asked for
        text = fenced.group(1)
    try:
        answer = msgspec.json.decode(text, type=_Answer)
    except msgspec.ValidationError as e:
        raise AnswerError("invalid", f"the model's JSON was not of the asked shape ({e})") from None
    except msgspec.DecodeError:
        raise AnswerError("invalid", "the model's answer was not the JSON asked for") from None
    o = facts.opportunity
    said = (_venue(answer.long), _venue(answer.short))
    if said != (o.long_venue, o.short_venue):
        raise AnswerError(
            "contradiction",
            f"the model's direction (long {clean(answer.long, 20)} / short "
            f"{clean(answer.short, 20)}) contradicted the computed one",
        )
    if answer.verdict == "take" and o.apr_net <= 0:
        raise AnswerError(
            "contradiction", "the model said take on a carry that loses money after fees"
        )
    rationale = clean(answer.rationale, MAX_RATIONALE)
    if not rationale:
        raise AnswerError("invalid", "the model's answer had no rationale")
    risks = tuple(r for r in (clean(x, MAX_RISK) for x in answer.risks[:MAX_RISKS]) if r)
    return Verdict(answer.verdict, answer.confidence, rationale, risks)


def _venue(name: str) -> str:
    return resolve(name) or name.strip().lower()


def clean(text: str, limit: int) -> str:
    """One line of printable text, at most `limit` characters, cut at a word with '…'."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"
