"""What every venue's signed client promises, checked for each venue with an account client
against its fake (`tests/venues/<name>/fake_account.py`, whose `refuses` says how it
refuses): a refused key is an AuthError that shows no secret; a server clock
that drifts costs one refusal and one resync, then the read succeeds; and every request
carries exactly the query that was signed."""

from __future__ import annotations

import logging
from importlib import import_module

import pytest

from arb.accounts.base import AuthError, Credentials, PrivateClient
from arb.http import VenueHttp
from arb.venues.registry import SPECS, account_venues
from tests.conftest import T0_MS
from tests.fakes.private_base import FakeAccountClock, fake_desk

pytestmark = pytest.mark.usefixtures("each_wire")  # each test over each of VenueHttp's wires

DAY_MS = 86_400_000
VENUES = account_venues()


def fake_account(venue: str) -> type[FakeAccountClock]:
    return import_module(f"tests.venues.{venue}.fake_account").FakeAccount


@pytest.fixture(params=VENUES)
async def desk(request):
    """Each venue's fake account on the fake venues, with its signed clients against it."""
    async with fake_desk(request.param) as desk:
        yield desk


@pytest.mark.parametrize("name", VENUES)
def test_a_client_asks_for_a_passphrase_where_the_venues_keys_have_one(name):
    cls = SPECS[name].account_class()
    assert cls.signs_with_passphrase is SPECS[name].passphrase
    if cls.signs_with_passphrase:
        http = VenueHttp(name, "http://127.0.0.1:9")
        with pytest.raises(ValueError, match=f"set {name.upper()}_API_PASSPHRASE"):
            cls(http, Credentials("key", "secret"))


# Each venue with each credential its keys have, given wrong.
WRONG = [(v, wrong) for v in VENUES for wrong in fake_account(v).refuses.of_wrong()]


@pytest.mark.parametrize(("desk", "wrong"), WRONG, indirect=["desk"])
async def test_a_refused_key_is_an_auth_error_that_shows_no_secret(desk, caplog, wrong):
    account = desk.account
    caplog.set_level(logging.DEBUG)
    bad = f"wrong-{wrong}-3c9e"
    client = desk.client(**{wrong: bad})
    signatures = spy_on_signing(client)
    with pytest.raises(AuthError) as e:
        await client.balances()
    code = account.refuses.of_wrong()[wrong]
    text = str(e.value)
    assert text.startswith(f"{desk.venue} ") and "refused" in text and str(code) in text
    if wrong == "secret":
        assert "signature" in text.lower()
    assert account.refusals == [code]  # refused once, never retried
    app_logs = " ".join(r.getMessage() for r in caplog.records if r.name.startswith("arb"))
    shown = text + repr(e.value) + app_logs + repr(client) + repr(client.credentials)
    secrets = [account.key, account.secret, getattr(account, "passphrase", None), bad]
    for secret in [*secrets, *signatures]:
        assert secret is None or secret not in shown
    assert signatures


def spy_on_signing(client: PrivateClient) -> list[str]:
    """The signatures (and other long values) `client.sign` adds to its requests, as they
    are made."""
    sign, added = client.sign, []

    def spy(timestamp_ms, path, params):
        query, headers = sign(timestamp_ms, path, params)
        values = [*dict(query or {}).values(), *headers.values()]
        added.extend(v for v in values if len(v) >= 20 and v not in (params or {}).values())
        return query, headers

    client.sign = spy  # type: ignore[method-assign]
    return added


@pytest.mark.parametrize("drift_ms", [120_000, -120_000])
async def test_a_server_clock_that_drifts_after_the_sync_costs_one_resync(desk, caplog, drift_ms):
    """Two minutes either way is outside every venue's window."""
    account = desk.account
    client = desk.client()
    assert await client.balances()
    positions = await client.positions()
    assert positions and (account.time_calls, account.refused) == (1, 0)

    account.skew_ms += drift_ms
    assert await client.positions() == positions

    assert account.refusals == [account.refuses.stale]
    assert account.time_calls == 2
    assert "timestamp refused" in caplog.text


async def test_a_skewed_server_clock_is_measured_before_the_first_signed_request(desk):
    account = desk.account
    account.skew_ms = -600_000
    assert await desk.client().positions()
    assert (account.time_calls, account.refused) == (1, 0)


async def test_every_request_carries_exactly_the_query_it_signed(desk):
    """What each request signed, as the client's `sign` gave it, is what the fake
    received, request for request; and the fake found every signature good over the
    bytes it received."""
    account = desk.account
    account.clock_at(T0_MS)
    client = desk.client()
    signed: list[tuple[str, dict[str, str]]] = []
    sign = client.sign

    def spy(timestamp_ms, path, params):
        query, headers = sign(timestamp_ms, path, params)
        signed.append((path, dict(query or {})))
        return query, headers

    client.sign = spy  # type: ignore[method-assign]
    await client.balances()
    await client.positions()
    await client.funding(T0_MS - DAY_MS, T0_MS)

    paths = {path for path, _ in signed}
    fake = desk.fake
    received = [
        (r.path, r.query) for r in fake.requests if r.venue == desk.venue and r.path in paths
    ]
    assert received == signed
    assert any(query for _, query in signed)
    assert account.refused == 0


async def test_key_access_says_what_it_knows_and_never_shows_a_secret(desk, caplog):
    """Every venue answers `key_access` (its own words, or why it cannot tell), with the
    fake's key read-only by default: never "can withdraw", never a secret."""
    account = desk.account
    caplog.set_level(logging.DEBUG)
    access = await desk.client().key_access()
    assert access.venue == desk.venue and access.detail
    assert access.can_withdraw is not True
    assert (access.read_only is None) == (None in (access.can_trade, access.can_withdraw))
    secrets = [s for s in (account.key, account.secret, account.passphrase) if s]
    for secret in secrets:
        assert secret not in repr(access) and secret not in caplog.text


async def test_positions_say_their_margin_mode_and_adl_rank_in_the_models_terms(desk):
    positions = await desk.client().positions()
    assert positions
    for p in positions:
        assert p.margin_mode in ("cross", "isolated", None)
        assert p.adl_rank is None or 1 <= p.adl_rank <= 5
