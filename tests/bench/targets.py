"""Issue 19's speed targets, as each benchmark measured them in this run: every section
records its figure here and `make bench` ends with one table, a line per target with the
measured value and PASS or FAIL."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Target:
    name: str  # what is measured, e.g. "arb-bot scan --json / ccxt (whole process)"
    measured: str  # the figure as measured, with its unit: "0.17x", "212 ms"
    goal: str  # the target: "<= 0.2x", "< 250 ms"
    passed: bool


RESULTS: list[Target] = []


def record(name: str, measured: str, goal: str, passed: bool) -> None:
    RESULTS.append(Target(name, measured, goal, passed))


def print_table() -> None:
    if not RESULTS:
        return
    width = max(len(t.name) for t in RESULTS)
    print("\n== issue 19 targets (measured in this run) ==")
    for t in RESULTS:
        verdict = "PASS" if t.passed else "FAIL"
        print(f"  {t.name:<{width}}  {t.measured:>12}  target {t.goal:<10}  {verdict}")
