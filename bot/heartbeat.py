"""The bot's heartbeat: a small file beside ARB_DB that says the bot is serving.

`arb-bot run` removes it at start, writes it once updates flow (long polling or webhook),
touches it every BEAT_EVERY_S while the Application and its updater run, and removes it
when it stops. `arb-bot health` (the container's HEALTHCHECK) calls the bot alive when
the file was touched within STALE_AFTER_S: the process is up, past its Telegram start,
taking updates, and its event loop is turning (a blocked loop stops the beats).

Freshness is the file's modification time, so a beat never rewrites the file and a
reader never sees it half written; its text (pid, start time) is for people.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

BEAT_EVERY_S = 10.0
STALE_AFTER_S = 60.0  # six missed beats: well past a slow moment, well before anyone notices
SUFFIX = ".heartbeat"


def heartbeat_path(db_path: str) -> Path | None:
    """Where the bot with this ARB_DB beats; None for an in-memory database."""
    if not db_path or db_path == ":memory:":
        return None
    return Path(db_path + SUFFIX)


def start(path: Path, pid: int, now: float) -> None:
    """The first beat: the file, saying who beats."""
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now))
    path.write_text(f"pid {pid}, serving since {since} UTC\n")


def touch(path: Path) -> None:
    """One beat (recreates the file if someone removed it)."""
    path.touch(exist_ok=True)


def clear(path: Path | None) -> None:
    """No beat: the bot is starting or stopping."""
    if path is not None:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


async def beat(path: Path, alive: Callable[[], bool], every_s: float = BEAT_EVERY_S) -> None:
    """Touch `path` every `every_s` while `alive()`; runs until cancelled. A failed write is
    logged once per streak and never stops the bot: the beats just go stale."""
    failing = False
    while True:
        await asyncio.sleep(every_s)
        if not alive():
            continue
        try:
            touch(path)
            failing = False
        except OSError as e:
            if not failing:
                log.warning("cannot write the heartbeat %s: %s", path, e.strerror or e)
            failing = True


def start_beating(path: Path | None, alive: Callable[[], bool]) -> asyncio.Task[None] | None:
    """At the start of serving: the first beat now, the next ones in a task."""
    if path is None:
        return None
    try:
        start(path, os.getpid(), time.time())
    except OSError as e:
        log.warning("cannot write the heartbeat %s: %s", path, e.strerror or e)
    return asyncio.create_task(beat(path, alive), name="heartbeat")


async def stop_beating(task: asyncio.Task[None] | None, path: Path | None) -> None:
    """At the stop: no more beats, and no file saying the bot serves."""
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    clear(path)


@dataclass(frozen=True, slots=True)
class Health:
    alive: bool
    text: str


def check(path: Path | None, now: float, stale_after_s: float = STALE_AFTER_S) -> Health:
    """Whether the bot beating at `path` is alive at `now`, said in one line."""
    if path is None:
        return Health(False, "no heartbeat with ARB_DB=:memory: (set ARB_DB to a file)")
    try:
        age = now - path.stat().st_mtime
    except FileNotFoundError:
        return Health(
            False,
            f"not serving: no heartbeat at {path} (starting, stopped, or still "
            "connecting to Telegram: see the bot's log)",
        )
    except OSError as e:
        return Health(False, f"cannot read the heartbeat {path}: {e.strerror or e}")
    if age > stale_after_s:
        return Health(
            False,
            f"stuck: the last heartbeat is {age:.0f} s old (over {stale_after_s:.0f} s) at {path}",
        )
    return Health(True, f"alive: last heartbeat {max(age, 0.0):.0f} s ago ({_who(path)})")


def _who(path: Path) -> str:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return path.read_text().strip() or "starting"
    return "unreadable"


def health(db_path: str) -> int:
    """`arb-bot health`: print whether the bot is alive; 0 alive, 1 not (as HEALTHCHECK
    wants: Docker reserves 2)."""
    result = check(heartbeat_path(db_path), time.time())
    print(f"arb-bot health: {result.text}")
    return 0 if result.alive else 1
