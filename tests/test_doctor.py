"""`arb-bot doctor` end to end: a subprocess against the project's fakes.

Every fake is on 127.0.0.1: the venues' public APIs (FakeVenues) with each venue's
signature-checking fake account installed, the Bot API (FakeTelegram) and an
OpenAI-compatible endpoint (FakeLlm). Against them all the doctor is green; each test
then injects one kind of misconfiguration and asserts the line that names it, its fix
and the exit status. No output ever carries a key, a secret, a passphrase or a token.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sqlite3
import sys
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest

from arb.doctor import Check, scrubbed
from arb.venues.registry import NAMES, SPECS, account_venues, key_variables
from bot.doctor import guarded
from storage.db import MIGRATIONS, Database
from tests.conftest import clean_environ, desk_market
from tests.fakes.llm import Behaviour, FakeLlm
from tests.fakes.private_base import FakeAccountClock
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venues import FakeVenues, Fault

LLM_KEY = "sk-fake-llm-key-5e1f0c"
KEYED = account_venues()
UNKEYED = [v for v in NAMES if v not in KEYED]  # reached through the scan's funding call


@dataclass
class Fakes:
    venues: FakeVenues
    accounts: dict[str, FakeAccountClock]
    tg: FakeTelegram
    llm: FakeLlm
    db: Path

    def env(self) -> dict[str, str]:
        env = {
            **self.venues.env(),
            "ARB_VENUES": ",".join(NAMES),
            "ARB_HTTP_TIMEOUT_S": "2",
            "ARB_HTTP_RETRIES": "0",
            "ARB_VENUE_DEADLINE_S": "5",
            "ARB_DB": str(self.db),
            "TELEGRAM_BOT_TOKEN": self.tg.token,
            "TELEGRAM_API_BASE_URL": self.tg.base_url,
            "TELEGRAM_TIMEOUT_S": "2",
            "LLM_BASE_URL": self.llm.base_url,
            "LLM_MODEL": self.llm.model,
            "LLM_API_KEY": LLM_KEY,
            "LLM_TIMEOUT_S": "2",
        }
        for account in self.accounts.values():
            env.update(account.env())
        return env

    def secrets(self) -> list[str]:
        found = [self.tg.token.partition(":")[2], LLM_KEY]
        for a in self.accounts.values():
            found += [a.key, a.secret, a.passphrase]
        return [s for s in found if s]


@pytest.fixture
async def fakes(tmp_path):
    async with FakeVenues(desk_market()) as venues, FakeTelegram() as tg, FakeLlm() as llm:
        accounts = {
            v: import_module(f"tests.venues.{v}.fake_account").FakeAccount().install(venues)
            for v in KEYED
        }
        yield Fakes(venues, accounts, tg, llm, tmp_path / "data" / "arb.sqlite3")


@dataclass
class Report:
    code: int
    out: str
    err: str
    checks: dict[str, dict[str, Any]]  # by name, from --json

    def line(self, name: str) -> dict[str, Any]:
        return self.checks[name]

    def statuses(self) -> dict[str, str]:
        return {name: c["status"] for name, c in self.checks.items()}


async def run_doctor(fakes: Fakes, *args: str, **env: str) -> tuple[int, str, str]:
    script = Path(sys.executable).with_name("arb-bot")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        "doctor",
        *args,
        env=clean_environ(**{**fakes.env(), **env}),
        cwd=fakes.db.parent.parent,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    text = out.decode() + err.decode()
    shown = [s for s in [*fakes.secrets(), *env.values()] if _secret_like(s) and s in text]
    assert shown == [], "a secret reached the output"
    assert "Traceback" not in text
    return proc.returncode, out.decode(), err.decode()


def _secret_like(value: str) -> bool:
    return any(word in value for word in ("secret", "wrong", "passphrase", "key-"))


async def doctor(fakes: Fakes, **env: str) -> Report:
    """The doctor's --json report, and its text too, run at once (they must agree)."""
    (code, out, _), (text_code, text, err) = await asyncio.gather(
        run_doctor(fakes, "--json", **env), run_doctor(fakes, **env)
    )
    doc = json.loads(out)
    assert doc["ok"] is (code == 0)
    checks = {c["check"]: c for c in doc["checks"]}
    assert text_code == code
    for c in doc["checks"]:
        assert f"{c['status']:<4}  {c['check']}" in text
        assert timeless(c["found"]) in timeless(text)
        assert (c["fix"] is None) == (c["status"] == "OK")
        if c["fix"]:
            assert f"fix: {c['fix']}" in text
    return Report(code, text, err, checks)


