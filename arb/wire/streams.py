"""VenueHttp's wire over asyncio's own streams, for the one-shot CLI, whose whole run is a
handful of requests and would otherwise spend most of its start importing aiohttp (which
also builds its TLS contexts at import). h11 speaks HTTP/1.1 (the status line, headers,
framing, 1xx, keep-alive: it says when a connection may carry the next request); this
module only moves its bytes over the streams.

It keeps what VenueHttp relies on from aiohttp: connections kept alive and reused (at
most `LIMIT_PER_HOST` at once), `Accept-Encoding: gzip, deflate` and decoding, the query
encoded byte for byte as yarl encodes it (`query_string`: signed clients sign those
bytes), a Content-Length over the cap refused before the body and any other body
abandoned as soon as it passes it, a body shorter than it said is cut off, and every
socket error raised under a WireUnreachable so that `network_cause` names it. TLS
verifies as aiohttp does (the default context, made at the first https request).
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

import h11

from arb.wire import READ_CHUNK, Reply, WireCutOff, WireTooLarge, WireUnreachable

LIMIT_PER_HOST = 8  # connections at once, as the aiohttp wire's
ACCEPT_ENCODING = "gzip, deflate"  # what aiohttp asks for without brotli or zstd
# yarl's query quoter (QUERY_PART_QUOTER): these bytes go as they are, ' ' becomes '+'.
_QUERY_SAFE = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$'()*,?/:@"
)
# yarl's path requoter leaves these (and a '%' escape) as they are.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"

_tls: ssl.SSLContext | None = None


def query_string(params: Mapping[str, str]) -> str:
    """`params` as aiohttp puts them on the wire (yarl's `extend_query`): each key and
    value in UTF-8, the bytes of `_QUERY_SAFE` kept, ' ' as '+', the rest %XX."""
    return "&".join(f"{_quote(k)}={_quote(_text(v))}" for k, v in params.items())


def _text(value: object) -> str:
    """A query value as yarl writes it: text as is, a number as `str` (no bools)."""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(int(value))
    raise TypeError(f"a query value must be text or a number, got {type(value).__name__}")


def _quote(text: str) -> str:
    out = []
    for byte in text.encode("utf-8", errors="ignore"):
        if byte in _QUERY_SAFE:
            out.append(chr(byte))
        elif byte == 0x20:
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


class _Stale(Exception):
    """A kept-alive connection the venue had closed: nothing of the reply came."""


class _Conn:
    """One connection: its streams and h11's view of the HTTP/1.1 exchange on it."""

    __slots__ = ("heard", "http", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.http = h11.Connection(h11.CLIENT)
        self.heard = False  # any byte of the current reply came

    def ready(self) -> bool:
        """h11 started its next cycle and the venue has not closed it since."""
        both = (self.http.our_state, self.http.their_state)
        return both == (h11.IDLE, h11.IDLE) and not (
            self.reader.at_eof() or self.writer.is_closing()
        )

    async def next_event(self) -> object:
        """h11's next event, reading the socket (a chunk at a time) until one is whole."""
        while (event := self.http.next_event()) is h11.NEED_DATA:
            data = await self.reader.read(READ_CHUNK)  # b"": the end, which h11 judges
            self.heard = self.heard or bool(data)
            self.http.receive_data(data)
        return event


class StreamWire:
    """HTTP/1.1 (h11) over asyncio streams: a pool of kept-alive connections per host."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)
        self._idle: dict[tuple[str, str, int], list[_Conn]] = {}
        self._slots = asyncio.Semaphore(LIMIT_PER_HOST)
        self.closed = False

    async def close(self) -> None:
        self.closed = True
        for conns in self._idle.values():
            for conn in conns:
                conn.writer.close()
        self._idle.clear()

    async def fetch(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        data: bytes | None,
        headers: Mapping[str, str],
        timeout_s: float,
        max_bytes: int,
    ) -> Reply:
        parts = urlsplit(url)
        https = parts.scheme == "https"
        host = parts.hostname or ""
        port = parts.port or (443 if https else 80)
        target = quote(parts.path or "/", safe=_PATH_SAFE)
        query = "&".join(q for q in (parts.query, query_string(params or {})) if q)
        if query:
            target += "?" + query
        fields = {"Host": parts.netloc, **self._headers, "Accept-Encoding": ACCEPT_ENCODING}
        fields.update(headers)
        if data is not None or method in ("POST", "PUT", "PATCH"):
            fields["Content-Length"] = str(len(data or b""))
        request = h11.Request(method=method, target=target, headers=list(fields.items()))
        key = (parts.scheme, host, port)
        async with asyncio.timeout(timeout_s), self._slots:
            conn = self._reused(key)
            if conn is not None:
                try:
                    return await self._exchange(key, conn, request, data, max_bytes)
                except _Stale:
                    if method not in ("GET", "HEAD"):  # it may have been read: not resent
                        raise WireUnreachable("Server disconnected") from None
            conn = _Conn(*await _connect(host, port, https))
            try:
                return await self._exchange(key, conn, request, data, max_bytes)
            except _Stale:
                raise WireUnreachable("Server disconnected") from None

    def _reused(self, key: tuple[str, str, int]) -> _Conn | None:
        conns = self._idle.get(key, [])
        while conns:
            conn = conns.pop()
            if conn.ready():
                return conn
            conn.writer.close()
        return None

    async def _exchange(
        self,
        key: tuple[str, str, int],
        conn: _Conn,
        request: h11.Request,
        data: bytes | None,
        max_bytes: int,
    ) -> Reply:
        """One request on `conn`; the connection is kept for the next only when h11 says
        both sides are done with this one and mean to go on."""
        keep = False
        try:
            response = await _send_and_read_head(conn, request, data)
            headers: dict[str, str] = {}
            for name, value in response.headers:
                headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
            body = await _read_body(conn, request, response.status_code, headers, max_bytes)
            if (conn.http.our_state, conn.http.their_state) == (h11.DONE, h11.DONE):
                conn.http.start_next_cycle()
                conn.heard = False
                keep = not self.closed
            return Reply(response.status_code, headers, body)
        finally:
            if keep:
                self._idle.setdefault(key, []).append(conn)
            else:
                conn.writer.close()


async def _connect(
    host: str, port: int, https: bool
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        if https:
            return await asyncio.open_connection(
                host, port, ssl=_tls_context(), server_hostname=host
            )
        return await asyncio.open_connection(host, port)
    except OSError as e:  # DNS (gaierror), refused, unreachable, TLS: all OSErrors
        raise WireUnreachable(f"Cannot connect to host {host}:{port} [{e}]") from e


def _tls_context() -> ssl.SSLContext:
    global _tls
    if _tls is None:
        _tls = ssl.create_default_context()
    return _tls


async def _send_and_read_head(
    conn: _Conn, request: h11.Request, data: bytes | None
) -> h11.Response:
    """Send the request; the reply's head (an interim 1xx skipped). Raises _Stale when
    nothing at all came back."""
    out = conn.http.send(request) or b""
    if data:
        out += conn.http.send(h11.Data(data=data)) or b""
    out += conn.http.send(h11.EndOfMessage()) or b""
    try:
        conn.writer.write(out)
        await conn.writer.drain()
        while True:
            event = await conn.next_event()
            if isinstance(event, h11.Response):
                return event
            if isinstance(event, h11.ConnectionClosed):
                raise h11.RemoteProtocolError("the connection closed before a reply")
    except (ConnectionResetError, BrokenPipeError, h11.RemoteProtocolError) as e:
        if not conn.heard:
            raise _Stale from e
        if isinstance(e, h11.RemoteProtocolError):
            raise WireUnreachable(f"bad HTTP reply: {e}") from e
        raise WireUnreachable(str(e) or type(e).__name__) from e
    except OSError as e:
        raise WireUnreachable(str(e) or type(e).__name__) from e


async def _read_body(
    conn: _Conn, request: h11.Request, status: int, headers: Mapping[str, str], max_bytes: int
) -> bytes:
    """The body h11 frames (Content-Length, chunked or to the close; none for HEAD, 204,
    304), decoded and capped."""
    has_body = request.method != b"HEAD" and status not in (204, 304)
    length = headers.get("content-length", "")
    if has_body and length.isdigit() and int(length) > max_bytes:  # h11 checked its form
        raise WireTooLarge(f"Content-Length {length}")
    body = _Body(headers.get("content-encoding", ""), max_bytes)
    try:
        while not isinstance(event := await conn.next_event(), h11.EndOfMessage):
            if isinstance(event, h11.Data):
                body.add(event.data)
            elif isinstance(event, h11.ConnectionClosed):  # h11 raises first; never loop
                raise h11.RemoteProtocolError("the connection closed mid-body")
    except h11.RemoteProtocolError as e:  # short of its Content-Length or its last chunk
        raise WireCutOff(f"Response payload is not completed: {e}") from None
    except ConnectionError as e:
        raise WireCutOff(f"Response payload is not completed: {e}") from None
    return body.done()


class _Body:
    """The body as it arrives, decoded (gzip, deflate), never held past the cap plus a
    chunk."""

    def __init__(self, encoding: str, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.data = bytearray()
        self._encoding = encoding.strip().lower()
        # 47: a gzip or a zlib header, whichever comes (aiohttp reads both for either name)
        compressed = self._encoding in ("gzip", "x-gzip", "deflate")
        self._zlib = zlib.decompressobj(47) if compressed else None

    def add(self, piece: bytes) -> None:
        if self._zlib is not None:
            piece = self._decoded(piece)
        self.data += piece
        if len(self.data) > self.max_bytes:
            raise WireTooLarge("past the cap")

    def done(self) -> bytes:
        if self._zlib is not None:
            self.add(b"")  # what the decoder still holds
        return bytes(self.data)

    def _decoded(self, piece: bytes) -> bytes:
        assert self._zlib is not None
        room = self.max_bytes - len(self.data) + 1
        try:
            out = self._zlib.decompress(piece, room) if piece else self._zlib.flush()
        except zlib.error as e:
            raise WireCutOff(f"Can not decode content-encoding: {self._encoding}: {e}") from None
        if self._zlib.unconsumed_tail:
            raise WireTooLarge("decodes past the cap")
        return out
