"""`arb-bot doctor`: is this setup ready to run? One line per check, with a fix.

The configuration first (a bad value stops there, named as the start names it),
then, all at once: the Telegram token (getMe), each enabled venue (reachable,
latency, clock) and each venue's keys (`arb.doctor`), the database (opened as
`arb-bot run` opens it, never created or migrated here) and the LLM endpoint.
Exit 0 when nothing failed, 1 when a check did. Never a traceback: a check that
breaks is a FAIL saying so.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path

import aiohttp

from arb import doctor
from arb.doctor import Check, fail, ok, warn
from arb.logs import setup_logging
from arb.network import host_of, network_cause
from arb.report import dumps
from arb.settings import DEFAULT_TELEGRAM_API, Settings
from storage.db import MIGRATIONS, Database, StorageError

log = logging.getLogger(__name__)

TOKEN_SHAPE = re.compile(r"\d+:[A-Za-z0-9_-]+")  # <bot id>:<secret>, as @BotFather gives it
TELEGRAM_CONNECT_S = 10.0  # as `arb-bot run` connects
BOTFATHER = "get the token from @BotFather (/mybots, API Token) into TELEGRAM_BOT_TOKEN"
SKIPPED = "other checks skipped: they need a valid configuration"


def main(as_json: bool = False, verbose: bool = False) -> int:
    """The `arb-bot doctor` command: print the report, 0 when nothing failed, else 1."""
    first, settings = doctor.check_settings()
    setup_logging(
        logging.DEBUG if verbose else logging.CRITICAL, settings.secrets() if settings else ()
    )
    try:
        checks = [first] if settings is None else asyncio.run(run_checks(settings, first))
    except KeyboardInterrupt:
        return 130
    skipped = SKIPPED if settings is None else None
    if as_json:
        print(dumps(doctor.doctor_json(checks)))
    else:
        print(doctor.doctor_text(checks, skipped))
    return 1 if doctor.failed(checks) else 0


async def run_checks(settings: Settings, config: Check) -> list[Check]:
    """Every check at once, in the report's order: config, Telegram, each venue with its
    clock and key, the keys of venues not enabled, the database, the LLM."""
    keyed = doctor.keyed_venues(settings)
    venues = [venue_group(settings, v, v in keyed) for v in settings.venues]
    # Keys of a venue left out of ARB_VENUES still serve /balance and the risk watch.
    left_out = [v for v in keyed if v not in settings.venues]
    others = [guarded(f"{v} key", doctor.check_key(settings, v)) for v in left_out]
    results = await asyncio.gather(
        guarded("telegram", check_telegram(settings)),
        *venues,
        *others,
        guarded("database", check_database(settings.db_path)),
        guarded("llm", doctor.check_llm(settings)),
    )
    checks = [config]
    for result in results:
        checks += result if isinstance(result, list) else [result]
    return doctor.scrubbed(checks, settings.secrets())


async def venue_group(settings: Settings, venue: str, keyed: bool) -> list[Check]:
    """A venue's lines: reachable, its clock, and its key once it answered."""
    try:
        probe = await doctor.probe_venue(settings, venue)
        out = [doctor.venue_check(settings, probe)]
        if (clock := doctor.clock_check(settings, probe)) is not None:
            out.append(clock)
        if keyed:
            if probe.error is None:
                out.append(await guarded(f"{venue} key", doctor.check_key(settings, venue)))
            else:
                found, fix = f"not checked: {venue} did not answer", "see its line above"
                out.append(warn(f"{venue} key", found, fix))
        return out
    except Exception as e:  # a check's bug must not hide the others, nor print a traceback
        log.debug("doctor: %s failed", venue, exc_info=True)
        return [broken(venue, e)]


async def guarded(name: str, check: Awaitable[Check]) -> Check:
    try:
        return await check
    except Exception as e:
        log.debug("doctor: %s failed", name, exc_info=True)
        return broken(name, e)


def broken(name: str, e: Exception) -> Check:
    found = f"the check itself failed ({type(e).__name__})"
    return fail(name, found, "run `arb-bot -v doctor` for the details, and report it")


# --- Telegram ------------------------------------------------------------------------


