"""Network failures in words: which host, and what went wrong.

aiohttp (the venues' REST), websockets (their feeds) and httpx (under
python-telegram-bot) each wrap the socket's error their own way, and their text
(`gaierror: [Errno -3] Temporary failure in name resolution`) names neither the
host nor the cause a desk would look for. `network_cause` walks an exception's
chain down to the socket error and says it: `DNS lookup failed for
stream.example.com`, `connection refused by 127.0.0.1:9`, `timed out connecting
to api.telegram.org`, `TLS error with ws.example.com: certificate verify failed`.
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

# A failure's kind, and how the kind reads when every venue shares it.
KIND_WORDS = {
    "dns": "DNS lookup failed",
    "refused": "connection refused",
    "timeout": "timed out",
    "tls": "TLS error",
    "reset": "connection reset",
    "unreachable": "network unreachable",
}


@dataclass(frozen=True, slots=True)
class NetCause:
    kind: str  # a key of KIND_WORDS
    text: str  # one line naming the host


def host_of(url: str) -> str:
    """'wss://stream.example.com/v5/public' -> 'stream.example.com'; an explicit port
    is kept ('127.0.0.1:9'). Never the path or query: nothing signed reaches a message."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or url
    return f"{host}:{port}" if port is not None else host


def network_cause(exc: BaseException, host: str) -> NetCause | None:
    """The network-level cause of `exc` in words, or None when it is not one (an HTTP
    error, a bad reply, a refused subscription)."""
    for e in _chain(exc):
        cause = _one(e, host)
        if cause is not None:
            return cause
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then what it was raised from or during, and so on (each once)."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def _one(e: BaseException, host: str) -> NetCause | None:
    if isinstance(e, socket.gaierror):
        return NetCause("dns", f"DNS lookup failed for {host}")
    if isinstance(e, ssl.SSLCertVerificationError):
        why = getattr(e, "verify_message", None) or "certificate not trusted"
        return NetCause("tls", f"TLS error with {host}: {why}")
    if isinstance(e, ssl.SSLError):
        why = getattr(e, "reason", None) or e.strerror or str(e)
        return NetCause("tls", f"TLS error with {host}: {why}")
    if isinstance(e, ConnectionRefusedError) or _errno(e) == errno.ECONNREFUSED:
        return NetCause("refused", f"connection refused by {host}")
    if isinstance(e, (ConnectionResetError, ConnectionAbortedError)):
        return NetCause("reset", f"connection reset by {host}")
    # httpx's timeouts are not TimeoutErrors; python-telegram-bot's TimedOut wraps them.
    if type(e).__name__ == "ConnectTimeout":
        return NetCause("timeout", f"timed out connecting to {host}")
    if isinstance(e, TimeoutError) or type(e).__name__ in ("ReadTimeout", "WriteTimeout"):
        return NetCause("timeout", f"no answer from {host} in time")
    if _errno(e) in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return NetCause("unreachable", f"network unreachable: no route to {host}")
    return None


def _errno(e: BaseException) -> int | None:
    return e.errno if isinstance(e, OSError) else None


def same_cause(kinds: list[str | None]) -> str | None:
    """The one network kind every failure shares, or None (none, or not all alike)."""
    first = kinds[0] if kinds else None
    return first if first is not None and all(k == first for k in kinds) else None