def timeless(text: str) -> str:
    """`text` with its timings blanked: two runs take their own."""
    return re.sub(r"\d+ ms\b", "N ms", text)


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then let go)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_all_green_against_the_fakes(fakes):
    report = await doctor(fakes)
    assert report.code == 0, report.out
    expected = ["config", "telegram"]
    for v in NAMES:
        expected += [v] + ([f"{v} clock", f"{v} key"] if v in KEYED else [])
    assert list(report.checks) == [*expected, "database", "llm"]
    assert set(report.statuses().values()) == {"OK"}, report.out
    assert report.out.rstrip().endswith("0 failed, 0 warnings, " + f"{len(expected) + 2} ok")
    assert "6 of 6 venues enabled" in report.line("config")["found"]
    assert "token accepted" in report.line("telegram")["found"]
    assert any(c.method == "getMe" for c in fakes.tg.calls)
    for v in KEYED:
        assert report.line(v)["found"].startswith("reachable: server time in ")
        assert report.line(f"{v} key")["found"].startswith("valid: ")
    for v in UNKEYED:
        assert re.fullmatch(r"reachable: \d+ funding quotes in \d+ ms", report.line(v)["found"])
    assert "read-only" in report.line(f"{KEYED[0]} key")["found"]
    # The database is not created by the doctor, only said to be.
    assert "does not exist yet" in report.line("database")["found"]
    assert not fakes.db.exists()
    assert fakes.llm.model in report.line("llm")["found"]
    assert report.err == ""


async def test_a_bad_setting_is_named_with_its_fix_and_the_rest_is_skipped(fakes):
    report = await doctor(fakes, ARB_HTTP_TIMEOUT_S="soon")
    assert report.code == 1
    config = report.line("config")
    assert config["status"] == "FAIL"
    assert config["found"].startswith("ARB_HTTP_TIMEOUT_S must be a number of seconds")
    assert "'soon'" in config["found"]
    assert config["fix"].startswith("correct ARB_HTTP_TIMEOUT_S in .env or the environment")
    assert list(report.checks) == ["config"]
    assert "other checks skipped" in report.out


async def test_a_refused_token_fails_and_a_missing_one_only_warns(fakes):
    report = await doctor(fakes, TELEGRAM_BOT_TOKEN="123456:wrong-token-7f3a")
    assert report.code == 1
    tg = report.line("telegram")
    assert tg["status"] == "FAIL"
    assert tg["found"] == "Telegram refused the token (HTTP 401 Unauthorized)"
    assert "@BotFather" in tg["fix"] and "TELEGRAM_BOT_TOKEN" in tg["fix"]
    assert [n for n, s in report.statuses().items() if s != "OK"] == ["telegram"]

    report = await doctor(fakes, TELEGRAM_BOT_TOKEN="")
    assert report.code == 0
    tg = report.line("telegram")
    assert tg["status"] == "WARN"
    assert "needed by `arb-bot run` only" in tg["found"]


async def test_telegram_not_answering_in_time_is_named(fakes):
    fakes.tg.delay("getMe", 5.0)
    code, out, _ = await run_doctor(fakes, TELEGRAM_TIMEOUT_S="1")
    assert code == 1
    host = f"127.0.0.1:{fakes.tg.port}"
    line = f"Telegram unreachable at {host}: no answer from {host} in time"
    assert re.search(rf"^FAIL  telegram +{re.escape(line)}$", out, re.MULTILINE), out
    assert f"fix: check the network, firewall or proxy between here and {host}" in out


async def test_unreachable_telegram_and_llm_name_the_host_and_the_cause(fakes):
    port = closed_port()
    report = await doctor(
        fakes,
        TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{port}/bot",
        LLM_BASE_URL=f"http://127.0.0.1:{port}/v1",
    )
    assert report.code == 1
    host = f"127.0.0.1:{port}"
    tg = report.line("telegram")
    assert tg["status"] == "FAIL"
    assert tg["found"] == f"Telegram unreachable at {host}: connection refused by {host}"
    assert tg["fix"].startswith(f"nothing listens at {host}: check TELEGRAM_API_BASE_URL")
    llm = report.line("llm")
    assert (llm["status"], llm["found"]) == ("FAIL", f"unreachable: connection refused by {host}")
    assert "LLM_BASE_URL" in llm["fix"]


