"""`arb-bot doctor`: what it checks that needs neither Telegram nor storage.

Each check is a plain async function that never raises and answers one `Check`:
OK, WARN or FAIL, what it found, and for a warning or a failure one line saying
how to fix it. Here: the configuration, each enabled venue (reachable, its
latency, its clock against this machine's), each venue's keys (valid, and what
they may do) and the LLM endpoint. `bot.doctor` adds the Telegram token and the
database, runs them all at once and prints them.

Nothing here prints a key, a secret or a token: a venue's refusal is its
`AuthError` (already scrubbed of the credentials), a permission is the venue's
own words (`KeyAccess.detail`), and no URL that could carry a token is shown,
only its host.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

from arb.accounts.base import AuthError, Credentials
from arb.accounts.models import KeyAccess
from arb.http import (
    RetryPolicy,
    VenueBanned,
    VenueError,
    VenueHttp,
    VenueHTTPError,
    VenueRateLimited,
    VenueTimeout,
    VenueUnreachable,
)
from arb.network import NetCause, host_of, network_cause
from arb.settings import Settings, SettingsError, load_settings
from arb.venues.registry import SPECS, key_variables

Status = Literal["OK", "WARN", "FAIL"]

SKEW_WARN_MS = 1000  # a venue's clock this far from ours is worth saying
# An NTP-synced machine is within milliseconds of the venues; past SKEW_WARN_MS it is not.
CLOCK_FIX = "sync this machine's clock with NTP (e.g. `timedatectl set-ntp true`, or chrony)"
SETTINGS_HELP = ".env.example describes every setting"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the doctor's report."""

    name: str  # what was checked: "config", "telegram", "<venue>", "<venue> key"...
    status: Status
    found: str  # what it found, one line
    fix: str | None = None  # how to make it OK, one line (warnings and failures)


def ok(name: str, found: str) -> Check:
    return Check(name, "OK", found)


def warn(name: str, found: str, fix: str) -> Check:
    return Check(name, "WARN", found, fix)


def fail(name: str, found: str, fix: str) -> Check:
    return Check(name, "FAIL", found, fix)


# --- configuration -----------------------------------------------------------------


def check_settings(
    environ: Mapping[str, str] | None = None, dotenv_path: str | None = ".env"
) -> tuple[Check, Settings | None]:
    """The settings as `arb-bot run` loads them: a bad value fails naming its variable."""
    try:
        settings = load_settings(environ, dotenv_path)
    except SettingsError as e:
        variable = str(e).split(" ", 1)[0]
        fix = f"correct {variable} in .env or the environment ({SETTINGS_HELP})"
        return fail("config", str(e), fix), None
    except OSError as e:  # a .env this user may not read
        found = f"cannot read {e.filename or dotenv_path}: {e.strerror or type(e).__name__}"
        return fail("config", found, "make it readable by this user"), None
    return settings_check(settings), settings


def settings_check(settings: Settings) -> Check:
    enabled = f"{len(settings.venues)} of {len(SPECS)} venues enabled: {', '.join(settings.venues)}"
    keyed = keyed_venues(settings)
    keys = f"keys for {', '.join(keyed)}" if keyed else "no venue keys (market data only)"
    found = f"{enabled}; {keys}"
    unused = [
        name
        for name, vs in settings.venue.items()
        if vs.api_key and SPECS[name].account_class() is None
    ]
    if unused:
        variables = ", ".join(SPECS[n].env_prefix + "API_KEY" for n in unused)
        return warn(
            "config",
            f"{found}; keys set for {', '.join(unused)}: no account client reads them",
            f"remove {variables} (and its secret) from .env or the environment",
        )
    return ok("config", found)


def keyed_venues(settings: Settings) -> list[str]:
    """The venues whose signed client the keys set will run, in the registry's order."""
    return [
        name
        for name, vs in settings.venue.items()
        if vs.api_key and vs.api_secret and SPECS[name].account_class() is not None
    ]


# --- venues ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Probe:
    """One venue's answer to a cheap public request."""

    venue: str
    latency_ms: float | None = None
    offset_ms: int | None = None  # its clock minus ours; None: it gave no time
    error: VenueError | TimeoutError | None = None
    quotes: int | None = None  # the funding quotes it gave, where that was asked


