"""What both of VenueHttp's wires (arb.wire) must put on the wire and make of what comes
back, against a raw socket server that says exactly what each test scripts: the query's
bytes, gzip, a body cut short of its Content-Length or its last chunk, a reply that
decodes past the cap, kept-alive connections (and one the server dropped), a refused
connection in the same words."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Callable

import pytest
import yarl
from hypothesis import given
from hypothesis import strategies as st

from arb.http import (
    RetryPolicy,
    VenueBadResponse,
    VenueHttp,
    VenueReplyTooLarge,
    VenueUnreachable,
)
from arb.venues.bybit.account import query_string as signed_query
from arb.wire.streams import query_string

KiB = 1024


class Raw:
    """A server on 127.0.0.1 answering each request with `answer(request_head)`'s bytes;
    `close_after` drops the connection after each reply (without saying so)."""

    def __init__(self, answer: Callable[[bytes], bytes], close_after: bool = False) -> None:
        self.answer = answer
        self.close_after = close_after
        self.heads: list[bytes] = []
        self.connections = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                self.heads.append(head)
                writer.write(self.answer(head))
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def raw(each_wire) -> AsyncIterator[Callable[..., asyncio.Future]]:
    """Starts a Raw server and a VenueHttp to it, over each wire in turn."""
    servers = []

    async def start(answer: Callable[[bytes], bytes], **kw) -> tuple[Raw, VenueHttp]:
        fake = Raw(answer, **kw)
        server = await asyncio.start_server(fake.serve, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        http = VenueHttp("bybit", f"http://127.0.0.1:{port}/v", timeout_s=2,
                         retry=RetryPolicy(attempts=1), max_reply_bytes=64 * KiB)  # fmt: skip
        servers.append(http)
        return fake, http

    yield start
    for s in servers:
        if isinstance(s, VenueHttp):
            await s.close()
        else:
            s.close()


def reply(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/json", *headers]
    if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


PARAMS = {"category": "linear", "cursor": "page:2,next=a b", "symbol": "BTC/USDT", "x": "é~%"}


async def test_the_query_sent_is_the_query_signed(raw):
    fake, http = await raw(lambda head: reply(b"{}"))
    await http.get("/x", PARAMS, decode=json.loads)
    request_line = fake.heads[0].split(b"\r\n")[0].decode()
    assert request_line == f"GET /v/x?{signed_query(PARAMS)} HTTP/1.1"


async def test_gzip_is_asked_for_and_decoded(raw):
    doc = {"rows": list(range(500))}
    fake, http = await raw(lambda head: reply(gzip.compress(json.dumps(doc).encode()),
                                              "Content-Encoding: gzip"))  # fmt: skip
    assert await http.get("/x", decode=json.loads) == doc
    assert b"Accept-Encoding: gzip, deflate" in fake.heads[0]


async def test_a_reply_that_decodes_past_the_cap_is_refused(raw):
    bomb = gzip.compress(b" " * (10 * 64 * KiB))
    _, http = await raw(lambda head: reply(bomb, "Content-Encoding: gzip"))
    with pytest.raises(VenueReplyTooLarge, match="reply too large: more than 64 KiB"):
        await http.get("/x", decode=json.loads)


@pytest.mark.parametrize(
    "cut",
    [
        b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"a": 1',
        b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{"a": 1',
    ],
    ids=["content-length", "chunked"],
)
async def test_a_body_cut_short_is_cut_off(raw, cut):
    _, http = await raw(lambda head: cut, close_after=True)
    with pytest.raises(VenueBadResponse, match="bybit /x: reply cut off: "):
        await http.get("/x", decode=json.loads)


async def test_connections_are_kept_alive_and_a_dropped_one_is_not_an_error(raw):
    fake, http = await raw(lambda head: reply(b"[1]"))
    for _ in range(3):
        assert await http.get("/x", decode=json.loads) == [1]
    assert fake.connections == 1
    dropping, http = await raw(lambda head: reply(b"[2]"), close_after=True)
    for _ in range(3):  # each time the kept connection turns out closed: a new one
        assert await http.get("/x", decode=json.loads) == [2]
    assert dropping.connections == 3


async def test_an_interim_reply_is_skipped_and_connection_close_is_honoured(raw):
    fake, http = await raw(lambda head: b"HTTP/1.1 100 Continue\r\n\r\n"
                           + reply(b"[3]", "Connection: close"))  # fmt: skip
    for _ in range(2):  # the venue said it closes: never sent a second request
        assert await http.get("/x", decode=json.loads) == [3]
    assert fake.connections == 2


async def test_a_body_until_the_close_and_a_chunked_one_are_read_whole(raw):
    chunked = b"3\r\n[4,\r\n2\r\n5]\r\n0\r\n\r\n"
    fake, http = await raw(lambda head: reply(chunked, "Transfer-Encoding: chunked"))
    for _ in range(2):
        assert await http.get("/x", decode=json.loads) == [4, 5]
    assert fake.connections == 1  # a chunked reply read whole leaves the connection kept
    _, http = await raw(lambda head: b"HTTP/1.1 200 OK\r\n\r\n[6]", close_after=True)
    assert await http.get("/x", decode=json.loads) == [6]


async def test_a_refused_connection_reads_the_same_on_both_wires(each_wire):
    http = VenueHttp("bybit", "http://127.0.0.1:9", retry=RetryPolicy(attempts=1))
    with pytest.raises(VenueUnreachable) as e:
        await http.get("/x", decode=json.loads)
    await http.close()
    assert str(e.value) == "bybit /x: connection failed: connection refused by 127.0.0.1:9"


@given(st.dictionaries(st.text(max_size=8), st.text(max_size=12), max_size=4))
def test_the_query_is_encoded_byte_for_byte_as_yarl_does(params):
    want = yarl.URL("/").extend_query(params).raw_query_string if params else ""
    assert query_string(params) == want
