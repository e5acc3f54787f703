"""VenueHttp's wire over aiohttp: one pooled session, the bot's and the default."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from arb.wire import Reply, WireCutOff, WireTooLarge, WireUnreachable, read_capped

LIMIT_PER_HOST = 8  # connections to a venue at once
DNS_CACHE_S = 300


class AiohttpWire:
    """aiohttp's session, made at the first request; its errors become WireErrors."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit_per_host=LIMIT_PER_HOST, ttl_dns_cache=DNS_CACHE_S
            )
            self._session = aiohttp.ClientSession(connector=connector, headers=self._headers)
        return self._session

    @property
    def closed(self) -> bool:
        return self._session is None or self._session.closed

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

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
        try:
            async with self.session.request(
                method,
                url,
                params=params,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout_s),
            ) as resp:
                body = await read_capped(resp, max_bytes)
                if body is None:
                    raise WireTooLarge(f"more than {max_bytes} bytes")
                return Reply(resp.status, lowercase(resp.headers), body)
        except TimeoutError:  # aiohttp's ServerTimeoutError is a ClientError too
            raise
        except aiohttp.ClientPayloadError as e:
            raise WireCutOff(str(e)) from e
        except aiohttp.ClientError as e:
            raise WireUnreachable(str(e)) from e


def lowercase(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers by lowercase name, the first of a repeated one kept (as CIMultiDict.get)."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        out.setdefault(name.lower(), value)
    return out