def doctor_http(settings: Settings, venue: str) -> VenueHttp:
    """One venue's session as the settings configure it, but one try a request: a check
    measures the venue, not the retries."""
    return VenueHttp(
        venue,
        settings.venue[venue].rest_url,
        timeout_s=settings.http_timeout_s,
        retry=RetryPolicy(attempts=1),
        max_cooldown_s=settings.max_cooldown_s,
        max_reply_bytes=settings.max_reply_bytes,
    )


async def probe_venue(settings: Settings, venue: str) -> Probe:
    """The venue's public time where its signed client has one (latency and clock
    offset), else the funding call the scan makes (latency only)."""
    spec = SPECS[venue]
    http = doctor_http(settings, venue)
    account = spec.account_class()
    try:
        async with asyncio.timeout(settings.venue_deadline_s):
            before, started = time.time(), time.monotonic()
            if account is not None:
                path, decode = account.server_time
                server_ms = await http.get(path, decode=decode)
            else:
                quotes = len((await spec.client_class()(http).fetch_quotes()).quotes)
            latency_ms = (time.monotonic() - started) * 1000
            after = time.time()
    except (VenueError, TimeoutError) as e:
        return Probe(venue, error=e)
    finally:
        await http.close()
    if account is None:
        return Probe(venue, latency_ms, quotes=quotes)
    # As ServerClock measures it: the server's time against our clock half-way through.
    return Probe(venue, latency_ms, server_ms - int((before + after) / 2 * 1000))


def venue_check(settings: Settings, probe: Probe) -> Check:
    venue = probe.venue
    if probe.error is not None:
        return fail(venue, unreachable_text(settings, probe), venue_fix(settings, probe))
    if probe.quotes is None:
        return ok(venue, f"reachable: server time in {probe.latency_ms:.0f} ms")
    if probe.quotes == 0:
        return warn(
            venue,
            f"reachable in {probe.latency_ms:.0f} ms, but it lists no funding quote",
            f"retry later; check {SPECS[venue].env_prefix}REST_URL if it is set",
        )
    return ok(venue, f"reachable: {probe.quotes} funding quotes in {probe.latency_ms:.0f} ms")


def unreachable_text(settings: Settings, probe: Probe) -> str:
    if isinstance(probe.error, TimeoutError):
        return f"no answer within ARB_VENUE_DEADLINE_S ({settings.venue_deadline_s:g} s)"
    return f"{probe.error.endpoint}: {probe.error.reason}"


def venue_fix(settings: Settings, probe: Probe) -> str:
    """What to do about a venue that did not answer, by how it failed."""
    venue, error = probe.venue, probe.error
    url_var = SPECS[venue].env_prefix + "REST_URL"
    url = settings.venue[venue].rest_url
    host = host_of(url)
    custom = url.rstrip("/") != SPECS[venue].rest_url.rstrip("/")
    drop = f"or leave {venue} out of ARB_VENUES"
    if custom:
        where = f"check {url_var} (set to {host})"
    else:
        where = f"check this machine's network, DNS and firewall for {host}"
    if isinstance(error, VenueUnreachable):
        cause = _cause_of(error.reason, host)
        if cause == "refused":
            return f"nothing listens at {host}: {where}, {drop}"
        if cause == "tls":
            return f"check the system's CA certificates and clock, {drop}"
        return f"{where}, {drop}"
    if isinstance(error, VenueTimeout | TimeoutError):
        return f"{where}, or raise ARB_HTTP_TIMEOUT_S / ARB_VENUE_DEADLINE_S, {drop}"
    if isinstance(error, VenueBanned):
        return f"this IP is banned or geo-blocked by {venue}: run from another host, {drop}"
    if isinstance(error, VenueRateLimited):
        return "this IP is rate limited: run doctor again in a minute"
    if isinstance(error, VenueHTTPError) and error.status >= 500:
        return f"{venue} is failing (maintenance?): retry later, {drop}"
    if custom:
        return f"{host} does not answer as {venue} does: check {url_var}"
    return f"{venue} answered unexpectedly: retry later, and report it if it persists"


def _cause_of(reason: str, host: str) -> str | None:
    """The network kind (arb.network) that `VenueHttp` wrote into a reason."""
    for kind, words in (
        ("dns", "DNS lookup failed"),
        ("refused", "connection refused"),
        ("tls", "TLS error"),
    ):
        if words in reason:
            return kind
    return None