async def test_a_venue_down_is_named_with_how_it_failed(fakes):
    timed = next(v for v in KEYED)
    time_path = SPECS[timed].account_class().server_time[0]
    fakes.venues.fail(timed, time_path, Fault.http(503))
    funded = UNKEYED[0]
    fakes.venues.fail(funded, "/info", Fault("garbage"))
    refused = KEYED[1]
    url_var = SPECS[refused].env_prefix + "REST_URL"
    report = await doctor(fakes, **{url_var: f"http://127.0.0.1:{closed_port()}/x"})
    assert report.code == 1

    down = report.line(timed)
    assert down["status"] == "FAIL"
    assert down["found"].startswith(f"{time_path}: HTTP 503")
    assert "retry later" in down["fix"] and "ARB_VENUES" in down["fix"]
    # Its key is not tried against a venue that does not answer.
    assert report.line(f"{timed} key")["status"] == "WARN"
    assert f"{timed} clock" not in report.checks

    garbled = report.line(funded)
    assert garbled["status"] == "FAIL" and "bad JSON" in garbled["found"]

    gone = report.line(refused)
    assert gone["status"] == "FAIL" and "connection refused by 127.0.0.1:" in gone["found"]
    assert f"check {url_var}" in gone["fix"]

    failing = {n for n, s in report.statuses().items() if s == "FAIL"}
    assert failing == {timed, funded, refused}


async def test_a_skewed_clock_fails_past_a_signing_window_and_warns_under_it(fakes):
    by_window = sorted(KEYED, key=lambda v: SPECS[v].account_class().window_ms)
    tight, loose = by_window[0], by_window[-1]
    tight_window = SPECS[tight].account_class().window_ms
    fakes.accounts[tight].skew_ms = tight_window + 5_000  # the venue's clock is ahead
    fakes.accounts[loose].skew_ms = -2_500  # and this one's behind: ours is ahead
    report = await doctor(fakes)
    assert report.code == 1

    clock = report.line(f"{tight} clock")
    assert clock["status"] == "FAIL"
    behind = (tight_window + 5_000) / 1000
    assert clock["found"].startswith(f"this machine's clock is {behind:.1f} s behind {tight}'s")
    assert f"past the {tight_window / 1000:g} s {tight} accepts" in clock["found"]
    assert "NTP" in clock["fix"]
    # Signed reads still work: the client measures the offset and corrects for it.
    assert report.line(f"{tight} key")["status"] == "OK"

    clock = report.line(f"{loose} clock")
    assert clock["status"] == "WARN"
    assert clock["found"].startswith(f"this machine's clock is 2.5 s ahead of {loose}'s")

    # Without keys a skew past the window only warns: nothing is signed.
    keys = dict.fromkeys(key_variables(tight), "")
    report = await doctor(fakes, **keys)
    assert report.line(f"{tight} clock")["status"] == "WARN"
    assert f"{tight} key" not in report.checks


async def test_a_refused_key_fails_naming_its_variables(fakes):
    venue, with_passphrase = KEYED[0], next(v for v in KEYED if SPECS[v].passphrase)
    key_var = SPECS[venue].env_prefix + "API_KEY"
    pass_var = SPECS[with_passphrase].env_prefix + "API_PASSPHRASE"
    report = await doctor(fakes, **{key_var: "wrong-key-91ce", pass_var: "wrong-pass-0b7d"})
    assert report.code == 1
    for v in (venue, with_passphrase):
        line = report.line(f"{v} key")
        assert line["status"] == "FAIL", line
        assert line["found"].startswith("key refused: "), line
        assert line["fix"].startswith(f"copy {SPECS[v].env_prefix}API_KEY/")
    assert fakes.accounts[venue].refused and fakes.accounts[with_passphrase].refused