async def check_telegram(settings: Settings) -> Check:
    """getMe with the token, against TELEGRAM_API_BASE_URL, within TELEGRAM_TIMEOUT_S."""
    token = settings.telegram_bot_token
    if not token:
        return warn(
            "telegram",
            "TELEGRAM_BOT_TOKEN not set: needed by `arb-bot run` only",
            f"to run the bot, {BOTFATHER}",
        )
    if not TOKEN_SHAPE.fullmatch(token):
        return fail(
            "telegram",
            "TELEGRAM_BOT_TOKEN is not a bot token (@BotFather gives <bot id>:<secret>)",
            BOTFATHER,
        )
    base = settings.telegram_api_base_url
    host = host_of(base)
    timeout = aiohttp.ClientTimeout(
        total=settings.telegram_timeout_s,
        connect=min(TELEGRAM_CONNECT_S, settings.telegram_timeout_s),
    )
    started = time.monotonic()
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"{base}{token}/getMe") as resp,
        ):
            status = resp.status
            body = await resp.content.read(1 << 16)
    except (aiohttp.ClientError, TimeoutError, OSError) as e:
        cause = network_cause(e, host)
        # Never the exception's text: the URL it may quote holds the token.
        why = cause.text if cause is not None else f"{type(e).__name__} talking to {host}"
        return fail(
            "telegram",
            f"Telegram unreachable at {host}: {why}",
            doctor.net_fix(cause, host, "TELEGRAM_API_BASE_URL"),
        )
    ms = (time.monotonic() - started) * 1000
    reply = _json(body)
    if status == 200 and reply.get("ok") and isinstance(reply.get("result"), dict):
        bot = reply["result"]
        where = "" if base == DEFAULT_TELEGRAM_API else f" at {host}"
        return ok("telegram", f"token accepted{where}: @{bot.get('username')} in {ms:.0f} ms")
    said = str(reply.get("description") or "")[:80]
    if status in (401, 404):  # Telegram's answers to an unknown and to a malformed token
        return fail("telegram", f"Telegram refused the token (HTTP {status} {said})", BOTFATHER)
    return fail(
        "telegram",
        f"{host} answered HTTP {status} {said}".rstrip(),
        "check TELEGRAM_API_BASE_URL, or retry later",
    )


def _json(body: bytes) -> dict:
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# --- the database --------------------------------------------------------------------


async def check_database(path: str) -> Check:
    """ARB_DB opened as `run` opens it (quick check, a write undone), its schema read;
    never created, never migrated here."""
    known = len(MIGRATIONS)
    if path == ":memory:":
        return warn("database", "ARB_DB=:memory:: nothing is kept across restarts", "set ARB_DB")
    if not os.path.exists(path):
        problem = _cannot_create(Path(path))
        if problem:
            return fail(
                "database",
                f"{path} does not exist and cannot be created: {problem}",
                "set ARB_DB to a file in a writable directory, or fix the permissions",
            )
        return ok("database", f"{path} does not exist yet: `arb-bot run` creates it")
    try:
        db = await Database.open(path, migrate=False)
    except StorageError as e:
        return fail("database", f"{path}: {e.cause}", database_fix(e.cause))
    try:
        found = await db.version()
    finally:
        await db.close()
    if found < known:
        migrates = f"`arb-bot run` migrates it to {known}"
        return ok("database", f"{path}: writable, schema {found}: {migrates}")
    return ok("database", f"{path}: writable, schema {found} (current)")


def _cannot_create(p: Path) -> str | None:
    """Why `p` could not be created, or None. Its nearest existing folder is tried with a
    temporary file, gone at once: permission bits do not tell for root, nor for a
    read-only or virtual file system."""
    folder = next((f for f in p.absolute().parents if f.exists()), None)
    if folder is None or not folder.is_dir():
        return f"{folder} is not a directory"
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        return f"cannot write in {folder}: {e.strerror or type(e).__name__}"
    return None


def database_fix(cause: str) -> str:
    """What to do, by storage.db's one-line cause."""
    if "newer arb-bot" in cause:
        return "run the arb-bot that wrote it (or newer), or set ARB_DB to another file"
    if "locked" in cause:
        return "stop the other process using it, or set ARB_DB to another file"
    if cause.startswith(("read-only", "no permission")):
        return "make the file and its directory writable by this user, or set ARB_DB elsewhere"
    if "full" in cause:
        return "free disk space, or set ARB_DB to a file on another disk"
    return (
        "restore it from a backup, or move it aside and let `arb-bot run` start a new one "
        "(subscriptions and history start empty)"
    )


def run_cli(as_json: bool, verbose: bool) -> int:
    """Entry from `bot.cli`: never a traceback, whatever happens."""
    try:
        return main(as_json, verbose)
    except Exception as e:
        print(f"arb-bot doctor: failed ({type(e).__name__})", file=sys.stderr)
        return 1