def clock_check(settings: Settings, probe: Probe) -> Check | None:
    """The venue's clock against ours; a venue whose keys sign fails past its window."""
    if probe.offset_ms is None:
        return None
    venue, offset = probe.venue, probe.offset_ms
    name = f"{venue} clock"
    # offset > 0: the venue's clock is ahead, so ours is behind.
    side = "behind" if offset > 0 else "ahead of"
    where = f"this machine's clock is {abs(offset) / 1000:.1f} s {side} {venue}'s"
    if abs(offset) <= SKEW_WARN_MS:
        return ok(name, f"{abs(offset)} ms from this machine's (under {SKEW_WARN_MS} ms)")
    window = SPECS[venue].account_class().window_ms  # type: ignore[union-attr]
    if venue in keyed_venues(settings) and window is not None and abs(offset) > window:
        return fail(
            name,
            f"{where}, past the {window / 1000:g} s {venue} accepts on a signed request",
            CLOCK_FIX,
        )
    return warn(name, f"{where}: funding countdowns and quote ages are off by as much", CLOCK_FIX)


# --- keys --------------------------------------------------------------------------


async def check_key(settings: Settings, venue: str) -> Check:
    """A signed read (the balances) with the venue's keys, then what the key may do."""
    name = f"{venue} key"
    spec, vs = SPECS[venue], settings.venue[venue]
    assert vs.api_key and vs.api_secret  # keyed_venues() chose it
    creds = Credentials(vs.api_key, vs.api_secret, vs.api_passphrase)
    client = spec.account_class()(doctor_http(settings, venue), creds)  # type: ignore[misc]
    try:
        async with asyncio.timeout(settings.venue_deadline_s):
            balances = await client.balances()
            try:
                access = await client.key_access()
            except VenueError as e:
                access = KeyAccess(venue, None, None, f"not read: {e.reason}")
    except AuthError as e:
        return fail(name, e.reason, key_fix(venue))  # "key refused: ..."
    except VenueError as e:
        found = f"account not read: {e.endpoint}: {e.reason}"
        return fail(name, found, venue_fix(settings, Probe(venue, error=e)))
    except TimeoutError:
        deadline = settings.venue_deadline_s
        return fail(
            name,
            f"account not read within ARB_VENUE_DEADLINE_S ({deadline:g} s)",
            venue_fix(settings, Probe(venue, error=TimeoutError())),
        )
    finally:
        await client.close()
    return access_check(name, access, len(balances))


def key_fix(venue: str) -> str:
    spec = SPECS[venue]
    variables = "/".join(key_variables(venue))
    return (
        f"copy {variables} again from {spec.label}'s API management page; check the key is "
        "not expired or deleted and that this machine's IP is on its allow-list"
    )


def access_check(name: str, access: KeyAccess, balances: int) -> Check:
    """A valid key, judged by what it may do: withdrawing fails, trading warns."""
    venue = access.venue
    said = f" ({access.detail})" if access.detail else ""
    read = f"valid: {balances} balance{'s' if balances != 1 else ''} read"
    variables = "/".join(key_variables(venue))
    if access.can_withdraw:
        return fail(
            name,
            f"{read}, but this key CAN WITHDRAW{said}",
            f"create a read-only key at {SPECS[venue].label}, put it in {variables} and "
            "delete this one: the bot only reads",
        )
    if access.can_trade:
        return warn(
            name,
            f"{read}; this key can trade{said}",
            f"a read-only key is enough (the bot only reads): create one for {variables}",
        )
    if access.read_only:
        return ok(name, f"{read}; read-only{said}")
    return ok(name, f"{read}; what it may do is not known{said}: be sure it cannot withdraw")


# --- the LLM endpoint ----------------------------------------------------------------


