"""The layout the README's "Development" section describes, read from the sources'
imports (`ast`, nothing imported).

`bot -> arb, storage`; `storage -> arb.models` only; `arb` imports neither, nor Telegram;
no import loops; and the command handlers reach `arb` only through `arb.commands` (and
`arb.symbols` to parse an asset), so no figure is computed in a handler.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("arb", "bot", "storage")
HANDLERS = ("bot.handlers", "bot.charts", "bot.signals", "bot.arguments")


def modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


MODULES = modules()


def imported(name: str) -> set[str]:
    """Every dotted name `name` imports, `from a import b` as both `a` and `a.b`."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def own(target: str) -> str | None:
    """The project module an import names (its longest known prefix), if any."""
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def test_the_layers_import_one_way():
    wrong = []
    for name in MODULES:
        layer = name.split(".")[0]
        for target in imported(name):
            top = target.split(".")[0]
            if layer == "arb" and top in ("bot", "storage", "telegram"):
                wrong.append((name, target))
            if layer == "storage" and (
                top in ("bot", "telegram") or (top == "arb" and own(target) != "arb.models")
            ):
                wrong.append((name, target))
    assert wrong == []


def test_no_import_loops():
    graph = {name: {m for t in imported(name) if (m := own(t)) and m != name} for name in MODULES}
    loops = []
    for start in graph:  # a path back to `start`: depth-first, small graph
        seen, stack = set(), list(graph[start])
        while stack:
            m = stack.pop()
            if m == start:
                loops.append(start)
                break
            if m not in seen:
                seen.add(m)
                stack.extend(graph.get(m, ()))
    assert loops == []


def test_command_handlers_reach_arb_only_through_its_commands():
    reached = {
        name: sorted({own(t) for t in imported(name) if t.startswith("arb.")} - {None})
        for name in HANDLERS
    }
    assert reached == {
        "bot.handlers": ["arb.commands", "arb.symbols"],
        "bot.charts": ["arb.commands"],
        "bot.signals": ["arb.commands"],
        "bot.arguments": ["arb.symbols"],  # the per-asset commands' asset argument
    }


def test_venues_and_feeds_sit_below_the_book_and_the_book_below_the_feeds():
    """The venues and feeds never reach up to the book, its service or the commands; the
    book, its service and the market never import a feed. `arb.feeds.manager` alone wires
    the feeds to the service's book, from above both.
    """
    above = ("arb.service", "arb.book", "arb.commands")
    wrong = []
    for name in MODULES:
        targets = {own(t) for t in imported(name)} - {None}
        if name.startswith(("arb.venues.", "arb.feeds.")) and name != "arb.feeds.manager":
            wrong += [(name, t) for t in sorted(targets) if t in above]
        if name in ("arb.book", "arb.service", "arb.market"):
            wrong += [(name, t) for t in sorted(targets) if t.startswith("arb.feeds")]
    assert wrong == []


def test_a_venue_is_named_only_in_its_own_package_and_the_registry_line():
    """Adding a venue is its folder and its name on `NAMES`: no other source names it."""
    import re

    from arb.venues.registry import NAMES

    registry = ROOT / "arb" / "venues" / "registry.py"
    named = []
    for path in sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*")):
        if path.suffix not in (".py", ".toml") or not path.is_file():
            continue
        lines = path.read_text().splitlines()
        for venue in NAMES:
            if (ROOT / "arb" / "venues" / venue) in path.parents:
                continue
            word = re.compile(rf"\b{venue}\b", re.IGNORECASE)
            for n, line in enumerate(lines, 1):
                if word.search(line) and not (path == registry and line.startswith("NAMES = ")):
                    named.append(f"{path.relative_to(ROOT)}:{n}: {venue}")
    assert named == []
