"""The wire VenueHttp sends its requests over (`Wire`): one request in, the status,
headers and body out, or a `WireError`. aiohttp's, the bot's, is in `aio`; asyncio's
streams with h11 for HTTP/1.1, the one-shot CLI's, in `streams`. arb.http chooses and
maps; nothing here knows of venues, retries or bans."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import aiohttp

READ_CHUNK = 64 * 1024  # a capped read holds at most the cap plus one chunk


@dataclass(frozen=True, slots=True)
class Reply:
    """One HTTP reply as the wire read it; `headers` keys are lowercase (first one kept)."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class WireError(Exception):
    """What a wire raises besides TimeoutError; its text is the library's own."""


class WireUnreachable(WireError):
    """No connection, or it broke before the reply: raised from the socket's error, so that
    `network_cause` finds it."""


class WireCutOff(WireError):
    """The reply ended before its Content-Length or its last chunk, or would not decode."""


class WireTooLarge(WireError):
    """The reply is over the cap: refused on its Content-Length or abandoned while read."""


class Wire(Protocol):
    """The one request of an attempt. `url` holds no query; `params` are encoded as aiohttp
    (yarl) encodes them, since signed clients sign those bytes. Raises TimeoutError past
    `timeout_s`, else a WireError; any status comes back as a Reply, its body read whole."""

    async def fetch(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        data: bytes | None,
        headers: Mapping[str, str],
        timeout_s: float,
        max_bytes: int,
    ) -> Reply: ...

    async def close(self) -> None: ...


async def read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The whole body, or None (and the connection closed) once it is over `limit` bytes.

    A Content-Length over the limit is refused before anything is read; a body without
    one (chunked) or one that decompresses past it is read a chunk at a time and
    abandoned as soon as it passes the limit, so at most `limit` plus one chunk is held.
    """
    if resp.content_length is not None and resp.content_length > limit:
        resp.close()
        return None
    body = bytearray()
    async for chunk in resp.content.iter_chunked(READ_CHUNK):
        body += chunk
        if len(body) > limit:
            resp.close()
            return None
    return bytes(body)