async def check_llm(settings: Settings) -> Check:
    """GET {LLM_BASE_URL}/models (OpenAI's "list models": free, no tokens spent), and
    whether LLM_MODEL is among them."""
    if not settings.llm_base_url:
        return ok("llm", "off (LLM_BASE_URL not set): /signal gives the rule-based verdict")
    base, model = settings.llm_base_url, settings.llm_model
    host = host_of(base)
    headers = {"User-Agent": "arb-bot", "Accept": "application/json"}
    if settings.llm_api_key:
        headers["Authorization"] = f"Bearer {settings.llm_api_key}"
    timeout = aiohttp.ClientTimeout(total=settings.llm_timeout_s)
    started = time.monotonic()
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout, headers=headers) as session,
            session.get(base + "/models") as resp,
        ):
            status = resp.status
            body = await resp.content.read(1 << 20)
    except (aiohttp.ClientError, TimeoutError, OSError) as e:
        cause = network_cause(e, host)
        return fail("llm", f"unreachable: {_net_text(cause, e, host)}", net_fix(cause, host))
    ms = (time.monotonic() - started) * 1000
    if status in (401, 403):
        return fail(
            "llm",
            f"{host} refused the API key (HTTP {status})",
            "check LLM_API_KEY (a key of this provider, not expired, with credit)",
        )
    if status == 404:
        return warn(
            "llm",
            f"{host} answers but lists no models (HTTP 404 on /models): model not checked",
            "check LLM_BASE_URL ends where the OpenAI API starts, e.g. https://host/v1",
        )
    if status >= 400:
        return fail("llm", f"{host} answered HTTP {status}", "check LLM_BASE_URL; retry later")
    listed = _model_ids(body)
    if listed is not None and model not in listed:
        return warn(
            "llm",
            f"{host} answers in {ms:.0f} ms but does not list {model} ({len(listed)} models)",
            "check LLM_MODEL against the provider's model names",
        )
    return ok("llm", f"{host} answers in {ms:.0f} ms; model {model}")


def _model_ids(body: bytes) -> set[str] | None:
    """The ids of OpenAI's list-models reply ({"data": [{"id": ...}]}); None if the reply
    is not one (an endpoint that answers otherwise is not judged on it)."""
    try:
        data = json.loads(body)["data"]
        return {str(m["id"]) for m in data}
    except (ValueError, KeyError, TypeError):
        return None


# --- shared --------------------------------------------------------------------------


def _net_text(cause: NetCause | None, e: BaseException, host: str) -> str:
    """The network failure in words; never the exception's text, which may hold a URL."""
    return cause.text if cause is not None else f"{type(e).__name__} talking to {host}"


def net_fix(cause: NetCause | None, host: str, url_variable: str = "LLM_BASE_URL") -> str:
    """What to do when `host` could not be reached, by the cause."""
    kind = cause.kind if cause is not None else None
    if kind == "dns":
        return f"this machine cannot resolve {host}: check its DNS, or {url_variable}"
    if kind == "refused":
        return f"nothing listens at {host}: check {url_variable}, or start that server"
    if kind == "tls":
        return "check the system's CA certificates and clock, or any TLS-intercepting proxy"
    if kind in ("timeout", "unreachable"):
        return f"check the network, firewall or proxy between here and {host}"
    return f"check the network and {url_variable}"


def scrubbed(checks: Iterable[Check], secrets: Iterable[str]) -> list[Check]:
    """The checks with every configured secret blanked: a last guard, as the logs have."""
    blanks = sorted({s for s in secrets if s}, key=len, reverse=True)

    def clean(text: str | None) -> str | None:
        for secret in blanks:
            text = text.replace(secret, "***") if text else text
        return text

    return [Check(c.name, c.status, clean(c.found) or "", clean(c.fix)) for c in checks]


def failed(checks: Iterable[Check]) -> bool:
    return any(c.status == "FAIL" for c in checks)


def doctor_text(checks: list[Check], skipped: str | None = None) -> str:
    """One line per check, `fix:` under a warning or a failure, and a count at the end."""
    width = max((len(c.name) for c in checks), default=0)
    lines = []
    for c in checks:
        lines.append(f"{c.status:<4}  {c.name:<{width}}  {c.found}")
        if c.fix:
            lines.append(f"{'':<4}  {'':<{width}}  fix: {c.fix}")
    if skipped:
        lines.append(skipped)
    counts = {s: sum(c.status == s for c in checks) for s in ("FAIL", "WARN", "OK")}
    lines.append(
        f"{counts['FAIL']} failed, {counts['WARN']} "
        f"warning{'s' if counts['WARN'] != 1 else ''}, {counts['OK']} ok"
    )
    return "\n".join(lines)


def doctor_json(checks: list[Check]) -> dict[str, Any]:
    return {
        "ok": not failed(checks),
        "checks": [
            {"check": c.name, "status": c.status, "found": c.found, "fix": c.fix} for c in checks
        ],
    }