async def test_a_key_that_can_withdraw_fails_and_one_that_can_trade_warns(fakes):
    settable = [v for v in KEYED if hasattr(fakes.accounts[v], "can_withdraw")]
    withdraws, trades = settable[0], settable[1]
    fakes.accounts[withdraws].can_withdraw = True
    fakes.accounts[trades].can_trade = True
    report = await doctor(fakes)
    assert report.code == 1
    line = report.line(f"{withdraws} key")
    assert line["status"] == "FAIL"
    assert "CAN WITHDRAW" in line["found"]
    assert line["fix"].startswith(f"create a read-only key at {SPECS[withdraws].label}")
    line = report.line(f"{trades} key")
    assert line["status"] == "WARN" and "can trade" in line["found"]
    assert "read-only key is enough" in line["fix"]


async def test_a_damaged_database_fails_with_its_cause(fakes):
    fakes.db.parent.mkdir()
    fakes.db.write_bytes(b"\x13not a database at all\x00" * 200)
    report = await doctor(fakes)
    assert report.code == 1
    line = report.line("database")
    assert line["status"] == "FAIL"
    assert line["found"] == f"{fakes.db}: not a SQLite database (damaged or another kind of file)"
    assert line["fix"].startswith("restore it from a backup, or move it aside")


async def test_a_database_of_a_newer_schema_fails_and_an_older_one_is_left_unmigrated(fakes):
    fakes.db.parent.mkdir()
    newer = len(MIGRATIONS) + 1
    with sqlite3.connect(fakes.db) as conn:
        conn.execute("CREATE TABLE later (x)")
        conn.execute(f"PRAGMA user_version = {newer}")
    report = await doctor(fakes)
    assert report.code == 1
    line = report.line("database")
    assert line["status"] == "FAIL"
    assert f"written by a newer arb-bot (schema version {newer}" in line["found"]
    assert line["fix"].startswith("run the arb-bot that wrote it")

    fakes.db.unlink()
    with sqlite3.connect(fakes.db) as conn:
        for script in MIGRATIONS[:3]:
            conn.executescript(script)
        conn.execute("PRAGMA user_version = 3")
    report = await doctor(fakes)
    assert report.code == 0
    assert report.line("database")["found"].endswith(
        f"schema 3: `arb-bot run` migrates it to {len(MIGRATIONS)}"
    )
    with sqlite3.connect(fakes.db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3  # not migrated

    fakes.db.unlink()
    db = await Database.open(str(fakes.db))
    await db.close()
    report = await doctor(fakes)
    assert report.line("database")["found"].endswith(f"schema {len(MIGRATIONS)} (current)")


async def test_an_llm_endpoint_refusing_the_key_fails(fakes):
    fakes.llm.then(Behaviour(status=401), Behaviour(status=401))  # the --json and text runs
    report = await doctor(fakes)
    assert report.code == 1
    line = report.line("llm")
    assert line["status"] == "FAIL"
    assert line["found"] == f"127.0.0.1:{fakes.llm.port} refused the API key (HTTP 401)"
    assert "LLM_API_KEY" in line["fix"]


async def test_bad_arguments_exit_2(fakes):
    code, _out, err = await run_doctor(fakes, "--bogus")
    assert code == 2 and "unrecognized arguments: --bogus" in err


async def test_keys_of_a_venue_left_out_of_arb_venues_are_still_checked(fakes):
    enabled = UNKEYED[0]
    code, out, _ = await run_doctor(fakes, ARB_VENUES=enabled)
    assert code == 0, out
    assert f"1 of {len(NAMES)} venues enabled: {enabled}" in out
    for v in KEYED:
        assert re.search(rf"^OK +{v} key +valid: ", out, re.MULTILINE), out
        assert not re.search(rf"^\w+ +{v}  ", out, re.MULTILINE)  # its market not asked


async def test_a_check_that_breaks_is_a_failure_not_a_traceback():
    async def broken_check():
        raise KeyError("boom")

    check = await guarded("database", broken_check())
    assert (check.status, check.found) == ("FAIL", "the check itself failed (KeyError)")
    assert "arb-bot -v doctor" in check.fix


def test_every_configured_secret_is_blanked_from_the_report():
    checks = [Check("x key", "FAIL", "refused k-123456 and s-abcdef", "set s-abcdef")]
    (clean,) = scrubbed(checks, ["k-123456", "s-abcdef", ""])
    assert (clean.found, clean.fix) == ("refused *** and ***", "set ***")
