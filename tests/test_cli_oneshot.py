"""The one-shot CLI's speed means stay correct: venue metadata kept on disk between runs
(arb.venues.cache.DiskCache, ARB_CACHE_DIR), the script's fast exit (bot.cli.script), and
`arb-bot scan` importing only what it uses."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from arb import commands
from arb.history import WINDOWS_H
from arb.report import scan_json
from arb.settings import parse_settings
from arb.venues.cache import DiskCache, Metadata, kept_on_disk
from bot import cli
from tests.conftest import desk_market, settings_for
from tests.fakes.venues import FakeMarket
from tests.test_cli import NOW_MS, arb_bot, clean_env

NOW = 1_800_000_000.0
KEY = "Metadata http://127.0.0.1:1/bybit/v5/x {}"


class Http:
    """A venue's HTTP, answering every GET with `body` and counting them."""

    def __init__(self, body: bytes) -> None:
        self.base_url = "http://127.0.0.1:1/venue"
        self.body = body
        self.gets = 0

    async def get(self, path, params, *, decode):
        self.gets += 1
        return decode(self.body)


class Client:
    lists = Metadata("/instruments", json.loads, 600.0, {"kind": "swap"})

    def __init__(self, http: Http) -> None:
        self.http = http
        self.clock = lambda: NOW


async def load_twice(directory: str | None, body: bytes = b'{"n": 1}') -> tuple[Http, Http]:
    """Two one-shot runs, each with its own client, through the same cache directory."""
    runs = []
    for _ in range(2):
        http = Http(body)
        with kept_on_disk(directory):
            assert await Client(http).lists.get() == json.loads(body)
        runs.append(http)
    return runs[0], runs[1]


async def test_a_second_run_reads_the_metadata_from_disk(tmp_path):
    first, second = await load_twice(str(tmp_path / "cache"))
    assert (first.gets, second.gets) == (1, 0)


async def test_without_a_cache_dir_every_run_fetches(tmp_path):
    first, second = await load_twice(None)
    assert (first.gets, second.gets) == (1, 1)
    with kept_on_disk(str(tmp_path)):
        pass
    first, second = await load_twice(None)  # the context left nothing switched on
    assert second.gets == 1


async def test_a_missing_directory_is_created_and_an_unwritable_one_only_costs_a_fetch(
    tmp_path,
):
    deep = tmp_path / "a" / "b" / "arb-bot"
    first, second = await load_twice(str(deep))
    assert second.gets == 0 and deep.is_dir()
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    first, second = await load_twice(str(blocked / "cache"))
    assert (first.gets, second.gets) == (1, 1)


async def test_a_corrupt_or_unparseable_file_is_refetched_and_replaced(tmp_path):
    directory = str(tmp_path)
    await load_twice(directory)
    (path,) = tmp_path.iterdir()
    for junk in (b"", b"garbage", b'{"at": 1e99, "size": 3}\nabc', path.read_bytes()[:-2]):
        path.write_bytes(junk)
        first, second = await load_twice(directory)
        assert (first.gets, second.gets) == (1, 0), junk
    # A file that reads whole but no longer parses (say, a new parser): asked again.
    head, _, _ = path.read_bytes().partition(b"\n")
    meta = json.loads(head)
    path.write_bytes(json.dumps({**meta, "size": 3}).encode() + b"\n{{{")
    first, _ = await load_twice(directory)
    assert first.gets == 1


def test_a_kept_reply_expires_with_the_memory_caches_ttl(tmp_path):
    now = [NOW]
    disk = DiskCache(str(tmp_path), clock=lambda: now[0])
    disk.write(KEY, b"[1]")
    assert disk.read(KEY, 600.0) == b"[1]"
    assert disk.read("another request", 600.0) is None
    now[0] += 599.9
    assert disk.read(KEY, 600.0) == b"[1]"
    now[0] += 0.2
    assert disk.read(KEY, 600.0) is None
    now[0] = NOW - 10  # written "in the future": the clock moved back, so not trusted
    assert disk.read(KEY, 600.0) is None


def test_the_files_hold_no_url_and_leave_no_temporary_behind(tmp_path):
    DiskCache(str(tmp_path)).write(KEY, b"[1]")
    (path,) = tmp_path.iterdir()
    assert b"127.0.0.1" not in path.read_bytes() and "tmp" not in path.name


def test_the_cache_dir_setting():
    home = os.path.expanduser("~")
    assert parse_settings({}).cache_dir == os.path.join(home, ".cache", "arb-bot")
    assert parse_settings({"XDG_CACHE_HOME": "/x/c"}).cache_dir == "/x/c/arb-bot"
    assert parse_settings({"XDG_CACHE_HOME": "rel"}).cache_dir.startswith(home)
    assert parse_settings({"ARB_CACHE_DIR": "/tmp/k", "XDG_CACHE_HOME": "/x"}).cache_dir == "/tmp/k"
    assert parse_settings({"ARB_CACHE_DIR": "off"}).cache_dir is None


def test_the_chart_windows_are_the_historys():
    assert tuple(WINDOWS_H) == cli.CHART_WINDOWS


# --- the script, as a user runs it ------------------------------------------------------


@pytest.fixture
def market() -> FakeMarket:
    return desk_market(NOW_MS)


def without_times(doc: dict) -> dict:
    """The report without what moves between two runs (when it was taken, quote ages,
    how long each venue took)."""
    doc = json.loads(json.dumps(doc))
    doc.pop("taken_at")
    for v in doc["venues"]:
        v.pop("elapsed_s")
    for o in doc["opportunities"]:
        for leg in (o["long"], o["short"]):
            leg.pop("age_s")
    return doc


async def test_the_scripts_fast_exit_keeps_the_whole_report(fake_market, tmp_path):
    cache = str(tmp_path / "cache")
    code, out, err = await arb_bot(fake_market, "scan", "--json", tmp_path=tmp_path,
                                   ARB_CACHE_DIR=cache)  # fmt: skip
    assert code == 0, err
    async with cli.open_market(settings_for(fake_market), None) as market:
        report = await commands.scan(market, settings_for(fake_market).scan_params(), None)
    assert without_times(json.loads(out)) == without_times(scan_json(report))
    assert os.listdir(cache)  # and it kept the metadata
    again, out_again, _ = await arb_bot(fake_market, "scan", "--json", tmp_path=tmp_path,
                                        ARB_CACHE_DIR=cache)  # fmt: skip
    assert again == 0 and without_times(json.loads(out_again)) == without_times(json.loads(out))


async def test_main_in_process_returns_its_status_rather_than_leaving(
    fake_market, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    for k in [k for k in os.environ if k.startswith(("ARB_", "BYBIT", "BINANCE", "OKX"))]:
        monkeypatch.delenv(k)
    for k, v in clean_env(fake_market, ARB_CACHE_DIR="off").items():
        monkeypatch.setenv(k, v)
    code = await asyncio.to_thread(cli.main, ["scan", "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["opportunities"]


# tenacity (VenueHttp's retries) is used, and with it tornado when installed: not listed.
HEAVY = ("telegram", "matplotlib", "aiosqlite", "prometheus_client", "httpx", "apscheduler",
         "websockets", "storage", "bot.app", "arb.history", "arb.backfill", "arb.chart",
         "arb.accounts.service", "arb.signaler", "aiohttp", "arb.wire.aio")  # fmt: skip

PROBE = """
import json, sys
from bot import cli
code = cli.main(sys.argv[1:])
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [("scan", "--json"), ("funding", "BTC", "--json")])
async def test_scan_and_funding_import_nothing_they_do_not_use(fake_market, tmp_path, args):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PROBE, *args,
        env=clean_env(fake_market, ARB_CACHE_DIR="off"), cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert json.loads(out)
    modules = json.loads(err.decode().strip().splitlines()[-1])
    loaded = [m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY]
    assert loaded == [], loaded
    assert "arb.wire.streams" in modules  # the probe does see what scan does use


def test_the_installed_script_is_the_fast_exit():
    script = Path(sys.executable).with_name("arb-bot")
    if not script.exists():
        pytest.skip("arb-bot is not installed beside this Python")
    assert "from bot.cli import script" in script.read_text()
